import type { EtcdClient } from "../etcd/client.js";
import { EtcdError } from "../etcd/errors.js";
import type { ClusterKeys } from "./layout.js";

/**
 * The cluster leader: the one node that writes placements. Elected through etcd, not by us: the
 * leader key is taken by a transaction that needs it absent (create_revision == 0) and is bound
 * to the winner's lease, so it goes when the leader fails and the next campaign wins.
 */

export interface LeaderRecord {
  node: string;
  lease: string;
  since: number;
}

export type CampaignResult =
  | { leader: true; record: LeaderRecord; revision: number }
  | { leader: false; holder: LeaderRecord | undefined };

function parse(value: string | undefined): LeaderRecord | undefined {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value) as LeaderRecord;
  } catch {
    return undefined;
  }
}

export async function campaign(
  client: EtcdClient,
  keys: ClusterKeys,
  me: { node: string; lease: string; since?: number },
): Promise<CampaignResult> {
  const record: LeaderRecord = { node: me.node, lease: me.lease, since: me.since ?? Date.now() };
  let holder: LeaderRecord | undefined;
  let holderLease: string | undefined;
  let revision = 0;
  try {
    const result = await client.txn({
      compare: [{ key: keys.leader, target: "create", op: "==", value: 0 }],
      success: [{ op: "put", key: keys.leader, value: JSON.stringify(record), lease: me.lease }],
      failure: [{ op: "get", key: keys.leader }],
    });
    if (result.succeeded) return { leader: true, record, revision: result.revision };
    const got = result.results[0];
    const kv = got?.op === "get" ? got.kvs[0] : undefined;
    holder = parse(kv?.value);
    holderLease = kv?.lease;
    revision = kv?.createRevision ?? 0;
  } catch (err) {
    if (!(err instanceof EtcdError) || err.code !== "ETCD_OUTCOME_UNKNOWN") throw err;
    const kv = await client.get(keys.leader);
    holder = parse(kv?.value);
    holderLease = kv?.lease;
    revision = kv?.createRevision ?? 0;
  }
  if (holder && holderLease === me.lease) return { leader: true, record: holder, revision };
  return { leader: false, holder };
}

/** Steps down: deletes the leader key if it is still mine. */
export async function resign(client: EtcdClient, keys: ClusterKeys, me: { lease: string }): Promise<boolean> {
  const result = await client.txn({
    compare: [{ key: keys.leader, target: "lease", op: "==", value: me.lease }],
    success: [{ op: "delete", key: keys.leader }],
    failure: [],
  });
  return result.succeeded;
}

export async function currentLeader(
  client: EtcdClient,
  keys: ClusterKeys,
): Promise<LeaderRecord | undefined> {
  return parse((await client.get(keys.leader))?.value);
}

/**
 * Writes the placements (package → nodes) only while I am the leader: the transaction checks
 * that the leader key is still bound to my lease. False when it is not (any more).
 */
export async function writePlacements(
  client: EtcdClient,
  keys: ClusterKeys,
  me: { lease: string },
  placements: Record<string, string[]>,
): Promise<boolean> {
  const result = await client.txn({
    compare: [{ key: keys.leader, target: "lease", op: "==", value: me.lease }],
    success: [{ op: "put", key: keys.placements, value: JSON.stringify(placements) }],
    failure: [],
  });
  return result.succeeded;
}

export async function readPlacements(
  client: EtcdClient,
  keys: ClusterKeys,
): Promise<{ placements: Record<string, string[]>; modRevision: number }> {
  const kv = await client.get(keys.placements);
  if (!kv) return { placements: {}, modRevision: 0 };
  return { placements: JSON.parse(kv.value) as Record<string, string[]>, modRevision: kv.modRevision };
}
