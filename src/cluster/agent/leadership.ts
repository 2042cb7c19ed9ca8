/**
 * What a node does about the cluster leadership after reading a snapshot: the leader key names
 * the lease that holds it (layout.ts), and only the node whose session lease that is may write
 * placements (leader.ts checks it again in the same transaction).
 *
 * The snapshot may be older than the node's own view: a campaign started at join can win while
 * the read is under way. So "no leader key" in the snapshot never demotes a node that knows it
 * won, and a key held by the node's own lease makes it the leader even if it did not notice the
 * campaign's result — otherwise it would hold the key for the life of its lease while nobody
 * schedules (bug: leader-demoted-by-a-stale-snapshot).
 */
export type LeadershipStep =
  /** Nobody leads: try to take the key. */
  | "campaign"
  /** The key is this session's: act as leader. */
  | "lead"
  /** Another session holds the key: stop acting as leader. */
  | "follow"
  /** Nothing changes. */
  | "keep";

export function leadershipStep(input: {
  /** The lease holding the leader key in the snapshot, undefined when there is none. */
  leaderLease: string | undefined;
  /** This node's session lease (undefined while it is not a member). */
  ownLease: string | undefined;
  /** Does the node act as leader now? */
  leading: boolean;
}): LeadershipStep {
  const { leaderLease, ownLease, leading } = input;
  if (leaderLease === undefined) return leading ? "keep" : "campaign";
  if (ownLease !== undefined && leaderLease === ownLease) return leading ? "keep" : "lead";
  return leading ? "follow" : "keep";
}
