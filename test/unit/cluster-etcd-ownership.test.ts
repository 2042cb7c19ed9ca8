import { describe, expect, it } from "vitest";
import { MemoryEtcd } from "../support/memory-etcd.js";
import { campaign, resign, writePlacements } from "../../src/cluster/membership/leader.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import { acquireOwnership, readOwners, releaseOwnership } from "../../src/cluster/membership/ownership.js";

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
