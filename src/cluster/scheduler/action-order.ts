import type { PlanAction } from "./plan.js";
import type { ClusterView, PackageView } from "./view.js";

/**
 * The order of a plan's steps. A package starts after what it needs up (directly or through
 * others) has started, and halts before what it needs halts (Serviceguard's dependency order:
 * start order follows dependencies, halt order is the reverse); a package that another keeps
 * off its node (a down dependency, either way round) starts there after the other has left. A
 * move is one step (halt, then start): when a package and what it needs move together, the one
 * needed moves first, so that it is up on the new node before its dependent starts there.
 *
 * Otherwise: halts first (freeing nodes), then moves, then starts; halts dependents first,
 * moves and starts dependencies first; then the more important package first, then file order.
 * A cycle of constraints (only a cyclic configuration makes one) is cut at its first step in
 * that order.
 */
export function orderActions(view: ClusterView, actions: readonly PlanAction[]): PlanAction[] {
  const pkgOf = (action: PlanAction): PackageView | undefined => view.byName.get(action.package);
  const key = actions.map((action) => {
    const pkg = pkgOf(action);
    const kind = action.kind === "halt" ? 0 : action.kind === "move" ? 1 : 2;
    const depth = pkg?.depth ?? 0;
    return [kind, kind === 0 ? -depth : depth, pkg?.effectiveRank ?? 0, pkg?.index ?? Infinity];
  });
  const earlier = (a: number, b: number): boolean => {
    const [ka, kb] = [key[a]!, key[b]!];
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i]! < kb[i]!;
    return a < b;
  };
  const after = actions.map((action, i) =>
    actions.flatMap((other, j) => (i !== j && mustPrecede(view, other, action) ? [j] : [])),
  );

  const done = new Set<number>();
  const order: PlanAction[] = [];
  while (order.length < actions.length) {
    let next: number | undefined;
    let fallback: number | undefined;
    for (let i = 0; i < actions.length; i++) {
      if (done.has(i)) continue;
      if (fallback === undefined || earlier(i, fallback)) fallback = i;
      if (after[i]!.every((j) => done.has(j)) && (next === undefined || earlier(i, next))) next = i;
    }
    const chosen = next ?? fallback!;
    done.add(chosen);
    order.push(actions[chosen]!);
  }
  return order;
}

const added = (action: PlanAction): string | undefined =>
  action.kind === "start" ? action.node : action.kind === "move" ? action.to : undefined;
const removed = (action: PlanAction): string | undefined =>
  action.kind === "halt" ? action.node : action.kind === "move" ? action.from : undefined;

/** Whether step `first` must come before step `then`. */
function mustPrecede(view: ClusterView, first: PlanAction, then: PlanAction): boolean {
  const a = view.byName.get(first.package);
  const b = view.byName.get(then.package);
  if (!a || !b || a === b) return false;
  const bNeedsA = b.needs.has(a.name);
  const aNeedsB = a.needs.has(b.name);
  // What a package needs starts first.
  if (added(first) !== undefined && added(then) !== undefined && bNeedsA) return true;
  // A dependent halts before what it needs; between two moves the rule above wins.
  if (removed(first) !== undefined && removed(then) !== undefined && aNeedsB) {
    if (first.kind !== "move" || then.kind !== "move") return true;
  }
  // A package leaves a node before one that must not share it with it arrives.
  const to = added(then);
  const from = removed(first);
  if (to !== undefined && from !== undefined) {
    const excludes = [
      ...b.dependencies.filter((dep) => dep.package === a.name),
      ...a.dependencies.filter((dep) => dep.package === b.name),
    ].filter((dep) => dep.condition === "down");
    return excludes.some(
      (dep) =>
        dep.location === "any_node" ||
        (dep.location === "same_node" && from === to) ||
        (dep.location === "different_node" && from !== to),
    );
  }
  return false;
}
