/**
 * A real HTTP client for a Server-Sent Events stream: node:http over a real socket, the bytes
 * fed to the spec parser (sse-parser.ts) as they arrive. For tests of the live stream.
 */
import { request, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { until } from "./until.js";
import { SseParser, type ParsedSseEvent } from "./sse-parser.js";

export interface OpenedStream {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body when the answer is not a stream (an error). */
  body: string | undefined;
  stream: SseStream;
}

export class SseStream {
  readonly parser = new SseParser();
  ended = false;
  bytes = 0;

  constructor(private readonly res: IncomingMessage) {
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      this.bytes += chunk.length;
      this.parser.push(chunk);
    });
    res.on("close", () => (this.ended = true));
    res.on("error", () => (this.ended = true));
  }

  get events(): ParsedSseEvent[] {
    return this.parser.events;
  }

  named(event: string): ParsedSseEvent[] {
    return this.events.filter((e) => e.event === event);
  }

  /** Waits until the stream has dispatched `count` events (all names). */
  async waitForEvents(count: number, timeoutMs = 5000): Promise<ParsedSseEvent[]> {
    await until(
      `${count} SSE events`,
      () => Promise.resolve(this.events.length),
      (n) => n >= count,
      timeoutMs,
      5,
    );
    return this.events;
  }

  /** Stops reading: the server's writes pile up in the socket buffers, then in the server. */
  pause(): void {
    this.res.pause();
  }

  resume(): void {
    this.res.resume();
  }

  close(): void {
    this.res.destroy();
  }
}

export function openStream(url: string, headers: Record<string, string> = {}): Promise<OpenedStream> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: "text/event-stream", ...headers } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status, headers: res.headers, body, stream: new SseStream(res) }));
        return;
      }
      resolve({ status, headers: res.headers, body: undefined, stream: new SseStream(res) });
    });
    req.on("error", reject);
    req.end();
  });
}
