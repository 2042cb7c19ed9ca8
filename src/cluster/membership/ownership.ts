import type { EtcdClient } from "../etcd/client.js";
import { EtcdError } from "../etcd/errors.js";
import type { KeyValue, Txn } from "../etcd/wire.js";
import type { ClusterKeys, OwnerRecord } from "./layout.js";

/**
 * Package ownership (DESIGN.md principles 2 and 3): a node may start a package only while it
 * holds the package's owner key, bound to its own lease, so the key — and the right to run the
 * package — dies with the node's membership.
 *
 * A failover package's key is taken by one transaction that puts owners/<package>/<me> only if
 * there is no key at all under owners/<package>/ (a range comparison: etcd checks and writes
 * atomically, so of any number of contenders exactly one wins). A multi-node package lets each
 * node put its own key. Release deletes my key only if it is still bound to my lease.
 */

export interface OwnerKey extends OwnerRecord {
  package: string;
  /** Revision the key was created at: when this ownership began, in etcd's order. */
  createRevision: number;
}

export type AcquireResult = { acquired: true; owner: OwnerKey } | { acquired: false; holders: OwnerKey[] };

export interface AcquireRequest {
  package: string;
  node: string;
  lease: string;
  /** Failover package: nobody else may hold it (default). Multi-node: false. */
  exclusive?: boolean;
  /** Wall clock for the record (default Date.now()). */
  since?: number;
}

function parseOwners(keys: ClusterKeys, kvs: readonly KeyValue[]): OwnerKey[] {
  const owners: OwnerKey[] = [];
  for (const kv of kvs) {
    const names = keys.parseOwner(kv.key);
    if (!names) continue;
    let since = 0;
    try {
      since = Number((JSON.parse(kv.value) as Partial<OwnerRecord>).since ?? 0);
    } catch {
      // A value we cannot read still names its owner through the key and lease.
    }
    owners.push({
      package: names.package,
      node: names.node,
      lease: kv.lease,
      since,
      createRevision: kv.createRevision,
    });
  }
  return owners;
}

/**
 * Takes ownership, or tells who holds it. Holding it already (same node, same lease) counts as
 * taken. When the answer is lost (ETCD_OUTCOME_UNKNOWN) the keys are read back to decide.
 */
export async function acquireOwnership(
  client: EtcdClient,
  keys: ClusterKeys,
  request: AcquireRequest,
): Promise<AcquireResult> {
  const mine = keys.owner(request.package, request.node);
  const all = keys.packageOwners(request.package);
  const record: OwnerRecord = {
    node: request.node,
    lease: request.lease,
    since: request.since ?? Date.now(),
  };
  const txn: Txn = {
    compare:
      request.exclusive === false
        ? [{ key: mine, target: "create", op: "==", value: 0 }]
        : [{ key: all, prefix: true, target: "create", op: "==", value: 0 }],
    success: [{ op: "put", key: mine, value: JSON.stringify(record), lease: request.lease }],
    failure: [{ op: "get", key: all, prefix: true }],
  };
  let holders: OwnerKey[];
  try {
    const result = await client.txn(txn);
    if (result.succeeded) {
      return {
        acquired: true,
        owner: { ...record, package: request.package, createRevision: result.revision },
      };
    }
    const got = result.results[0];
    holders = got?.op === "get" ? parseOwners(keys, got.kvs) : [];
  } catch (err) {
    if (!(err instanceof EtcdError) || err.code !== "ETCD_OUTCOME_UNKNOWN") throw err;
    holders = parseOwners(keys, (await client.range(all)).kvs);
  }
  const held = holders.find((h) => h.node === request.node && h.lease === request.lease);
  if (held && (request.exclusive === false || holders.length === 1)) return { acquired: true, owner: held };
  return { acquired: false, holders };
}

/** Gives ownership up: deletes my key if it is still bound to my lease. True if it was. */
export async function releaseOwnership(
  client: EtcdClient,
  keys: ClusterKeys,
  request: { package: string; node: string; lease: string },
): Promise<boolean> {
  const mine = keys.owner(request.package, request.node);
  const result = await client.txn({
    compare: [{ key: mine, target: "lease", op: "==", value: request.lease }],
    success: [{ op: "delete", key: mine }],
    failure: [],
  });
  return result.succeeded;
}

/** Every owner key (of one package, or of all), with the revision they were read at. */
export async function readOwners(
  client: EtcdClient,
  keys: ClusterKeys,
  pkg?: string,
): Promise<{ owners: OwnerKey[]; revision: number }> {
  const range = await client.range(pkg === undefined ? keys.ownersPrefix : keys.packageOwners(pkg));
  return { owners: parseOwners(keys, range.kvs), revision: range.revision };
}
