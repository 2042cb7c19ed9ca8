import type { PackageView } from "./view.js";

/**
 * Package priority (Serviceguard's `priority`: 1 highest … 3000 lowest, or no_priority) as a
 * rank: a smaller rank is more important, and no_priority ranks after every number.
 */
export const NO_PRIORITY_RANK = 3001;

export function rankOf(priority: number | undefined): number {
  return priority !== undefined && Number.isFinite(priority) ? priority : NO_PRIORITY_RANK;
}

/**
 * A package is as important as the most important package that needs it up (a dependency with
 * condition up, at any location, followed transitively): a priority-1 application must be able
 * to bring up the no_priority database it needs, even if that displaces a priority-5 package.
 * Only the packages `lends` names lend their rank (see placement.ts: those that may run).
 *
 * Relaxation over the dependency edges, at most one round per package: ends on cycles too.
 */
export function assignEffectiveRanks(
  packages: readonly PackageView[],
  byName: ReadonlyMap<string, PackageView>,
  lends: (pkg: PackageView) => boolean,
): void {
  const ranks = new Map(packages.map((pkg) => [pkg.name, pkg.rank]));
  for (let round = 0; round < packages.length; round++) {
    let changed = false;
    for (const pkg of packages) {
      if (!lends(pkg)) continue;
      const own = ranks.get(pkg.name) ?? pkg.rank;
      for (const dep of pkg.dependencies) {
        if (dep.condition !== "up" || !byName.has(dep.package)) continue;
        if (own < (ranks.get(dep.package) ?? NO_PRIORITY_RANK)) {
          ranks.set(dep.package, own);
          changed = true;
        }
      }
    }
    if (!changed) break;
  }
  for (const pkg of packages) pkg.effectiveRank = ranks.get(pkg.name) ?? pkg.rank;
}

/** Whether `a` outranks `b` strictly: only then may `a` displace `b` (equal never preempts). */
export function outranks(a: PackageView, b: PackageView): boolean {
  return a.effectiveRank < b.effectiveRank;
}
