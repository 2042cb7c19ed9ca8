import type { EtcdClient } from "../etcd/client.js";
import type { ClusterEvent, ClusterKeys, NodeRecord } from "./layout.js";

/**
 * The node keys (membership as the others see it) and the event log. A node key is bound to the
 * node's lease: it is there while the node is a member, and etcd deletes it when the lease ends.
 */

/** Writes (or updates) my node key, bound to my lease; fails with ETCD_LEASE_NOT_FOUND once it has ended. */
export async function publishNode(
  client: EtcdClient,
  keys: ClusterKeys,
  record: NodeRecord,
): Promise<number> {
  return client.put(keys.node(record.name), JSON.stringify(record), { lease: record.lease });
}

/** Leaves on purpose: deletes my node key if it is still bound to my lease. */
export async function withdrawNode(
  client: EtcdClient,
  keys: ClusterKeys,
  me: { name: string; lease: string },
): Promise<boolean> {
  const key = keys.node(me.name);
  const result = await client.txn({
    compare: [{ key, target: "lease", op: "==", value: me.lease }],
    success: [{ op: "delete", key }],
    failure: [],
  });
  return result.succeeded;
}

/**
 * Leaves on purpose (SIGTERM, cmhaltnode): my node key, if still bound to my lease, becomes a
 * key bound to no lease that says "halted", so the cluster shows the node halted rather than
 * failed once the lease is revoked; joining again overwrites it with a lease-bound key.
 */
export async function retireNode(
  client: EtcdClient,
  keys: ClusterKeys,
  me: { name: string; lease: string },
  record: Record<string, unknown>,
): Promise<boolean> {
  const key = keys.node(me.name);
  const result = await client.txn({
    compare: [{ key, target: "lease", op: "==", value: me.lease }],
    success: [
      {
        op: "put",
        key,
        value: JSON.stringify({ ...record, name: me.name, status: "halted", left: Date.now() }),
      },
    ],
    failure: [],
  });
  return result.succeeded;
}

export async function readNodes(
  client: EtcdClient,
  keys: ClusterKeys,
): Promise<{ nodes: (NodeRecord & { modRevision: number })[]; revision: number }> {
  const range = await client.range(keys.nodesPrefix);
  const nodes: (NodeRecord & { modRevision: number })[] = [];
  for (const kv of range.kvs) {
    const name = keys.parseNode(kv.key);
    if (name === undefined) continue;
    try {
      nodes.push({
        ...(JSON.parse(kv.value) as NodeRecord),
        name,
        lease: kv.lease,
        modRevision: kv.modRevision,
      });
    } catch {
      nodes.push({ name, lease: kv.lease, since: 0, modRevision: kv.modRevision });
    }
  }
  return { nodes, revision: range.revision };
}

let eventCounter = 0;

/**
 * Appends one event to the cluster's event log. `attempts` > 1 writes the same key again after a
 * failure (etcd drops proposals while its leadership moves, which Pavise itself causes right
 * after a package starts): the same key and value, so a write that did land is not doubled.
 */
export async function appendEvent(
  client: EtcdClient,
  keys: ClusterKeys,
  event: { node: string; kind: string; message: string; time?: number; [extra: string]: unknown },
  attempts = 1,
): Promise<number> {
  const time = event.time ?? Date.now();
  eventCounter += 1;
  const key = keys.event(time, event.node, eventCounter);
  const value = JSON.stringify({ ...event, time });
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.put(key, value);
    } catch (err) {
      if (attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * 3 ** (attempt - 1)));
    }
  }
}

/** The event log in cluster order (by the revision each event was written at). */
export async function readEvents(
  client: EtcdClient,
  keys: ClusterKeys,
): Promise<(ClusterEvent & { revision: number })[]> {
  const range = await client.range(keys.eventsPrefix);
  return range.kvs
    .map((kv) => ({ ...(JSON.parse(kv.value) as ClusterEvent), revision: kv.modRevision }))
    .sort((a, b) => a.revision - b.revision);
}
