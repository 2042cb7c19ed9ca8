/**
 * The acting commands wait until the cluster got where they asked (operator/goals.ts), reading
 * it every 100 ms and printing a progress line whenever it changes ("web: halting on n1 (0.1 s)");
 * they give up at the timeout or as soon as the goal cannot be reached, with the reason.
 */

import { clusterStateFrom, readSnapshot } from "../cluster/agent/cluster-state.js";
import { type Goal, goalProgress } from "../cluster/operator/goals.js";
import type { ClusterConnection } from "./cluster-etcd.js";
import { etcdProblem } from "./cluster-etcd.js";
import type { Output } from "./output.js";

export interface WaitResult {
  done: boolean;
  /** Why it stopped before the goal: it cannot be reached, or the timeout. */
  reason?: string;
  ms: number;
  /** Where things stood last. */
  line: string;
}

export async function waitForGoal(
  conn: ClusterConnection,
  goal: Goal,
  options: { timeoutMs: number; out: Output; pollMs?: number },
): Promise<WaitResult> {
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  let last = "";
  for (;;) {
    let snapshot;
    try {
      snapshot = await readSnapshot(conn.client, conn.keys);
    } catch (err) {
      throw etcdProblem(err, conn.file, conn.config);
    }
    const progress = goalProgress(conn.config, snapshot, clusterStateFrom(conn.config, snapshot), goal);
    // The final state is the command's result line; progress shows the way there.
    if (progress.line !== last && !progress.done) {
      last = progress.line;
      options.out.progress(`${progress.line} (${seconds(elapsed())})`);
    }
    if (progress.done) return { done: true, ms: Math.round(elapsed()), line: progress.line };
    if (progress.failed !== undefined) {
      return { done: false, reason: progress.failed, ms: Math.round(elapsed()), line: progress.line };
    }
    if (elapsed() >= options.timeoutMs) {
      return {
        done: false,
        reason: `timed out after ${seconds(options.timeoutMs)}: ${progress.line}`,
        ms: Math.round(elapsed()),
        line: progress.line,
      };
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 100));
  }
}
