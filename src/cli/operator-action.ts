/**
 * How every acting operator command runs once its arguments are checked: write the intent
 * (read-modify-write, operator/intent-store.ts), append the action to the event log with who did
 * it, then wait for the cluster to get there (unless --no-wait) and report: a line, or with
 * --json one result object. Exit status 0 when done, 1 when it failed or timed out.
 */

import { appendEvent } from "../cluster/membership/node-registry.js";
import type { Goal } from "../cluster/operator/goals.js";
import { type ClusterConnection, etcdProblem } from "./cluster-etcd.js";
import type { Operator } from "./operator-identity.js";
import { waitForGoal } from "./operator-wait.js";
import { makeOutput } from "./output.js";

export interface OperatorOptions {
  json: boolean;
  wait: boolean;
  timeoutMs: number;
}

export interface OperatorAction {
  /** The command as typed, e.g. "pavise pkg halt web". */
  command: string;
  /** What Serviceguard calls it, e.g. "cmhaltpkg web". */
  serviceguard: string;
  /** Writes the intent; returns the value written (for --json). */
  write: () => Promise<unknown>;
  /** What to wait for; undefined: nothing to wait for. */
  goal: Goal | undefined;
  /** Fields for the event (package, subject). */
  event: Record<string, unknown>;
}

export async function runOperatorAction(
  conn: ClusterConnection,
  operator: Operator,
  action: OperatorAction,
  options: OperatorOptions,
): Promise<number> {
  const out = makeOutput(options.json);
  let intent: unknown;
  try {
    intent = await action.write();
    await appendEvent(conn.client, conn.keys, {
      node: operator.eventNode,
      kind: "operator",
      message: `${operator.by}: ${action.command} (${action.serviceguard})`,
      user: operator.user,
      host: operator.host,
      ...action.event,
    });
  } catch (err) {
    throw etcdProblem(err, conn.file, conn.config);
  }
  out.progress(`${action.command}: recorded in etcd by ${operator.by}`);
  const base = { command: action.command, serviceguard: action.serviceguard, by: operator.by, intent };
  if (!options.wait || action.goal === undefined) {
    out.result({ ...base, ok: true, waited: false }, () =>
      options.wait ? "done (nothing to wait for)" : "not waiting (--no-wait)",
    );
    return 0;
  }
  const result = await waitForGoal(conn, action.goal, { timeoutMs: options.timeoutMs, out });
  const summary = { ...base, ok: result.done, waited: true, ms: result.ms, state: result.line };
  if (result.done) {
    out.result(summary, () => `${result.line} (${(result.ms / 1000).toFixed(1)} s)`);
    return 0;
  }
  // Not there: the reason goes where errors go (stderr), or into the JSON result.
  if (options.json) out.result({ ...summary, reason: result.reason }, () => "");
  else process.stderr.write(`${action.command}: not done: ${result.reason}\n`);
  return 1;
}
