import { request, type Agent } from "node:https";

// A small HTTPS client for the API tests: one request to a node's API over TCP or over its unix
// socket (the same TLS server), the answer's status, headers and body (JSON when it parses).

export interface ApiAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body as JSON: an error body, or whatever the route answered. */
  json: { error: { code: string; message: string; hint?: string; where?: { key?: string } } } & Record<
    string,
    unknown
  >;
}

export type ApiTarget = { host: string; port: number } | { socketPath: string };

export interface ApiCallOptions {
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** A client certificate and key (PEM). */
  cert?: { cert: Buffer; key: Buffer };
  ca: Buffer;
  /** Keep-alive agent (default: a connection per request). */
  agent?: Agent;
  timeoutMs?: number;
}

export function apiCall(
  target: ApiTarget,
  method: string,
  path: string,
  options: ApiCallOptions,
): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...("socketPath" in target ? { socketPath: target.socketPath, servername: undefined } : target),
        // The server certificate names 127.0.0.1 (the relay's address) besides the node's.
        ...("socketPath" in target ? { host: "127.0.0.1" } : {}),
        method,
        path,
        ca: options.ca,
        // Framed by Content-Length: Node's client sends a DELETE's body unframed otherwise.
        headers:
          options.body === undefined
            ? options.headers
            : { ...options.headers, "content-length": String(Buffer.byteLength(options.body)) },
        ...(options.cert ?? {}),
        agent: options.agent ?? false,
        timeout: options.timeoutMs ?? 30_000,
      },
      (res) => {
        // A live stream (GET /v1/stream) never ends: its answer is the status and headers.
        if (String(res.headers["content-type"] ?? "").startsWith("text/event-stream")) {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: "",
            json: { error: { code: "", message: "a live stream" } },
          });
          res.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: ApiAnswer["json"];
          try {
            json = JSON.parse(text) as ApiAnswer["json"];
          } catch {
            json = { error: { code: "", message: `not JSON: ${text.slice(0, 200)}` } };
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer in time`)));
    req.on("error", reject);
    req.end(options.body);
  });
}
