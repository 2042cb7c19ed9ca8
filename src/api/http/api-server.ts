import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server, type ServerOptions } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { dirname } from "node:path";
import type { TLSSocket } from "node:tls";
import { may } from "../auth/access-policy.js";
import {
  resolvePrincipal,
  type PresentedCredentials,
  type Principal,
  type PrincipalContext,
  type VerifiedCertificate,
} from "../auth/principal.js";
import type { ApiHandler, ApiReply } from "./api-handler.js";
import { apiError, failureFrom, rateLimited, type ApiFailure } from "./api-errors.js";
import { UNMATCHED_ROUTE, type ApiMetrics } from "./api-metrics.js";
import { RateLimiter } from "./rate-limit.js";
import { BODY_LIMITS, readJsonBody } from "./read-body.js";
import { Router, type Route } from "./router.js";
import { apiHeaders, staticFileHeaders } from "./security-headers.js";
import { checkWriteOrigin } from "./write-origin.js";

/**
 * The daemon's HTTPS server (design §0, §2): the JSON API, /metrics, the live stream and the
 * console's files, on each `api.listen` address and on a unix socket beside the control socket
 * (`pavise lab console` relays a browser to it). One TLS setup for all: the server certificate,
 * and client certificates of the cluster CA asked for but not required (`requestCert`,
 * `rejectUnauthorized: false`), so that certificate, token and password users share one port;
 * `socket.authorized` decides whether a presented certificate counts.
 *
 * Each request: route (router.ts), principal (principal.ts), for writes the per-user rate, the
 * route's role (access-policy.ts), for writes the Origin (write-origin.ts) and the body
 * (read-body.ts), then the handler. It shares the daemon's thread, where a stall fences the node (design §12 risk 1):
 * nothing here is synchronous crypto or large JSON, connections are capped, and an unexpected
 * error answers 500 with an id only (the details go to the daemon log).
 *
 * Extension points for the parts other modules serve on the raw request: `stream` (GET
 * /v1/stream, SSE) and `staticFile` (GET / and /ui/*, the console).
 */
export interface StaticFile {
  body: Buffer | string;
  type: string;
}

/** GET /v1/stream: called after the principal may read; owns the response from then on. */
export type StreamHandler = (req: IncomingMessage, res: ServerResponse, principal: Principal) => void;

/** GET / and /ui/*: the console's file for a path, or undefined (404). Never joins a path. */
export type StaticFileLookup = (pathname: string) => StaticFile | undefined;

export interface ApiTls {
  key: Buffer | string;
  cert: Buffer | string;
  /** The cluster CA: client certificates it signed are verified. */
  ca: Buffer | string;
}

export interface ApiServerOptions {
  node: string;
  tls: ApiTls;
  /** "address:port" (IPv6 as "[addr]:port"). */
  listen: readonly string[];
  /** The unix socket (0600), or undefined for none. */
  unixSocket?: string | undefined;
  routes: readonly Route<ApiHandler>[];
  /** Who is who now (the policy follows the configuration); called per request. */
  principalContext: (now: number) => PrincipalContext;
  log: (event: string, message: string) => void;
  metrics?: ApiMetrics | undefined;
  stream?: StreamHandler | undefined;
  staticFile?: StaticFileLookup | undefined;
  /** Open connections over every listener (default 64). */
  maxConnections?: number | undefined;
  rateLimiter?: RateLimiter | undefined;
}

export const API_MAX_CONNECTIONS = 64;
export const STREAM_PATH = "/v1/stream";

/** The principal of a request to a route open to all ("none") that presented nothing usable. */
const NOBODY: Principal = { user: "anonymous", auth: "anonymous", host: undefined, grants: [] };

export class ApiServer {
  private readonly servers: Server[] = [];
  private readonly router: Router<ApiHandler>;
  private readonly rates: RateLimiter;
  private readonly open = new Set<Socket>();
  private readonly idPrefix = randomBytes(3).toString("hex");
  private sequence = 0;
  private readonly certificates = new WeakMap<object, VerifiedCertificate | undefined>();

  private constructor(private readonly options: ApiServerOptions) {
    this.router = new Router(options.routes);
    this.rates = options.rateLimiter ?? new RateLimiter();
  }

  /** Listens on every address; rejects (after closing what did listen) if one cannot be had. */
  static async start(options: ApiServerOptions): Promise<ApiServer> {
    const server = new ApiServer(options);
    try {
      for (const address of options.listen) await server.listenTcp(address);
      if (options.unixSocket !== undefined) await server.listenUnix(options.unixSocket);
    } catch (err) {
      await server.close();
      throw err;
    }
    return server;
  }

  /**
   * The route table as served (for the OpenAPI document, design §2: built from the same table).
   * GET /v1/stream and the console's files are served outside it (STREAM_PATH, staticFile).
   */
  get routes(): readonly Route<ApiHandler>[] {
    return this.router.routes;
  }

  /** Where it listens: "198.18.1.11:7443", or the unix socket's path. */
  get addresses(): string[] {
    return this.servers.map((s) => {
      const a = s.address();
      return typeof a === "string" ? a : a ? `${a.address}:${a.port}` : "?";
    });
  }

  async close(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
    if (this.options.unixSocket !== undefined) rmSync(this.options.unixSocket, { force: true });
  }

  private makeServer(via: "tcp" | "unix"): Server {
    const tlsOptions: ServerOptions = {
      key: this.options.tls.key,
      cert: this.options.tls.cert,
      ca: this.options.tls.ca,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
      // A client that never finishes its handshake or headers holds a connection slot.
      handshakeTimeout: 10_000,
    };
    const server = createServer(tlsOptions, (req, res) => void this.handle(req, res, via));
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.keepAliveTimeout = 5_000;
    server.on("connection", (socket: Socket) => {
      if (this.open.size >= (this.options.maxConnections ?? API_MAX_CONNECTIONS)) {
        this.options.metrics?.connection("refused");
        socket.destroy();
        return;
      }
      this.options.metrics?.connection("accepted");
      this.open.add(socket);
      socket.once("close", () => this.open.delete(socket));
    });
    // A failed handshake (wrong CA at the client, a port scan) concerns that client only.
    server.on("tlsClientError", () => undefined);
    server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket));
    this.servers.push(server);
    // Errors after listening (none expected) must not end the daemon: the node serves packages.
    server.on("error", (err) => this.options.log("problem", `API server: ${err.message}`));
    return server;
  }

  private listenTcp(address: string): Promise<void> {
    const { host, port } = splitAddress(address);
    const server = this.makeServer("tcp");
    return listening(server, `${address}`, (done) => server.listen(port, host, done));
  }

  private async listenUnix(path: string): Promise<void> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    rmSync(path, { force: true });
    const server = this.makeServer("unix");
    await listening(server, path, (done) => server.listen(path, done));
    // Root only, as the control socket: the relay (and curl --unix-socket) run as root. Its
    // clients still present credentials; a user limited by USER_HOST cannot come this way.
    chmodSync(path, 0o600);
  }

  private async handle(req: IncomingMessage, res: ServerResponse, via: "tcp" | "unix"): Promise<void> {
    const started = performance.now();
    const requestId = `${this.options.node}-${this.idPrefix}-${(++this.sequence).toString(36)}`;
    let route = UNMATCHED_ROUTE;
    res.setHeader("x-request-id", requestId);
    res.once("close", () =>
      this.options.metrics?.answered(route, res.statusCode, (performance.now() - started) / 1000),
    );
    const method = req.method ?? "GET";
    const target = req.url ?? "/";
    const head = method === "HEAD";
    try {
      const path = pathOf(target);
      if (path === STREAM_PATH && this.options.stream) {
        route = STREAM_PATH;
        return this.serveStream(req, res, via, method);
      }
      if (this.options.staticFile && (path === "/" || path.startsWith("/ui/"))) {
        route = "static";
        return this.serveStatic(req, res, method, path);
      }
      const match = this.router.match(method, target);
      if (!match.ok) return this.send(req, res, match.failure, head);
      route = match.route.pattern;
      const who = this.principalOf(req, via);
      if (match.route.role !== "none" && !who.ok) return this.deny(req, res, who.failure, head);
      const principal = who.ok ? who.principal : NOBODY;
      const write = match.route.method !== "GET";
      // Writes are counted before anything else is decided: refused ones too, so that a flood
      // of them neither fills the daemon log with refusals nor costs more than the rate.
      if (write) {
        const key = who.ok ? `user ${principal.user}` : `source ${req.socket.remoteAddress ?? via}`;
        const rate = this.rates.take(key, Date.now());
        if (!rate.ok) {
          const failure = rateLimited(`too many writes from ${principal.user}`, rate.retryAfterMs / 1000);
          return this.deny(req, res, failure, head, "rate-limited");
        }
      }
      if (match.route.role !== "none" && match.route.role !== "any") {
        const decision = may(principal, match.route.role, match.params.pkg);
        if (!decision.ok) {
          this.options.log("api-denied", `${requestId}: ${method} ${route}: ${decision.message}`);
          const failure = apiError("API_FORBIDDEN", decision.message, {
            hint: `ask for the ${decision.needs} role in the cluster file's api.users`,
          });
          return this.deny(req, res, failure, head);
        }
      }
      let body: unknown;
      if (write) {
        const originProblem = checkWriteOrigin({
          origin: req.headers.origin,
          host: req.headers.host,
          cookieAuth: principal.auth === "password",
        });
        if (originProblem) return this.deny(req, res, originProblem, head, "origin");
        if (match.route.method === "POST") {
          const read = await readJsonBody({ headers: req.headers, stream: req });
          if (!read.ok) return this.send(req, res, read.failure, head);
          body = read.value;
        }
      }
      const reply = await match.route.handler({
        params: match.params,
        query: queryOf(target),
        body,
        principal,
        servedBy: this.options.node,
        requestId,
      });
      this.send(req, res, reply, head);
    } catch (err) {
      const failure = failureFrom(err, requestId);
      if (failure.status >= 500) {
        // The details stay on the node: the client gets the id to find them.
        const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
        this.options.log("api-error", `${requestId}: ${method} ${route}: ${detail}`);
      } else if (failure.body.error.code === "OPERATOR_REFUSED") {
        this.options.log("api-refused", `${requestId}: ${method} ${route}: ${failure.body.error.message}`);
      }
      if (res.headersSent) res.destroy();
      else this.send(req, res, failure, head);
    }
  }

  private serveStream(req: IncomingMessage, res: ServerResponse, via: "tcp" | "unix", method: string): void {
    if (method !== "GET") {
      return this.send(
        req,
        res,
        apiError("API_METHOD_NOT_ALLOWED", `${printable(method)} is not allowed on ${STREAM_PATH}`, {
          hint: "use GET",
          headers: { allow: "GET" },
        }),
        method === "HEAD",
      );
    }
    const who = this.principalOf(req, via);
    if (!who.ok) return this.deny(req, res, who.failure, false);
    const decision = may(who.principal, "read");
    if (!decision.ok) return this.deny(req, res, apiError("API_FORBIDDEN", decision.message), false);
    for (const [name, value] of Object.entries(apiHeaders())) res.setHeader(name, value);
    this.options.stream!(req, res, who.principal);
  }

  private serveStatic(req: IncomingMessage, res: ServerResponse, method: string, path: string): void {
    if (method !== "GET" && method !== "HEAD") {
      return this.send(
        req,
        res,
        apiError("API_METHOD_NOT_ALLOWED", `${printable(method)} is not allowed on ${printable(path)}`, {
          hint: "use GET",
          headers: { allow: "GET, HEAD" },
        }),
        false,
      );
    }
    const file = this.options.staticFile!(path);
    if (!file) {
      return this.send(
        req,
        res,
        apiError("API_NOT_FOUND", `no such file: ${printable(path)}`),
        method === "HEAD",
      );
    }
    res.writeHead(200, {
      ...staticFileHeaders(),
      "content-type": file.type,
      "content-length": Buffer.byteLength(file.body),
    });
    res.end(method === "HEAD" ? undefined : file.body);
  }

  private deny(
    req: IncomingMessage,
    res: ServerResponse,
    failure: ApiFailure,
    head: boolean,
    reason?: "origin" | "rate-limited",
  ): void {
    this.options.metrics?.refused(
      reason ?? (failure.body.error.code === "API_UNAUTHENTICATED" ? "unauthenticated" : "forbidden"),
    );
    this.send(req, res, failure, head);
  }

  private send(req: IncomingMessage, res: ServerResponse, reply: ApiReply, head: boolean): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const headers: Record<string, string> = { ...apiHeaders(), ...reply.headers };
    // An answer before the whole request was read (a refusal). Node reads a small rest away
    // after the answer and keeps the connection; a large or chunked one is not worth reading:
    // close after the answer, and read meanwhile, because closing with unread data would make
    // the kernel send a reset that can reach the client before this answer (RFC 9112 §9.6).
    // requestTimeout bounds how long a client may keep sending.
    if (!req.complete && !smallRest(req)) {
      headers.connection = "close";
      req.resume();
    }
    if (reply.status === 204 || reply.status === 304) {
      res.writeHead(reply.status, headers);
      res.end();
      return;
    }
    const text = "text" in reply ? reply.text : JSON.stringify(reply.body);
    headers["content-type"] = "text" in reply ? reply.contentType : "application/json; charset=utf-8";
    headers["content-length"] = String(Buffer.byteLength(text));
    res.writeHead(reply.status, headers);
    // RFC 9110 §9.3.2: HEAD answers as GET would, without the content.
    res.end(head ? undefined : text);
  }

  private principalOf(req: IncomingMessage, via: "tcp" | "unix"): ReturnType<typeof resolvePrincipal> {
    const socket = req.socket as TLSSocket;
    const presented: PresentedCredentials = {
      via,
      remoteAddress: via === "tcp" ? socket.remoteAddress : undefined,
      certificate: this.certificateOf(socket),
      authorization: req.headers.authorization,
      sessionCookie: cookieValue(req.headers.cookie, SESSION_COOKIE),
    };
    return resolvePrincipal(presented, this.options.principalContext(Date.now()));
  }

  /** A client certificate counts only when it chains to the cluster CA; read once per connection. */
  private certificateOf(socket: TLSSocket): VerifiedCertificate | undefined {
    if (this.certificates.has(socket)) return this.certificates.get(socket);
    let cert: VerifiedCertificate | undefined;
    if (socket.authorized) {
      const subject = socket.getPeerCertificate()?.subject as Record<string, string | string[]> | undefined;
      const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
      const cn = first(subject?.CN);
      if (cn !== undefined && cn !== "") cert = { cn, o: first(subject?.O), ou: first(subject?.OU) };
    }
    this.certificates.set(socket, cert);
    return cert;
  }
}

/**
 * A request the HTTP parser could not read (bad framing, headers too large, too slow): answered
 * in the API's error shape, as Node's default handler would answer it (a 400, 431 or 408 unless a
 * response already began), then the connection is closed.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const pending = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === "ECONNRESET" || !socket.writable || pending?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, reason, failure] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [
          431,
          "Request Header Fields Too Large",
          apiError("API_BAD_REQUEST", "the request headers are too large"),
        ]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "Request Timeout", apiError("API_REQUEST_TIMEOUT", "the request did not arrive in time")]
        : [400, "Bad Request", apiError("API_BAD_REQUEST", "the request is not valid HTTP/1.1")];
  const body = JSON.stringify(failure.body);
  const headers = { ...apiHeaders(), "content-type": "application/json; charset=utf-8", connection: "close" };
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("")}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** The console's login session (design §5). */
export const SESSION_COOKIE = "pavise_session";

/** RFC 6265 §5.4: the first cookie of that name in the Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** "198.18.1.11:7443", "0.0.0.0:7443", "[::]:7443". */
export function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(":");
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(address.slice(at + 1)) };
}

function listening(server: Server, what: string, listen: (done: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (err: Error): void => reject(new Error(`cannot listen on ${what}: ${err.message}`));
    server.once("error", failed);
    listen(() => {
      server.off("error", failed);
      resolve();
    });
  });
}

/** No body, or a Content-Length within the body cap (read-body.ts). */
function smallRest(req: IncomingMessage): boolean {
  if (req.headers["transfer-encoding"] !== undefined) return false;
  const length = req.headers["content-length"];
  return length === undefined || Number(length) <= BODY_LIMITS.maxBytes;
}

function pathOf(target: string): string {
  const end = target.search(/[?#]/);
  return end === -1 ? target : target.slice(0, end);
}

function queryOf(target: string): URLSearchParams {
  const at = target.indexOf("?");
  if (at === -1) return new URLSearchParams();
  const end = target.indexOf("#", at);
  return new URLSearchParams(target.slice(at + 1, end === -1 ? undefined : end));
}

function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, "?");
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}
