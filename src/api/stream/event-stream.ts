import type { IncomingMessage, ServerResponse } from "node:http";
import { rateLimited } from "../http/api-errors.js";
import type { EventView } from "../schema/view-types.js";
import type { ClusterViewSource, ViewAtRevision } from "../view/view-source.js";
import { sseComment, sseMessage, sseRetry } from "./sse-format.js";
import type { StreamReset, StreamSnapshot } from "./stream-messages.js";

/**
 * The live stream `GET /v1/stream` (design §7): Server-Sent Events to every console and script
 * that follows the cluster. A driver over the daemon's one ClusterViewSource, so a client costs
 * etcd nothing. Each client gets `retry:`, then a `snapshot` (status + recent events), then
 * `status` (throttled, latest wins) and `event` messages as the source reports them. Message
 * ids are etcd revisions, so a reconnect with `Last-Event-ID` gets the missed events replayed
 * (or a `reset` and a fresh snapshot when etcd compacted them).
 *
 * The source is expected to report an event before (or with) a view that includes it, as the
 * cache does (its view is debounced after the watch): then a client that stops after a `status`
 * with id R has already been sent every event up to R.
 */
export interface EventStreamOptions {
  /** Streams at once; the next one gets 429 (design §7: 32). */
  maxClients?: number;
  /** The `: hb` comment interval, so proxies keep an idle stream open (15 s). */
  heartbeatMs?: number;
  /** Least time between two `status` messages: at most 4 a second, the latest view wins. */
  statusIntervalMs?: number;
  /** A client with more unsent bytes than this is dropped (it reconnects with Last-Event-ID). */
  maxBacklogBytes?: number;
  /** The client's reconnection delay, sent as `retry:`. */
  retryMs?: number;
  /** Events in the snapshot. */
  snapshotEvents?: number;
  /** Monotonic ms, for the status throttle. */
  now?: () => number;
}

/** Live events kept for a client while its replay is read from etcd. */
const MAX_HELD_EVENTS = 1000;

const DEFAULTS = {
  maxClients: 32,
  heartbeatMs: 15_000,
  statusIntervalMs: 250,
  maxBacklogBytes: 1024 * 1024,
  retryMs: 2000,
  snapshotEvents: 200,
};

/**
 * A client's phase: `waiting` for its start (a replay from etcd in flight, or the source's first
 * view), live events kept meanwhile in `held`; then `live`.
 */
interface Client {
  res: ServerResponse;
  phase: "waiting" | "live";
  held: EventView[];
  /** More events came during the replay than are kept: it ends in a reset instead. */
  overflowed: boolean;
  /** Needs a snapshot as soon as a view exists (no Last-Event-ID, or a reset). */
  wantsSnapshot: boolean;
}

export class EventStreamHub {
  private readonly options: Required<Omit<EventStreamOptions, "now">>;
  private readonly now: () => number;
  private readonly all = new Set<Client>();
  private readonly unsubscribe: (() => void)[];
  private heartbeat: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private pendingView: ViewAtRevision | undefined;
  private lastStatusAt = -Infinity;
  private closed = false;
  /** Clients dropped for falling behind, since start (for logs and tests). */
  dropped = 0;

  constructor(
    private readonly source: ClusterViewSource,
    options: EventStreamOptions = {},
  ) {
    this.options = {
      maxClients: options.maxClients ?? DEFAULTS.maxClients,
      heartbeatMs: options.heartbeatMs ?? DEFAULTS.heartbeatMs,
      statusIntervalMs: options.statusIntervalMs ?? DEFAULTS.statusIntervalMs,
      maxBacklogBytes: options.maxBacklogBytes ?? DEFAULTS.maxBacklogBytes,
      retryMs: options.retryMs ?? DEFAULTS.retryMs,
      snapshotEvents: options.snapshotEvents ?? DEFAULTS.snapshotEvents,
    };
    this.now = options.now ?? (() => performance.now());
    this.unsubscribe = [
      source.onView((latest) => this.viewChanged(latest)),
      source.onEvent((event) => this.eventArrived(event)),
    ];
  }

  /** Streams open now (the gauge `pavise_api_sse_clients`). */
  get clients(): number {
    return this.all.size;
  }

  /**
   * Serves one stream on `res` until the client goes away or the hub closes. `lastEventId`
   * overrides the request's `Last-Event-ID` header (a client that cannot send headers may give
   * it in the query). The 33rd client gets 429 API_RATE_LIMITED as JSON.
   */
  attach(req: IncomingMessage, res: ServerResponse, lastEventId?: string): void {
    if (this.closed) {
      res.destroy();
      return;
    }
    if (this.all.size >= this.options.maxClients) {
      const failure = rateLimited(
        `too many live streams on this node (${this.options.maxClients} open)`,
        this.options.retryMs / 1000,
      );
      const body = JSON.stringify(failure.body);
      res.writeHead(failure.status, {
        ...failure.headers,
        "content-type": "application/json; charset=utf-8",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      // nginx and similar would otherwise hold the stream back in their buffers.
      "x-accel-buffering": "no",
    });
    // RFC 9110 §9.3.2: HEAD gets the headers a GET would, and no stream.
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    res.socket?.setNoDelay(true);
    const client: Client = { res, phase: "waiting", held: [], overflowed: false, wantsSnapshot: true };
    this.all.add(client);
    res.on("close", () => this.forget(client));
    res.on("error", () => this.forget(client));
    this.startHeartbeat();
    if (!this.write(client, sseRetry(this.options.retryMs))) return;

    const header = req.headers["last-event-id"];
    const resumeFrom = revisionFrom(lastEventId ?? (Array.isArray(header) ? header[0] : header));
    if (resumeFrom === undefined) {
      this.startWithSnapshot(client);
      return;
    }
    client.wantsSnapshot = false;
    void this.source.eventsAfter(resumeFrom).then(
      (replay) => this.resume(client, resumeFrom, replay),
      // etcd unreachable now: a snapshot of what this node knows is the best there is.
      () => this.reset(client, resumeFrom, "unavailable"),
    );
  }

  /** Ends every stream and stops listening to the source. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const off of this.unsubscribe) off();
    clearTimeout(this.statusTimer);
    this.stopHeartbeat();
    for (const client of [...this.all]) {
      this.all.delete(client);
      client.res.end();
    }
  }

  private resume(client: Client, from: number, replay: EventView[] | "compacted"): void {
    if (!this.all.has(client)) return;
    if (replay === "compacted" || client.overflowed) {
      this.reset(client, from, replay === "compacted" ? "compacted" : "unavailable");
      return;
    }
    let last = from;
    for (const event of replay) {
      if (event.revision <= last) continue;
      if (!this.write(client, eventMessage(event))) return;
      last = event.revision;
    }
    for (const event of client.held) {
      if (event.revision <= last) continue;
      if (!this.write(client, eventMessage(event))) return;
      last = event.revision;
    }
    client.held = [];
    client.phase = "live";
    // The client's status is from before it went away: send the one of now.
    const current = this.source.current();
    if (current) this.write(client, statusMessage(current));
  }

  private reset(client: Client, from: number, reason: StreamReset["reason"]): void {
    if (!this.all.has(client)) return;
    const reset: StreamReset = { reason, lastEventId: String(from) };
    if (!this.write(client, sseMessage({ event: "reset", data: JSON.stringify(reset) }))) return;
    this.startWithSnapshot(client);
  }

  private startWithSnapshot(client: Client): void {
    client.wantsSnapshot = true;
    client.held = [];
    const current = this.source.current();
    // Before the source's first read there is nothing to show: the snapshot waits for it.
    if (current) this.sendSnapshot(client, current);
  }

  private sendSnapshot(client: Client, current: ViewAtRevision): void {
    const snapshot: StreamSnapshot = {
      status: current.view,
      events: this.source.recentEvents({ limit: this.options.snapshotEvents }),
    };
    client.wantsSnapshot = false;
    client.phase = "live";
    client.held = [];
    this.write(
      client,
      sseMessage({ id: current.revision, event: "snapshot", data: JSON.stringify(snapshot) }),
    );
  }

  private viewChanged(latest: ViewAtRevision): void {
    for (const client of [...this.all]) {
      if (client.phase === "waiting" && client.wantsSnapshot) this.sendSnapshot(client, latest);
    }
    this.pendingView = latest;
    const wait = this.lastStatusAt + this.options.statusIntervalMs - this.now();
    if (wait <= 0) this.flushStatus();
    else this.statusTimer ??= setTimeout(() => this.flushStatus(), wait);
  }

  /** Sends the latest held view to every live client (design §7: ≤ 4/s, the latest wins). */
  private flushStatus(): void {
    this.statusTimer = undefined;
    const view = this.pendingView;
    if (!view || this.closed) return;
    this.pendingView = undefined;
    this.lastStatusAt = this.now();
    const text = statusMessage(view);
    for (const client of [...this.all]) if (client.phase === "live") this.write(client, text);
  }

  private eventArrived(event: EventView): void {
    const text = eventMessage(event);
    for (const client of [...this.all]) {
      if (client.phase === "live") this.write(client, text);
      else if (!client.wantsSnapshot && !client.overflowed) {
        client.held.push(event);
        // A replay that takes this long is not worth finishing: a snapshot is cheaper.
        if (client.held.length > MAX_HELD_EVENTS) {
          client.held = [];
          client.overflowed = true;
        }
      }
    }
  }

  /** Writes to one client; false when it was dropped for being more than the allowed backlog behind. */
  private write(client: Client, text: string): boolean {
    const { res } = client;
    if (res.destroyed || res.writableEnded) {
      this.forget(client);
      return false;
    }
    res.write(text);
    // What Node holds for it, in the response and in its socket's queue (writableLength of an
    // http response counts both).
    if (res.writableLength > this.options.maxBacklogBytes) {
      this.dropped++;
      this.forget(client);
      res.destroy();
      return false;
    }
    return true;
  }

  private forget(client: Client): void {
    if (!this.all.delete(client)) return;
    if (this.all.size === 0) this.stopHeartbeat();
  }

  private startHeartbeat(): void {
    if (this.heartbeat) return;
    const beat = sseComment("hb");
    this.heartbeat = setInterval(() => {
      for (const client of [...this.all]) this.write(client, beat);
    }, this.options.heartbeatMs);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}

function eventMessage(event: EventView): string {
  return sseMessage({ id: event.revision, event: "event", data: JSON.stringify(event) });
}

function statusMessage(latest: ViewAtRevision): string {
  return sseMessage({ id: latest.revision, event: "status", data: JSON.stringify(latest.view) });
}

/** A Last-Event-ID we sent: an etcd revision, a whole number. Anything else starts afresh. */
function revisionFrom(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9]{1,15}$/.test(text.trim())) return undefined;
  return Number(text.trim());
}
