import { didYouMean } from "./did-you-mean.js";
import type { ClusterConfig, PackageConfig, PackageDependency } from "./model.js";
import { NAME_RULE, isName } from "./names.js";
import type { ProblemList } from "./raw-reader.js";

/**
 * Package dependencies as Serviceguard allows them (dependency_name, dependency_condition,
 * dependency_location; "About Package Dependencies" in Managing Serviceguard):
 * - up: a multi_node package, or a failover package with min_package_node, may depend only on
 *   multi_node packages; a failover package with configured_node also on failover packages with
 *   configured_node (so a package never has to be dragged by one that places itself by load);
 * - down (exclusion): mutual, the same location on both sides, both failover packages with
 *   configured_node, at least one with a priority (it decides who gives way); same_node or
 *   any_node (Serviceguard's all_nodes);
 * - no package depends on itself, and "up" dependencies form no cycle (nothing could start).
 */
export function validateDependencies(config: ClusterConfig, problems: ProblemList): void {
  const byName = new Map<string, { pkg: PackageConfig; index: number }>();
  config.packages.forEach((pkg, index) => {
    if (!byName.has(pkg.name)) byName.set(pkg.name, { pkg, index });
  });
  const names = [...byName.keys()].filter((n) => n !== "");
  config.packages.forEach((pkg, i) => {
    const seenNames = new Set<string>();
    const seenTargets = new Set<string>();
    pkg.dependencies.forEach((dep, j) => {
      const at = `packages[${i}].dependencies[${j}]`;
      if (dep.name !== dep.package && !isName(dep.name)) {
        problems.add(
          `${at}.name`,
          dep.name,
          `is not a valid dependency name: ${NAME_RULE}`,
          "write e.g. name: db_up",
        );
      } else if (seenNames.has(dep.name)) {
        problems.add(
          `${at}.name`,
          dep.name,
          "is used twice in this package",
          "give each dependency its own name",
        );
      }
      seenNames.add(dep.name);
      if (dep.package === pkg.name) {
        problems.add(
          `${at}.package`,
          dep.package,
          "a package cannot depend on itself",
          "remove this dependency",
        );
        return;
      }
      const target = byName.get(dep.package);
      if (!target) {
        problems.add(
          `${at}.package`,
          dep.package,
          `is not a package of this cluster${didYouMean(dep.package, names)}`,
          `use one of the packages: ${names.join(", ") || "(none defined)"}`,
        );
        return;
      }
      if (seenTargets.has(dep.package)) {
        problems.add(
          `${at}.package`,
          dep.package,
          `package ${pkg.name} already depends on it`,
          "keep one dependency per package",
        );
        return;
      }
      seenTargets.add(dep.package);
      if (dep.condition === "up") upRules(pkg, dep, target.pkg, at, problems);
      else downRules(pkg, i, dep, target, at, problems);
    });
  });
  cycles(config, byName, problems);
}

function upRules(
  pkg: PackageConfig,
  dep: PackageDependency,
  target: PackageConfig,
  at: string,
  problems: ProblemList,
): void {
  const targetKind =
    target.type === "multi_node"
      ? "a multi_node package"
      : `a failover package with ${target.failoverPolicy}`;
  if (target.type !== "multi_node") {
    if (pkg.type === "multi_node") {
      problems.add(
        `${at}.package`,
        dep.package,
        `a multi_node package can depend only on multi_node packages, and ${dep.package} is ${targetKind}`,
        `make ${pkg.name} a failover package, or ${dep.package} a multi_node one`,
      );
    } else if (pkg.failoverPolicy === "min_package_node") {
      problems.add(
        `${at}.package`,
        dep.package,
        `a package with failover_policy min_package_node can depend only on multi_node packages, and ${dep.package} is ${targetKind}`,
        `use failover_policy: configured_node for ${pkg.name}`,
      );
    } else if (target.failoverPolicy !== "configured_node") {
      problems.add(
        `${at}.package`,
        dep.package,
        `a package can depend on a failover package only if that one uses failover_policy configured_node, and ${dep.package} uses ${target.failoverPolicy}`,
        `use failover_policy: configured_node for ${dep.package}`,
      );
    }
  }
  if (dep.location === "same_node" && !pkg.nodes.some((n) => target.nodes.includes(n))) {
    problems.add(
      `${at}.location`,
      dep.location,
      `${pkg.name} (${pkg.nodes.join(", ")}) and ${dep.package} (${target.nodes.join(", ")}) have no node in common, so this can never be met`,
      `add a node to both node_name lists, or use location: any_node`,
    );
  }
  if (dep.location === "different_node" && !pkg.nodes.some((n) => target.nodes.some((m) => m !== n))) {
    problems.add(
      `${at}.location`,
      dep.location,
      `${pkg.name} and ${dep.package} can run only on ${pkg.nodes.join(", ") || "no node"}, so never on different nodes`,
      "give one of them another node in node_name, or use location: same_node",
    );
  }
}

function downRules(
  pkg: PackageConfig,
  index: number,
  dep: PackageDependency,
  target: { pkg: PackageConfig; index: number },
  at: string,
  problems: ProblemList,
): void {
  if (dep.location === "different_node") {
    problems.add(
      `${at}.location`,
      dep.location,
      "an exclusion (condition down) is either on the same node or on all nodes",
      "write location: same_node (not on this node) or any_node (nowhere in the cluster)",
    );
    return;
  }
  for (const side of [pkg, target.pkg]) {
    if (side.type !== "failover" || side.failoverPolicy !== "configured_node") {
      problems.add(
        `${at}.condition`,
        dep.condition,
        `an exclusion is only between failover packages with failover_policy configured_node, and ${side.name} is ${side.type === "multi_node" ? "multi_node" : `a failover package with ${side.failoverPolicy}`}`,
        `use condition: up, or make ${side.name} a failover package with configured_node`,
      );
      return;
    }
  }
  const back = target.pkg.dependencies.find((d) => d.package === pkg.name && d.condition === "down");
  if (!back) {
    problems.add(
      `${at}.condition`,
      dep.condition,
      `exclusions must be mutual, and ${dep.package} has no down dependency on ${pkg.name}`,
      `add { package: ${pkg.name}, condition: down, location: ${dep.location} } to ${dep.package}'s dependencies`,
    );
  } else if (back.location !== dep.location) {
    problems.add(
      `${at}.location`,
      dep.location,
      `${dep.package}'s exclusion of ${pkg.name} uses location ${back.location}: both sides must use the same`,
      `use the same location on both sides`,
    );
  }
  // The pair is reported once, from the package that comes first in the file.
  if (pkg.priority === undefined && target.pkg.priority === undefined && index < target.index) {
    problems.add(
      `packages[${index}].priority`,
      "no_priority",
      `${pkg.name} and ${dep.package} exclude each other but neither has a priority, so nothing decides which one gives way`,
      `give one of them a priority, e.g. priority: 100`,
    );
  }
}

/** Cycles of "up" dependencies: each reported once, on the dependency that closes it. */
function cycles(
  config: ClusterConfig,
  byName: Map<string, { pkg: PackageConfig; index: number }>,
  problems: ProblemList,
): void {
  const state = new Map<string, "active" | "done">();
  const stack: string[] = [];
  const reported = new Set<string>();
  const visit = (name: string): void => {
    state.set(name, "active");
    stack.push(name);
    const entry = byName.get(name);
    entry?.pkg.dependencies.forEach((dep, j) => {
      if (dep.condition !== "up" || dep.package === name || !byName.has(dep.package)) return;
      const next = state.get(dep.package);
      if (next === "active") {
        const cycle = stack.slice(stack.indexOf(dep.package));
        const id = [...cycle].sort().join("\u0000");
        if (reported.has(id)) return;
        reported.add(id);
        problems.add(
          `packages[${entry.index}].dependencies[${j}].package`,
          dep.package,
          `closes a dependency cycle: ${[...cycle, dep.package].join(" → ")}; none of them could ever start`,
          "remove one of these dependencies",
        );
      } else if (next === undefined) {
        visit(dep.package);
      }
    });
    stack.pop();
    state.set(name, "done");
  };
  for (const pkg of config.packages) if (!state.has(pkg.name)) visit(pkg.name);
}
