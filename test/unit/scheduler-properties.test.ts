import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { PackageConfig, PackageDependency } from "../../src/cluster/config/model.js";
import type { Plan } from "../../src/cluster/scheduler/plan.js";
import { schedule } from "../../src/cluster/scheduler/scheduler.js";
import type { ClusterState } from "../../src/cluster/state.js";
import { type SchedulerCase, caseFrom } from "../support/scheduler-case.js";
import { applyPlan } from "../support/scheduler-case-apply.js";
import { randomCase } from "../support/scheduler-case-random.js";
import { seededRandom } from "../support/seeded-random.js";

/**
 * Properties of the scheduler over random clusters (seeded: a failure names its seed and prints
 * the cluster as a case file, ready to become a case in test/scheduler-cases). The checks here
 * are written again from the rules, not with the scheduler's own helpers.
 *
 * SCHEDULER_SEEDS=5000 runs more.
 */

const SEEDS = Number(process.env.SCHEDULER_SEEDS ?? 400);

interface Run {
  seed: number;
  c: SchedulerCase;
  plan: Plan;
  /** How to reproduce: the seed and the cluster as a case file. */
  where: string;
}

function runs(checked: boolean): Run[] {
  return Array.from({ length: SEEDS }, (_, i) => {
    const seed = i + 1;
    const raw = randomCase(seededRandom(seed), checked);
    const c = caseFrom(raw, `seed ${seed}`);
    const where = `seed ${seed} (${checked ? "checked" : "any input"}):\n${stringify(raw)}`;
    let plan: Plan;
    try {
      plan = schedule(c.config, c.state, c.now);
    } catch (err) {
      throw new Error(`schedule threw on ${where}`, { cause: err });
    }
    return { seed, c, plan, where };
  });
}

/** The eligibility rules, from the brief, independently of src/cluster/scheduler/eligibility.ts. */
function eligible(state: ClusterState, pkg: PackageConfig, node: string, configured: string[]): boolean {
  const n = state.nodes[node];
  const p = state.packages[pkg.name]!;
  return (
    configured.includes(node) &&
    n?.status === "up" &&
    pkg.nodes.includes(node) &&
    !p.disabledNodes.includes(node) &&
    !p.failedOn.includes(node) &&
    pkg.monitoredSubnets.every((s) => n.subnetsUp.includes(s)) &&
    pkg.addresses.every((a) => n.subnetsUp.includes(a.subnet)) &&
    pkg.resources.every((r) => (n.resources[r.name] ?? r.initial) === "up")
  );
}

/** dependency_condition × dependency_location, for a package on `node`. */
function satisfied(dep: PackageDependency, node: string, other: readonly string[]): boolean {
  const where =
    dep.location === "same_node"
      ? other.includes(node)
      : dep.location === "different_node"
        ? other.some((n) => n !== node)
        : other.length > 0;
  return dep.condition === "up" ? where : !where;
}

describe.each([
  ["checked configurations", true],
  ["any input", false],
])("scheduler over random clusters: %s", (_, checked) => {
  const all = runs(checked);

  it("never throws, is deterministic and places every configured package", () => {
    for (const { c, plan, where } of all) {
      expect(schedule(c.config, c.state, c.now), where).toEqual(plan);
      expect(Object.keys(plan.placements).sort(), where).toEqual(c.config.packages.map((p) => p.name).sort());
    }
  });

  it("places a failover package on at most one node, and a node at most once", () => {
    for (const { c, plan, where } of all) {
      for (const pkg of c.config.packages) {
        const nodes = plan.placements[pkg.name]!;
        // A package in maintenance keeps whatever it has, even two nodes.
        const maintenance = c.state.packages[pkg.name]!.maintenance;
        if (pkg.type === "failover" && !maintenance)
          expect(nodes.length, `${pkg.name} on ${where}`).toBeLessThanOrEqual(1);
        expect(new Set(nodes).size, `${pkg.name} on ${where}`).toBe(nodes.length);
      }
    }
  });

  it("places a package only on eligible nodes, and honours maintenance, operator halts and switching", () => {
    for (const { c, plan, where } of all) {
      const configured = c.config.nodes.map((n) => n.name);
      for (const pkg of c.config.packages) {
        const state = c.state.packages[pkg.name]!;
        const nodes = plan.placements[pkg.name]!;
        const at = `${pkg.name} on ${where}`;
        if (state.maintenance) {
          expect(nodes, at).toEqual([...new Set(state.runningOn)]);
          continue;
        }
        if (state.haltedByOperator) expect(nodes, at).toEqual([]);
        if (!state.switching) for (const node of nodes) expect(state.runningOn, at).toContain(node);
        for (const node of nodes)
          expect(eligible(c.state, pkg, node, configured), `${at} (${node})`).toBe(true);
      }
    }
  });

  it("respects every dependency of every package it places", () => {
    for (const { c, plan, where } of all) {
      for (const pkg of c.config.packages) {
        if (c.state.packages[pkg.name]!.maintenance) continue;
        for (const node of plan.placements[pkg.name]!) {
          for (const dep of pkg.dependencies) {
            if (dep.package === pkg.name) continue; // ignored, see robustness/self-dependency-ignored
            const other = plan.placements[dep.package] ?? [];
            expect(
              satisfied(dep, node, other),
              `${pkg.name} on ${node}, ${JSON.stringify(dep)}, ${where}`,
            ).toBe(true);
          }
        }
      }
    }
  });

  it("gives actions that lead from where packages run to the placements, and none for maintenance", () => {
    for (const { c, plan, where } of all) {
      const running = new Map(Object.values(c.state.packages).map((p) => [p.name, new Set(p.runningOn)]));
      for (const action of plan.actions) {
        const nodes = running.get(action.package)!;
        expect(c.state.packages[action.package]?.maintenance, where).not.toBe(true);
        expect(action.reason, where).not.toBe("");
        if (action.kind === "start") {
          expect(nodes.has(action.node), where).toBe(false);
          nodes.add(action.node);
        } else if (action.kind === "halt") {
          expect(nodes.delete(action.node), where).toBe(true);
        } else {
          expect(nodes.delete(action.from), where).toBe(true);
          expect(nodes.has(action.to), where).toBe(false);
          nodes.add(action.to);
        }
      }
      for (const [name, nodes] of running) {
        expect([...nodes].sort(), `${name} on ${where}`).toEqual([...(plan.placements[name] ?? [])].sort());
      }
    }
  });

  it("is stable: once carried out, the plan gives no further actions", () => {
    for (const { c, plan, where } of all) {
      const again = schedule(c.config, applyPlan(c.state, plan), c.now);
      expect(again.actions, where).toEqual([]);
      expect(again.placements, where).toEqual(plan.placements);
    }
  });

  // With a dependency cycle (any input) no order satisfies every pair.
  it.skipIf(!checked)("starts a package after what it needs up, and halts it before", () => {
    for (const { c, plan, where } of all) {
      const position = (pkg: string, kinds: string[]) =>
        plan.actions.findIndex((a) => a.package === pkg && kinds.includes(a.kind));
      for (const pkg of c.config.packages) {
        for (const dep of pkg.dependencies) {
          if (dep.condition !== "up" || dep.package === pkg.name) continue;
          const own = position(pkg.name, ["start"]);
          const needed = position(dep.package, ["start", "move"]);
          if (own >= 0 && needed >= 0)
            expect(needed, `${pkg.name} after ${dep.package}, ${where}`).toBeLessThan(own);
          const ownHalt = position(pkg.name, ["halt"]);
          const neededHalt = position(dep.package, ["halt"]);
          if (ownHalt >= 0 && neededHalt >= 0) {
            expect(ownHalt, `${pkg.name} before ${dep.package}, ${where}`).toBeLessThan(neededHalt);
          }
        }
      }
    }
  });
});
