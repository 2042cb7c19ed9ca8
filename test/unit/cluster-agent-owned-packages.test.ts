import { describe, expect, it } from "vitest";
import { OwnedPackages } from "../../src/cluster/agent/owned-packages.js";
import { EtcdError } from "../../src/cluster/etcd/errors.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import type { MemberSession } from "../../src/cluster/membership/member-session.js";
import { MemoryEtcd } from "../support/memory-etcd.js";

// The owner keys a session holds, over the agent's client (owned-packages.ts), on the in-memory
// etcd; the session is reduced to what OwnedPackages asks of it (node, lease, mayAct).
const keys = ClusterKeys.forCluster("t");

function owned(etcd: MemoryEtcd): OwnedPackages {
  const session = { node: "n3", lease: { id: "77" }, mayAct: () => true } as unknown as MemberSession;
  return new OwnedPackages(etcd.asClient(), keys, session);
}

describe("OwnedPackages", () => {
  it("bug-release-lost-in-an-election: a release etcd refused keeps the key held, and the next one gives it up", async () => {
    const etcd = new MemoryEtcd();
    const packages = owned(etcd);
    expect((await packages.acquire("web", true)).acquired).toBe(true);
    expect(etcd.kvs.has(keys.owner("web", "n3"))).toBe(true);

    etcd.refuseNext = new EtcdError("ETCD_REQUEST_FAILED", "etcdserver: raft proposal dropped");
    await expect(packages.release("web")).rejects.toThrow(/raft proposal dropped/);
    // Still in etcd, so still held here: reconcile releases it again next round.
    expect(etcd.kvs.has(keys.owner("web", "n3"))).toBe(true);
    expect(packages.packages).toEqual(["web"]);

    expect(await packages.release("web")).toBe(true);
    expect(etcd.kvs.has(keys.owner("web", "n3"))).toBe(false);
    expect(packages.packages).toEqual([]);
  });

  it("a key that is no longer this lease's is forgotten here without an error", async () => {
    const etcd = new MemoryEtcd();
    const packages = owned(etcd);
    await packages.acquire("web", true);
    etcd.kvs.delete(keys.owner("web", "n3"));
    expect(await packages.release("web")).toBe(false);
    expect(packages.packages).toEqual([]);
  });
});
