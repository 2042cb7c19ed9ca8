/**
 * The cluster state (state.ts) read back from etcd: what the leader schedules from. Reading is
 * one transaction of five gets (nodes/, owners/, status/, placements, leader), so every key comes from
 * the same revision; turning the keys into a ClusterState is the pure `clusterStateFrom`.
 *
 * - A configured node with a node key is up, or halted when its record says so (it is leaving:
 *   pavise daemon on SIGTERM); without one it failed (its lease ended, or it never joined).
 * - A package runs where its owner keys are; its status is what its owner reports (status/),
 *   "up" while the owner has not reported yet; it failed on every node whose report says so.
 * - Package switching follows auto_run until operators can change it (pavise pkg enable/disable
 *   is not there yet); no node switching, operator halts or maintenance yet either.
 */

import type { ClusterConfig } from "../config/model.js";
import type { EtcdClient } from "../etcd/client.js";
import { EtcdError } from "../etcd/errors.js";
import type { KeyValue, Txn, TxnResult } from "../etcd/wire.js";
import type { ClusterKeys, NodeRecord, PackageReport } from "../membership/layout.js";
import type { ClusterState, NodeState, PackageState, PackageStatus } from "../state.js";

/** The keys a ClusterState is made from, already parsed. */
export interface ClusterSnapshot {
  /** Node keys present, by node name. */
  nodes: Record<string, NodeRecord>;
  /** Owner keys present. */
  owners: { package: string; node: string }[];
  reports: PackageReport[];
  /** The placements key, if the leader wrote one. */
  placements: Record<string, string[]> | undefined;
  /** The lease the leader key is bound to; undefined while there is no leader. */
  leaderLease: string | undefined;
  /** The etcd revision the snapshot was read at. */
  revision: number;
}

function parseJson<T>(value: string): T | undefined {
  try {
    return JSON.parse(value) as T;
  } catch {
    return undefined;
  }
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

/** Parses the keys of the gets; keys that do not fit the layout are skipped. */
export function snapshotFrom(
  keys: ClusterKeys,
  parts: {
    nodes: readonly KeyValue[];
    owners: readonly KeyValue[];
    status: readonly KeyValue[];
    placements: KeyValue | undefined;
    leader?: KeyValue | undefined;
  },
  revision: number,
): ClusterSnapshot {
  const nodes: Record<string, NodeRecord> = {};
  for (const kv of parts.nodes) {
    const name = keys.parseNode(kv.key);
    if (name === undefined) continue;
    const record = parseJson<NodeRecord>(kv.value);
    nodes[name] = { ...(record ?? { since: 0 }), name, lease: kv.lease };
  }
  const owners: { package: string; node: string }[] = [];
  for (const kv of parts.owners) {
    const names = keys.parseOwner(kv.key);
    if (names) owners.push(names);
  }
  const reports: PackageReport[] = [];
  for (const kv of parts.status) {
    const names = keys.parseStatus(kv.key);
    const report = parseJson<Partial<PackageReport>>(kv.value);
    if (!names || !report || typeof report.status !== "string") continue;
    reports.push({ ...report, status: report.status, since: Number(report.since ?? 0), ...names });
  }
  let placements: Record<string, string[]> | undefined;
  if (parts.placements) {
    const parsed = parseJson<Record<string, unknown>>(parts.placements.value);
    if (parsed && typeof parsed === "object") {
      placements = {};
      for (const [pkg, where] of Object.entries(parsed)) if (isStringArray(where)) placements[pkg] = where;
    }
  }
  return { nodes, owners, reports, placements, leaderLease: parts.leader?.lease, revision };
}

/** The cluster as the scheduler sees it, from the configuration and the keys. Pure. */
export function clusterStateFrom(config: ClusterConfig, snapshot: ClusterSnapshot): ClusterState {
  const nodes: Record<string, NodeState> = {};
  for (const node of config.nodes) {
    const record = snapshot.nodes[node.name];
    const configuredSubnets = node.interfaces.map((i) => i.subnet);
    nodes[node.name] = record
      ? {
          name: node.name,
          status: record.status === "halted" ? "halted" : "up",
          // A record without subnetsUp (an older daemon) counts every subnet as up.
          subnetsUp: isStringArray(record.subnetsUp) ? record.subnetsUp : configuredSubnets,
          resources: readResources(record.resources),
          since: Number(record.since) || 0,
        }
      : { name: node.name, status: "failed", subnetsUp: [], resources: {}, since: 0 };
  }
  const packages: Record<string, PackageState> = {};
  for (const pkg of config.packages) {
    const runningOn = [
      ...new Set(snapshot.owners.filter((o) => o.package === pkg.name).map((o) => o.node)),
    ].sort((a, b) => order(config, a) - order(config, b));
    const reports = snapshot.reports.filter((r) => r.package === pkg.name);
    const failedOn = reports.filter((r) => r.status === "failed").map((r) => r.node);
    const ownerReports = reports.filter((r) => runningOn.includes(r.node));
    packages[pkg.name] = {
      name: pkg.name,
      status: packageStatus(runningOn, ownerReports, failedOn),
      runningOn,
      switching: pkg.autoRun,
      disabledNodes: [],
      failedOn: [...new Set(failedOn)].sort((a, b) => order(config, a) - order(config, b)),
      haltedByOperator: false,
      maintenance: false,
      since: Math.max(0, ...reports.map((r) => r.since)),
    };
  }
  return { nodes, packages, placements: snapshot.placements ?? {} };
}

function order(config: ClusterConfig, node: string): number {
  const i = config.nodes.findIndex((n) => n.name === node);
  return i < 0 ? config.nodes.length : i;
}

function readResources(value: unknown): Record<string, "up" | "down"> {
  const resources: Record<string, "up" | "down"> = {};
  if (value && typeof value === "object") {
    for (const [name, status] of Object.entries(value as Record<string, unknown>)) {
      if (status === "up" || status === "down") resources[name] = status;
    }
  }
  return resources;
}

function packageStatus(
  runningOn: string[],
  ownerReports: PackageReport[],
  failedOn: string[],
): PackageStatus {
  if (runningOn.length === 0) return failedOn.length > 0 ? "failed" : "down";
  const statuses = new Set(ownerReports.map((r) => r.status));
  if (statuses.has("failed")) return "failing";
  if (statuses.has("halting")) return "halting";
  if (statuses.has("starting")) return "starting";
  return "up";
}

/** Reads the keys (one transaction, one revision) into a snapshot. */
export async function readSnapshot(client: EtcdClient, keys: ClusterKeys): Promise<ClusterSnapshot> {
  const result = await readOnlyTxn(client, {
    compare: [],
    success: [
      { op: "get", key: keys.nodesPrefix, prefix: true },
      { op: "get", key: keys.ownersPrefix, prefix: true },
      { op: "get", key: keys.statusPrefix, prefix: true },
      { op: "get", key: keys.placements },
      { op: "get", key: keys.leader },
    ],
    failure: [],
  });
  const kvs = (i: number): readonly KeyValue[] => {
    const r = result.results[i];
    return r?.op === "get" ? r.kvs : [];
  };
  return snapshotFrom(
    keys,
    { nodes: kvs(0), owners: kvs(1), status: kvs(2), placements: kvs(3)[0], leader: kvs(4)[0] },
    result.revision,
  );
}

/**
 * A transaction of gets only: safe to send again when an answer was lost. The client does not
 * retry transactions (a write could be applied twice), so a member that went away would
 * otherwise cost a whole round; the client has moved on to the next member by then.
 */
async function readOnlyTxn(client: EtcdClient, txn: Txn): Promise<TxnResult> {
  const attempts = Math.max(1, client.transport.endpointCount);
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.txn(txn);
    } catch (err) {
      if (attempt >= attempts || !(err instanceof EtcdError) || err.code !== "ETCD_OUTCOME_UNKNOWN")
        throw err;
    }
  }
}
