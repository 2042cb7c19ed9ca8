/**
 * What the cluster's etcd says, read from outside the daemons with etcdctl inside a lab node
 * (the lab's heartbeat LAN is not reachable from the machine's own namespace): which nodes are
 * members (nodes/, bound to their leases), who owns each package (owners/<package>/<node>) and
 * how each package fares on each node (status/<package>/<node>). One range read covers all
 * three: in key order they are nodes/, owners/, placements, status/ (layout.ts).
 */
import { etcdctlArgs } from "../lab/etcd.js";
import type { Lab } from "../lab/lab.js";
import { ClusterKeys, type PackageReport } from "../cluster/membership/layout.js";

export interface ClusterKeysSnapshot {
  /** When the read was sent (ms since the epoch). */
  at: number;
  /** Nodes whose nodes/ key exists: members with a live lease. */
  members: Set<string>;
  /** package → nodes with an owner key. */
  owners: Map<string, string[]>;
  /** package → node → its report. */
  status: Map<string, Map<string, PackageReport["status"]>>;
}

interface RangeJson {
  kvs?: { key: string; value?: string; lease?: number }[];
}

/** Reads the snapshot through `host`'s namespace; undefined when etcd did not answer in time. */
export async function readClusterKeys(
  lab: Lab,
  host: string,
  cluster: string,
): Promise<ClusterKeysSnapshot | undefined> {
  const keys = ClusterKeys.forCluster(cluster);
  const urls = lab.plan.etcd.members.map((m) => m.clientUrl);
  // "status0": the first key after every status/… key ("0" follows "/").
  const end = `${keys.prefix}status0`;
  const at = Date.now();
  const result = await lab.exec(
    host,
    [...etcdctlArgs(lab.runtime, lab.plan.etcd, urls), "get", keys.nodesPrefix, end, "-w", "json"],
    { allowFailure: true, timeoutMs: 5_000 },
  );
  if (result.code !== 0) return undefined;
  let parsed: RangeJson;
  try {
    parsed = JSON.parse(result.stdout) as RangeJson;
  } catch {
    return undefined;
  }
  const snapshot: ClusterKeysSnapshot = { at, members: new Set(), owners: new Map(), status: new Map() };
  for (const kv of parsed.kvs ?? []) {
    const key = Buffer.from(kv.key, "base64").toString("utf8");
    const node = keys.parseNode(key);
    // A node that left on purpose leaves its key bound to no lease ("halted"): not a member.
    if (node !== undefined && kv.lease !== undefined && String(kv.lease) !== "0") snapshot.members.add(node);
    const owner = keys.parseOwner(key);
    if (owner)
      snapshot.owners.set(owner.package, [...(snapshot.owners.get(owner.package) ?? []), owner.node]);
    const status = keys.parseStatus(key);
    if (status && kv.value !== undefined) {
      const report = JSON.parse(Buffer.from(kv.value, "base64").toString("utf8")) as PackageReport;
      const byNode = snapshot.status.get(status.package) ?? new Map<string, PackageReport["status"]>();
      byNode.set(status.node, report.status);
      snapshot.status.set(status.package, byNode);
    }
  }
  return snapshot;
}
