import type { ClusterEvent } from "../membership/layout.js";
import type { HookConfig } from "../config/model.js";
import { ALL_EVENT_KINDS } from "./event-kinds.js";

/**
 * Which hooks an event runs, and with what environment: Pacemaker's alert agents
 * (CRM_alert_kind, _node, _rsc, _desc, _timestamp, _node_sequence, _recipient) in Pavise's
 * words. Pure: the event, the hooks and the node's sequence number in, the runs out.
 */

/** One event as it goes to the event log: `{node, kind, message, time, package?, subject?, …}`. */
export type { ClusterEvent };

export interface HookRun {
  hook: string;
  command: string;
  timeoutMs: number;
  env: Record<string, string>;
}

/** Whether a hook runs for this event: its kinds, then its packages (if it names any). */
export function hookWants(hook: HookConfig, event: ClusterEvent): boolean {
  if (!hook.events.includes(ALL_EVENT_KINDS) && !hook.events.includes(event.kind)) return false;
  const pkg = typeof event.package === "string" ? event.package : undefined;
  // A node's failure concerns every package on it: events that name no package pass the filter.
  if (hook.packages === undefined || pkg === undefined) return true;
  return hook.packages.includes(pkg);
}

/**
 * The runs for one event: each hook that wants it, once per recipient (or once without a
 * recipient when it lists none), in the order of the file.
 */
export function planHookRuns(
  event: ClusterEvent,
  hooks: readonly HookConfig[],
  sequence: number,
  cluster: string,
): HookRun[] {
  const runs: HookRun[] = [];
  const common = eventEnv(event, sequence, cluster);
  for (const hook of hooks) {
    if (!hookWants(hook, event)) continue;
    const recipients: (string | undefined)[] = hook.recipients.length > 0 ? hook.recipients : [undefined];
    for (const recipient of recipients) {
      runs.push({
        hook: hook.name,
        command: hook.command,
        timeoutMs: hook.timeoutMs,
        env: {
          ...common,
          PAVISE_HOOK_NAME: hook.name,
          ...(recipient !== undefined ? { PAVISE_EVENT_RECIPIENT: recipient } : {}),
        },
      });
    }
  }
  return runs;
}

/** The variables every hook of the event gets. Absent fields are left out, not set empty. */
export function eventEnv(event: ClusterEvent, sequence: number, cluster: string): Record<string, string> {
  const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
  const optional: Record<string, string | undefined> = {
    PAVISE_EVENT_PACKAGE: text(event.package),
    PAVISE_EVENT_SUBJECT: text(event.subject),
    PAVISE_EVENT_BY: text(event.user),
  };
  return {
    PAVISE_CLUSTER: cluster,
    PAVISE_EVENT_KIND: event.kind,
    PAVISE_EVENT_NODE: event.node,
    PAVISE_EVENT_MESSAGE: event.message,
    // CRM_alert_timestamp: ISO 8601 with milliseconds, UTC; and the number, for arithmetic.
    PAVISE_EVENT_AT: new Date(event.time).toISOString(),
    PAVISE_EVENT_AT_MS: String(event.time),
    // CRM_alert_node_sequence: increases with each event this daemon writes.
    PAVISE_EVENT_SEQUENCE: String(sequence),
    PAVISE_EVENT_JSON: JSON.stringify(event),
    ...(Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)) as Record<
      string,
      string
    >),
  };
}
