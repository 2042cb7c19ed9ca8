import type { Plan } from "../../src/cluster/scheduler/plan.js";
import type { ClusterState, PackageState } from "../../src/cluster/state.js";

/**
 * The state after a plan was carried out without a hitch: every package runs exactly where the
 * plan placed it (a package the plan halted is down; one it no longer lists, down too). What a
 * perfect executor would report back — so scheduling again must give no actions.
 */
export function applyPlan(state: ClusterState, plan: Plan): ClusterState {
  const packages: Record<string, PackageState> = {};
  for (const [name, pkg] of Object.entries(state.packages)) {
    const runningOn = plan.placements[name] ?? [];
    const status = runningOn.length > 0 ? "up" : pkg.runningOn.length > 0 ? "down" : pkg.status;
    packages[name] = { ...pkg, runningOn: [...runningOn], status };
  }
  return { nodes: state.nodes, packages, placements: structuredClone(plan.placements) };
}
