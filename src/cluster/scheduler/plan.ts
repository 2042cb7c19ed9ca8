/**
 * What the scheduler decides: where each package should run, and the steps that get there, in
 * an order that honours dependencies (a package starts after what it depends on, and halts
 * before it) and priorities.
 */

export interface Plan {
  /** Package → the nodes it should run on (empty: down). Every configured package appears. */
  placements: Record<string, string[]>;
  /** Steps in order; each node carries out its own, the leader writes `placements`. */
  actions: PlanAction[];
}

export type PlanAction =
  | { kind: "start"; package: string; node: string; reason: string }
  | { kind: "halt"; package: string; node: string; reason: string }
  /** A move: halt on `from`, then start on `to` (one step, so that it shows as one). */
  | { kind: "move"; package: string; from: string; to: string; reason: string };
