/**
 * A client-side Server-Sent Events parser written from the WHATWG HTML standard (§9.2.6
 * "Interpreting an event stream"), independent of the server's formatter, so tests can check
 * what a browser's EventSource would make of the bytes: lines split on CRLF, CR or LF; a line
 * starting with ":" is a comment; "field: value" with one leading space stripped; data lines
 * joined with "\n"; a blank line dispatches (nothing when the data buffer is empty); an id with
 * NUL is ignored; the last event id persists across messages. Tests keep every event
 * (`events`); a long-lived reader (`pavise events --follow --api`) passes `keep: false`.
 */
export interface ParsedSseEvent {
  /** "message" when no event field was given. */
  event: string;
  data: string;
  /** The last event id at dispatch (persists, as the spec says). */
  lastEventId: string;
}

export class SseParser {
  readonly events: ParsedSseEvent[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  private buffer = "";
  private data: string[] = [];
  private eventType = "";
  private lastEventId = "";
  private pendingCr = false;
  private readonly keep: boolean;

  constructor(options: { keep?: boolean } = {}) {
    this.keep = options.keep ?? true;
  }

  /** Feed a chunk of text; returns the events dispatched by it. */
  push(chunk: string): ParsedSseEvent[] {
    const before = this.events.length;
    let text = chunk;
    // A CR at the end of the previous chunk may be the first half of a CRLF.
    if (this.pendingCr && text.startsWith("\n")) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      if (match[0] === "\r" && match.index === this.buffer.length - 1) {
        this.pendingCr = true;
      }
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
    const dispatched = this.events.slice(before);
    if (!this.keep) this.events.length = 0;
    return dispatched;
  }

  private line(line: string): void {
    if (line === "") {
      this.dispatch();
      return;
    }
    if (line.startsWith(":")) {
      this.comments.push(line.slice(1).replace(/^ /, ""));
      return;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") this.data.push(value);
    else if (field === "event") this.eventType = value;
    else if (field === "id") {
      if (!value.includes("\u0000")) this.lastEventId = value;
    } else if (field === "retry") {
      if (/^[0-9]+$/.test(value)) this.retry = Number(value);
    }
  }

  private dispatch(): void {
    if (this.data.length === 0) {
      this.eventType = "";
      return;
    }
    this.events.push({
      event: this.eventType === "" ? "message" : this.eventType,
      data: this.data.join("\n"),
      lastEventId: this.lastEventId,
    });
    this.data = [];
    this.eventType = "";
  }
}
