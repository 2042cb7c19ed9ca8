import { type Placement, failingDependency, objector } from "./dependencies.js";
import { eligibleNodes, isEligible } from "./eligibility.js";
import { chooseNode } from "./node-choice.js";
import type { PlacementNote, PlacementResult } from "./placement.js";
import type { Unit } from "./units.js";
import { type ClusterView, type PackageView, wantsToRun } from "./view.js";

/** A node kept free for a package (`by`) that needs a dependency off it (up/different_node). */
export interface Reservation {
  node: string;
  by: string;
}

/**
 * One greedy placement (placement.ts runs it until its assumptions hold).
 *
 * Rank by rank, most important first; at each rank, the members of that rank of every unit
 * (units.ts order: what is needed comes first):
 *   1. keep    each holds the nodes it runs on where it still may (incumbents first: equal
 *              priority never preempts, whichever of two equals started first);
 *   2. settle  each unit lets go and is placed for good around all the others: it stays where
 *              it is unless its policies move it (failback, a node to keep free, a same_node
 *              group following its leader), or it starts where its policies say;
 *   3. again   until nothing changes: units still (partly) down are placed again — one may
 *              need a unit placed after it — and packages with automatic failback may find
 *              their preferred node freed by one placed after them.
 * What is placed at one rank is never undone at a later one, so a more important package
 * takes its node as if less important ones were not there, and a less important one keeps out
 * of its way: displacement goes only down in rank.
 *
 * A package goes on a node only when it is eligible there, its dependencies hold there and no
 * placed package objects (dependencies.ts): a placed package's dependency that held must
 * still hold, measured against where the package was before it was placed again.
 *
 * - a multi_node package takes every node it can run on (switching disabled: only the nodes
 *   it runs on already);
 * - a same_node group takes one node, chosen by its most important member that can run at all,
 *   with the members it needs (Serviceguard's dragging rule: the higher priority's node order
 *   dominates; on equal priority the package depended on decides); members that must be with
 *   it follow; the rest try again among themselves;
 * - a failover package chooses by its policies (node-choice.ts), but keeps off the node that a
 *   more important failover package, which needs it up on a different node, is about to take.
 */
export class Placer {
  private readonly targets = new Map<string, string[]>();
  private readonly notes = new Map<string, PlacementNote>();
  /**
   * What a package held before its unit was placed for good (what it kept): the packages
   * placed around it count on that, so a new node must not break what held there.
   */
  private readonly previous = new Map<string, readonly string[]>();
  private readonly reservations: Reservation[] = [];

  constructor(
    private readonly view: ClusterView,
    private readonly forcedDown: ReadonlySet<string>,
    private readonly noReserve: ReadonlySet<string>,
  ) {}

  run(units: readonly Unit[]): PlacementResult & { reservations: Reservation[] } {
    for (const pkg of this.view.packages) {
      if (pkg.mode === "maintenance") this.targets.set(pkg.name, pkg.current);
      else if (pkg.mode === "held" || this.forcedDown.has(pkg.name)) this.targets.set(pkg.name, []);
    }
    // Level by level, from the most important rank: each unit's members of that rank (a same_node
    // group spans as many levels as its members have ranks). First every unit keeps what it
    // runs where it still may, then each is placed for good (starts, moves, failback,
    // multi_node growth) around the others. So equal priority never preempts, and it does not
    // matter which of two equals started first.
    const ranks = [...new Set(this.view.packages.map((pkg) => pkg.effectiveRank))].sort((a, b) => a - b);
    for (const rank of ranks) {
      const level = units.filter((unit) => unit.members.some((pkg) => pkg.effectiveRank === rank));
      for (const unit of level) this.keep(unit, rank);
      for (const unit of level) this.settleUnit(unit, rank);
      // Then, until nothing changes: a unit may need one placed after it in the same level
      // (units in a cycle: group A needs group B, and B another member of A), so what is still
      // down is placed again where that runs more; and a package with automatic failback may
      // find its preferred node freed by one placed after it. Each pass only runs more packages
      // or moves one to a node it prefers, so this ends; the cap is a guard.
      const cap = this.view.packages.length * (this.view.nodes.length + 1);
      for (let round = 0, changed = true; changed && round < cap; round++) {
        changed = false;
        for (const unit of level) if (this.again(unit, rank, "grow")) changed = true;
        for (const unit of level) if (this.again(unit, rank, "failback")) changed = true;
      }
    }
    return { targets: this.targets, notes: this.notes, reservations: this.reservations };
  }

  /** Holds on to the nodes the unit's members of this rank run on, where they may still run. */
  private keep(unit: Unit, rank: number): void {
    for (const pkg of unit.startOrder) {
      if (pkg.effectiveRank !== rank || this.decided(pkg) || !this.movable(pkg)) continue;
      const nodes: string[] = [];
      const placement = new Map(this.targets);
      for (const node of pkg.current) {
        if (pkg.config.type === "failover" && nodes.length > 0) break;
        if (!this.canRun(pkg, node, placement)) continue;
        nodes.push(node);
        placement.set(pkg.name, [...nodes]);
      }
      if (nodes.length > 0) this.targets.set(pkg.name, nodes);
    }
  }

  /** Places the unit's members of this rank for good: what they kept is let go and chosen again. */
  private settleUnit(unit: Unit, rank: number): void {
    for (const pkg of unit.members) {
      if (pkg.effectiveRank !== rank || !this.movable(pkg)) continue;
      this.previous.set(pkg.name, this.targets.get(pkg.name) ?? []);
      this.targets.delete(pkg.name);
    }
    this.placeUnit(unit, rank);
  }

  private placeUnit(unit: Unit, rank: number): void {
    const [first] = unit.members;
    if (first?.config.type === "multi_node") this.placeMultiNode(first);
    else this.placeGroup(unit, rank);
  }

  /**
   * Places the unit's members of this rank again, now that the rest of the level is placed,
   * and keeps the result only if it is better: for "grow", more of them run; for "failback",
   * one with automatic failback moved to a node it prefers (the others stay where they were
   * just placed, see placeLeader). Whether it kept the result.
   */
  private again(unit: Unit, rank: number, why: "grow" | "failback"): boolean {
    const members = unit.members.filter((pkg) => pkg.effectiveRank === rank && this.movable(pkg));
    const multiNode = unit.members[0]?.config.type === "multi_node";
    const running = (pkg: PackageView) => (this.targets.get(pkg.name)?.length ?? 0) > 0;
    const worthTrying =
      why === "grow"
        ? multiNode || !members.every(running)
        : !multiNode && members.some((pkg) => pkg.config.failbackPolicy === "automatic");
    if (members.length === 0 || !worthTrying) return false;

    const saved = members.map((pkg) => ({
      pkg,
      nodes: this.targets.get(pkg.name) ?? [],
      note: this.notes.get(pkg.name),
    }));
    for (const { pkg, nodes } of saved) {
      this.previous.set(pkg.name, nodes);
      this.targets.delete(pkg.name);
    }
    this.placeUnit(unit, rank);
    const count = (nodes: (pkg: PackageView) => readonly string[]) =>
      members.reduce((sum, pkg) => sum + nodes(pkg).length, 0);
    const better =
      why === "grow"
        ? count((pkg) => this.targets.get(pkg.name) ?? []) > count((pkg) => this.previous.get(pkg.name) ?? [])
        : saved.some(({ pkg, nodes }) => !sameNodes(this.targets.get(pkg.name) ?? [], nodes));
    if (better) {
      // A member that stayed where it was keeps the reason it got there.
      for (const { pkg, nodes, note } of saved) {
        if (note && sameNodes(this.targets.get(pkg.name) ?? [], nodes)) this.notes.set(pkg.name, note);
      }
      return true;
    }
    for (const { pkg, nodes, note } of saved) {
      this.targets.set(pkg.name, nodes);
      if (note) this.notes.set(pkg.name, note);
      else this.notes.delete(pkg.name);
    }
    return false;
  }

  /** Not fixed for this round: neither in maintenance, halted by an operator nor forced down. */
  private movable(pkg: PackageView): boolean {
    return pkg.mode !== "maintenance" && pkg.mode !== "held" && !this.forcedDown.has(pkg.name);
  }

  private decided(pkg: PackageView): boolean {
    return this.targets.has(pkg.name);
  }

  /** Whether `pkg` may run on `node` in addition to what `placement` holds. */
  private canRun(pkg: PackageView, node: string, placement: Placement): boolean {
    if (this.decided(pkg)) return false;
    if (pkg.mode !== "free" && !(pkg.mode === "pinned" && pkg.current.includes(node))) return false;
    if (!isEligible(this.view, pkg, node)) return false;
    if (failingDependency(this.view, pkg, node, placement)) return false;
    const before = this.previous.get(pkg.name) ?? placement.get(pkg.name) ?? [];
    const after =
      pkg.config.type === "failover"
        ? [node]
        : [...new Set([...before, ...(placement.get(pkg.name) ?? []), node])];
    return objector(pkg, before, after, placement) === undefined;
  }

  private placeMultiNode(pkg: PackageView): void {
    if (this.decided(pkg)) return;
    const nodes: string[] = [];
    const placement = new Map(this.targets);
    for (const node of pkg.nodes) {
      if (!this.canRun(pkg, node, placement)) continue;
      nodes.push(node);
      placement.set(pkg.name, [...nodes]);
    }
    this.targets.set(pkg.name, nodes);
    if (nodes.length > 0) this.notes.set(pkg.name, { kind: "chosen", why: "configured_node" });
  }

  /** Places the members of a same_node group up to this rank; the less important wait for their level. */
  private placeGroup(unit: Unit, rank: number): void {
    const due = (pkg: PackageView) => pkg.effectiveRank <= rank && !this.decided(pkg);
    for (;;) {
      const remaining = unit.members.filter(due);
      const pick = this.pickLeader(unit, remaining);
      if (!pick) break;
      const { leader, closure } = pick;
      const node = this.placeLeader(unit, remaining, pick);
      for (const pkg of closure) {
        if (this.canRun(pkg, node, this.targets)) this.settle(pkg, node, leader);
      }
      // Should the leader not fit after all, it stays down rather than loop.
      if (!this.decided(leader)) this.targets.set(leader.name, []);
      this.growAt(unit, node, rank);
    }
    for (const pkg of unit.members) if (due(pkg)) this.targets.set(pkg.name, []);
  }

  /** The most important member that can run somewhere, with what it needs on its node. */
  private pickLeader(
    unit: Unit,
    remaining: readonly PackageView[],
  ): { leader: PackageView; closure: PackageView[]; candidates: string[] } | undefined {
    for (const leader of remaining) {
      if (leader.mode !== "free" && leader.mode !== "pinned") continue;
      const closure = this.closureOf(unit, leader);
      const candidates = leader.nodes.filter((node) => this.fits(closure, node));
      if (candidates.length > 0) return { leader, closure, candidates };
    }
    return undefined;
  }

  /** Chooses the group's node by the leader's policies and records why. */
  private placeLeader(
    unit: Unit,
    remaining: readonly PackageView[],
    { leader, closure, candidates }: { leader: PackageView; closure: PackageView[]; candidates: string[] },
  ): string {
    const reserved = this.reservedNodes(unit, closure);
    const open = candidates.filter((node) => !reserved.has(node));
    const allowed = open.length > 0 ? open : candidates;
    if (allowed === open) {
      for (const [node, by] of reserved) {
        if (candidates.includes(node)) this.reservations.push({ node, by: by.name });
      }
    }
    const member = remaining.find((pkg) => pkg !== leader && pkg.current.length > 0);
    // Where it runs, else (placing again) where it was just placed: it stays there unless its
    // policies say otherwise.
    const running =
      leader.current.find((node) => allowed.includes(node)) ??
      this.previous.get(leader.name)?.find((node) => allowed.includes(node)) ??
      leader.current[0];
    const joins = leader.config.failbackPolicy === "manual" ? member?.current[0] : undefined;
    const sticky = running ?? joins;
    const members = new Set(unit.members.map((pkg) => pkg.name));
    const choice = chooseNode(leader, allowed, sticky, (node) => this.load(node, members))!;

    const displacedBy = running !== undefined ? reserved.get(running) : undefined;
    if (displacedBy && candidates.includes(running!) && choice.node !== running) {
      this.notes.set(leader.name, { kind: "room", for: displacedBy.name });
    } else if (running === undefined && joins !== undefined && choice.why === "stay") {
      this.notes.set(leader.name, { kind: "joins", with: member!.name });
    } else {
      this.notes.set(leader.name, { kind: "chosen", why: choice.why });
    }
    // Tied to a member placed at an earlier level: it simply goes where that one is.
    const tiedTo = leader.dependencies.find(
      (dep) =>
        dep.condition === "up" &&
        dep.location === "same_node" &&
        unit.members.some((member) => member.name === dep.package) &&
        this.targets.get(dep.package)?.includes(choice.node),
    );
    if (tiedTo) this.notes.set(leader.name, { kind: "follows", with: tiedTo.package });
    return choice.node;
  }

  /**
   * After a group took `node`: members that want to run and must be there (they depend,
   * same_node, on a member placed there) follow, with the members they need.
   */
  private growAt(unit: Unit, node: string, rank: number): void {
    for (let grew = true; grew;) {
      grew = false;
      for (const pkg of unit.members) {
        if (this.decided(pkg) || pkg.effectiveRank > rank || !wantsToRun(pkg)) continue;
        const tiedTo = pkg.dependencies.find(
          (dep) =>
            dep.condition === "up" &&
            dep.location === "same_node" &&
            unit.members.some((member) => member.name === dep.package) &&
            (this.targets.get(dep.package) ?? []).includes(node),
        );
        if (!tiedTo) continue;
        const closure = this.closureOf(unit, pkg);
        if (!this.fits(closure, node)) continue;
        for (const member of closure) {
          this.settle(member, node, member === pkg ? this.view.byName.get(tiedTo.package)! : pkg);
        }
        grew = true;
      }
    }
  }

  private settle(pkg: PackageView, node: string, leader: PackageView): void {
    this.targets.set(pkg.name, [node]);
    if (pkg !== leader) this.notes.set(pkg.name, { kind: "follows", with: leader.name });
  }

  /** The package and the members it needs on its node (up/same_node, transitively), dependencies first. */
  private closureOf(unit: Unit, pkg: PackageView): PackageView[] {
    const needed = new Set([pkg.name]);
    for (const name of needed) {
      for (const dep of this.view.byName.get(name)?.dependencies ?? []) {
        if (dep.condition !== "up" || dep.location !== "same_node") continue;
        const target = unit.members.find((member) => member.name === dep.package);
        if (target && !this.decided(target)) needed.add(target.name);
      }
    }
    return unit.startOrder.filter((member) => needed.has(member.name));
  }

  /** Whether all of `closure` could run on `node` together, given what is placed. */
  private fits(closure: readonly PackageView[], node: string): boolean {
    const trial = new Map(this.targets);
    for (const pkg of closure) {
      if (!this.canRun(pkg, node, trial)) return false;
      trial.set(pkg.name, [node]);
    }
    return true;
  }

  /**
   * Nodes to keep free for more important failover packages, not placed yet, that need a member
   * of `closure` up on a different node (up/different_node): the node each would take.
   */
  private reservedNodes(unit: Unit, closure: readonly PackageView[]): Map<string, PackageView> {
    const reserved = new Map<string, PackageView>();
    for (const pkg of closure) {
      for (const { from, dependency } of pkg.dependents) {
        if (dependency.condition !== "up" || dependency.location !== "different_node") continue;
        if (from.config.type !== "failover" || from.mode !== "free" || this.decided(from)) continue;
        if (this.noReserve.has(from.name)) continue;
        if (from.rank >= pkg.rank || unit.members.includes(from)) continue;
        const intended = chooseNode(from, eligibleNodes(this.view, from), from.current[0], (node) =>
          this.load(node, new Set([from.name])),
        );
        if (intended && !reserved.has(intended.node)) reserved.set(intended.node, from);
      }
    }
    return reserved;
  }

  /** Packages on `node` as far as decided, the others where they run now (min_package_node). */
  private load(node: string, exclude: ReadonlySet<string>): number {
    let count = 0;
    for (const pkg of this.view.packages) {
      if (exclude.has(pkg.name)) continue;
      if ((this.targets.get(pkg.name) ?? pkg.current).includes(node)) count++;
    }
    return count;
  }
}

function sameNodes(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((node) => b.includes(node));
}
