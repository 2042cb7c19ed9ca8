import type { PackageDependency } from "../config/model.js";
import type { ClusterView, PackageView } from "./view.js";

/**
 * Package dependencies (dependency_condition × dependency_location) as checks on a placement.
 * A package on `node` whose dependency is on `target` (the nodes that package runs on):
 *
 * | condition | same_node            | different_node               | any_node     |
 * | --------- | -------------------- | ---------------------------- | ------------ |
 * | up        | target has node      | target has a node ≠ node     | target ≠ ∅   |
 * | down      | target lacks node    | target ⊆ {node}              | target = ∅   |
 *
 * "down, any_node" is Serviceguard's exclusionary all_nodes dependency; "down, same_node" keeps
 * two packages off each other's node.
 */

/** Package → the nodes it runs on; a package without an entry is down (or not placed yet). */
export type Placement = ReadonlyMap<string, readonly string[]>;

export function holds(dependency: PackageDependency, node: string, target: readonly string[]): boolean {
  const up = dependency.condition === "up";
  switch (dependency.location) {
    case "same_node":
      return target.includes(node) === up;
    case "different_node":
      return target.some((other) => other !== node) === up;
    case "any_node":
      return target.length > 0 === up;
  }
}

/** Its first dependency that does not hold with the package on `node`, if any. */
export function failingDependency(
  view: ClusterView,
  pkg: PackageView,
  node: string,
  placement: Placement,
): PackageDependency | undefined {
  return pkg.dependencies.find((dependency) =>
    // A dependency on a package that is not configured can never be up.
    view.byName.has(dependency.package)
      ? !holds(dependency, node, placement.get(dependency.package) ?? [])
      : dependency.condition === "up",
  );
}

/**
 * A placed package whose dependency on `pkg` holds while `pkg` runs on `before` and would not
 * if it ran on `after`: moving or adding `pkg` there would break that package. Maintenance
 * packages count too: they are left alone, so others keep out of their way.
 */
export function objector(
  pkg: PackageView,
  before: readonly string[],
  after: readonly string[],
  placement: Placement,
): { from: PackageView; dependency: PackageDependency } | undefined {
  for (const dependent of pkg.dependents) {
    for (const node of placement.get(dependent.from.name) ?? []) {
      if (holds(dependent.dependency, node, before) && !holds(dependent.dependency, node, after)) {
        return dependent;
      }
    }
  }
  return undefined;
}
