import { dependencyDepths } from "../dependency-depth.js";
import { type ClusterView, type PackageView, wantsToRun } from "./view.js";

/**
 * The units the scheduler places one after the other, and their order.
 *
 * Failover packages joined by up/same_node dependencies must share a node, so they are placed
 * together as one unit (a "same_node group"); every other package is a unit of its own. A
 * multi_node package is always its own unit: it runs on many nodes, and those that depend on it
 * simply check each node.
 *
 * Order: a unit comes after the units it needs up (so a dependency is placed before whoever
 * needs it, and starts first), and among the units that are ready, the most important first
 * (the best effective rank of its members that want to run), then file order. Nothing here
 * depends on what runs where, so the order is the same before and after a plan is carried out.
 * A cycle of units (a cyclic configuration, or two same_node groups that each need a member of
 * the other) is cut at its best-ranked unit, and the order still ends.
 */

export interface Unit {
  /** Members by importance within the unit: own rank, then dependencies before dependents, then file order. */
  members: PackageView[];
  /** Members with each package after the members it depends on (same_node), for placing. */
  startOrder: PackageView[];
}

export function orderedUnits(view: ClusterView): Unit[] {
  const units = groupUnits(view);
  const unitOf = new Map<string, number>();
  units.forEach((unit, i) => unit.members.forEach((pkg) => unitOf.set(pkg.name, i)));

  const needs = units.map((unit, i) => {
    const needed = new Set<number>();
    for (const pkg of unit.members) {
      for (const dep of pkg.dependencies) {
        const other = unitOf.get(dep.package);
        if (dep.condition === "up" && other !== undefined && other !== i) needed.add(other);
      }
    }
    return needed;
  });
  const key = units.map((unit) => ({
    // Members that stay down whatever happens (halted by an operator) do not count.
    rank: Math.min(...unit.members.filter(wantsToRun).map((pkg) => pkg.effectiveRank)),
    index: Math.min(...unit.members.map((pkg) => pkg.index)),
  }));
  const before = (a: number, b: number): boolean => {
    const ka = key[a]!;
    const kb = key[b]!;
    return ka.rank !== kb.rank ? ka.rank < kb.rank : ka.index < kb.index;
  };

  const done = new Set<number>();
  const order: Unit[] = [];
  while (order.length < units.length) {
    let next: number | undefined;
    let fallback: number | undefined;
    for (let i = 0; i < units.length; i++) {
      if (done.has(i)) continue;
      if (fallback === undefined || before(i, fallback)) fallback = i;
      const ready = [...needs[i]!].every((other) => done.has(other));
      if (ready && (next === undefined || before(i, next))) next = i;
    }
    const chosen = next ?? fallback!;
    done.add(chosen);
    order.push(units[chosen]!);
  }
  return order;
}

function groupUnits(view: ClusterView): Unit[] {
  const parent = new Map(view.packages.map((pkg) => [pkg.name, pkg.name]));
  const root = (name: string): string => {
    let at = name;
    while (parent.get(at) !== at) at = parent.get(at)!;
    return at;
  };
  for (const pkg of view.packages) {
    if (pkg.config.type !== "failover") continue;
    for (const dep of pkg.dependencies) {
      const target = view.byName.get(dep.package);
      if (dep.condition !== "up" || dep.location !== "same_node" || target?.config.type !== "failover")
        continue;
      const [a, b] = [root(pkg.name), root(target.name)];
      if (a !== b) parent.set(b, a);
    }
  }
  const groups = new Map<string, PackageView[]>();
  for (const pkg of view.packages) {
    const key = root(pkg.name);
    groups.set(key, [...(groups.get(key) ?? []), pkg]);
  }
  return [...groups.values()].map((members) => {
    const depth = inGroupDepths(members);
    const startOrder = [...members].sort((a, b) => depth(a) - depth(b) || a.index - b.index);
    const byImportance = [...members].sort(
      (a, b) => a.rank - b.rank || depth(a) - depth(b) || a.index - b.index,
    );
    return { members: byImportance, startOrder };
  });
}

/** Longest chain of up/same_node dependencies inside the group below each member. */
function inGroupDepths(members: readonly PackageView[]): (pkg: PackageView) => number {
  const inGroup = new Map(members.map((pkg) => [pkg.name, pkg]));
  return dependencyDepths<PackageView>((pkg) =>
    pkg.dependencies.flatMap((dep) => {
      const target = inGroup.get(dep.package);
      return target && dep.condition === "up" && dep.location === "same_node" ? [target] : [];
    }),
  );
}
