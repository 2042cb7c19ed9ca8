/**
 * One package (`#/packages/{p}`, design §8): its status and flags, the actions this user may
 * take, addresses, services per node, generic resources per node, dependencies, its IPsec
 * identity, peers and SAs, the log tail (package admins) and its recent events. The status
 * part comes from the live StatusView; the per-node parts from GET /v1/packages/{p} and
 * /ipsec, which main.ts reads again when the package changes.
 */

import type { EventView, PackageView, StatusView } from "../../api/schema/view-types.js";
import type { PackageDetail, PackageIpsecDetail, PackageLog, SessionInfo } from "../model/api-shapes.js";
import { mayReadLog, packageActions } from "../model/action-model.js";
import { packageNotes } from "../model/map-model.js";
import { SA_COLUMNS, saRows } from "../model/ipsec-model.js";
import { packageBadge } from "../model/state-badge.js";
import { filterEvents } from "../model/timeline-model.js";
import { type Child, badge, el } from "./dom.js";
import type { ActionHandlers } from "./render-map.js";
import { eventList } from "./render-timeline.js";

export interface PackagePageData {
  view: StatusView;
  pkg: PackageView;
  detail: PackageDetail | undefined;
  ipsec: PackageIpsecDetail | undefined;
  log: PackageLog | undefined;
  /** Why the log could not be read, when it could not. */
  logError: string | undefined;
  session: SessionInfo | undefined;
  events: readonly EventView[];
  now: number;
}

export function renderPackage(
  data: PackagePageData,
  actions: ActionHandlers,
  loadLog: () => void,
): HTMLElement[] {
  const { pkg, detail, session } = data;
  const buttons = packageActions(session, pkg, data.view, detail?.nodeChoices).map((action) =>
    el(
      "button",
      {
        class: "action",
        attrs: { type: "button", "data-focus-key": `detail:${pkg.name}:${action.kind}` },
        on: { click: (e) => actions.packageAction(action.kind, pkg.name, e.currentTarget as HTMLElement) },
      },
      [action.label],
    ),
  );
  return [
    el("p", { class: "crumbs" }, [el("a", { attrs: { href: "#/" } }, ["Map"]), " / ", pkg.name]),
    el("h1", {}, [`Package ${pkg.name}`]),
    el("dl", { class: "facts-list" }, [
      ...fact("Status", badge(packageBadge(pkg.status))),
      ...fact("State", pkg.state),
      ...fact("Runs on", pkg.nodes.join(", ") || "no node"),
      ...fact("Type", pkg.type),
      ...fact("Switching", pkg.switching ? "enabled" : "disabled"),
      ...fact("Maintenance", pkg.maintenance ? "on" : "off"),
      ...fact("Notes", packageNotes(pkg).join("; ") || "none"),
      ...(pkg.changedBy ? fact("Changed by", pkg.changedBy) : []),
      ...(pkg.since !== undefined ? fact("Since", new Date(pkg.since).toISOString()) : []),
    ]),
    buttons.length > 0
      ? el("section", { class: "actions", attrs: { "aria-label": `Actions on ${pkg.name}` } }, buttons)
      : undefined,
    table(
      "Addresses",
      ["Address", "Subnet", "Node", "NIC"],
      pkg.addresses.map((a) => [
        a.address,
        a.subnet,
        a.node ?? "none",
        a.nic ? `${a.nic}${a.nicFrom === "configured" ? " (configured)" : ""}` : "",
      ]),
    ),
    servicesTable(pkg, detail),
    resourcesTable(detail),
    pkg.dependencies.length > 0
      ? table(
          "Dependencies",
          ["Name", "Package", "Condition", "Location", "Met"],
          pkg.dependencies.map((d) => [d.name, d.package, d.condition, d.location, d.met ? "yes" : "no"]),
        )
      : undefined,
    ipsecSection(pkg, data.ipsec),
    mayReadLog(session, pkg.name) ? logSection(data, loadLog) : undefined,
    el("section", { attrs: { "aria-labelledby": "pkg-events-title" } }, [
      el("h2", { attrs: { id: "pkg-events-title" } }, ["Recent events"]),
      eventList(
        filterEvents(data.events, { package: pkg.name }).slice(0, 10),
        data.now,
        `Events of ${pkg.name}`,
      ),
    ]),
  ].filter((n): n is HTMLElement => n !== undefined);
}

function fact(term: string, value: Child): HTMLElement[] {
  return [el("dt", {}, [term]), el("dd", {}, [value])];
}

/** A table with a caption and column headers (th scope=col), design §8 accessibility. */
function table(caption: string, headers: string[], rows: string[][]): HTMLElement {
  return el("table", {}, [
    el("caption", {}, [caption]),
    el("thead", {}, [
      el(
        "tr",
        {},
        headers.map((h) => el("th", { attrs: { scope: "col" } }, [h])),
      ),
    ]),
    el(
      "tbody",
      {},
      rows.length > 0
        ? rows.map((row) =>
            el(
              "tr",
              {},
              row.map((cell) => el("td", {}, [cell])),
            ),
          )
        : [el("tr", {}, [el("td", { attrs: { colspan: String(headers.length) } }, ["none"])])],
    ),
  ]);
}

function servicesTable(pkg: PackageView, detail: PackageDetail | undefined): HTMLElement {
  const services = detail?.services;
  if (services !== undefined && services.length > 0 && typeof services[0] === "object") {
    return table(
      "Services",
      ["Service", "Node", "Restarts", "State"],
      services.map((s) => [
        s.name,
        s.node ?? "none",
        s.restarts === undefined ? "not reported" : String(s.restarts),
        s.state,
      ]),
    );
  }
  return table(
    "Services",
    ["Service"],
    pkg.services.map((s) => [s]),
  );
}

function resourcesTable(detail: PackageDetail | undefined): HTMLElement | undefined {
  const resources = detail?.resources;
  if (resources === undefined) return undefined;
  const rows: string[][] = [];
  for (const [node, byName] of Object.entries(resources)) {
    for (const [name, value] of Object.entries(byName)) {
      const status = typeof value === "string" ? value : value.status;
      const setBy = typeof value === "string" ? "" : (value.setBy ?? "");
      rows.push([node, name, status, setBy]);
    }
  }
  return table("Generic resources", ["Node", "Resource", "Status", "Set by"], rows);
}

function ipsecSection(pkg: PackageView, ipsec: PackageIpsecDetail | undefined): HTMLElement | undefined {
  if (pkg.ipsec === undefined && ipsec === undefined) return undefined;
  const identity = ipsec?.identity ?? pkg.ipsec?.identity ?? "";
  const peers = ipsec?.peers ?? pkg.ipsec?.peers ?? [];
  const rows = saRows(ipsec?.sas ?? []);
  return el("section", { attrs: { "aria-labelledby": "ipsec-title" } }, [
    el("h2", { attrs: { id: "ipsec-title" } }, ["IPsec"]),
    el("p", {}, [`identity: ${identity}`, ipsec?.from ? `; SAs as ${ipsec.from} reports them` : ""]),
    table(
      "Peers",
      ["Peer", "Address", "Connection", "Recorded by", "Contact"],
      peers.map((p) => [p.id, p.address, p.connection, p.recordedBy, contactText(p.contact)]),
    ),
    table(
      "Security associations",
      SA_COLUMNS.map((c) => c.title),
      rows.map((row) => SA_COLUMNS.map((c) => row[c.key])),
    ),
  ]);
}

function contactText(contact: NonNullable<PackageIpsecDetail["peers"]>[number]["contact"]): string {
  if (contact === undefined) return "";
  const attempts = `${contact.attempts} attempt${contact.attempts === 1 ? "" : "s"}`;
  return `${contact.state} (${attempts})${contact.lastError ? `: ${contact.lastError}` : ""}`;
}

function logSection(data: PackagePageData, loadLog: () => void): HTMLElement {
  return el("section", { attrs: { "aria-labelledby": "log-title" } }, [
    el("h2", { attrs: { id: "log-title" } }, ["Log"]),
    el(
      "button",
      {
        class: "action",
        attrs: { type: "button", "data-focus-key": "log-refresh" },
        on: { click: () => loadLog() },
      },
      [data.log === undefined ? "Show log" : "Refresh log"],
    ),
    data.logError ? el("p", { class: "error" }, [data.logError]) : undefined,
    data.log
      ? el("figure", {}, [
          el("figcaption", {}, [`${data.log.file} on ${data.log.node}, last ${data.log.lines.length} lines`]),
          el("pre", { class: "log", attrs: { tabindex: "0" } }, [data.log.lines.join("\n")]),
        ])
      : undefined,
  ]);
}
