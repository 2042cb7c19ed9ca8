/**
 * The map page (`#/`, design §8): the cluster summary, one column per node and the packages on
 * it, then the packages running nowhere and the last five events. Only builds DOM from the
 * pure map model (map-model.ts) and the action model (action-model.ts).
 */

import type { EventView, StatusView } from "../../api/schema/view-types.js";
import type { NodeChoice, NodeDetail, SessionInfo } from "../model/api-shapes.js";
import {
  type NodeActionKind,
  type PackageActionKind,
  nodeActions,
  packageActions,
} from "../model/action-model.js";
import { type ClusterMap, type NodeColumn, type PackageCard, clusterMap } from "../model/map-model.js";
import { badge, el } from "./dom.js";
import { eventList } from "./render-timeline.js";

export interface ActionHandlers {
  packageAction(kind: PackageActionKind, pkg: string, opener: HTMLElement): void;
  nodeAction(kind: NodeActionKind, node: string, opener: HTMLElement): void;
}

export function renderMap(
  view: StatusView,
  details: readonly NodeDetail[],
  session: SessionInfo | undefined,
  recent: readonly EventView[],
  now: number,
  actions: ActionHandlers,
  nodeChoicesOf: (pkg: string) => NodeChoice[] | undefined,
): HTMLElement[] {
  const map = clusterMap(view, details);
  const card = (c: PackageCard): HTMLElement =>
    packageCardElement(c, view, session, actions, nodeChoicesOf(c.name));
  return [
    summary(map),
    el("div", { class: "node-grid" }, [
      ...map.columns.map((column) => nodeColumn(column, view, session, actions, card)),
    ]),
    map.notRunning.length > 0
      ? el("section", { class: "not-running", attrs: { "aria-labelledby": "not-running-title" } }, [
          el("h2", { attrs: { id: "not-running-title" } }, ["Not running"]),
          el("div", { class: "card-list" }, [...map.notRunning.map(card)]),
        ])
      : undefined,
    el("section", { class: "recent", attrs: { "aria-labelledby": "recent-title" } }, [
      el("h2", { attrs: { id: "recent-title" } }, ["Recent events"]),
      eventList(recent.slice(0, 5), now, "Recent events, newest first"),
      el("p", {}, [el("a", { attrs: { href: "#/events" } }, ["All events"])]),
    ]),
  ].filter((n): n is HTMLElement => n !== undefined);
}

function summary(map: ClusterMap): HTMLElement {
  const health = map.healthy
    ? { text: map.healthText, icon: "✔", tone: "ok" }
    : { text: map.healthText, icon: "⚠", tone: "warn" };
  const etcd = map.etcdQuorum
    ? { text: map.etcdText, icon: "✔", tone: "ok" }
    : { text: map.etcdText, icon: "✖", tone: "bad" };
  return el("section", { class: "summary", attrs: { "aria-labelledby": "map-title" } }, [
    el("h1", { attrs: { id: "map-title" } }, [`Cluster ${map.name}`]),
    el("ul", { class: "facts" }, [
      el("li", {}, [badge(health)]),
      el("li", {}, [badge(etcd)]),
      el("li", {}, [`leader: ${map.leader ?? "none"}`]),
      el("li", { class: "muted" }, [`revision ${map.revision}`]),
    ]),
    el("ul", { class: "etcd-members", attrs: { "aria-label": "etcd members" } }, [
      ...map.etcdMembers.map((m) =>
        el("li", {}, [
          badge({
            text: `${m.endpoint}: ${m.text}`,
            icon: m.reachable ? (m.leader ? "★" : "✔") : "✖",
            tone: m.reachable ? "ok" : "bad",
          }),
        ]),
      ),
    ]),
  ]);
}

function nodeColumn(
  column: NodeColumn,
  view: StatusView,
  session: SessionInfo | undefined,
  actions: ActionHandlers,
  card: (c: PackageCard) => HTMLElement,
): HTMLElement {
  const node = view.nodes.find((n) => n.name === column.name)!;
  const buttons = nodeActions(session, node).map((action) =>
    el(
      "button",
      {
        class: "action",
        attrs: { type: "button", "data-focus-key": `node:${column.name}:${action.kind}` },
        on: { click: (e) => actions.nodeAction(action.kind, column.name, e.currentTarget as HTMLElement) },
      },
      [action.label],
    ),
  );
  return el(
    "section",
    { class: `node-column${column.failed ? " failed" : ""}`, attrs: { "aria-label": column.name } },
    [
      el("header", { class: "node-head" }, [
        el("h2", {}, [column.name]),
        badge(column.badge),
        column.leader ? badge({ text: "leader", icon: "★", tone: "info" }, "leader") : undefined,
        column.etcd
          ? badge({
              text: column.etcd.text,
              icon: column.etcd.reachable ? "✔" : "✖",
              tone: column.etcd.reachable ? "ok" : "bad",
            })
          : undefined,
      ]),
      ...column.notes.map((note) => el("p", { class: "note" }, [note])),
      column.nicGroups.length > 0
        ? el("ul", { class: "nics", attrs: { "aria-label": `${column.name} subnets` } }, [
            ...column.nicGroups.map((group) =>
              el("li", {}, [
                el("span", { class: "subnet" }, [group.subnet]),
                " ",
                badge(
                  group.up ? { text: "up", icon: "✔", tone: "ok" } : { text: "down", icon: "✖", tone: "bad" },
                ),
                group.nics.length > 0
                  ? el("ul", {}, [
                      ...group.nics.map((nic) =>
                        el("li", {}, [
                          `${nic.nic} (${nic.role}${nic.carrying ? ", active" : ""})`,
                          nic.linkUp === undefined ? "" : `, ${nic.linkUp ? "✔" : "✖"} ${nic.linkText}`,
                        ]),
                      ),
                    ])
                  : undefined,
              ]),
            ),
          ])
        : el("p", { class: "note" }, ["no subnet with link"]),
      buttons.length > 0 ? el("div", { class: "actions" }, buttons) : undefined,
      column.packages.length > 0
        ? el("div", { class: "card-list" }, [...column.packages.map(card)])
        : el("p", { class: "note" }, ["no packages"]),
    ],
  );
}

function packageCardElement(
  card: PackageCard,
  view: StatusView,
  session: SessionInfo | undefined,
  actions: ActionHandlers,
  choices: NodeChoice[] | undefined,
): HTMLElement {
  const pkg = view.packages.find((p) => p.name === card.name)!;
  const buttons = packageActions(session, pkg, view, choices).map((action) =>
    el(
      "button",
      {
        class: "action",
        attrs: { type: "button", "data-focus-key": `card:${card.name}:${action.kind}` },
        on: { click: (e) => actions.packageAction(action.kind, card.name, e.currentTarget as HTMLElement) },
      },
      [action.label],
    ),
  );
  return el("article", { class: "package-card", attrs: { "aria-label": `package ${card.name}` } }, [
    el("h3", {}, [
      el(
        "a",
        {
          attrs: {
            href: `#/packages/${encodeURIComponent(card.name)}`,
            "data-focus-key": `link:${card.name}`,
          },
        },
        [card.name],
      ),
    ]),
    badge(card.badge),
    card.addresses.length > 0
      ? el("ul", { class: "addresses", attrs: { "aria-label": `${card.name} addresses` } }, [
          ...card.addresses.map((a) => el("li", {}, [a.text])),
        ])
      : undefined,
    ...card.notes.map((note) => el("p", { class: "note" }, [note])),
    buttons.length > 0 ? el("div", { class: "actions" }, buttons) : undefined,
  ]);
}
