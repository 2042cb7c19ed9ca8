/**
 * Where etcd's leadership should be, as seen from the packages (etcd leader_away_from_packages).
 * When the node that runs a failover package crashes together with etcd's leader, the package
 * waits for an etcd election, then for leases that the new leader extends: measured here, the
 * client's gap grew from ≈1.2–1.8 s to ≈2.2–2.7 s (README, failover benchmark). Moving etcd's
 * leadership to a member on a node that runs no package — while there is one — leaves a crash
 * of a package's node to cost the lease alone. Pure: members and owners in, a target out.
 */

export interface LeaderChoiceInput {
  /** etcd's members by name (etcd --name), with their IDs. */
  members: readonly { id: string; name: string }[];
  /** The leader's member ID as etcd reports it. */
  leaderId: string;
  /** Configured Pavise nodes, in file order (a member named like one runs on it). */
  nodes: readonly string[];
  /** Nodes that hold the owner key of a failover package. */
  owning: ReadonlySet<string>;
  /** Nodes that are up (a member on a node that is not may be gone). */
  up: ReadonlySet<string>;
}

/** The member that should lead instead, with why; undefined when the leader is fine where it is. */
export function etcdLeaderTarget(
  input: LeaderChoiceInput,
): { id: string; name: string; reason: string } | undefined {
  const leader = input.members.find((m) => m.id === input.leaderId);
  if (!leader || !input.owning.has(leader.name)) return undefined;
  const rank = (name: string): number => {
    const i = input.nodes.indexOf(name);
    // A member on a host that is no node (a quorum host) runs no package: best of all.
    return i < 0 ? -1 : i;
  };
  const candidates = input.members
    .filter((m) => m.id !== leader.id && !input.owning.has(m.name))
    .filter((m) => !input.nodes.includes(m.name) || input.up.has(m.name))
    .sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
  const target = candidates[0];
  if (!target) return undefined;
  return {
    id: target.id,
    name: target.name,
    reason: `${leader.name} runs a failover package and leads etcd: a crash of ${leader.name} would also cost an etcd election`,
  };
}
