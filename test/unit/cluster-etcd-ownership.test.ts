import { describe, expect, it } from "vitest";
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
import { campaign, resign, writePlacements } from "../../src/cluster/membership/leader.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import { acquireOwnership, readOwners, releaseOwnership } from "../../src/cluster/membership/ownership.js";

/**
 * An in-memory etcd with the semantics the ownership and leader transactions rely on: one
 * revision counter, range comparisons (an empty range compares as one absent key), leases that
 * can be revoked. Just enough to test the decisions; real etcd is in the integration tests.
 */
class MemoryEtcd {
  revision = 1;
  readonly kvs = new Map<string, KeyValue>();
  /** Apply the next transaction, then throw as if its answer was lost. */
  loseNextAnswer = false;

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

  get(key: string): Promise<KeyValue | undefined> {
    return Promise.resolve(this.kvs.get(key));
  }

  /** A lease ends: every key bound to it goes. */
  revoke(lease: string): void {
    for (const kv of [...this.kvs.values()]) if (kv.lease === lease) this.kvs.delete(kv.key);
    this.revision += 1;
  }
}

const keys = ClusterKeys.forCluster("unit");

describe("package ownership (transactions on a model etcd)", () => {
  it("a failover package has one owner: the second node is told who holds it", async () => {
    const etcd = new MemoryEtcd();
    const a = await acquireOwnership(etcd.asClient(), keys, { package: "web", node: "n1", lease: "11" });
    const b = await acquireOwnership(etcd.asClient(), keys, { package: "web", node: "n2", lease: "22" });
    expect(a).toMatchObject({ acquired: true, owner: { node: "n1", lease: "11", package: "web" } });
    expect(b).toMatchObject({ acquired: false, holders: [{ node: "n1", lease: "11" }] });
    expect((await readOwners(etcd.asClient(), keys, "web")).owners.map((o) => o.node)).toEqual(["n1"]);
  });

  it("a package whose name starts like another's is a different package", async () => {
    const etcd = new MemoryEtcd();
    await acquireOwnership(etcd.asClient(), keys, { package: "web", node: "n1", lease: "11" });
    const other = await acquireOwnership(etcd.asClient(), keys, { package: "web2", node: "n2", lease: "22" });
    expect(other.acquired).toBe(true);
  });

  it("taking it again with the same lease is a success; with another lease of the same node, not", async () => {
    const etcd = new MemoryEtcd();
    await acquireOwnership(etcd.asClient(), keys, { package: "web", node: "n1", lease: "11" });
    expect(
      (await acquireOwnership(etcd.asClient(), keys, { package: "web", node: "n1", lease: "11" })).acquired,
    ).toBe(true);
    // A restarted daemon (new lease) must wait until the old lease's key is gone.
    expect(
      (await acquireOwnership(etcd.asClient(), keys, { package: "web", node: "n1", lease: "12" })).acquired,
    ).toBe(false);
  });

  it("ownership dies with the owner's lease, then the next node gets it", async () => {
    const etcd = new MemoryEtcd();
    await acquireOwnership(etcd.asClient(), keys, { package: "web", node: "n1", lease: "11" });
    etcd.revoke("11");
    expect(
      (await acquireOwnership(etcd.asClient(), keys, { package: "web", node: "n2", lease: "22" })).acquired,
    ).toBe(true);
  });

  it("a multi-node package takes one key per node", async () => {
    const etcd = new MemoryEtcd();
    for (const [node, lease] of [
      ["n1", "11"],
      ["n2", "22"],
      ["n3", "33"],
    ] as const) {
      const r = await acquireOwnership(etcd.asClient(), keys, {
        package: "agents",
        node,
        lease,
        exclusive: false,
      });
      expect(r.acquired).toBe(true);
    }
    expect((await readOwners(etcd.asClient(), keys)).owners.map((o) => o.node)).toEqual(["n1", "n2", "n3"]);
  });

  it("release deletes only my key, bound to my lease", async () => {
    const etcd = new MemoryEtcd();
    await acquireOwnership(etcd.asClient(), keys, { package: "web", node: "n1", lease: "11" });
    expect(await releaseOwnership(etcd.asClient(), keys, { package: "web", node: "n1", lease: "99" })).toBe(
      false,
    );
    expect(await releaseOwnership(etcd.asClient(), keys, { package: "web", node: "n2", lease: "11" })).toBe(
      false,
    );
    expect(await releaseOwnership(etcd.asClient(), keys, { package: "web", node: "n1", lease: "11" })).toBe(
      true,
    );
    expect((await readOwners(etcd.asClient(), keys, "web")).owners).toEqual([]);
  });

  it("a lost answer is decided by reading back: applied means acquired", async () => {
    const etcd = new MemoryEtcd();
    etcd.loseNextAnswer = true;
    const r = await acquireOwnership(etcd.asClient(), keys, { package: "web", node: "n1", lease: "11" });
    expect(r).toMatchObject({ acquired: true, owner: { node: "n1" } });
    // Lost while someone else held it: not acquired, and the holder is named.
    etcd.loseNextAnswer = true;
    const s = await acquireOwnership(etcd.asClient(), keys, { package: "web", node: "n2", lease: "22" });
    expect(s).toMatchObject({ acquired: false, holders: [{ node: "n1" }] });
  });
});

describe("leader election and placements (transactions on a model etcd)", () => {
  it("one leader; only the leader writes placements; resigning lets the next one in", async () => {
    const etcd = new MemoryEtcd();
    const c = etcd.asClient();
    expect(await campaign(c, keys, { node: "n1", lease: "11" })).toMatchObject({ leader: true });
    expect(await campaign(c, keys, { node: "n2", lease: "22" })).toMatchObject({
      leader: false,
      holder: { node: "n1" },
    });
    expect(await campaign(c, keys, { node: "n1", lease: "11" })).toMatchObject({ leader: true });
    expect(await writePlacements(c, keys, { lease: "22" }, { web: ["n2"] })).toBe(false);
    expect(await writePlacements(c, keys, { lease: "11" }, { web: ["n1"] })).toBe(true);
    expect(JSON.parse(etcd.kvs.get(keys.placements)!.value)).toEqual({ web: ["n1"] });
    expect(await resign(c, keys, { lease: "22" })).toBe(false);
    expect(await resign(c, keys, { lease: "11" })).toBe(true);
    expect(await campaign(c, keys, { node: "n2", lease: "22" })).toMatchObject({ leader: true });
    // A leader whose lease ended is no leader: its placements are refused.
    etcd.revoke("22");
    expect(await writePlacements(c, keys, { lease: "22" }, { web: ["n2"] })).toBe(false);
  });
});
