/**
 * How deep each package sits in a dependency graph: 0 for one that needs nothing (of the edges
 * counted), otherwise one more than the deepest package it needs. Starting in ascending depth
 * starts what is needed before what needs it (Serviceguard: a package starts after the packages
 * named in its dependency_name entries). A cycle, which config check refuses, counts a package
 * met again on the path as depth 0 rather than looping.
 */
export function dependencyDepths<T extends { name: string }>(
  /** The packages a given package needs, among those counted (its counted edges). */
  needs: (pkg: T) => readonly T[],
): (pkg: T) => number {
  const depths = new Map<string, number>();
  const visit = (pkg: T, path: Set<string>): number => {
    const known = depths.get(pkg.name);
    if (known !== undefined) return known;
    if (path.has(pkg.name)) return 0;
    path.add(pkg.name);
    let depth = 0;
    for (const needed of needs(pkg)) depth = Math.max(depth, 1 + visit(needed, path));
    path.delete(pkg.name);
    depths.set(pkg.name, depth);
    return depth;
  };
  return (pkg) => visit(pkg, new Set());
}
