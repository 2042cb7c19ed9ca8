import type { ClusterConfig } from "../../cluster/config/model.js";
import { EtcdClient } from "../../cluster/etcd/client.js";
import { EtcdError } from "../../cluster/etcd/errors.js";
import { etcdMemberAnswers } from "../../cluster/etcd/member-answers.js";
import { monotonicMs } from "../../cluster/etcd/monotonic-clock.js";
import type { EtcdWatch } from "../../cluster/etcd/watch.js";
import type { KeyValue } from "../../cluster/etcd/wire.js";
import { ClusterKeys } from "../../cluster/membership/layout.js";
import { eventsFrom } from "../../cli/events-render.js";
import { etcdView, statusView } from "../../cli/status-render.js";
import type { EtcdMemberAnswer, EventView } from "../schema/view-types.js";
import { ClusterReader, type ClusterRead } from "./cluster-read.js";
import { EVENT_RING_SIZE, EventRing } from "./event-ring.js";
import type { ClusterViewSource, EventFilter, ViewAtRevision } from "./view-source.js";

/** The agent's own watch is checked every 250 ms (node-agent.ts). */
const WATCH_HEALTH_CHECK_MS = 250;

export interface ClusterViewCacheOptions {
  /** The cluster file's configuration with this node's etcd credentials (etcdForNode). */
  config: ClusterConfig;
  /** The cluster file (for error texts). */
  file: string;
  /** Quiet time after a change before the cluster is read again (design §2: 25 ms). */
  debounceMs?: number;
  /** etcd member status poll period while someone reads (design §2: 2 s). */
  memberPollMs?: number;
  /** How long after the last read the member poll goes on (design §2: 30 s). */
  readerWindowMs?: number;
  /** Pause before reading again after a failed read. */
  retryMs?: number;
  ringSize?: number;
  /** One line per problem and recovery (the daemon's log). */
  log?: (event: string, message: string) => void;
}

/** How the cache has fared (the daemon's log, the load test: design §12.1). */
export interface ViewCacheStats {
  /** Reads of the cluster that succeeded / failed. */
  reads: number;
  failedReads: number;
  /** The last successful read, from the change to the new view (ms, most of it waiting on etcd). */
  lastReadMs: number | undefined;
  /** The longest time one view took to build on the event loop (statusView, synchronous). */
  maxBuildMs: number;
}

/** A view with what it was built from: the detail views need the reports and resources. */
export interface CachedView extends ViewAtRevision {
  read: ClusterRead;
}

/**
 * The daemon's one picture of the cluster for the API and the console (design §2
 * `view/cluster-view-cache.ts`, §7). Its own etcd client and one watch of the whole prefix, so
 * any number of readers and streams cost etcd nothing: a change is read once, 25 ms after it
 * came (a burst of keys, such as a move, is one read), into the StatusView `pavise status
 * --json` prints. New events/ keys go to the ring and the event listeners at once, in
 * revision order. etcd's member status is asked every 2 s, but only while someone looked in
 * the last 30 s: an idle API adds no load.
 *
 * It never throws into the daemon: when etcd cannot be read it keeps the last view, marks it
 * stale (since when, why) and reads again every second; the watch resumes by itself.
 */
export class ClusterViewCache implements ClusterViewSource {
  private readonly client: EtcdClient;
  private readonly keys: ClusterKeys;
  private readonly ring: EventRing;
  private readonly reader: ClusterReader;
  private readonly viewListeners = new Set<(latest: ViewAtRevision) => void>();
  private readonly eventListeners = new Set<(event: EventView) => void>();
  private latest: CachedView | undefined;
  private stale: { since: number; reason: string } | undefined;
  private answers: EtcdMemberAnswer[] = [];
  private watch: EtcdWatch | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private memberTimer: NodeJS.Timeout | undefined;
  private reading = false;
  private dirty = false;
  private polling = false;
  private lastPollAt = -Infinity;
  private lastReaderAt = -Infinity;
  private stopped = false;
  private started = false;
  private readonly figures: ViewCacheStats = {
    reads: 0,
    failedReads: 0,
    lastReadMs: undefined,
    maxBuildMs: 0,
  };
  private resolveFirst: (view: ViewAtRevision) => void = () => undefined;
  /** Resolves with the first view read (never rejects; it waits while etcd is away). */
  readonly firstView: Promise<ViewAtRevision>;

  constructor(private readonly options: ClusterViewCacheOptions) {
    this.client = new EtcdClient({
      endpoints: options.config.etcd.endpoints,
      tls: options.config.etcd.tls,
      timeoutMs: 3000,
      // As the agent's client: a member that does not answer within a quarter of the lease (a
      // crashed node's) is passed over for the next, so the view follows a failover at once.
      attemptTimeoutMs: Math.min(1000, Math.max(250, Math.floor(options.config.timing.memberTimeoutMs / 4))),
    });
    this.keys = new ClusterKeys(options.config.etcd.prefix);
    this.ring = new EventRing(options.ringSize ?? EVENT_RING_SIZE);
    this.reader = new ClusterReader({
      file: options.file,
      config: options.config,
      client: this.client,
      keys: this.keys,
    });
    this.firstView = new Promise((resolve) => (this.resolveFirst = resolve));
  }

  /** Starts reading and watching; returns at once (the first view comes with `firstView`). */
  start(): void {
    if (this.started) return;
    this.started = true;
    void this.pollMembers().then(() => this.read());
    this.memberTimer = setInterval(() => {
      // Someone looked lately, or a live stream is open (its console shows etcd's health).
      const looked = monotonicMs() - this.lastReaderAt < (this.options.readerWindowMs ?? 30_000);
      if (looked || this.viewListeners.size > 0) void this.pollMembers();
    }, this.options.memberPollMs ?? 2000);
    this.memberTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    this.watch?.close();
    clearTimeout(this.debounce);
    clearTimeout(this.retry);
    clearInterval(this.memberTimer);
    this.viewListeners.clear();
    this.eventListeners.clear();
    this.client.close();
  }

  current(): ViewAtRevision | undefined {
    return this.cached();
  }

  /** The current view with what it was built from (for the detail views). */
  cached(): CachedView | undefined {
    const now = monotonicMs();
    // A reader after a quiet spell gets the last answers now and fresh ones within a poll.
    if (now - this.lastPollAt > (this.options.memberPollMs ?? 2000) && this.started) void this.pollMembers();
    this.lastReaderAt = now;
    if (!this.latest) return undefined;
    return this.stale ? { ...this.latest, stale: this.stale } : this.latest;
  }

  stats(): ViewCacheStats {
    return { ...this.figures };
  }

  recentEvents(filter?: EventFilter): EventView[] {
    return this.ring.query(filter);
  }

  /**
   * The events/ keys written after `revision`, oldest first, read from etcd (a reconnecting
   * stream's Last-Event-ID). "compacted" when etcd has compacted `revision` away, or when more
   * events than the ring holds are missing: the client starts again from a snapshot.
   */
  async eventsAfter(revision: number): Promise<EventView[] | "compacted"> {
    const limit = this.ring.capacity;
    const after = await this.client.range(this.keys.eventsPrefix, {
      prefix: true,
      minModRevision: revision + 1,
      sort: { target: "MOD", order: "ASCEND" },
      limit: limit + 1,
    });
    if (revision > 0 && revision < after.revision) {
      try {
        // A read at that revision fails exactly when etcd no longer has it.
        await this.client.range(this.keys.eventsPrefix, { prefix: true, revision, limit: 1 });
      } catch (err) {
        if (err instanceof EtcdError && err.code === "ETCD_COMPACTED") return "compacted";
        throw err;
      }
    }
    if (after.kvs.length > limit) return "compacted";
    return toEventViews(after.kvs);
  }

  onView(listener: (latest: ViewAtRevision) => void): () => void {
    this.viewListeners.add(listener);
    return () => this.viewListeners.delete(listener);
  }

  onEvent(listener: (event: EventView) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  // ---- reading

  private async read(): Promise<void> {
    if (this.stopped) return;
    if (this.reading) {
      this.dirty = true;
      return;
    }
    this.reading = true;
    this.dirty = false;
    const began = performance.now();
    try {
      const read = await this.reader.read();
      if (this.stopped) return;
      const first = this.latest === undefined;
      if (first) await this.fillRing(read.snapshot.revision);
      if (this.stale)
        this.options.log?.(
          "api-view",
          `reading the cluster from etcd again (stale since ${new Date(this.stale.since).toISOString()})`,
        );
      this.stale = undefined;
      this.publish(read);
      this.figures.reads += 1;
      this.figures.lastReadMs = performance.now() - began;
      if (first) this.startWatch(read.snapshot.revision + 1);
    } catch (err) {
      this.figures.failedReads += 1;
      this.markStale(`cannot read the cluster from etcd: ${(err as Error).message}`);
      clearTimeout(this.retry);
      this.retry = setTimeout(() => void this.read(), this.options.retryMs ?? 1000);
    } finally {
      this.reading = false;
    }
    if (this.dirty && !this.stopped) void this.read();
  }

  /** The newest events by key at the first read's revision; the watch carries on after it. */
  private async fillRing(revision: number): Promise<void> {
    const newest = await this.client.range(this.keys.eventsPrefix, {
      prefix: true,
      revision,
      sort: { target: "KEY", order: "DESCEND" },
      limit: this.ring.capacity,
    });
    this.ring.add(toEventViews(newest.kvs));
  }

  private publish(read: ClusterRead): void {
    const began = performance.now();
    const view = statusView({ ...read, etcd: this.answers });
    this.figures.maxBuildMs = Math.max(this.figures.maxBuildMs, performance.now() - began);
    this.latest = { view, revision: read.snapshot.revision, read };
    const latest = this.cachedWithoutTouch();
    this.resolveFirst(latest);
    for (const listener of this.viewListeners) safely(() => listener(latest));
  }

  private cachedWithoutTouch(): CachedView {
    const latest = this.latest as CachedView;
    return this.stale ? { ...latest, stale: this.stale } : latest;
  }

  private markStale(reason: string): void {
    if (!this.stale) {
      this.stale = { since: Date.now(), reason };
      this.options.log?.("api-view", `${reason}; serving the last view read`);
      if (this.latest) {
        const latest = this.cachedWithoutTouch();
        for (const listener of this.viewListeners) safely(() => listener(latest));
      }
    }
  }

  private schedule(): void {
    if (this.debounce || this.stopped) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.read();
    }, this.options.debounceMs ?? 25);
  }

  private startWatch(fromRevision: number): void {
    // A crashed node's etcd member keeps a watch stream open but silent: its health is checked
    // as often as the agent checks its own watch's, so the view moves to another member in time.
    const watch = this.client.watch(this.keys.prefix, {
      prefix: true,
      startRevision: fromRevision,
      healthCheckMs: WATCH_HEALTH_CHECK_MS,
    });
    this.watch = watch;
    void (async () => {
      try {
        for await (const batch of watch) {
          if (batch.kind === "events") {
            const events = batch.events.filter(
              (e) => e.type === "put" && e.kv.key.startsWith(this.keys.eventsPrefix),
            );
            if (events.length > 0) {
              for (const e of this.ring.add(toEventViews(events.map((w) => w.kv))))
                for (const listener of this.eventListeners) safely(() => listener(e));
            }
            if (events.length < batch.events.length) this.schedule();
          } else {
            if (batch.kind === "compacted") {
              this.options.log?.(
                "api-view",
                `watch: revisions before ${batch.compactRevision} were compacted; reading again`,
              );
              await this.fillRing(batch.compactRevision).catch(() => undefined);
            }
            this.schedule();
          }
        }
      } catch (err) {
        if (!this.stopped) this.options.log?.("api-view", `watch ended: ${(err as Error).message}`);
      }
    })();
  }

  /** Asks each member for its status; a change of the etcd section is a new view. */
  private async pollMembers(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    this.lastPollAt = monotonicMs();
    try {
      const answers = await etcdMemberAnswers(this.client, this.options.config.etcd.endpoints);
      if (this.stopped) return;
      const changed = JSON.stringify(answers.map(brief)) !== JSON.stringify(this.answers.map(brief));
      this.answers = answers;
      const quorum = etcdView(this.options.config, answers).quorum;
      if (!quorum)
        this.markStale(
          `etcd has no quorum: ${answers.filter((a) => a.reachable && a.leader !== undefined && a.leader !== "0").length} of ${answers.length} members answer with a leader`,
        );
      else if (this.stale) this.schedule();
      if (changed && this.latest) this.publish(this.latest.read);
    } finally {
      this.polling = false;
    }
  }
}

/** What makes two answers the same for the view: not the error text. */
function brief(a: EtcdMemberAnswer): string {
  return `${a.endpoint} ${a.reachable} ${a.memberId ?? ""} ${a.leader ?? ""}`;
}

function toEventViews(kvs: readonly KeyValue[]): EventView[] {
  return eventsFrom(kvs);
}

/** A listener's mistake must not stop the watch or the other listeners. */
function safely(call: () => void): void {
  try {
    call();
  } catch {
    // The listener's own problem; the cache carries on.
  }
}
