import { describe, expect, it } from "vitest";
import { etcdLeaderTarget, type LeaderChoiceInput } from "../../src/cluster/membership/etcd-leader-choice.js";

// etcd leader_away_from_packages: where etcd's leadership should go (etcd-leader-choice.ts).
// Member IDs are decimal strings beyond 2^53, as etcd's gateway gives them.
const members = [
  { id: "10501334649042878790", name: "n1" },
  { id: "11946305357624545418", name: "n2" },
  { id: "16817574961683329394", name: "n3" },
];

function input(over: Partial<LeaderChoiceInput>): LeaderChoiceInput {
  return {
    members,
    leaderId: members[0]!.id,
    nodes: ["n1", "n2", "n3"],
    owning: new Set(["n1"]),
    up: new Set(["n1", "n2", "n3"]),
    ...over,
  };
}

describe("etcdLeaderTarget", () => {
  it("moves etcd's leadership off the node that runs a package, to the first node that runs none", () => {
    expect(etcdLeaderTarget(input({}))).toMatchObject({ id: members[1]!.id, name: "n2" });
    expect(etcdLeaderTarget(input({ owning: new Set(["n1", "n2"]) }))).toMatchObject({ name: "n3" });
  });

  it("leaves it where it is when the leader's node runs nothing, or every other node runs something", () => {
    expect(etcdLeaderTarget(input({ leaderId: members[1]!.id }))).toBeUndefined();
    expect(etcdLeaderTarget(input({ owning: new Set(["n1", "n2", "n3"]) }))).toBeUndefined();
  });

  it("never picks a member on a node that is down, and prefers a member on a host that is no node", () => {
    expect(etcdLeaderTarget(input({ up: new Set(["n1", "n3"]) }))).toMatchObject({ name: "n3" });
    expect(etcdLeaderTarget(input({ up: new Set(["n1"]) }))).toBeUndefined();
    const withQuorumHost = [...members, { id: "1", name: "q1" }];
    expect(etcdLeaderTarget(input({ members: withQuorumHost }))).toMatchObject({ id: "1", name: "q1" });
  });

  it("does nothing for an unknown leader (an election under way reports 0)", () => {
    expect(etcdLeaderTarget(input({ leaderId: "0" }))).toBeUndefined();
  });
});
