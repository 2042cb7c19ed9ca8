import type { EventView, StatusView } from "../schema/view-types.js";

/**
 * What the API's readers and the live stream need from a daemon's picture of the cluster
 * (design §2 `cluster-view-cache.ts`, §7): the latest status view at an etcd revision, the
 * recent events, and a way to hear about changes. One per daemon, shared by every request and
 * every SSE client, so that a reader costs etcd nothing. The cache (a driver) implements it;
 * the stream and the routes depend only on this.
 */
export interface ViewAtRevision {
  view: StatusView;
  /** The etcd revision the view was read at (the SSE event id, design §7). */
  revision: number;
  /**
   * Set while etcd cannot be read: the view is the last one read, and may be out of date since
   * `since` (ms since the epoch, this node's clock), for `reason`.
   */
  stale?: { since: number; reason: string } | undefined;
}

export interface EventFilter {
  /** Only events written after this revision. */
  sinceRevision?: number | undefined;
  kind?: string | undefined;
  package?: string | undefined;
  /** Newest `limit` events (still returned oldest first). */
  limit?: number | undefined;
}

export interface ClusterViewSource {
  /** Undefined until the first read of etcd has finished. */
  current(): ViewAtRevision | undefined;
  /** From the ring of recent events (oldest first). */
  recentEvents(filter?: EventFilter): EventView[];
  /**
   * Events after `revision` for a reconnecting stream (Last-Event-ID). "compacted" when etcd no
   * longer has them: the client must start again from a snapshot (SSE `event: reset`).
   */
  eventsAfter(revision: number): Promise<EventView[] | "compacted">;
  /** Called with each new view (debounced); returns the unsubscribe function. */
  onView(listener: (latest: ViewAtRevision) => void): () => void;
  /** Called with each new event in revision order; returns the unsubscribe function. */
  onEvent(listener: (event: EventView) => void): () => void;
}
