/**
 * What the scheduler decides: where each package should run, and the steps that get there, in
 * an order that honours dependencies (a package starts after what it depends on, and halts
 * before it) and priorities. action-order.ts has the ordering rules.
 */

export interface Plan {
  /** Package → the nodes it should run on (empty: down). Every configured package appears. */
  placements: Record<string, string[]>;
  /**
   * Steps in order; each node carries out its own, the leader writes `placements`. Halts come
   * first, then moves, then starts, unless a dependency says otherwise. Each has a one-line
   * reason for the event log ("node n1 failed", "failback to preferred node n1", "dependency db
   * is down", "displaced by higher-priority package web"…).
   */
  actions: PlanAction[];
}

export type PlanAction =
  | { kind: "start"; package: string; node: string; reason: string }
  | { kind: "halt"; package: string; node: string; reason: string }
  /**
   * A move: halt on `from`, then start on `to` (one step, so that it shows as one). `from` may
   * be a failed node, where there is nothing left to halt but the package's ownership. When a
   * package and what it needs (same_node) move together, the one needed moves first.
   */
  | { kind: "move"; package: string; from: string; to: string; reason: string };
