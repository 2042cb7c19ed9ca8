/**
 * Waits until the cluster got where an operator action asked (goals.ts): reads it every 100 ms,
 * reports each change of where things stand through `onProgress` ("web: halting on n1", ms since
 * the start), and gives up at the timeout or as soon as the goal cannot be reached, with the
 * reason. The final state is the result's line, not a progress line. A driver: it reads etcd and
 * the clock; etcd errors are thrown as they are, for the caller to explain.
 */

import { clusterStateFrom, readSnapshot } from "../agent/cluster-state.js";
import type { ClusterConfig } from "../config/model.js";
import type { EtcdClient } from "../etcd/client.js";
import type { ClusterKeys } from "../membership/layout.js";
import { type Goal, goalProgress } from "./goals.js";

/** What the operator drivers need of a cluster: its configuration and its etcd. */
export interface OperatorCluster {
  config: ClusterConfig;
  client: EtcdClient;
  keys: ClusterKeys;
}

export interface WaitResult {
  done: boolean;
  /** Why it stopped before the goal: it cannot be reached, or the timeout. */
  reason?: string;
  ms: number;
  /** Where things stood last. */
  line: string;
}

export interface WaitOptions {
  timeoutMs: number;
  onProgress?: ((line: string, ms: number) => void) | undefined;
  pollMs?: number | undefined;
}

export async function waitForGoal(
  cluster: OperatorCluster,
  goal: Goal,
  options: WaitOptions,
): Promise<WaitResult> {
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  let last = "";
  for (;;) {
    const snapshot = await readSnapshot(cluster.client, cluster.keys);
    const progress = goalProgress(cluster.config, snapshot, clusterStateFrom(cluster.config, snapshot), goal);
    if (progress.line !== last && !progress.done) {
      last = progress.line;
      options.onProgress?.(progress.line, elapsed());
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

/** "1.5 s": how progress and timeouts are told. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
