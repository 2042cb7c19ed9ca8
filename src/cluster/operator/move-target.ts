/**
 * Where `pavise pkg move PKG` without --node takes a package: the next node of its node_name
 * list after the one it runs on (wrapping around) that is eligible there (eligibility.ts). When
 * none is, the reason for each node, so the operator sees what to fix. Pure.
 */

import type { ClusterConfig } from "../config/model.js";
import { whyNotEligible } from "../scheduler/eligibility.js";
import { buildView } from "../scheduler/view.js";
import type { ClusterState } from "../state.js";

export type MoveTarget = { node: string } | { node?: undefined; reasons: { node: string; why: string }[] };

export function chooseMoveTarget(config: ClusterConfig, state: ClusterState, pkgName: string): MoveTarget {
  const view = buildView(config, state);
  const pkg = view.byName.get(pkgName);
  if (!pkg) return { reasons: [] };
  const current = pkg.current[0];
  const start = current === undefined ? 0 : pkg.nodes.indexOf(current) + 1;
  const order = [...pkg.nodes.slice(start), ...pkg.nodes.slice(0, start)].filter(
    (n) => !pkg.current.includes(n),
  );
  const reasons: { node: string; why: string }[] = [];
  for (const node of order) {
    const why = whyNotEligible(view, pkg, node);
    if (why === undefined) return { node };
    reasons.push({ node, why });
  }
  return { reasons };
}
