/**
 * What `pavise status` shows (Serviceguard's cmviewcl): the cluster, its nodes and packages,
 * built from the configuration, the cluster state read from etcd and how etcd's members
 * answered. Pure: the command reads etcd, this file decides what it means and how it looks.
 */

import type { ClusterSnapshot } from "../cluster/agent/cluster-state.js";
import type { ClusterConfig, PackageConfig, PackageIpsecConfig } from "../cluster/config/model.js";
import { formatIdentity } from "../ike/config/identity.js";
import type { PeerRecord } from "../ipsec/registry/peer-record.js";
import type { ClusterState } from "../cluster/state.js";
import { table } from "./output.js";
import type {
  AddressView,
  EtcdMemberAnswer,
  EtcdView,
  NodeView,
  PackageIpsecView,
  PackageView,
  StatusView,
} from "../api/schema/view-types.js";

export type {
  AddressView,
  EtcdMemberAnswer,
  EtcdView,
  NodeView,
  PackageIpsecView,
  PackageView,
  StatusView,
} from "../api/schema/view-types.js";

export interface StatusInput {
  config: ClusterConfig;
  state: ClusterState;
  snapshot: ClusterSnapshot;
  etcd: EtcdMemberAnswer[];
  /** The IPsec peer registry of each package with ipsec: (docs/ipsec-packages-design.md §7). */
  ipsecPeers?: Record<string, PeerRecord[]>;
}

/** The etcd section from the members' answers (also the API cache's quorum check). */
export function etcdView(config: ClusterConfig, answers: EtcdMemberAnswer[]): EtcdView {
  const reachable = answers.filter((a) => a.reachable);
  const withLeader = reachable.filter((a) => a.leader !== undefined && a.leader !== "0");
  const members = Math.max(config.etcd.endpoints.length, answers.length);
  const leaderId = withLeader[0]?.leader;
  const leaderEndpoint = reachable.find((a) => a.memberId !== undefined && a.memberId === leaderId)?.endpoint;
  return {
    endpoints: answers,
    reachable: reachable.length,
    members,
    quorum: withLeader.length > members / 2,
    leaderEndpoint,
  };
}

function addressesOf(
  config: ClusterConfig,
  pkg: PackageConfig,
  node: string | undefined,
  reported: unknown,
): AddressView[] {
  const nics = new Map<string, string>();
  if (Array.isArray(reported)) {
    for (const entry of reported as unknown[]) {
      const e = entry as { address?: unknown; nic?: unknown };
      if (typeof e?.address === "string" && typeof e.nic === "string") nics.set(e.address, e.nic);
    }
  }
  return pkg.addresses.map((a) => {
    if (node === undefined) return { ...a, node, nic: undefined, nicFrom: undefined };
    const nic = nics.get(a.address);
    if (nic !== undefined) return { ...a, node, nic, nicFrom: "reported" };
    const primary = config.nodes
      .find((n) => n.name === node)
      ?.interfaces.find((i) => i.subnet === a.subnet)?.primary;
    return { ...a, node, nic: primary, nicFrom: primary === undefined ? undefined : "configured" };
  });
}

function ipsecView(ipsec: PackageIpsecConfig, records: readonly PeerRecord[]): PackageIpsecView {
  return {
    identity: formatIdentity(ipsec.local.id),
    peers: records.map((r) => ({
      id: r.id,
      address: r.address,
      connection: r.connection,
      recordedBy: r.node,
      contact: r.contact,
    })),
  };
}

function sameNodes(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().join(",") === [...b].sort().join(",");
}

/** Everything `pavise status` shows, as one value (also what --json prints). */
export function statusView(input: StatusInput): StatusView {
  const { config, state, snapshot } = input;
  const nodes: NodeView[] = config.nodes.map((n) => {
    const s = state.nodes[n.name];
    return {
      name: n.name,
      status: s?.status ?? "failed",
      since: s && s.since > 0 ? s.since : undefined,
      subnetsUp: s?.subnetsUp ?? [],
      haltedByOperator: s?.haltedByOperator === true,
      haltedBy: snapshot.nodeIntents?.[n.name]?.halted ? snapshot.nodeIntents[n.name]?.by : undefined,
    };
  });
  const leaderLease = snapshot.leaderLease;
  const leader =
    leaderLease === undefined
      ? undefined
      : Object.values(snapshot.nodes).find((n) => n.lease === leaderLease)?.name;
  const packages: PackageView[] = config.packages.map((pkg) => {
    const s = state.packages[pkg.name];
    const running = s?.runningOn ?? [];
    const placed = state.placements[pkg.name];
    const shouldRun = (s?.switching ?? pkg.autoRun) && !s?.haltedByOperator && !s?.maintenance;
    const owner = running[0];
    const ownerReport = snapshot.reports.find((r) => r.package === pkg.name && r.node === owner) as
      (Record<string, unknown> & { addresses?: unknown }) | undefined;
    return {
      name: pkg.name,
      type: pkg.type,
      status: s?.status ?? "down",
      state: running.length > 0 ? "running" : "halted",
      nodes: running,
      switching: s?.switching ?? pkg.autoRun,
      disabledNodes: s?.disabledNodes ?? [],
      haltedByOperator: s?.haltedByOperator ?? false,
      maintenance: s?.maintenance ?? false,
      requestedNode: s?.requestedNode,
      changedBy: snapshot.packageIntents?.[pkg.name]?.by,
      placedOn: placed !== undefined && !sameNodes(placed, running) ? placed : undefined,
      shouldRun,
      since: s && s.since > 0 ? s.since : undefined,
      addresses: addressesOf(config, pkg, owner, ownerReport?.addresses),
      services: pkg.services.map((svc) => svc.name),
      failedOn: (s?.failedOn ?? []).map((node) => ({
        node,
        reason: snapshot.reports.find((r) => r.package === pkg.name && r.node === node)?.reason,
      })),
      dependencies: pkg.dependencies.map((d) => ({
        name: d.name,
        package: d.package,
        condition: d.condition,
        location: d.location,
        met: (state.packages[d.package]?.status === "up") === (d.condition === "up"),
      })),
      ...(pkg.ipsec ? { ipsec: ipsecView(pkg.ipsec, input.ipsecPeers?.[pkg.name] ?? []) } : {}),
    };
  });
  return {
    cluster: {
      name: config.name,
      status: nodes.some((n) => n.status === "up") ? "up" : "down",
      leader,
      revision: snapshot.revision,
    },
    etcd: etcdView(config, input.etcd),
    nodes,
    packages,
    healthy: packages.every((p) => !p.shouldRun || p.status === "up"),
  };
}

/** 0 when every package that should run runs, 1 otherwise (a monitor's answer). */
export function statusExitCode(view: StatusView): 0 | 1 {
  return view.healthy ? 0 : 1;
}

function time(ms: number | undefined): string {
  return ms === undefined ? "-" : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function etcdText(etcd: EtcdView): string {
  const leader = etcd.leaderEndpoint === undefined ? "" : `, leader ${etcd.leaderEndpoint}`;
  const quorum = etcd.quorum ? "quorum" : "NO QUORUM";
  return `${etcd.reachable}/${etcd.members} members answer, ${quorum}${leader}`;
}

/** A table whose last column (operator notes) is left out while no row has one. */
function tableWithoutEmptyLast(header: string[], rows: string[][]): string {
  if (rows.some((r) => (r[r.length - 1] ?? "") !== "")) return table(header, rows);
  return table(
    header.slice(0, -1),
    rows.map((r) => r.slice(0, -1)),
  );
}

/** The operator's flags in a few words: halted, maintenance, requested node, disabled nodes. */
export function packageFlags(p: PackageView): string[] {
  const flags: string[] = [];
  if (p.haltedByOperator) flags.push("halted-by-operator");
  if (p.maintenance) flags.push("maintenance");
  if (p.requestedNode !== undefined) flags.push(`requested=${p.requestedNode}`);
  if (p.disabledNodes.length > 0) flags.push(`node-switching-off=${p.disabledNodes.join(",")}`);
  return flags;
}

function verbosePackage(p: PackageView): string[] {
  const lines = [``, `PACKAGE ${p.name} (${p.type})`];
  const addresses = p.addresses.map(
    (a) =>
      `${a.address} (${a.subnet}) ` +
      (a.node === undefined
        ? "not held"
        : `on ${a.node}${a.nic === undefined ? "" : ` ${a.nic}${a.nicFrom === "configured" ? " (primary)" : ""}`}`),
  );
  lines.push(`  addresses:     ${addresses.length > 0 ? addresses.join("; ") : "-"}`);
  lines.push(`  services:      ${p.services.length > 0 ? p.services.join(", ") : "-"}`);
  const failed = p.failedOn.map((f) => (f.reason === undefined ? f.node : `${f.node} (${f.reason})`));
  lines.push(`  failed on:     ${failed.length > 0 ? failed.join("; ") : "-"}`);
  const deps = p.dependencies.map(
    (d) => `${d.name}: ${d.package} ${d.condition} ${d.location} (${d.met ? "met" : "not met"})`,
  );
  lines.push(`  dependencies:  ${deps.length > 0 ? deps.join("; ") : "-"}`);
  lines.push(
    `  switching:     ${p.switching ? "enabled" : "disabled"}${p.disabledNodes.length > 0 ? `; disabled on ${p.disabledNodes.join(", ")}` : ""}`,
  );
  lines.push(
    `  operator:      ${packageFlags(p).join(" ") || "-"}${p.changedBy ? ` (last change by ${p.changedBy})` : ""}`,
  );
  lines.push(`  since:         ${time(p.since)}`);
  if (p.ipsec) {
    const n = p.ipsec.peers.length;
    lines.push(`  ipsec:         identity ${p.ipsec.identity}; ${n} peer${n === 1 ? "" : "s"} recorded`);
    for (const peer of p.ipsec.peers) {
      const contact =
        peer.contact === undefined || peer.contact.state === "ok"
          ? "ok"
          : `${peer.contact.state === "retrying" ? "not reached, retrying" : "given up"} after ${peer.contact.attempts} attempt(s)${peer.contact.lastError ? `: ${peer.contact.lastError}` : ""}`;
      lines.push(
        `                 ${peer.id} at ${peer.address} (${peer.connection}, recorded by ${peer.recordedBy}): ${contact}`,
      );
    }
  }
  return lines;
}

/** The human rendering: cmviewcl's tables (and, with verbose, a block per package). */
export function renderStatus(view: StatusView, options: { verbose?: boolean } = {}): string {
  const out: string[] = [];
  out.push(
    table(
      ["CLUSTER", "STATUS", "LEADER", "ETCD"],
      [[view.cluster.name, view.cluster.status, view.cluster.leader ?? "-", etcdText(view.etcd)]],
    ),
  );
  if (options.verbose) {
    for (const e of view.etcd.endpoints) {
      out.push(
        `  etcd ${e.endpoint}: ${e.reachable ? "answers" : `unreachable (${e.error ?? "no answer"})`}`,
      );
    }
  }
  out.push("");
  out.push(
    tableWithoutEmptyLast(
      ["NODE", "STATUS", "SINCE", "NOTE"],
      view.nodes.map((n) => [
        n.name,
        n.status,
        time(n.since),
        n.haltedByOperator ? `halted by operator${n.haltedBy ? ` (${n.haltedBy})` : ""}` : "",
      ]),
    ),
  );
  out.push("");
  out.push(
    tableWithoutEmptyLast(
      ["PACKAGE", "STATUS", "STATE", "AUTO_RUN", "NODE", "PLACED", "FLAGS"],
      view.packages.map((p) => [
        p.name,
        p.status,
        p.state,
        p.switching ? "enabled" : "disabled",
        p.nodes.length > 0 ? p.nodes.join(",") : "-",
        p.placedOn === undefined ? "" : p.placedOn.length > 0 ? p.placedOn.join(",") : "(nowhere)",
        packageFlags(p).join(" "),
      ]),
    ),
  );
  if (options.verbose) for (const p of view.packages) out.push(...verbosePackage(p));
  const down = view.packages.filter((p) => p.shouldRun && p.status !== "up").map((p) => p.name);
  if (down.length > 0) out.push("", `not running as they should: ${down.join(", ")}`);
  return out.join("\n");
}
