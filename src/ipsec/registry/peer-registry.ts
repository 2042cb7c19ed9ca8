import type { EtcdClient } from "../../cluster/etcd/client.js";
import type { Compare, Txn, TxnOp } from "../../cluster/etcd/wire.js";
import type { ClusterKeys } from "../../cluster/membership/layout.js";
import { formatPeerRecord, parsePeerRecord, type PeerRecord } from "./peer-record.js";

/**
 * The IPsec peers of each package in etcd (docs/ipsec-packages-design.md §7; keys in layout.ts).
 *
 * Only the package's owner writes or deletes: every write is one transaction that first compares
 * this node's owner key of the package (owners/<package>/<node>) with its lease, and with the
 * revision ownership began at when the caller knows it. A node that lost ownership — fenced,
 * lease expired, package moved away — is refused by etcd itself, however late its write
 * arrives (DESIGN.md principle 2: etcd decides, not the node's belief). The records are bound
 * to no lease, so they outlive the owner: the adoptive node needs exactly those.
 */

/** Who may write: the owner key a node holds for the package (ownership.ts OwnerKey). */
export interface OwnerGuard {
  package: string;
  node: string;
  /** The lease the owner key is bound to (decimal). */
  lease: string;
  /**
   * The owner key's create revision (OwnerKey.createRevision): also refuses a write from an
   * earlier ownership of the same session, released and taken again since.
   */
  createRevision?: number;
}

export type RegistryWrite = { written: true; revision: number } | { written: false; reason: string };

export interface ListedPeer {
  /** The key's last part (ipsecPeerName of the identity). */
  name: string;
  key: string;
  record: PeerRecord;
  modRevision: number;
}

export interface PeerList {
  peers: ListedPeer[];
  /** Keys whose value could not be read, each with the key and what to do (for events and status). */
  problems: string[];
  revision: number;
}

/**
 * etcd refuses a transaction with more than --max-txn-ops (default 128) operations in a branch;
 * a takeover of a package with 1,000 peers must not fail on it.
 */
const OPS_PER_TXN = 100;

function ownerCompares(keys: ClusterKeys, guard: OwnerGuard): Compare[] {
  const key = keys.owner(guard.package, guard.node);
  const compares: Compare[] = [{ key, target: "lease", op: "==", value: guard.lease }];
  if (guard.createRevision !== undefined) {
    compares.push({ key, target: "create", op: "==", value: guard.createRevision });
  }
  return compares;
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += OPS_PER_TXN) out.push(items.slice(i, i + OPS_PER_TXN));
  return out;
}

async function guardedWrite(
  client: EtcdClient,
  keys: ClusterKeys,
  guard: OwnerGuard,
  ops: readonly TxnOp[],
): Promise<RegistryWrite> {
  const ownerKey = keys.owner(guard.package, guard.node);
  let revision = 0;
  for (const chunk of ops.length === 0 ? [[]] : chunks(ops)) {
    const txn: Txn = {
      compare: ownerCompares(keys, guard),
      success: chunk,
      failure: [{ op: "get", key: keys.packageOwners(guard.package), prefix: true }],
    };
    const result = await client.txn(txn);
    if (!result.succeeded) {
      const got = result.results[0];
      const holders = got?.op === "get" ? got.kvs.map((kv) => `${kv.key} (lease ${kv.lease})`) : [];
      return {
        written: false,
        reason:
          `${ownerKey} is not held with lease ${guard.lease}` +
          (guard.createRevision === undefined ? "" : ` from revision ${guard.createRevision}`) +
          `: owner keys now ${holders.length > 0 ? holders.join(", ") : "none"}; ` +
          `only the package's owner records its IPsec peers`,
      };
    }
    revision = result.revision;
  }
  return { written: true, revision };
}

/**
 * Records peers of a package as its owner. `node` of each record becomes the guard's node. One
 * transaction per 100 records; if ownership is lost between two of them, the rest is refused.
 */
export async function recordPeers(
  client: EtcdClient,
  keys: ClusterKeys,
  guard: OwnerGuard,
  records: readonly PeerRecord[],
): Promise<RegistryWrite> {
  const ops: TxnOp[] = records.map((r) => ({
    op: "put",
    key: keys.ipsecPeer(guard.package, r.id),
    value: formatPeerRecord({ ...r, node: guard.node }),
  }));
  return guardedWrite(client, keys, guard, ops);
}

/** Forgets peers (by remote identity) as the package's owner: after their DELETE, or the sweep. */
export async function forgetPeers(
  client: EtcdClient,
  keys: ClusterKeys,
  guard: OwnerGuard,
  remoteIds: readonly string[],
): Promise<RegistryWrite> {
  const ops: TxnOp[] = remoteIds.map((id) => ({ op: "delete", key: keys.ipsecPeer(guard.package, id) }));
  return guardedWrite(client, keys, guard, ops);
}

/** Forgets every peer of the package (halted for good by an operator), as its owner. */
export async function forgetAllPeers(
  client: EtcdClient,
  keys: ClusterKeys,
  guard: OwnerGuard,
): Promise<RegistryWrite> {
  const op: TxnOp = { op: "delete", key: keys.packageIpsecPeers(guard.package), prefix: true };
  return guardedWrite(client, keys, guard, [op]);
}

/** Every recorded peer of a package. Anyone may read (the adoptive node, pavise status). */
export async function listPeers(client: EtcdClient, keys: ClusterKeys, pkg: string): Promise<PeerList> {
  const range = await client.range(keys.packageIpsecPeers(pkg), { prefix: true });
  const peers: ListedPeer[] = [];
  const problems: string[] = [];
  for (const kv of range.kvs) {
    const names = keys.parseIpsecPeer(kv.key);
    if (!names) {
      problems.push(`${kv.key}: not a peer key of package ${pkg}; delete it`);
      continue;
    }
    const parsed = parsePeerRecord(kv.value, kv.key);
    if (!parsed.ok) {
      problems.push(parsed.problem);
      continue;
    }
    if (keys.ipsecPeer(pkg, parsed.record.id) !== kv.key) {
      problems.push(
        `${kv.key}: holds identity ${JSON.stringify(parsed.record.id)}, whose key differs; delete it`,
      );
      continue;
    }
    peers.push({ name: names.peer, key: kv.key, record: parsed.record, modRevision: kv.modRevision });
  }
  return { peers, problems, revision: range.revision };
}
