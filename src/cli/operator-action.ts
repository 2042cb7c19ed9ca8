/**
 * How every acting operator command runs once its arguments are checked and its action planned
 * (cluster/operator/*-action.ts): perform it (cluster/operator/perform-action.ts: intent, event
 * with who, wait unless --no-wait) and report: progress lines on stderr, then a line, or with
 * --json one result object. Exit status 0 when done, 1 when it failed or timed out.
 */

import { clusterStateFrom, readSnapshot } from "../cluster/agent/cluster-state.js";
import type { ActionPlan } from "../cluster/operator/action-plan.js";
import { type Actor, actorBy } from "../cluster/operator/actor.js";
import { type OperatorResult, performAction } from "../cluster/operator/perform-action.js";
import { seconds } from "../cluster/operator/wait-goal.js";
import type { ClusterState } from "../cluster/state.js";
import { type ClusterConnection, etcdProblem } from "./cluster-etcd.js";
import { makeOutput } from "./output.js";

export interface OperatorOptions {
  json: boolean;
  wait: boolean;
  timeoutMs: number;
}

/** The cluster state an action is planned against; etcd's problems told with the file. */
export async function readClusterState(conn: ClusterConnection): Promise<ClusterState> {
  try {
    return clusterStateFrom(conn.config, await readSnapshot(conn.client, conn.keys));
  } catch (err) {
    throw etcdProblem(err, conn.file, conn.config);
  }
}

export async function runOperatorAction(
  conn: ClusterConnection,
  actor: Actor,
  plan: ActionPlan,
  options: OperatorOptions,
): Promise<number> {
  const out = makeOutput(options.json);
  let result: OperatorResult;
  try {
    result = await performAction(conn, actor, plan, {
      wait: options.wait,
      timeoutMs: options.timeoutMs,
      onRecorded: () => out.progress(`${plan.command}: recorded in etcd by ${actorBy(actor)}`),
      onProgress: (line, ms) => out.progress(`${line} (${seconds(ms)})`),
    });
  } catch (err) {
    throw etcdProblem(err, conn.file, conn.config);
  }
  return reportOperatorResult(result, options);
}

/**
 * The result as every operator command prints it, whether etcd or the API (--api) did the work:
 * a line, or with --json the result object; the reason on stderr when it is not done.
 */
export function reportOperatorResult(result: OperatorResult, options: OperatorOptions): number {
  const out = makeOutput(options.json);
  if (!result.waited) {
    out.result(result, () => (options.wait ? "done (nothing to wait for)" : "not waiting (--no-wait)"));
    return 0;
  }
  if (result.ok) {
    out.result(result, () => `${result.state} (${seconds(result.ms ?? 0)})`);
    return 0;
  }
  // Not there: the reason goes where errors go (stderr), or into the JSON result.
  if (options.json) out.result(result, () => "");
  else process.stderr.write(`${result.command}: not done: ${result.reason}\n`);
  return 1;
}
