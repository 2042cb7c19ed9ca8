import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { etcdctlArgs, waitForEtcd } from "../../src/lab/etcd.js";
import type { Lab } from "../../src/lab/lab.js";
import { freshLab, testLabSpec } from "../support/fresh-lab.js";
import { until } from "../support/until.js";

// Regression test for a bug the cluster soak (npm run soak:cluster, seed 11) found: a node cut
// off from the heartbeat LAN keeps campaigning, and without Raft's pre-vote every campaign
// raises its term; when the cut heals, the higher term makes the healthy leader step down and
// etcd elects again. With 1 s leases an election fences every node (member-session.ts), so a
// node coming *back* halted every package in the cluster (client gaps of 2–3 s on packages the
// cut never touched). The lab's etcd now runs with --pre-vote (etcd 3.4 has it off by default):
// an isolated member first asks whether it could win, and raises its term only then. Checked
// at the etcd level: the leader and the Raft term are the same before the cut and after the
// heal. Needs root.
const root = process.getuid?.() === 0;
const LAB = "chpvote";

interface MemberStatus {
  Endpoint: string;
  Status: { header: { member_id: number; raft_term: number }; leader?: number };
}

describe.skipIf(!root)("bug: healing a node's heartbeat cut forces an etcd election", () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await freshLab(testLabSpec(LAB, { etcd: true }));
    await waitForEtcd(lab.runtime, lab.plan.etcd, 20_000);
  });

  afterAll(async () => {
    await lab?.down();
  });

  /** Each member's view: the leader it follows (undefined: none) and its Raft term. */
  async function memberViews(host: string): Promise<MemberStatus[]> {
    const urls = lab.plan.etcd.members.map((m) => m.clientUrl);
    const r = await lab.exec(host, [
      ...etcdctlArgs(lab.runtime, lab.plan.etcd, urls),
      "endpoint",
      "status",
      "-w",
      "json",
    ]);
    return JSON.parse(r.stdout) as MemberStatus[];
  }

  /** The leader all three members follow and the highest Raft term, once they agree. */
  async function leaderAndTerm(
    host: string,
  ): Promise<{ leader: number; term: number; views: MemberStatus[] }> {
    const views = await until(
      "all three etcd members to follow one leader",
      () => memberViews(host),
      (v) =>
        v.length === 3 &&
        v.every((m) => m.Status.leader !== undefined && m.Status.leader === v[0]!.Status.leader),
      15_000,
      100,
    );
    return {
      leader: views[0]!.Status.leader!,
      term: Math.max(...views.map((m) => m.Status.header.raft_term)),
      views,
    };
  }

  it("a follower cut off from the heartbeat LAN for 3 s rejoins without a new election", async () => {
    const before = await leaderAndTerm("n1");
    // Cut a follower: its member misses six election timeouts (500 ms) and campaigns.
    const follower = lab.plan.etcd.members.find(
      (m) => before.views.find((s) => s.Endpoint === m.clientUrl)!.Status.header.member_id !== before.leader,
    )!;
    const observer = lab.plan.etcd.members.find((m) => m.host !== follower.host)!.host;
    const cut = await lab.faults.cutFromLan(follower.host, { subnet: "heartbeat", direction: "both" });
    await sleep(3_000);
    await lab.faults.heal(cut);
    const healedAt = Date.now();
    const after = await leaderAndTerm(observer);
    const rejoinedMs = Date.now() - healedAt;
    console.log(
      `etcd ${follower.name} cut 3 s from the heartbeat LAN: term ${before.term} -> ${after.term}, ` +
        `leader ${before.leader === after.leader ? "unchanged" : "changed"}; all members follow it ${rejoinedMs} ms after the heal`,
    );
    expect(after.leader).toBe(before.leader);
    expect(after.term).toBe(before.term);
  });
});
