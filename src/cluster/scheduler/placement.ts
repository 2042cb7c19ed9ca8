import { type Placement, failingDependency } from "./dependencies.js";
import { eligibleNodes, isEligible } from "./eligibility.js";
import type { ChoiceReason } from "./node-choice.js";
import { Placer, type Reservation } from "./placer.js";
import { assignEffectiveRanks } from "./priority.js";
import { type Unit, orderedUnits } from "./units.js";
import type { ClusterView, PackageView } from "./view.js";

/**
 * Where every package should run (placer.ts makes one greedy placement), made again until the
 * assumptions it made hold, so that the plan is stable: carried out and scheduled again, it
 * gives no further actions.
 *
 * - Priority is lent (priority.ts) by packages that may run: free ones with an eligible node,
 *   running ones in maintenance, running ones with switching disabled. One with switching
 *   disabled that is halted after all stops lending.
 * - A node is kept free for a more important package (up/different_node) only if that package
 *   then takes it.
 * - A package whose dependency still fails (only a cyclic configuration leaves one) is forced
 *   down.
 * Each time one of them is undone, the placement is made again with fewer lenders, fewer
 * reservations or more packages forced down, so this ends.
 */

/** Why a package ended where it did, where its eligibility and dependencies do not say. */
export type PlacementNote =
  /** Its node was chosen by its own policies. */
  | { kind: "chosen"; why: ChoiceReason }
  /** It started where a member of its same_node group already ran. */
  | { kind: "joins"; with: string }
  /** It goes where `with` goes (same_node dependency). */
  | { kind: "follows"; with: string }
  /** It left a node that `for`, more important, takes while needing it on a different node. */
  | { kind: "room"; for: string };

export interface PlacementResult {
  /** Every configured package → the nodes it should run on. */
  targets: Map<string, string[]>;
  notes: Map<string, PlacementNote>;
}

export function place(view: ClusterView): PlacementResult {
  const lenders = new Set(view.packages.filter((pkg) => mayLend(view, pkg)).map((pkg) => pkg.name));
  const noReserve = new Set<string>();
  for (;;) {
    assignEffectiveRanks(view.packages, view.byName, (pkg) => lenders.has(pkg.name));
    const result = placeChecked(view, orderedUnits(view), noReserve);
    const stopped = view.packages.filter(
      (pkg) => pkg.mode === "pinned" && lenders.has(pkg.name) && !result.targets.get(pkg.name)?.length,
    );
    const unused = result.reservations.filter(({ node, by }) => !result.targets.get(by)?.includes(node));
    if (stopped.length === 0 && unused.length === 0) return { targets: result.targets, notes: result.notes };
    for (const pkg of stopped) lenders.delete(pkg.name);
    for (const { by } of unused) noReserve.add(by);
  }
}

function mayLend(view: ClusterView, pkg: PackageView): boolean {
  switch (pkg.mode) {
    case "free":
      return eligibleNodes(view, pkg).length > 0;
    case "pinned":
      return pkg.current.some((node) => isEligible(view, pkg, node));
    case "maintenance":
      return pkg.current.length > 0;
    case "held":
      return false;
  }
}

/** Places, then halts any package whose dependency still fails (a cyclic configuration) and places again. */
function placeChecked(
  view: ClusterView,
  units: readonly Unit[],
  noReserve: ReadonlySet<string>,
): PlacementResult & { reservations: Reservation[] } {
  const forcedDown = new Set<string>();
  // Each round forces at least one more package down, so this ends.
  for (;;) {
    const result = new Placer(view, forcedDown, noReserve).run(units);
    const violators = violations(view, result.targets).filter((name) => !forcedDown.has(name));
    if (violators.length === 0) return result;
    for (const name of violators) forcedDown.add(name);
  }
}

/** Placed packages (maintenance aside) on a node they are not eligible for or whose dependency fails. */
function violations(view: ClusterView, targets: Placement): string[] {
  return view.packages
    .filter((pkg) => pkg.mode !== "maintenance")
    .filter((pkg) =>
      (targets.get(pkg.name) ?? []).some(
        (node) => !isEligible(view, pkg, node) || failingDependency(view, pkg, node, targets) !== undefined,
      ),
    )
    .map((pkg) => pkg.name);
}
