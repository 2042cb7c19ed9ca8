/**
 * What `pavise node halt NODE` (cmhaltnode) would leave down: the packages running on NODE that
 * the scheduler would not run anywhere once NODE is halted — no other node is eligible, their
 * switching is disabled, or their dependencies or priorities keep them down. Worked out by
 * scheduling the state with NODE halted, so it says exactly what the leader would do. Pure.
 */

import type { ClusterConfig } from "../config/model.js";
import { whyNotEligible } from "../scheduler/eligibility.js";
import { schedule } from "../scheduler/scheduler.js";
import { buildView } from "../scheduler/view.js";
import type { ClusterState } from "../state.js";

export interface StrandedPackage {
  package: string;
  /** Why it cannot go elsewhere: the package-wide reason, or one per other node. */
  reasons: string[];
}

export function packagesStrandedByHalt(
  config: ClusterConfig,
  state: ClusterState,
  node: string,
): StrandedPackage[] {
  const current = state.nodes[node];
  if (!current) return [];
  const halted: ClusterState = {
    ...state,
    nodes: { ...state.nodes, [node]: { ...current, status: "halted" } },
  };
  const plan = schedule(config, halted, 0);
  const view = buildView(config, halted);
  const stranded: StrandedPackage[] = [];
  for (const pkg of view.packages) {
    if (!pkg.current.includes(node)) continue;
    const after = plan.placements[pkg.name] ?? [];
    // A multi_node package that still runs elsewhere is not stranded.
    if (after.length > 0) continue;
    const reasons: string[] = [];
    if (pkg.mode === "pinned") reasons.push("package switching is disabled (pavise pkg enable)");
    const others = pkg.nodes.filter((n) => n !== node);
    for (const other of others) {
      const why = whyNotEligible(view, pkg, other);
      if (why !== undefined) reasons.push(why);
    }
    if (others.length === 0) reasons.push(`its node list has no node but ${node}`);
    if (reasons.length === 0) {
      const action = plan.actions.find((a) => a.package === pkg.name);
      reasons.push(action ? action.reason : "its dependencies or priority keep it down elsewhere");
    }
    stranded.push({ package: pkg.name, reasons });
  }
  return stranded;
}
