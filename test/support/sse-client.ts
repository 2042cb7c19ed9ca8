/**
 * A real HTTP client for a Server-Sent Events stream: node:http over a real socket (or
 * node:https to a daemon's API, over TCP or its unix socket), the bytes fed to the spec parser
 * (sse-parser.ts) as they arrive, each event stamped with when it arrived. For tests of the live
 * stream.
 */
import { request, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { request as tlsRequest } from "node:https";
import type { ApiTarget } from "./api-client.js";
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
  /** Date.now() when each event (same index in `events`) was dispatched. */
  readonly arrivedAt: number[] = [];
  ended = false;
  bytes = 0;

  constructor(private readonly res: IncomingMessage) {
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      this.bytes += chunk.length;
      const at = Date.now();
      const dispatched = this.parser.push(chunk).length;
      for (let i = 0; i < dispatched; i++) this.arrivedAt.push(at);
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
  return opened((answer) => request(url, { headers: { accept: "text/event-stream", ...headers } }, answer));
}

/** A stream from a daemon's HTTPS API (`path`, e.g. /v1/stream), over TCP or its unix socket. */
export function openApiStream(
  target: ApiTarget,
  path: string,
  options: { ca: Buffer; headers?: Record<string, string> },
): Promise<OpenedStream> {
  return opened((answer) =>
    tlsRequest(
      {
        // The server certificate names 127.0.0.1 (the relay's address) besides the node's.
        ...("socketPath" in target ? { socketPath: target.socketPath, host: "127.0.0.1" } : target),
        path,
        ca: options.ca,
        headers: { accept: "text/event-stream", ...options.headers },
        agent: false,
      },
      answer,
    ),
  );
}

function opened(send: (answer: (res: IncomingMessage) => void) => ClientRequest): Promise<OpenedStream> {
  return new Promise((resolve, reject) => {
    const req = send((res) => {
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
