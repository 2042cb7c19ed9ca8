import { EtcdError } from "./errors.js";
import { GatewayTransport, type GatewayTransportOptions } from "./gateway-transport.js";
import { EtcdWatch, type WatchOptions } from "./watch.js";
import {
  decodeKeyValue,
  decodeTxn,
  encodeDelete,
  encodePut,
  encodeRange,
  encodeTxn,
  headerRevision,
  wireInt,
  type KeyValue,
  type RangeSort,
  type Txn,
  type TxnResult,
  type WireHeader,
  type WireRangeResponse,
  type WireTxnResponse,
} from "./wire.js";

/*
 * Why etcd's JSON gateway and node:http rather than the npm `etcd3` package (gRPC).
 *
 * Measured in the lab (3 members in namespaces, 50/500 ms Raft timing, client in n1, 500
 * requests each after 20 to warm up, p50 / p99 ms), both clients in one throw-away script run
 * with `ip netns exec LAB-n1 node bench.mjs` and etcd3 installed outside the project; the
 * gateway side is measured again, with this client, by test/integration/cluster-etcd.test.ts:
 *
 *   |                       | gateway + node:http | etcd3 1.1.2 (grpc-js) |
 *   | put                   | 1.08 / 2.50         | 1.04 / 3.10           |
 *   | get                   | 0.65 / 2.29         | 0.67 / 3.36           |
 *   | txn (compare + put)   | 1.11 / 2.70         | 1.03 / 4.03           |
 *   | lease keep-alive      | 0.49 / 2.61 (POST)  | 0.27 / 1.65 (stream)  |
 *   | watch, put → event    | 0.99 / 2.13         | 1.05 / 3.85           |
 *
 * Latency is the same to within a tenth of a millisecond, against lease TTLs of a second and
 * more. Lease loss is etcd's own business (the leader's lessor) and the same for both. The
 * difference is weight: etcd3 brings 27 packages (16 MB: grpc-js, protobufjs, yargs …), costs
 * ≈85 ms and ≈25 MB of memory to load — once in the main thread and once more in the keep-alive
 * worker — against one runtime dependency today (yaml).
 *
 * What the gateway costs us: it answers a streaming call only when the request body ends, so the
 * lease keep-alive is one small POST per renewal instead of a message on a stream (which we want
 * anyway: each renewal has its own send time, the one the fence deadline counts from, and its
 * own timeout); watches are a streaming answer to one POST, one watch per connection.
 */

export type EtcdClientOptions = GatewayTransportOptions;

export interface GetOptions {
  /** Read at this revision (must not be compacted). */
  revision?: number;
  /** Answer from the member's own copy without asking the leader (may be stale). */
  serializable?: boolean;
}

/**
 * What a range may add to a get: a prefix, and for logs that only grow (events/) a bound on the
 * answer — the newest keys first, or only keys changed after a revision (design §12.5).
 */
export interface RangeOptions {
  prefix?: boolean;
  limit?: number;
  /** Only keys last changed at this revision or later (RangeRequest.min_mod_revision). */
  minModRevision?: number;
  sort?: RangeSort;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** Store revision the answer was read at. */
  revision: number;
}

export interface Lease {
  /** Decimal 64-bit lease ID. */
  id: string;
  /** TTL etcd granted (it may be more than asked: etcd's minimum depends on its Raft timing). */
  ttlMs: number;
  /** When the grant request was sent (monotonicMs): the lease lives at least ttlMs from there. */
  sentAt: number;
}

export interface KeepAliveResult {
  /** TTL etcd renewed the lease for, counted from when etcd handled the request. */
  ttlMs: number;
  /** When the answered request was sent (monotonicMs). */
  sentAt: number;
  endpoint: string;
}

export interface LeaseTimeToLive {
  /** The lease exists (etcd counts the remaining TTL in whole seconds: 0 is "under a second"). */
  exists: boolean;
  /** Remaining TTL, rounded down to whole seconds; -1 when the lease does not exist. */
  ttlMs: number;
  grantedTtlMs: number;
  keys: string[];
}

export interface EtcdMember {
  /** Member ID, a decimal string (it does not fit a JavaScript number). */
  id: string;
  name: string;
  clientUrls: string[];
}

export interface EtcdStatus {
  endpoint: string;
  version: string;
  memberId: string;
  leader: string;
  raftTerm: number;
  revision: number;
}

/**
 * What Pavise needs from etcd v3: keys (get, range by prefix, put, delete), transactions, leases
 * and watches. Every call goes to one of the members, moving on to the next when one is
 * unreachable or has no leader (gateway-transport.ts); errors are EtcdErrors with stable codes.
 */
export class EtcdClient {
  readonly transport: GatewayTransport;

  constructor(options: EtcdClientOptions) {
    this.transport = new GatewayTransport(options);
  }

  async get(key: string, options: GetOptions = {}): Promise<KeyValue | undefined> {
    return (await this.range(key, { ...options, prefix: false })).kvs[0];
  }

  /** Every key under a prefix (sorted by key), or one key with prefix: false. */
  async range(key: string, options: GetOptions & RangeOptions = { prefix: true }): Promise<RangeResult> {
    const { body } = await this.transport.call<WireRangeResponse>(
      "/v3/kv/range",
      encodeRange(key, { prefix: options.prefix ?? true, ...options }),
      { idempotent: true },
    );
    return { kvs: (body.kvs ?? []).map(decodeKeyValue), revision: headerRevision(body.header) };
  }

  /** Writes a key (bound to a lease if given); returns the revision of the write. */
  async put(key: string, value: string, options: { lease?: string } = {}): Promise<number> {
    const { body } = await this.transport.call<{ header?: WireHeader }>(
      "/v3/kv/put",
      encodePut(key, value, options.lease),
      // Writing the same value again is harmless for the keys Pavise puts without a transaction.
      { idempotent: true },
    );
    return headerRevision(body.header);
  }

  /** Deletes a key, or every key under a prefix; returns how many went. */
  async delete(
    key: string,
    options: { prefix?: boolean } = {},
  ): Promise<{ deleted: number; revision: number }> {
    const { body } = await this.transport.call<{ header?: WireHeader; deleted?: string }>(
      "/v3/kv/deleterange",
      encodeDelete(key, options.prefix ?? false),
      { idempotent: true },
    );
    return { deleted: wireInt(body.deleted), revision: headerRevision(body.header) };
  }

  /**
   * If every comparison holds, the success operations, else the failure ones — atomically. Not
   * retried once sent: ETCD_OUTCOME_UNKNOWN means it may have been applied.
   */
  async txn(txn: Txn): Promise<TxnResult> {
    const { body } = await this.transport.call<WireTxnResponse>("/v3/kv/txn", encodeTxn(txn), {
      idempotent: false,
    });
    return decodeTxn(txn, body);
  }

  async leaseGrant(ttlSeconds: number): Promise<Lease> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
      throw new TypeError(`ttlSeconds: etcd leases have whole seconds of at least 1, not ${ttlSeconds}`);
    }
    // Not idempotent: a lost answer would leave an unknown lease behind (it expires on its own).
    const { body, sentAt } = await this.transport.call<{ ID?: string; TTL?: string; error?: string }>(
      "/v3/lease/grant",
      { TTL: String(ttlSeconds) },
      { idempotent: false },
    );
    if (body.ID === undefined || body.error) {
      throw new EtcdError("ETCD_REQUEST_FAILED", `lease grant refused: ${body.error ?? "no lease ID"}`);
    }
    return { id: body.ID, ttlMs: wireInt(body.TTL) * 1000, sentAt };
  }

  /**
   * Renews a lease once. Throws ETCD_LEASE_NOT_FOUND when it has expired or was revoked (etcd
   * refuses to renew an expired lease even before it has deleted its keys).
   */
  async leaseKeepAlive(
    id: string,
    options: { timeoutMs?: number; attemptTimeoutMs?: number } = {},
  ): Promise<KeepAliveResult> {
    const { body, sentAt, endpoint } = await this.transport.call<{ result?: { ID?: string; TTL?: string } }>(
      "/v3/lease/keepalive",
      { ID: id },
      { idempotent: true, ...options },
    );
    const ttlMs = wireInt(body.result?.TTL) * 1000;
    if (ttlMs <= 0) {
      throw new EtcdError("ETCD_LEASE_NOT_FOUND", `lease ${id} has expired or was revoked`, { endpoint });
    }
    return { ttlMs, sentAt, endpoint };
  }

  /** Ends a lease now: every key bound to it is deleted. A lease that is already gone is fine. */
  async leaseRevoke(id: string, options: { timeoutMs?: number } = {}): Promise<void> {
    try {
      await this.transport.call("/v3/lease/revoke", { ID: id }, { idempotent: true, ...options });
    } catch (err) {
      if (err instanceof EtcdError && err.code === "ETCD_LEASE_NOT_FOUND") return;
      throw err;
    }
  }

  async leaseTimeToLive(id: string, options: { keys?: boolean } = {}): Promise<LeaseTimeToLive> {
    const { body } = await this.transport.call<{ TTL?: string; grantedTTL?: string; keys?: string[] }>(
      "/v3/lease/timetolive",
      { ID: id, keys: options.keys ?? false },
      { idempotent: true },
    );
    const ttl = wireInt(body.TTL);
    return {
      exists: ttl >= 0,
      ttlMs: ttl < 0 ? -1 : ttl * 1000,
      grantedTtlMs: wireInt(body.grantedTTL) * 1000,
      keys: (body.keys ?? []).map((k) => Buffer.from(k, "base64").toString("utf8")),
    };
  }

  /** Status of one member (or of the current one): its leader, term and revision. */
  async status(endpoint?: string, timeoutMs = 1000): Promise<EtcdStatus> {
    const transport = endpoint === undefined ? this.transport : this.single(endpoint);
    const { body, endpoint: answered } = await transport.call<{
      header?: WireHeader;
      version?: string;
      leader?: string;
      raftTerm?: string;
    }>("/v3/maintenance/status", {}, { idempotent: true, timeoutMs, attemptTimeoutMs: timeoutMs });
    return {
      endpoint: answered,
      version: body.version ?? "",
      memberId: body.header?.member_id ?? "",
      leader: body.leader ?? "0",
      raftTerm: wireInt(body.raftTerm),
      revision: headerRevision(body.header),
    };
  }

  /** The members of the etcd cluster: ID (decimal string), name and client URLs. */
  async memberList(): Promise<EtcdMember[]> {
    const { body } = await this.transport.call<{
      members?: { ID?: string; name?: string; clientURLs?: string[] }[];
    }>("/v3/cluster/member/list", {}, { idempotent: true });
    return (body.members ?? []).map((m) => ({
      id: m.ID ?? "0",
      name: m.name ?? "",
      clientUrls: m.clientURLs ?? [],
    }));
  }

  /**
   * Hands etcd's leadership to another member (etcdctl move-leader): a graceful transfer, asked
   * of the leader itself at `leaderEndpoint`.
   */
  async moveLeader(leaderEndpoint: string, targetId: string, timeoutMs = 3000): Promise<void> {
    await this.single(leaderEndpoint).call(
      "/v3/maintenance/transfer-leadership",
      { targetID: targetId },
      { idempotent: false, timeoutMs, attemptTimeoutMs: timeoutMs },
    );
  }

  /** Compacts the history up to a revision (tests use it to exercise watch compaction). */
  async compact(revision: number): Promise<void> {
    await this.transport.call("/v3/kv/compaction", { revision: String(revision) }, { idempotent: true });
  }

  /** Watches a key or a prefix from a revision; see EtcdWatch. */
  watch(key: string, options: WatchOptions = {}): EtcdWatch {
    return new EtcdWatch(this, key, options);
  }

  close(): void {
    for (const t of this.singles.values()) t.close();
    this.transport.close();
  }

  private readonly singles = new Map<string, GatewayTransport>();

  /** A transport pinned to one member, for questions about that member only. */
  private single(endpoint: string): GatewayTransport {
    let transport = this.singles.get(endpoint);
    if (!transport) {
      transport = new GatewayTransport({ ...this.options, endpoints: [endpoint] });
      this.singles.set(endpoint, transport);
    }
    return transport;
  }

  private get options(): EtcdClientOptions {
    return this.transport.options;
  }
}
