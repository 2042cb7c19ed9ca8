import type { PackageView } from "./view.js";

/**
 * Which node a failover package takes among those it can run on, by its policies:
 *
 * - The node an operator asked for (cmrunpkg -n, pavise pkg move) comes first while it is a
 *   candidate, over staying put, failback and failover_policy; when it is not, the rules below.
 * - It stays where it runs (`sticky`): no needless moves …
 * - … unless failback_policy is automatic: then it returns to its primary node (the first of
 *   its list) once that is eligible again — Serviceguard's rule, whatever the failover_policy;
 *   a package on its third node does not hop to the second.
 * - Otherwise failover_policy: configured_node takes the first eligible node in list order,
 *   min_package_node the eligible node running the fewest packages (ties: list order).
 *
 * The first rule keeps a plan stable: once carried out, scheduling again changes nothing.
 */

export type ChoiceReason =
  "requested" | "stay" | "failback" | "primary" | "configured_node" | "min_package_node";

export interface NodeChoice {
  node: string;
  why: ChoiceReason;
}

export function chooseNode(
  pkg: PackageView,
  /** Nodes it can run on, in the order of its node list. */
  candidates: readonly string[],
  sticky: string | undefined,
  load: (node: string) => number,
): NodeChoice | undefined {
  const first = candidates[0];
  if (first === undefined) return undefined;
  const stays = sticky !== undefined && candidates.includes(sticky);
  if (pkg.requested !== undefined && candidates.includes(pkg.requested)) {
    return { node: pkg.requested, why: stays && sticky === pkg.requested ? "stay" : "requested" };
  }
  const { failoverPolicy, failbackPolicy } = pkg.config;
  if (failbackPolicy === "automatic") {
    const preferred = pkg.nodes[0];
    if (preferred !== undefined && candidates.includes(preferred)) {
      if (stays && sticky === preferred) return { node: preferred, why: "stay" };
      return {
        node: preferred,
        why: stays ? "failback" : failoverPolicy === "configured_node" ? failoverPolicy : "primary",
      };
    }
  }
  if (stays) return { node: sticky, why: "stay" };
  if (failoverPolicy === "configured_node") return { node: first, why: "configured_node" };
  let best = first;
  for (const node of candidates) if (load(node) < load(best)) best = node;
  return { node: best, why: "min_package_node" };
}
