/**
 * The cluster's event log as `pavise events` shows it: events/ keys parsed and ordered by the
 * revision they were written at (the cluster-wide order; their keys sort by each writer's
 * clock). Pure.
 */

import type { KeyValue } from "../cluster/etcd/wire.js";
import type { ClusterEvent } from "../cluster/membership/layout.js";

export type LoggedEvent = ClusterEvent & { revision: number };

/** Parses events/ keys; a value that is not an event is shown as what it is rather than dropped. */
export function eventsFrom(kvs: readonly KeyValue[]): LoggedEvent[] {
  return kvs
    .map((kv): LoggedEvent => {
      let parsed: Partial<ClusterEvent> | undefined;
      try {
        parsed = JSON.parse(kv.value) as Partial<ClusterEvent>;
      } catch {
        parsed = undefined;
      }
      if (!parsed || typeof parsed !== "object") {
        return {
          time: 0,
          node: "?",
          kind: "unreadable",
          message: `${kv.key}: ${kv.value}`,
          revision: kv.modRevision,
        };
      }
      return {
        ...parsed,
        time: Number(parsed.time) || 0,
        node: typeof parsed.node === "string" ? parsed.node : "?",
        kind: typeof parsed.kind === "string" ? parsed.kind : "event",
        message: typeof parsed.message === "string" ? parsed.message : "",
        revision: kv.modRevision,
      };
    })
    .sort((a, b) => a.revision - b.revision);
}

/** Events written at or after `since` (ms since the epoch). */
export function eventsSince(events: LoggedEvent[], since: number | undefined): LoggedEvent[] {
  return since === undefined ? events : events.filter((e) => e.time >= since);
}

/** One line: time, node, kind, message. */
export function eventLine(e: LoggedEvent): string {
  const time = e.time > 0 ? new Date(e.time).toISOString() : "-";
  return `${time}  ${e.node}  ${e.kind}: ${e.message}`;
}
