/**
 * What the live stream's messages carry (design §7), for the console to `import type`. Types
 * only, importing only view-types.ts. Each is the JSON in the `data:` of one SSE message; the
 * message's `id:` is the etcd revision (the view's, or the event's).
 */
import type { EventView, StatusView } from "../schema/view-types.js";

/** `event: snapshot`: the first message, and again after a `reset`. */
export interface StreamSnapshot {
  status: StatusView;
  /** The last events (at most 200), oldest first. */
  events: EventView[];
}

/** `event: status`: the full view after a change (throttled, the latest wins). */
export type StreamStatus = StatusView;

/** `event: event`: one new event of the cluster's log. */
export type StreamEvent = EventView;

/**
 * `event: reset`: the events after the client's Last-Event-ID are gone (etcd compacted them) or
 * cannot be replayed now (etcd unreachable, or too many arrived meanwhile); a snapshot follows
 * as soon as this node has a view, and the client must replace what it shows with it.
 */
export interface StreamReset {
  reason: "compacted" | "unavailable";
  lastEventId: string;
}

export const STREAM_EVENT_NAMES = ["snapshot", "status", "event", "reset"] as const;
