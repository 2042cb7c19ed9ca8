/**
 * The cluster state (state.ts) read back from etcd: what the leader schedules from. Reading is
 * one transaction of seven gets (nodes/, owners/, status/, placements, leader, admin/,
 * resources/), so every key comes from the same revision; turning the keys into a ClusterState
 * is the pure `clusterStateFrom`.
 *
 * - A configured node with a node key is up, or halted when its record says so (it is leaving:
 *   pavise daemon on SIGTERM); without one it failed (its lease ended, or it never joined).
 * - A package runs where its owner keys are; its status is what its owner reports (status/),
 *   "up" while the owner has not reported yet; it failed on every node whose report says so.
 * - Operator intent (admin/, resources/: layout.ts) is merged in: a node an operator halted is
 *   halted (while it is a member: a failed node stays failed); package switching is the
 *   operator's or else auto_run; disabled nodes, operator halt, maintenance and the requested
 *   node come from admin/packages/<package>; a resource an operator set on a node overrides
 *   what that node's daemon reports.
 */

import type { ClusterConfig } from "../config/model.js";
import type { EtcdClient } from "../etcd/client.js";
import { EtcdError } from "../etcd/errors.js";
import type { KeyValue, Txn, TxnResult } from "../etcd/wire.js";
import type {
  ClusterKeys,
  NodeIntent,
  NodeRecord,
  PackageIntent,
  PackageReport,
  ResourceSetting,
} from "../membership/layout.js";
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
  /** Operator intent per package (admin/packages/), as stored. */
  packageIntents: Record<string, PackageIntent>;
  /** Operator intent per node (admin/nodes/). */
  nodeIntents: Record<string, NodeIntent>;
  /** Generic resources set by operators: node → resource → setting. */
  resourceSettings: Record<string, Record<string, ResourceSetting>>;
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
    /** admin/ keys (packages and nodes). */
    admin?: readonly KeyValue[];
    resources?: readonly KeyValue[];
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
  return {
    nodes,
    owners,
    reports,
    placements,
    leaderLease: parts.leader?.lease,
    revision,
    ...intentsFrom(keys, parts.admin ?? [], parts.resources ?? []),
  };
}

/** The operator keys, parsed; a value that does not fit is skipped (the defaults apply). */
function intentsFrom(
  keys: ClusterKeys,
  admin: readonly KeyValue[],
  resources: readonly KeyValue[],
): Pick<ClusterSnapshot, "packageIntents" | "nodeIntents" | "resourceSettings"> {
  const packageIntents: Record<string, PackageIntent> = {};
  const nodeIntents: Record<string, NodeIntent> = {};
  const resourceSettings: Record<string, Record<string, ResourceSetting>> = {};
  for (const kv of admin) {
    const value = parseJson<Record<string, unknown>>(kv.value);
    if (!value || typeof value !== "object") continue;
    const pkg = keys.parseAdminPackage(kv.key);
    if (pkg !== undefined) {
      packageIntents[pkg] = packageIntentFrom(value);
      continue;
    }
    const node = keys.parseAdminNode(kv.key);
    if (node !== undefined) nodeIntents[node] = { ...changedBy(value), halted: value.halted === true };
  }
  for (const kv of resources) {
    const names = keys.parseResource(kv.key);
    const value = parseJson<Record<string, unknown>>(kv.value);
    if (!names || !value || (value.status !== "up" && value.status !== "down")) continue;
    (resourceSettings[names.node] ??= {})[names.name] = { ...changedBy(value), status: value.status };
  }
  return { packageIntents, nodeIntents, resourceSettings };
}

function packageIntentFrom(value: Record<string, unknown>): PackageIntent {
  const intent: PackageIntent = changedBy(value);
  if (typeof value.switching === "boolean") intent.switching = value.switching;
  if (isStringArray(value.disabledNodes)) intent.disabledNodes = value.disabledNodes;
  if (typeof value.halted === "boolean") intent.halted = value.halted;
  if (typeof value.maintenance === "boolean") intent.maintenance = value.maintenance;
  if (typeof value.requestedNode === "string") intent.requestedNode = value.requestedNode;
  return intent;
}

function changedBy(value: Record<string, unknown>): { by?: string; at?: number } {
  return {
    ...(typeof value.by === "string" ? { by: value.by } : {}),
    ...(typeof value.at === "number" ? { at: value.at } : {}),
  };
}

/** The cluster as the scheduler sees it, from the configuration and the keys. Pure. */
export function clusterStateFrom(config: ClusterConfig, snapshot: ClusterSnapshot): ClusterState {
  const nodes: Record<string, NodeState> = {};
  for (const node of config.nodes) {
    const record = snapshot.nodes[node.name];
    const configuredSubnets = node.interfaces.map((i) => i.subnet);
    const haltedByOperator = snapshot.nodeIntents?.[node.name]?.halted === true;
    const operatorResources: Record<string, "up" | "down"> = {};
    for (const [name, setting] of Object.entries(snapshot.resourceSettings?.[node.name] ?? {})) {
      operatorResources[name] = setting.status;
    }
    nodes[node.name] = record
      ? {
          name: node.name,
          // Halted as soon as the operator says so: the leader need not wait for the daemon.
          status: record.status === "halted" || haltedByOperator ? "halted" : "up",
          // A record without subnetsUp (an older daemon) counts every subnet as up.
          subnetsUp: isStringArray(record.subnetsUp) ? record.subnetsUp : configuredSubnets,
          resources: { ...readResources(record.resources), ...operatorResources },
          since: Number(record.since) || 0,
          ...(haltedByOperator ? { haltedByOperator } : {}),
        }
      : {
          name: node.name,
          status: "failed",
          subnetsUp: [],
          resources: operatorResources,
          since: 0,
          ...(haltedByOperator ? { haltedByOperator } : {}),
        };
  }
  const packages: Record<string, PackageState> = {};
  for (const pkg of config.packages) {
    const runningOn = [
      ...new Set(snapshot.owners.filter((o) => o.package === pkg.name).map((o) => o.node)),
    ].sort((a, b) => order(config, a) - order(config, b));
    const reports = snapshot.reports.filter((r) => r.package === pkg.name);
    const failedOn = reports.filter((r) => r.status === "failed").map((r) => r.node);
    const ownerReports = reports.filter((r) => runningOn.includes(r.node));
    const intent = snapshot.packageIntents?.[pkg.name] ?? {};
    packages[pkg.name] = {
      name: pkg.name,
      status: packageStatus(runningOn, ownerReports, failedOn),
      runningOn,
      switching: intent.switching ?? pkg.autoRun,
      disabledNodes: [...new Set(intent.disabledNodes ?? [])].sort(
        (a, b) => order(config, a) - order(config, b),
      ),
      failedOn: [...new Set(failedOn)].sort((a, b) => order(config, a) - order(config, b)),
      haltedByOperator: intent.halted ?? false,
      maintenance: intent.maintenance ?? false,
      ...(intent.requestedNode !== undefined ? { requestedNode: intent.requestedNode } : {}),
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
      { op: "get", key: keys.adminPrefix, prefix: true },
      { op: "get", key: keys.resourcesPrefix, prefix: true },
    ],
    failure: [],
  });
  const kvs = (i: number): readonly KeyValue[] => {
    const r = result.results[i];
    return r?.op === "get" ? r.kvs : [];
  };
  return snapshotFrom(
    keys,
    {
      nodes: kvs(0),
      owners: kvs(1),
      status: kvs(2),
      placements: kvs(3)[0],
      leader: kvs(4)[0],
      admin: kvs(5),
      resources: kvs(6),
    },
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
