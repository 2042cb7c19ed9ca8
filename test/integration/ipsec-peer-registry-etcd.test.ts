import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Lab } from "../../src/lab/lab.js";
import { LabMember } from "../../src/cluster/membership/lab-member.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import type { PeerRecord } from "../../src/ipsec/registry/peer-record.js";
import { freshLab, testLabName, testLabSpec } from "../support/fresh-lab.js";

// The IPsec peer registry (docs/ipsec-packages-design.md §7) against a real 3-member etcd in
// the lab: the owner records peers, a node without the owner key is refused by etcd's
// comparison, and the records outlive the owner's lease. The registry runs in
// lab-member-agent.ts inside the lab hosts (etcd is only reachable there).

const root = process.getuid?.() === 0;
const TIMING = {
  memberTimeoutMs: 2000,
  keepaliveIntervalMs: 500,
  fenceAfterMs: 1200,
  eventLoopBudgetMs: 300,
};
const PREFIX = "/pavise/prpeers/";
const keys = new ClusterKeys(PREFIX);

function peer(n: number): PeerRecord {
  return {
    id: n === 2 ? "CN=c2, O=Pavise/OU=clients" : `c${n}.clients.pavise.test`,
    connection: "clients",
    address: `198.18.1.${100 + n}`,
    port: 500,
    natted: false,
    children: [{ name: "net", localTs: ["198.18.1.50/32"], remoteTs: [`198.18.1.${100 + n}/32`] }],
    node: "n1",
    since: 1_795_000_000_000,
    seen: 1_795_000_000_000,
  };
}

type Listed = { peers: { key: string; record: PeerRecord }[]; problems: string[] };

describe.skipIf(!root)("ipsec peer registry against etcd in the lab", () => {
  let lab: Lab;
  const members: LabMember[] = [];

  beforeAll(async () => {
    lab = await freshLab(testLabSpec(testLabName("prpeers"), { etcd: true }));
  });

  afterAll(async () => {
    for (const m of members) await m.kill();
    await lab?.down();
  });

  it("only the owner writes; the list survives the owner's lease", async () => {
    const endpoints = lab.plan.etcd.members.map((m) => m.clientUrl);
    const start = async (node: string): Promise<LabMember> => {
      const m = await LabMember.start(lab, node);
      members.push(m);
      await m.send({ op: "start", endpoints, prefix: PREFIX, node, ...TIMING });
      return m;
    };
    const n1 = await start("n1");
    const n2 = await start("n2");
    const taken = await n1.send({ op: "acquire", package: "web" });
    expect(taken.acquired).toBe(true);
    const owner = taken.owner as { node: string; lease: string; createRevision: number };
    const n1Guard = { package: "web", node: "n1", lease: owner.lease, createRevision: owner.createRevision };

    const written = await n1.send({
      op: "peers-record",
      prefix: PREFIX,
      guard: n1Guard,
      records: [peer(1), peer(2)],
    });
    expect(written.written).toBe(true);

    // n2 is a member but does not own web: etcd refuses its write, and its delete.
    const n2Lease = String((await n2.send({ op: "status" })).lease);
    const n2Guard = { package: "web", node: "n2", lease: n2Lease };
    const refused = await n2.send({ op: "peers-record", prefix: PREFIX, guard: n2Guard, records: [peer(3)] });
    expect(refused.written).toBe(false);
    expect(String(refused.reason)).toContain(`${keys.owner("web", "n2")} is not held with lease ${n2Lease}`);
    expect(String(refused.reason)).toContain(`${keys.owner("web", "n1")} (lease ${owner.lease})`);
    expect(
      (await n2.send({ op: "peers-forget", prefix: PREFIX, guard: n2Guard, ids: [peer(1).id] })).written,
    ).toBe(false);

    // n1's lease ends (revoked as a crash would let it expire): the owner key goes, the peers stay.
    await n1.send({ op: "end", revoke: true });
    const ownerGone = await n2.send({ op: "get", key: keys.packageOwners("web"), prefix: true });
    expect(ownerGone.kvs).toEqual([]);
    const list = (await n2.send({ op: "peers-list", prefix: PREFIX, package: "web" })) as unknown as Listed;
    expect(list.problems).toEqual([]);
    expect(list.peers.map((p) => p.record.id).sort()).toEqual([peer(1).id, peer(2).id].sort());
    expect(list.peers.find((p) => p.record.id === peer(2).id)?.key).toBe(keys.ipsecPeer("web", peer(2).id));
    expect(list.peers.find((p) => p.record.id === peer(1).id)?.record).toEqual(peer(1));

    // A late write from n1 after its lease ended is refused.
    await n1.send({ op: "connect", endpoints });
    const late = await n1.send({ op: "peers-record", prefix: PREFIX, guard: n1Guard, records: [peer(4)] });
    expect(late.written).toBe(false);

    // n2 takes web over and records what it reaches, as the new owner.
    const n2Took = await n2.send({ op: "acquire", package: "web" });
    expect(n2Took.acquired).toBe(true);
    const n2Owner = n2Took.owner as { lease: string; createRevision: number };
    const n2OwnerGuard = {
      package: "web",
      node: "n2",
      lease: n2Owner.lease,
      createRevision: n2Owner.createRevision,
    };
    expect(
      (await n2.send({ op: "peers-record", prefix: PREFIX, guard: n2OwnerGuard, records: [peer(1)] }))
        .written,
    ).toBe(true);
    expect(
      (await n2.send({ op: "peers-forget", prefix: PREFIX, guard: n2OwnerGuard, ids: [peer(2).id] })).written,
    ).toBe(true);
    const after = (await n2.send({ op: "peers-list", prefix: PREFIX, package: "web" })) as unknown as Listed;
    expect(after.peers.map((p) => [p.record.id, p.record.node])).toEqual([[peer(1).id, "n2"]]);
    await n2.send({ op: "end", revoke: true });
  });
});
