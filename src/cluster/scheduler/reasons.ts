import type { PackageDependency } from "../config/model.js";
import { type Placement, failingDependency, objector } from "./dependencies.js";
import { whyNotEligible } from "./eligibility.js";
import type { PlacementNote } from "./placement.js";
import { outranks } from "./priority.js";
import { type ClusterView, type PackageView, wantsToRun } from "./view.js";

/**
 * The one-line reasons a plan gives, worked out from the final placement: why a package leaves
 * a node (its node failed, a resource went down, a dependency went, a higher-priority package
 * took its place, failback…) and why it starts where it does.
 */

export function whyLeaves(
  view: ClusterView,
  pkg: PackageView,
  node: string,
  placement: Placement,
  note: PlacementNote | undefined,
): string {
  if (pkg.mode === "held") return "halted by operator";
  const ineligible = whyNotEligible(view, pkg, node);
  if (ineligible) return ineligible;
  const target = placement.get(pkg.name) ?? [];
  if (note?.kind === "follows" && target.length > 0) return `moves with ${note.with} (same_node dependency)`;
  // Its own choice, made while its node was still fine (later packages may have taken it since).
  if (note?.kind === "room")
    return `makes room for higher-priority package ${note.for} (different_node dependency)`;
  if (note?.kind === "chosen" && note.why === "requested") return `moved by operator to ${target[0]}`;
  if (note?.kind === "chosen" && note.why === "failback") {
    const preferred = pkg.config.failoverPolicy === "configured_node" ? "preferred" : "primary";
    return `failback to ${preferred} node ${target[0]}`;
  }
  const dependency = failingDependency(view, pkg, node, placement);
  if (dependency) return dependencyReason(view, pkg, dependency, node, placement);
  const there = pkg.config.type === "failover" ? [node] : [...target, node];
  const objecting = objector(pkg, target, there, placement);
  if (objecting) return objectionReason(pkg, objecting.from, objecting.dependency, node);
  return "rescheduled";
}

export function whyStarts(pkg: PackageView, node: string, note: PlacementNote | undefined): string {
  if (pkg.config.type === "multi_node") return "eligible node (multi_node)";
  switch (note?.kind) {
    case "follows":
      return `starts with ${note.with} (same_node dependency)`;
    case "joins":
      return `joins ${note.with} on ${node} (same_node dependency)`;
    case "room":
      return `makes room for higher-priority package ${note.for} (different_node dependency)`;
    case "chosen":
      if (note.why === "requested") return "node requested by operator (cmrunpkg -n)";
      if (note.why === "min_package_node") return "fewest packages of the eligible nodes (min_package_node)";
      if (
        note.why === "primary" ||
        (note.why === "failback" && pkg.config.failoverPolicy !== "configured_node")
      ) {
        return "primary node (failback_policy automatic)";
      }
      return "first eligible node (configured_node)";
    case undefined:
      return "first eligible node (configured_node)";
  }
}

function dependencyReason(
  view: ClusterView,
  pkg: PackageView,
  dependency: PackageDependency,
  node: string,
  placement: Placement,
): string {
  const name = dependency.package;
  const other = view.byName.get(name);
  if (!other) return `dependency ${name} is not configured`;
  const at = placement.get(name) ?? [];
  if (dependency.condition === "up") {
    if (at.length === 0) return `dependency ${name} is down`;
    if (dependency.location === "different_node") return `dependency ${name} is not up on another node`;
    if (other.config.type === "multi_node") return `dependency ${name} is down on ${node}`;
    return other.current.includes(node) && at[0] !== undefined
      ? `dependency ${name} moved to ${at[0]}`
      : `dependency ${name} is not on ${node}`;
  }
  if (outranks(other, pkg)) return displacedBy(other, pkg);
  switch (dependency.location) {
    case "same_node":
      return `${name} is up on ${node} (down dependency)`;
    case "different_node":
      return `${name} is up on another node (down dependency)`;
    case "any_node":
      return `${name} is up (down dependency)`;
  }
}

function objectionReason(
  pkg: PackageView,
  from: PackageView,
  dependency: PackageDependency,
  node: string,
): string {
  if (outranks(from, pkg)) return displacedBy(from, pkg);
  return dependency.condition === "down"
    ? `${from.name} excludes it from ${node} (down dependency)`
    : `${from.name} needs it on a node other than ${node}`;
}

/** Names the package whose priority counts: `by` itself, or the one that needs it up. */
function displacedBy(by: PackageView, pkg: PackageView): string {
  if (by.rank < pkg.rank) return `displaced by higher-priority package ${by.name}`;
  let holder = by;
  const seen = new Set<PackageView>();
  while (holder.rank !== holder.effectiveRank && !seen.has(holder)) {
    seen.add(holder);
    const lender = holder.dependents.find(
      ({ from, dependency }) =>
        dependency.condition === "up" && wantsToRun(from) && from.effectiveRank === holder.effectiveRank,
    );
    if (!lender) break;
    holder = lender.from;
  }
  return `displaced by ${by.name}, needed by higher-priority package ${holder.name}`;
}
