import type { ClusterConfig, PackageConfig, PackageDependency } from "../config/model.js";
import type { ClusterState, NodeState } from "../state.js";
import { rankOf } from "./priority.js";

/**
 * The scheduler's input, read once into the shape its stages need: packages in file order with
 * their state, their mode this round, their ranks and dependency edges both ways. Every later
 * stage reads only this, so a missing state entry, a duplicate name or a dependency on an
 * unknown package is dealt with here, once, and never throws.
 */

/**
 * What the cluster may do with a package this round.
 * - free: package switching enabled — started, moved and halted as needed;
 * - pinned: switching disabled (cmmodpkg -d) — may keep running where it is, never started or moved;
 * - held: halted by an operator — stays down until run again;
 * - maintenance: left exactly as it is.
 */
export type PackageMode = "free" | "pinned" | "held" | "maintenance";

export interface PackageView {
  name: string;
  /** Position in the configuration file: the last tie-breaker everywhere. */
  index: number;
  config: PackageConfig;
  mode: PackageMode;
  /** Nodes it runs on now (state runningOn, without duplicates). */
  current: string[];
  /** node_name without duplicates, in order of preference. */
  nodes: string[];
  /** Subnets that must be up on its node: monitored_subnet and the subnets of its addresses. */
  subnets: string[];
  disabledNodes: ReadonlySet<string>;
  failedOn: ReadonlySet<string>;
  /** The node an operator asked for (cmrunpkg -n, pavise pkg move); failover packages only. */
  requested: string | undefined;
  /** Own priority as a number, 1 most important; no_priority sorts after 3000. */
  rank: number;
  /** Rank raised to that of any package that needs it up: set by the place stage (priority.ts). */
  effectiveRank: number;
  /** Longest chain of up dependencies below it: 0 when it needs nothing. */
  depth: number;
  /** Every package it needs up, directly or through others (up dependencies, any location). */
  needs: ReadonlySet<string>;
  /** Its dependencies, but none on itself (a package not configured counts as never up). */
  dependencies: PackageDependency[];
  /** Packages with a dependency on it, and that dependency. */
  dependents: { from: PackageView; dependency: PackageDependency }[];
}

export interface ClusterView {
  /** Configured node names in file order. */
  nodes: string[];
  nodeStates: ReadonlyMap<string, NodeState>;
  /** Configured packages in file order (the first of a duplicated name wins). */
  packages: PackageView[];
  byName: ReadonlyMap<string, PackageView>;
  /** Packages the state knows and the configuration no longer has, with where they run. */
  unconfigured: { name: string; current: string[] }[];
}

export function buildView(config: ClusterConfig, state: ClusterState): ClusterView {
  const nodes = unique(config.nodes.map((node) => node.name));
  const nodeStates = new Map<string, NodeState>();
  for (const name of nodes) {
    const node = state.nodes[name];
    if (node) nodeStates.set(name, node);
  }

  const packages: PackageView[] = [];
  const byName = new Map<string, PackageView>();
  for (const pkg of config.packages) {
    if (byName.has(pkg.name)) continue;
    const view = packageView(pkg, packages.length, state);
    packages.push(view);
    byName.set(view.name, view);
  }
  for (const pkg of packages) {
    pkg.dependencies = pkg.config.dependencies.filter((dep) => dep.package !== pkg.name);
    for (const dependency of pkg.dependencies) {
      byName.get(dependency.package)?.dependents.push({ from: pkg, dependency });
    }
  }
  const depths = new Map<string, number>();
  for (const pkg of packages) {
    pkg.depth = depthOf(pkg, byName, depths, new Set());
    pkg.needs = needsOf(pkg, byName);
  }

  const unconfigured = Object.keys(state.packages)
    .filter((name) => !byName.has(name))
    .sort()
    .map((name) => ({ name, current: unique(state.packages[name]?.runningOn ?? []) }))
    .filter((pkg) => pkg.current.length > 0);

  return { nodes, nodeStates, packages, byName, unconfigured };
}

function packageView(pkg: PackageConfig, index: number, state: ClusterState): PackageView {
  const own = state.packages[pkg.name];
  const switching = own?.switching ?? pkg.autoRun;
  const mode: PackageMode = own?.maintenance
    ? "maintenance"
    : own?.haltedByOperator
      ? "held"
      : switching
        ? "free"
        : "pinned";
  const rank = rankOf(pkg.priority);
  return {
    name: pkg.name,
    index,
    config: pkg,
    mode,
    current: unique(own?.runningOn ?? []),
    nodes: unique(pkg.nodes),
    subnets: unique([...pkg.monitoredSubnets, ...pkg.addresses.map((address) => address.subnet)]),
    disabledNodes: new Set(own?.disabledNodes ?? []),
    failedOn: new Set(own?.failedOn ?? []),
    requested: pkg.type === "failover" ? own?.requestedNode : undefined,
    rank,
    effectiveRank: rank,
    depth: 0,
    needs: new Set(),
    dependencies: [],
    dependents: [],
  };
}

/** A package wants to run when the cluster would keep it or start it, priorities aside. */
export function wantsToRun(pkg: PackageView): boolean {
  if (pkg.mode === "free") return true;
  if (pkg.mode === "held") return false;
  return pkg.current.length > 0;
}

function depthOf(
  pkg: PackageView,
  byName: ReadonlyMap<string, PackageView>,
  depths: Map<string, number>,
  visiting: Set<string>,
): number {
  const known = depths.get(pkg.name);
  if (known !== undefined) return known;
  // A cycle (refused by `pavise config check`, but possible here) is cut where it closes.
  if (visiting.has(pkg.name)) return 0;
  visiting.add(pkg.name);
  let depth = 0;
  for (const dep of pkg.dependencies) {
    const target = byName.get(dep.package);
    if (dep.condition === "up" && target) {
      depth = Math.max(depth, 1 + depthOf(target, byName, depths, visiting));
    }
  }
  visiting.delete(pkg.name);
  depths.set(pkg.name, depth);
  return depth;
}

function needsOf(pkg: PackageView, byName: ReadonlyMap<string, PackageView>): Set<string> {
  const needs = new Set<string>();
  const visit = (from: PackageView) => {
    for (const dep of from.dependencies) {
      const target = byName.get(dep.package);
      if (dep.condition !== "up" || !target || needs.has(target.name)) continue;
      needs.add(target.name);
      visit(target);
    }
  };
  visit(pkg);
  needs.delete(pkg.name);
  return needs;
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}
