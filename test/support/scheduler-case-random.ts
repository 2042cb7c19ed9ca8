/**
 * Random clusters for the scheduler's property tests, written in the compact form of a case
 * file (scheduler-case.ts), so that a failing one can be printed and saved as a new case.
 *
 * `checked`: what `pavise config check` lets through as far as the scheduler cares — up
 * dependencies only on packages earlier in the file (no cycles) and only of the kinds
 * Serviceguard allows, exclusions (down) mutual and same_node or any_node, no unknown packages
 * or nodes. Otherwise anything goes: cycles,
 * self-dependencies, dependencies on unknown packages, packages reported on unknown nodes or
 * on two nodes at once, packages no longer configured.
 */
export function randomCase(
  next: () => number,
  checked: boolean,
  size = { nodes: 4, packages: 7 },
): Record<string, unknown> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const chance = (p: number): boolean => next() < p;
  const subset = <T>(items: readonly T[]): T[] => shuffle(items, next).filter(() => chance(0.6));

  const nodeNames = Array.from({ length: 1 + Math.floor(next() * size.nodes) }, (_, i) => `n${i + 1}`);
  const anyNode = (): string => (!checked && chance(0.05) ? "n9" : pick(nodeNames));
  const nodes: Record<string, unknown> = {};
  for (const name of nodeNames) {
    nodes[name] = {
      status: pick(["up", "up", "up", "up", "up", "halted", "failed", "failed"]),
      subnets_down: chance(0.15) ? [pick(["public", "data"])] : [],
      resources: chance(0.2) ? { disk: pick(["up", "down"]) } : {},
    };
  }

  const names = Array.from({ length: 1 + Math.floor(next() * size.packages) }, (_, i) => `p${i + 1}`);
  const multi = names.map(() => chance(0.2));
  const minPackage = names.map(() => chance(0.3));
  const configuredFailover = (i: number) => !multi[i] && !minPackage[i];
  const depends: string[][] = names.map(() => []);
  names.forEach((_, i) => {
    for (let d = Math.floor(next() * 3); d > 0; d--) {
      const up = chance(0.75);
      if (checked) {
        // Serviceguard's rules, as validate-dependencies.ts checks them: up on multi_node
        // packages, or between configured_node failover packages; exclusions (down) mutual,
        // between configured_node failover packages, same_node or any_node.
        if (i === 0) break;
        const j = Math.floor(next() * i);
        const location = up
          ? pick(["same_node", "different_node", "any_node"])
          : pick(["same_node", "any_node"]);
        const allowed = up
          ? multi[j] || (configuredFailover(i) && configuredFailover(j))
          : configuredFailover(i) && configuredFailover(j);
        if (!allowed) continue;
        depends[i]!.push(`${names[j]} ${up ? "up" : "down"} ${location}`);
        if (!up) depends[j]!.push(`${names[i]} down ${location}`);
      } else {
        const target = chance(0.05) ? "ghost" : pick(names);
        depends[i]!.push(
          `${target} ${up ? "up" : "down"} ${pick(["same_node", "different_node", "any_node"])}`,
        );
      }
    }
  });

  const packages: Record<string, unknown> = {};
  names.forEach((name, i) => {
    const spec: Record<string, unknown> = {};
    if (multi[i]) spec.type = "multi_node";
    spec.nodes = chance(0.3) ? "*" : [...subset(nodeNames), ...(!checked && chance(0.05) ? ["n9"] : [])];
    if (chance(0.1)) spec.auto_run = false;
    if (minPackage[i]) spec.failover_policy = "min_package_node";
    if (chance(0.3)) spec.failback_policy = "automatic";
    if (chance(0.5)) spec.priority = pick([10, 20, 30]);
    if (depends[i]!.length > 0) spec.depends = depends[i];
    if (chance(0.2)) spec.monitored_subnets = [pick(["public", "data"])];
    if (chance(0.15)) spec.ip_subnets = ["public"];
    if (chance(0.2)) spec.resources = chance(0.5) ? ["disk"] : { disk: "down" };
    if (chance(0.5)) {
      spec.running = multi[i]
        ? subset(nodeNames)
        : !checked && chance(0.1)
          ? [anyNode(), anyNode()]
          : anyNode();
    }
    if (chance(0.15)) spec.switching = false;
    if (chance(0.1)) spec.disabled_nodes = [pick(nodeNames)];
    if (chance(0.1)) spec.failed_on = [pick(nodeNames)];
    if (chance(0.08)) spec.halted_by_operator = true;
    if (chance(0.08)) spec.maintenance = true;
    if (chance(0.12)) spec.requested_node = pick(nodeNames);
    packages[name] = spec;
  });

  return {
    description: "random",
    nodes,
    packages,
    ...(!checked && chance(0.1) ? { unconfigured: { old: pick(nodeNames) } } : {}),
  };
}

function shuffle<T>(items: readonly T[], next: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}
