import type { EtcdClient } from "../../src/cluster/etcd/client.js";
import { EtcdError } from "../../src/cluster/etcd/errors.js";
import {
  prefixEnd,
  type Compare,
  type KeyValue,
  type Txn,
  type TxnOp,
  type TxnResult,
} from "../../src/cluster/etcd/wire.js";

/**
 * An in-memory etcd with the semantics the ownership and leader transactions rely on: one
 * revision counter, range comparisons (an empty range compares as one absent key), leases that
 * can be revoked. Just enough to test the decisions; real etcd is in the integration tests.
 */
export class MemoryEtcd {
  revision = 1;
  readonly kvs = new Map<string, KeyValue>();
  /** Apply the next transaction, then throw as if its answer was lost. */
  loseNextAnswer = false;
  /** Refuse the next transaction with this error, applying nothing (a dropped raft proposal). */
  refuseNext: EtcdError | undefined;
  /** Like etcd's --max-txn-ops (default 128 there): a branch with more operations is refused. Unset: no limit. */
  maxTxnOps?: number;
  /** What readers that retry over the members ask of the transport: one member. */
  readonly transport = { endpointCount: 1, currentEndpoint: "memory" };

  asClient(): EtcdClient {
    return this as unknown as EtcdClient;
  }

  private inRange(key: string, from: string, prefix: boolean): boolean {
    if (!prefix) return key === from;
    const end = Buffer.from(prefixEnd(from));
    const k = Buffer.from(key);
    return Buffer.compare(k, Buffer.from(from)) >= 0 && Buffer.compare(k, end) < 0;
  }

  private select(key: string, prefix: boolean): KeyValue[] {
    return [...this.kvs.values()]
      .filter((kv) => this.inRange(kv.key, key, prefix))
      .sort((a, b) => a.key.localeCompare(b.key));
  }

  private holds(c: Compare): boolean {
    const targets = this.select(c.key, c.prefix ?? false);
    const subjects: (KeyValue | undefined)[] = targets.length > 0 ? targets : [undefined];
    return subjects.every((kv) => {
      const actual =
        c.target === "create"
          ? (kv?.createRevision ?? 0)
          : c.target === "mod"
            ? (kv?.modRevision ?? 0)
            : c.target === "version"
              ? (kv?.version ?? 0)
              : c.target === "lease"
                ? (kv?.lease ?? "0")
                : kv?.value;
      if (actual === undefined) return false;
      switch (c.op) {
        case "==":
          return actual === c.value;
        case "!=":
          return actual !== c.value;
        case ">":
          return actual > c.value;
        case "<":
          return actual < c.value;
      }
    });
  }

  private apply(op: TxnOp, revision: number): TxnResult["results"][number] {
    switch (op.op) {
      case "put": {
        const old = this.kvs.get(op.key);
        this.kvs.set(op.key, {
          key: op.key,
          value: op.value,
          createRevision: old?.createRevision ?? revision,
          modRevision: revision,
          version: (old?.version ?? 0) + 1,
          lease: op.lease ?? "0",
        });
        return { op: "put", revision };
      }
      case "get": {
        const kvs = this.select(op.key, op.prefix ?? false);
        return { op: "get", kvs, count: kvs.length };
      }
      case "delete": {
        const gone = this.select(op.key, op.prefix ?? false);
        for (const kv of gone) this.kvs.delete(kv.key);
        return { op: "delete", deleted: gone.length };
      }
    }
  }

  txn(txn: Txn): Promise<TxnResult> {
    const refused = this.refuseNext;
    if (refused) {
      this.refuseNext = undefined;
      return Promise.reject(refused);
    }
    const limit = this.maxTxnOps;
    if (limit !== undefined && [txn.compare, txn.success, txn.failure].some((b) => b.length > limit)) {
      return Promise.reject(
        new EtcdError("ETCD_REQUEST_FAILED", "etcdserver: too many operations in txn request"),
      );
    }
    const succeeded = txn.compare.every((c) => this.holds(c));
    const ops = succeeded ? txn.success : txn.failure;
    const writes = ops.some(
      (op) => op.op !== "get" && (op.op === "put" || this.select(op.key, op.prefix ?? false).length > 0),
    );
    const revision = writes ? ++this.revision : this.revision;
    const results = ops.map((op) => this.apply(op, revision));
    if (this.loseNextAnswer) {
      this.loseNextAnswer = false;
      return Promise.reject(new EtcdError("ETCD_OUTCOME_UNKNOWN", "answer lost"));
    }
    return Promise.resolve({ succeeded, revision, results });
  }

  range(
    key: string,
    options: { prefix?: boolean } = { prefix: true },
  ): Promise<{ kvs: KeyValue[]; revision: number }> {
    return Promise.resolve({ kvs: this.select(key, options.prefix ?? true), revision: this.revision });
  }

  put(key: string, value: string, options: { lease?: string } = {}): Promise<number> {
    return this.txn({
      compare: [],
      success: [{ op: "put", key, value, ...(options.lease ? { lease: options.lease } : {}) }],
      failure: [],
    }).then((r) => r.revision);
  }

  get(key: string): Promise<KeyValue | undefined> {
    return Promise.resolve(this.kvs.get(key));
  }

  /** A lease ends: every key bound to it goes. */
  revoke(lease: string): void {
    for (const kv of [...this.kvs.values()]) if (kv.lease === lease) this.kvs.delete(kv.key);
    this.revision += 1;
  }
}
