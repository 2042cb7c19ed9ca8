import { whyNotEligible } from "./eligibility.js";
import type { PlacementResult } from "./placement.js";
import type { PlanAction } from "./plan.js";
import { whyLeaves, whyStarts } from "./reasons.js";
import type { ClusterView, PackageView } from "./view.js";

/**
 * The steps from where packages run now to where they should: for a failover package one start
 * (down → node), halt (node → down) or move (node → node); for a multi_node package a start or
 * halt per node that changes. Packages in maintenance have none; a package that is no longer
 * configured is halted wherever it runs. Unordered: action-order.ts orders them.
 */
export function planActions(view: ClusterView, { targets, notes }: PlacementResult): PlanAction[] {
  const actions: PlanAction[] = [];
  const halt = (pkg: string, node: string, reason: string) =>
    actions.push({ kind: "halt", package: pkg, node, reason });
  const start = (pkg: string, node: string, reason: string) =>
    actions.push({ kind: "start", package: pkg, node, reason });

  for (const pkg of view.packages) {
    if (pkg.mode === "maintenance") continue;
    const target = targets.get(pkg.name) ?? [];
    const note = notes.get(pkg.name);
    const leaves = (node: string) => whyLeaves(view, pkg, node, targets, note);
    if (pkg.config.type === "multi_node") {
      for (const node of pkg.current) if (!target.includes(node)) halt(pkg.name, node, leaves(node));
      for (const node of target)
        if (!pkg.current.includes(node)) start(pkg.name, node, whyStarts(pkg, node, note));
      continue;
    }
    const [to] = target;
    if (to === undefined) {
      for (const node of pkg.current) halt(pkg.name, node, haltReason(view, pkg, node, leaves(node)));
      continue;
    }
    // Where it runs already, or else the first node it runs on, is where it leaves from.
    const [from, ...others] = pkg.current.includes(to)
      ? [to, ...pkg.current.filter((node) => node !== to)]
      : pkg.current;
    if (from === undefined) start(pkg.name, to, whyStarts(pkg, to, note));
    else if (from !== to) actions.push({ kind: "move", package: pkg.name, from, to, reason: leaves(from) });
    for (const node of others) halt(pkg.name, node, "runs on more than one node");
  }
  for (const pkg of view.unconfigured) {
    for (const node of pkg.current) halt(pkg.name, node, "no longer configured");
  }
  return actions;
}

/**
 * A failover package that leaves a node it is no longer eligible for and goes nowhere: say
 * why it does not move (switching disabled, or no node can take it).
 */
function haltReason(view: ClusterView, pkg: PackageView, node: string, cause: string): string {
  if (whyNotEligible(view, pkg, node) === undefined) return cause;
  if (pkg.mode === "pinned") return `${cause} (switching disabled)`;
  return pkg.mode === "free" ? `${cause}; no other node can run it` : cause;
}
