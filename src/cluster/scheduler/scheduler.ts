import type { ClusterConfig } from "../config/model.js";
import type { ClusterState } from "../state.js";
import { orderActions } from "./action-order.js";
import { planActions } from "./actions.js";
import { place } from "./placement.js";
import type { Plan } from "./plan.js";
import { buildView } from "./view.js";

/**
 * The package scheduler: from the configuration and the cluster state, where every package
 * should run and the steps that get there. A pure, total function — no I/O, no clock, no
 * randomness; the same input gives the same plan, and no input makes it throw — so the cluster
 * leader can run it on every change and the corpus in test/scheduler-cases pins its decisions.
 *
 * A pipeline of named stages, like Pacemaker's scheduler:
 *   1. view      read config and state once: modes, ranks, dependency edges (view.ts)
 *   2. place     where each package runs: units in dependency and priority order (placement.ts)
 *   3. actions   start / halt / move for every change, each with its reason (actions.ts)
 *   4. order     dependencies first on the way up, dependents first on the way down (action-order.ts)
 *
 * A plan, once carried out, is stable: scheduling the resulting state again gives no actions.
 *
 * `now` is part of the signature so that time-based rules (hold-offs, flap damping) stay pure
 * when they come; no rule reads it today.
 */
export function schedule(config: ClusterConfig, state: ClusterState, _now: number): Plan {
  const view = buildView(config, state);
  const placement = place(view);
  const actions = orderActions(view, planActions(view, placement));
  const placements: Record<string, string[]> = {};
  for (const pkg of view.packages) placements[pkg.name] = placement.targets.get(pkg.name) ?? [];
  return { placements, actions };
}
