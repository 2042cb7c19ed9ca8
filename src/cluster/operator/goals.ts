/**
 * When an operator command is done: the state it waits for, checked against each fresh read of
 * the cluster. Pure: from the configuration, the snapshot and the state made from it.
 *
 * - package up:   it runs, reported up, where the scheduler wants it (on `node` if one was
 *                 named); fails at once when the scheduler would run it nowhere, or the named
 *                 node is not eligible — with the reasons, node by node.
 * - package down: no node runs it.
 * - package settled: it runs where the scheduler wants it (or nowhere), no start or halt under way.
 * - node halted:  its daemon reports halted, no package (but one in maintenance) runs there, and
 *                 every package runs where the scheduler wants it (its packages moved).
 * - node up:      its daemon reports up.
 */

import type { ClusterConfig } from "../config/model.js";
import type { ClusterSnapshot } from "../agent/cluster-state.js";
import { whyNotEligible } from "../scheduler/eligibility.js";
import { schedule } from "../scheduler/scheduler.js";
import { buildView } from "../scheduler/view.js";
import type { ClusterState } from "../state.js";

export type Goal =
  | { kind: "package"; package: string; want: "up" | "down" | "settled"; node?: string | undefined }
  | { kind: "node"; node: string; want: "halted" | "up" };

export interface GoalProgress {
  done: boolean;
  /** Why it will not get there: stop waiting. */
  failed?: string;
  /** Where things stand, in one line ("web: halting on n1"). */
  line: string;
}

export function goalProgress(
  config: ClusterConfig,
  snapshot: ClusterSnapshot,
  state: ClusterState,
  goal: Goal,
): GoalProgress {
  return goal.kind === "package"
    ? packageProgress(config, state, goal)
    : nodeProgress(config, snapshot, state, goal);
}

/** "web: up on n2", "web: down". */
export function packageLine(state: ClusterState, name: string): string {
  const pkg = state.packages[name];
  if (!pkg) return `${name}: unknown`;
  return pkg.runningOn.length > 0
    ? `${name}: ${pkg.status} on ${pkg.runningOn.join(",")}`
    : `${name}: ${pkg.status}`;
}

function packageProgress(
  config: ClusterConfig,
  state: ClusterState,
  goal: Extract<Goal, { kind: "package" }>,
): GoalProgress {
  const line = packageLine(state, goal.package);
  const pkg = state.packages[goal.package];
  if (!pkg) return { done: false, failed: `package ${goal.package} is not configured`, line };
  const running = pkg.runningOn;
  const stable = pkg.status === "up" || pkg.status === "down" || pkg.status === "failed";
  if (goal.want === "down") {
    const done = running.length === 0 && stable;
    // In maintenance the cluster leaves it as it is: it would never halt.
    if (!done && pkg.maintenance) {
      return { done, failed: `${goal.package} is in maintenance: the cluster leaves it running`, line };
    }
    return { done, line };
  }
  const wanted = schedule(config, state, 0).placements[goal.package] ?? [];
  const there = sameNodes(running, wanted) && stable;
  if (goal.want === "settled") return { done: there, line };
  const view = buildView(config, state);
  const pview = view.byName.get(goal.package)!;
  if (goal.node !== undefined) {
    const why = whyNotEligible(view, pview, goal.node);
    if (why !== undefined) return { done: false, failed: `cannot run on ${goal.node}: ${why}`, line };
  }
  if (wanted.length === 0) {
    const reasons = pview.nodes.map(
      (n) =>
        `${n}: ${whyNotEligible(view, pview, n) ?? "eligible, but its dependencies or priority keep it down"}`,
    );
    const mode =
      pview.mode === "maintenance"
        ? "it is in maintenance"
        : pview.mode === "held"
          ? "it is halted by an operator"
          : pview.mode === "pinned"
            ? "package switching is disabled"
            : `no node can run it (${reasons.join("; ")})`;
    return { done: false, failed: `${goal.package} will not run: ${mode}`, line };
  }
  const onNode = goal.node === undefined || running.includes(goal.node);
  return { done: there && running.length > 0 && pkg.status === "up" && onNode, line };
}

function nodeProgress(
  config: ClusterConfig,
  snapshot: ClusterSnapshot,
  state: ClusterState,
  goal: Extract<Goal, { kind: "node" }>,
): GoalProgress {
  const record = snapshot.nodes[goal.node];
  const reported = record === undefined ? "failed" : record.status === "halted" ? "halted" : "up";
  const here = Object.values(state.packages)
    .filter((p) => p.runningOn.includes(goal.node) && !p.maintenance)
    .map((p) => p.name);
  const line = `${goal.node}: ${reported}${here.length > 0 ? `, runs ${here.join(", ")}` : ""}`;
  if (record === undefined) {
    return {
      done: false,
      failed: `node ${goal.node} is not a member of the cluster (its daemon is not running)`,
      line,
    };
  }
  if (goal.want === "up") return { done: reported === "up", line };
  if (reported !== "halted" || here.length > 0) return { done: false, line };
  const wanted = schedule(config, state, 0).placements;
  const unsettled = Object.values(state.packages).filter(
    (p) =>
      !p.maintenance &&
      (!sameNodes(p.runningOn, wanted[p.name] ?? []) ||
        (p.status !== "up" && p.status !== "down" && p.status !== "failed")),
  );
  const moving = unsettled.map((p) => `${p.name} to ${(wanted[p.name] ?? []).join(",") || "nowhere"}`);
  return moving.length === 0
    ? { done: true, line }
    : { done: false, line: `${line}, moving ${moving.join(", ")}` };
}

function sameNodes(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n) => b.includes(n));
}
