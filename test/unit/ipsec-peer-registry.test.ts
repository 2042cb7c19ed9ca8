import { describe, expect, it } from "vitest";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import { acquireOwnership, releaseOwnership, type OwnerKey } from "../../src/cluster/membership/ownership.js";
import type { PeerRecord } from "../../src/ipsec/registry/peer-record.js";
import {
  forgetAllPeers,
  forgetPeers,
  listPeers,
  recordPeers,
  type OwnerGuard,
} from "../../src/ipsec/registry/peer-registry.js";
import { MemoryEtcd } from "../support/memory-etcd.js";

// The registry's decisions against the in-memory etcd (lease and create comparisons as etcd
// does them); the real etcd case is test/integration/ipsec-peer-registry-etcd.test.ts.

const keys = ClusterKeys.forCluster("prod");

function peer(n: number, node = "n1"): PeerRecord {
  return {
    id: `c${n}.clients.pavise.test`,
    connection: "clients",
    address: `198.18.1.${100 + (n % 150)}`,
    port: 500,
    natted: false,
    children: [],
    node,
    since: 1_795_000_000_000,
    seen: 1_795_000_000_000,
  };
}

async function own(etcd: MemoryEtcd, node: string, lease: string): Promise<OwnerKey> {
  const got = await acquireOwnership(etcd.asClient(), keys, { package: "web", node, lease });
  if (!got.acquired) throw new Error(`${node} could not take web`);
  return got.owner;
}

const guardOf = (o: OwnerKey): OwnerGuard => ({
  package: o.package,
  node: o.node,
  lease: o.lease,
  createRevision: o.createRevision,
});

describe("ipsec peer registry", () => {
  it("the owner records and lists peers; the records outlive its lease", async () => {
    const etcd = new MemoryEtcd();
    const owner = await own(etcd, "n1", "101");
    const written = await recordPeers(etcd.asClient(), keys, guardOf(owner), [peer(1), peer(2)]);
    expect(written.written).toBe(true);
    etcd.revoke("101"); // n1 crashes: its owner key goes, the peers stay
    expect(await etcd.get(keys.owner("web", "n1"))).toBeUndefined();
    const list = await listPeers(etcd.asClient(), keys, "web");
    expect(list.problems).toEqual([]);
    expect(list.peers.map((p) => p.record)).toEqual(
      [peer(1), peer(2)].sort((a, b) =>
        keys.ipsecPeer("web", a.id).localeCompare(keys.ipsecPeer("web", b.id)),
      ),
    );
    expect(list.peers.every((p) => p.key === keys.ipsecPeer("web", p.record.id))).toBe(true);
  });

  it("refuses a node without the owner key, and the old owner after the package moved", async () => {
    const etcd = new MemoryEtcd();
    const n1 = await own(etcd, "n1", "101");
    const stranger = await recordPeers(etcd.asClient(), keys, { package: "web", node: "n2", lease: "202" }, [
      peer(1, "n2"),
    ]);
    expect(stranger.written).toBe(false);
    if (!stranger.written) {
      expect(stranger.reason).toMatch(/\/pavise\/prod\/owners\/web\/n2 is not held with lease 202/);
      expect(stranger.reason).toMatch(/owner keys now \/pavise\/prod\/owners\/web\/n1 \(lease 101\)/);
    }
    // n1 loses its lease (fenced), n2 takes web over; n1's late write and delete are refused.
    etcd.revoke("101");
    const n2 = await own(etcd, "n2", "202");
    expect((await recordPeers(etcd.asClient(), keys, guardOf(n2), [peer(1, "n2")])).written).toBe(true);
    expect((await recordPeers(etcd.asClient(), keys, guardOf(n1), [peer(9)])).written).toBe(false);
    expect((await forgetPeers(etcd.asClient(), keys, guardOf(n1), [peer(1).id])).written).toBe(false);
    expect((await forgetAllPeers(etcd.asClient(), keys, guardOf(n1))).written).toBe(false);
    const list = await listPeers(etcd.asClient(), keys, "web");
    expect(list.peers.map((p) => [p.record.id, p.record.node])).toEqual([[peer(1).id, "n2"]]);
  });

  it("writes the guard's node into each record, whatever the caller put there", async () => {
    const etcd = new MemoryEtcd();
    const n1 = await own(etcd, "n1", "101");
    await recordPeers(etcd.asClient(), keys, guardOf(n1), [peer(1, "n7")]);
    expect((await listPeers(etcd.asClient(), keys, "web")).peers[0]?.record.node).toBe("n1");
  });

  it("refuses a write from an earlier ownership of the same lease (create revision)", async () => {
    const etcd = new MemoryEtcd();
    const first = await own(etcd, "n1", "101");
    await releaseOwnership(etcd.asClient(), keys, { package: "web", node: "n1", lease: "101" });
    const second = await own(etcd, "n1", "101");
    expect(second.createRevision).not.toBe(first.createRevision);
    expect((await recordPeers(etcd.asClient(), keys, guardOf(first), [peer(1)])).written).toBe(false);
    expect((await recordPeers(etcd.asClient(), keys, guardOf(second), [peer(1)])).written).toBe(true);
    // Without a create revision, the lease alone decides.
    const { createRevision: _c, ...byLease } = guardOf(first);
    expect((await recordPeers(etcd.asClient(), keys, byLease, [peer(2)])).written).toBe(true);
  });

  it("forgets one peer or all of them, as the owner", async () => {
    const etcd = new MemoryEtcd();
    const n1 = guardOf(await own(etcd, "n1", "101"));
    await recordPeers(etcd.asClient(), keys, n1, [peer(1), peer(2), peer(3)]);
    expect((await forgetPeers(etcd.asClient(), keys, n1, [peer(2).id])).written).toBe(true);
    const left = (await listPeers(etcd.asClient(), keys, "web")).peers.map((p) => p.record.id).sort();
    expect(left).toEqual([peer(1).id, peer(3).id]);
    expect((await forgetAllPeers(etcd.asClient(), keys, n1)).written).toBe(true);
    expect((await listPeers(etcd.asClient(), keys, "web")).peers).toEqual([]);
    expect(await etcd.get(keys.owner("web", "n1"))).toBeDefined(); // ownership untouched
  });

  it("records 1,000 peers within etcd's 128 operations per transaction", async () => {
    const etcd = new MemoryEtcd();
    etcd.maxTxnOps = 128;
    const n1 = guardOf(await own(etcd, "n1", "101"));
    const many = Array.from({ length: 1000 }, (_, i) => peer(i));
    expect((await recordPeers(etcd.asClient(), keys, n1, many)).written).toBe(true);
    expect((await listPeers(etcd.asClient(), keys, "web")).peers).toHaveLength(1000);
    expect(
      (
        await forgetPeers(
          etcd.asClient(),
          keys,
          n1,
          many.map((p) => p.id),
        )
      ).written,
    ).toBe(true);
    expect((await listPeers(etcd.asClient(), keys, "web")).peers).toHaveLength(0);
  });

  it("lists the readable records and names the others with their key", async () => {
    const etcd = new MemoryEtcd();
    const n1 = guardOf(await own(etcd, "n1", "101"));
    await recordPeers(etcd.asClient(), keys, n1, [peer(1)]);
    const garbled = keys.ipsecPeer("web", "c2.clients.pavise.test");
    await etcd.put(garbled, "{half");
    const misfiled = keys.ipsecPeer("web", "c3.clients.pavise.test");
    await etcd.put(misfiled, JSON.stringify(peer(4))); // c4's record under c3's key
    await etcd.put(`${keys.packageIpsecPeers("web")}stray`, "{}");
    const list = await listPeers(etcd.asClient(), keys, "web");
    expect(list.peers.map((p) => p.record.id)).toEqual([peer(1).id]);
    expect(list.problems).toHaveLength(3);
    expect(list.problems.join("\n")).toContain(`${garbled}: not JSON`);
    expect(list.problems.join("\n")).toContain(`${misfiled}: holds identity "c4.clients.pavise.test"`);
    expect(list.problems.join("\n")).toContain("ipsec/peers/web/stray: not a peer key");
  });
});
