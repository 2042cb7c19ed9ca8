/**
 * What one node must do about its packages, decided from what it knows — a pure function, so
 * that the daemon only carries steps out (STYLE.md: keep the decision apart from the effect).
 *
 * Inputs: the placements the leader wrote, the owner keys in etcd, the keys this node's session
 * holds, each package's state in the executor, the operations still under way, the packages
 * that failed here, whether the node may act (its lease provably valid) and whether it is
 * leaving. Output: steps in the order to carry them out — halts first (dependents before what
 * they need), then releases, then starts (what is needed before what needs it; file order
 * among equals).
 *
 * Dependencies (Serviceguard's dependency_name / dependency_condition / dependency_location):
 * a package is started only once each package it needs up is up where the dependency says —
 * on this node (same_node), on another node (different_node) or anywhere (any_node) — and each
 * package it needs down is not up there. Until then it waits: the next round, when the other
 * package's status changes, starts it. The scheduler decides where; this decides when.
 *
 * The rules that keep a package from ever running on two nodes (DESIGN.md principle 3):
 * - a start is always "take the owner key, and only if that succeeded run the executor";
 * - a failover package is not even tried while another node holds its key: that node halts it
 *   and releases the key first (or its lease ends);
 * - a package that runs here without the key, or while the node may not act, is halted;
 * - the key is released only once the package is down here.
 */

import { dependencyDepths } from "../dependency-depth.js";

/** A package's state in this node's executor (PackageRunState kinds). */
export type LocalState = "down" | "starting" | "up" | "failed" | "halting";

export interface ReconcileInput {
  node: string;
  /** Configured packages in file order; exclusive: a failover package (one owner at a time). */
  packages: readonly ReconcilePackage[];
  /** Package → nodes, as the leader wrote them; undefined until it wrote any. */
  placements: Readonly<Record<string, readonly string[]>> | undefined;
  /** Package → nodes where its owner reports it up (status/ keys), this node included. */
  upOn?: Readonly<Record<string, readonly string[]>>;
  /** Package → nodes holding its owner key, as etcd has them. */
  owners: Readonly<Record<string, readonly string[]>>;
  /** Packages whose owner key this node's session holds. */
  held: readonly string[];
  /** Executor state per package; a package missing here is down. */
  local: Readonly<Record<string, LocalState>>;
  /** Packages with a start, halt or release under way: left alone until it ends. */
  busy: readonly string[];
  /** Packages that failed on this node (reported; the leader will place them elsewhere). */
  failedHere: readonly string[];
  /** The session may act: lease provably valid, event loop within budget. */
  mayAct: boolean;
  /** The daemon is leaving (SIGTERM): everything halts. */
  leaving: boolean;
}

export interface ReconcilePackage {
  name: string;
  exclusive: boolean;
  dependencies?: readonly ReconcileDependency[];
}

export interface ReconcileDependency {
  package: string;
  condition: "up" | "down";
  location: "same_node" | "different_node" | "any_node";
}

export type ReconcileStep =
  /** Take the owner key; only when that succeeded, start the package. */
  | { kind: "start"; package: string; reason: string }
  /** Halt the package; then release its owner key if this node holds it. */
  | { kind: "halt"; package: string; reason: string }
  /** The package is down here but the key is still held: give it up. */
  | { kind: "release"; package: string; reason: string };

const RUNNING: ReadonlySet<LocalState> = new Set(["starting", "up", "failed"]);

export function reconcile(input: ReconcileInput): ReconcileStep[] {
  const halts: ReconcileStep[] = [];
  const releases: ReconcileStep[] = [];
  const starts: ReconcileStep[] = [];
  const configured = new Set(input.packages.map((p) => p.name));
  const names = [
    ...dependencyOrder(input.packages),
    // Something the executor runs that the configuration no longer has: halt it.
    ...Object.keys(input.local)
      .filter((name) => !configured.has(name))
      .sort()
      .map((name) => ({ name, exclusive: true })),
  ];
  for (const pkg of names) {
    const name = pkg.name;
    if (input.busy.includes(name)) continue;
    const local = input.local[name] ?? "down";
    if (local === "halting") continue;
    const holds = input.held.includes(name);
    const placedOn = input.placements?.[name] ?? [];
    const failed = input.failedHere.includes(name) || local === "failed";
    if (RUNNING.has(local)) {
      const why = haltReason(input, name, configured.has(name), holds, failed, placedOn);
      if (why !== undefined) halts.push({ kind: "halt", package: name, reason: why });
      continue;
    }
    const wanted =
      configured.has(name) && !input.leaving && input.mayAct && !failed && placedOn.includes(input.node);
    if (wanted) {
      const others = (input.owners[name] ?? []).filter((n) => n !== input.node);
      if (pkg.exclusive && others.length > 0) continue; // they halt and release first
      if (!dependenciesMet(input, pkg, starts)) continue; // a later round, once they are
      starts.push({ kind: "start", package: name, reason: `placed on ${input.node}` });
    } else if (holds) {
      releases.push({ kind: "release", package: name, reason: `down on ${input.node}` });
    }
  }
  return [...halts.reverse(), ...releases, ...starts];
}

/**
 * Packages so that each comes after every package it depends on (any condition, any location);
 * file order among equals. A cycle (refused by config check) keeps file order for its members.
 */
function dependencyOrder(packages: readonly ReconcilePackage[]): ReconcilePackage[] {
  const byName = new Map(packages.map((p) => [p.name, p]));
  const depthOf = dependencyDepths<ReconcilePackage>((p) =>
    (p.dependencies ?? []).flatMap((dep) => {
      const other = byName.get(dep.package);
      return other && other !== p ? [other] : [];
    }),
  );
  return packages
    .map((p, index) => ({ p, index, d: depthOf(p) }))
    .sort((a, b) => a.d - b.d || a.index - b.index)
    .map((e) => e.p);
}

/** `starting`: the starts this round has already chosen, which count as running here. */
function dependenciesMet(
  input: ReconcileInput,
  pkg: ReconcilePackage,
  starting: readonly ReconcileStep[],
): boolean {
  return (pkg.dependencies ?? []).every((dep) => {
    const upHere = input.local[dep.package] === "up";
    const upElsewhere = (input.upOn?.[dep.package] ?? []).some((node) => node !== input.node);
    const up =
      dep.location === "same_node"
        ? upHere
        : dep.location === "different_node"
          ? upElsewhere
          : upHere || upElsewhere;
    if (dep.condition === "up") return up;
    // Needs it down: not even starting or failing where it counts.
    const runningHere =
      RUNNING.has(input.local[dep.package] ?? "down") || starting.some((s) => s.package === dep.package);
    return dep.location === "same_node"
      ? !runningHere
      : dep.location === "different_node"
        ? !upElsewhere
        : !runningHere && !upElsewhere;
  });
}

function haltReason(
  input: ReconcileInput,
  name: string,
  configured: boolean,
  holds: boolean,
  failed: boolean,
  placedOn: readonly string[],
): string | undefined {
  if (!configured) return "no longer in the configuration";
  if (!input.mayAct) return `node ${input.node} may not act (lease not confirmed)`;
  if (!holds) return `node ${input.node} does not hold its ownership key`;
  if (input.leaving) return `node ${input.node} is leaving`;
  if (failed) return `failed on ${input.node}`;
  // No placements yet (a new leader has not written): keep running what we hold.
  if (input.placements === undefined) return undefined;
  if (placedOn.includes(input.node)) return undefined;
  return placedOn.length === 0 ? "placed nowhere" : `placed on ${placedOn.join(", ")}`;
}
