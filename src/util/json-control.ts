import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { dirname } from "node:path";
import { PaviseError } from "./errors.js";

/**
 * A control channel: JSON over HTTP on a unix socket, root only (0600). `pavise ipsec serve`
 * (src/ipsec/control.ts) and `pavise daemon` (src/cluster/agent/daemon-control.ts) each serve
 * one; their CLI commands call them with {@link callJsonControl}.
 */

/** One request, parsed: the method, the path and its query. */
export interface JsonRequest {
  method: string;
  path: string;
  query: URLSearchParams;
}

/** What a handler answers: a status and a JSON body (errors as `{ error: PaviseError.toJSON() }`). */
export interface JsonReply {
  status: number;
  body: unknown;
}

/** A reply that is not JSON (the Prometheus exposition of `GET /metrics`). */
export interface TextReply {
  status: number;
  text: string;
  contentType: string;
}

/** The reply for an error: 404 for the codes in `notFound`, 409 otherwise. */
export function errorReply(err: unknown, fallbackCode: string, notFound: readonly string[] = []): JsonReply {
  const error =
    err instanceof PaviseError ? err : new PaviseError(fallbackCode, (err as Error)?.message ?? String(err));
  return { status: notFound.includes(error.code) ? 404 : 409, body: { error: error.toJSON() } };
}

/** The reply for a request no route takes. */
export function unknownRequest(req: JsonRequest, code: string): JsonReply {
  return {
    status: 404,
    body: { error: { code, message: `no such request: ${req.method} ${req.path}` } },
  };
}

/**
 * Listens on `socketPath` (a stale socket file of an earlier run is removed first) and answers
 * each request with what `handle` resolves to; a handler that throws answers with
 * `errorReply(err, failedCode)`.
 */
export function serveJsonControl(
  socketPath: string,
  handle: (req: JsonRequest) => JsonReply | TextReply | Promise<JsonReply | TextReply>,
  failedCode: string,
): Promise<Server> {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
  rmSync(socketPath, { force: true });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://pavise");
    const send = (reply: JsonReply | TextReply): void => {
      if ("text" in reply) {
        res.writeHead(reply.status, { "content-type": reply.contentType });
        res.end(reply.text);
        return;
      }
      res.writeHead(reply.status, { "content-type": "application/json" });
      res.end(JSON.stringify(reply.body));
    };
    Promise.resolve()
      .then(() => handle({ method: req.method ?? "GET", path: url.pathname, query: url.searchParams }))
      .then(send, (err: unknown) => send(errorReply(err, failedCode)));
  });
  return new Promise((resolve, reject) => {
    server.once("error", (err) =>
      reject(new PaviseError(failedCode, `cannot listen on ${socketPath}: ${err.message}`)),
    );
    server.listen(socketPath, () => {
      // Whoever may connect may steer the daemon: root only (design §10, §12).
      chmodSync(socketPath, 0o600);
      resolve(server);
    });
  });
}

export interface CallJsonControlOptions {
  /** Give up after this long without an answer (default 35 s). */
  timeoutMs?: number;
  /** The error when nothing listens on the socket (the server is not running). */
  notRunning: (reason: string) => PaviseError;
  /** The error when the server does not answer in time (default: a failedCode error). */
  noAnswer?: (timeoutMs: number) => PaviseError;
  /** The code of other failures (an answer that is not JSON). */
  failedCode: string;
  /** Resolve with a 200 answer's text as it is (not JSON: GET /metrics); errors are still JSON. */
  text?: boolean;
}

/** Calls a control channel; a server that is not running or does not answer is a clear error. */
export function callJsonControl(
  socketPath: string,
  method: "GET" | "POST",
  path: string,
  options: CallJsonControlOptions,
): Promise<unknown> {
  const timeoutMs = options.timeoutMs ?? 35_000;
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const req = request({ socketPath, method, path }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        clearTimeout(timer);
        if (options.text && res.statusCode === 200) {
          resolve(body);
          return;
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          reject(
            new PaviseError(
              options.failedCode,
              `the daemon answered something that is not JSON: ${body.slice(0, 200)}`,
            ),
          );
          return;
        }
        const error = (parsed as { error?: { code: string; message: string; hint?: string } }).error;
        if (error) reject(new PaviseError(error.code, error.message, { hint: error.hint }));
        else resolve(parsed);
      });
    });
    // The whole call, connect to last byte (an http `timeout` only counts idle time).
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy();
    }, timeoutMs);
    req.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(
          options.noAnswer?.(timeoutMs) ??
            new PaviseError(options.failedCode, `no answer on ${socketPath} within ${timeoutMs} ms`),
        );
      } else reject(options.notRunning(err.message));
    });
    req.end();
  });
}
