/**
 * The live updates (design §7): one EventSource on /v1/stream. `snapshot` brings the whole view
 * and the recent events, then `status` (the whole view again on each change) and `event` (one
 * event) follow; `reset` means the node lost the revision we asked to resume from: a new
 * snapshot follows on the same connection and replaces what the page shows. EventSource reconnects by itself after a dropped connection,
 * resuming with Last-Event-ID; when it gives up (the server answered an error) we open a new one.
 */

import type { EventView, StatusView } from "../../api/schema/view-types.js";
import type { StreamSnapshot } from "../model/api-shapes.js";

export interface StreamHandlers {
  snapshot(data: StreamSnapshot): void;
  status(view: StatusView): void;
  event(event: EventView): void;
  /** The connection dropped or could not be opened. */
  lost(): void;
  /** Connected again (after lost). */
  restored(): void;
  /** The server closed the stream for good (e.g. 401): the caller decides what next. */
  closed(): void;
}

const REOPEN_MS = 5000;

export class LiveStream {
  private source: EventSource | undefined;
  private reopenTimer: ReturnType<typeof setTimeout> | undefined;
  private down = false;

  constructor(
    private readonly url: string,
    private readonly handlers: StreamHandlers,
  ) {}

  open(): void {
    this.close();
    const source = new EventSource(this.url, { withCredentials: true });
    this.source = source;
    source.addEventListener("open", () => {
      if (this.down) {
        this.down = false;
        this.handlers.restored();
      }
    });
    source.addEventListener("snapshot", (e) =>
      this.parse(e, (d) => this.handlers.snapshot(d as StreamSnapshot)),
    );
    source.addEventListener("status", (e) => this.parse(e, (d) => this.handlers.status(d as StatusView)));
    source.addEventListener("event", (e) => this.parse(e, (d) => this.handlers.event(d as EventView)));
    // The server could not resume from our Last-Event-ID; its next message is a new snapshot,
    // which replaces what the page shows (api/stream/event-stream.ts).
    source.addEventListener("reset", () => undefined);
    source.addEventListener("error", () => {
      if (!this.down) {
        this.down = true;
        this.handlers.lost();
      }
      if (source.readyState === EventSource.CLOSED) {
        this.handlers.closed();
        this.reopenTimer = setTimeout(() => this.open(), REOPEN_MS);
      }
    });
  }

  close(): void {
    if (this.reopenTimer !== undefined) clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    this.source?.close();
    this.source = undefined;
  }

  private parse(event: Event, use: (data: unknown) => void): void {
    try {
      use(JSON.parse((event as MessageEvent<string>).data));
    } catch {
      // A frame that is not JSON is skipped: the next status event carries the whole view again.
    }
  }
}
