/**
 * How every operator action runs once it is planned (package-action.ts, node-action.ts,
 * resource-action.ts), for the CLI and the API alike: write the intent (read-modify-write,
 * intent-store.ts), append the action to the event log with who did it (actor.ts), then wait
 * for the cluster to get there (wait-goal.ts) unless asked not to. Returns the result the CLI
 * prints with --json and the API answers. A driver: etcd errors are thrown as they are, for the
 * caller to explain (the CLI names its cluster file, the API its own way).
 */

import type { ClusterEvent } from "../membership/layout.js";
import { appendEvent } from "../membership/node-registry.js";
import { type ActionPlan, applyIntentChange, intentKey } from "./action-plan.js";
import { type Actor, actorBy, actorEventFields, actorEventNode } from "./actor.js";
import { updateIntent } from "./intent-store.js";
import { type OperatorCluster, waitForGoal } from "./wait-goal.js";

export interface PerformOptions {
  /** Wait for the goal (the CLI's default; --no-wait: false). */
  wait: boolean;
  timeoutMs: number;
  /** Called once the intent and the event are written, with the event as written. */
  onRecorded?: ((event: ClusterEvent) => void) | undefined;
  /** Each change of where things stand while waiting. */
  onProgress?: ((line: string, ms: number) => void) | undefined;
  pollMs?: number | undefined;
}

export interface OperatorResult {
  command: string;
  serviceguard: string;
  /** user@host */
  by: string;
  /** The intent key's value as written. */
  intent: unknown;
  /** Done, or recorded without waiting. */
  ok: boolean;
  waited: boolean;
  ms?: number;
  /** Where things stood last ("web: up on n2"). */
  state?: string;
  /** Why it is not done: the goal cannot be reached, or the timeout. */
  reason?: string;
}

export async function performAction(
  cluster: OperatorCluster,
  actor: Actor,
  plan: ActionPlan,
  options: PerformOptions,
): Promise<OperatorResult> {
  const by = actorBy(actor);
  const written = await updateIntent<object>(
    cluster.client,
    intentKey(cluster.keys, plan.intent),
    (current) => applyIntentChange(plan.intent, current, { by, at: Date.now() }),
  );
  const event: ClusterEvent = {
    node: actorEventNode(actor),
    kind: "operator",
    message: `${by}: ${plan.command} (${plan.serviceguard})`,
    ...actorEventFields(actor),
    ...plan.event,
    time: Date.now(),
  };
  await appendEvent(cluster.client, cluster.keys, event);
  options.onRecorded?.(event);
  // A node run again has no admin/nodes/ key (the default): show what that means.
  const intent = written.value ?? (plan.intent.kind === "node" ? { halted: false } : undefined);
  const base = { command: plan.command, serviceguard: plan.serviceguard, by, intent };
  if (!options.wait || plan.goal === undefined) return { ...base, ok: true, waited: false };
  const result = await waitForGoal(cluster, plan.goal, {
    timeoutMs: options.timeoutMs,
    onProgress: options.onProgress,
    pollMs: options.pollMs,
  });
  return {
    ...base,
    ok: result.done,
    waited: true,
    ms: result.ms,
    state: result.line,
    ...(result.reason !== undefined ? { reason: result.reason } : {}),
  };
}
