import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { EtcdError, etcdErrorFromGateway } from "./errors.js";
import { GatewayAuth, isTokenRefused } from "./gateway-auth.js";
import { monotonicMs } from "./monotonic-clock.js";
import { decodeError } from "./wire.js";

/**
 * Client TLS, as PEM files (the cluster configuration's etcd.tls), and, when etcd's
 * authentication is on, the etcd user this client is (gateway-auth.ts).
 */
export interface EtcdTlsFiles {
  ca: string;
  cert: string;
  key: string;
  user?: string | undefined;
  /** Holds the user's password; needed with `user`. */
  passwordFile?: string | undefined;
}

export interface GatewayTransportOptions {
  /** Client URLs, e.g. http://198.18.2.11:2379 or https://…; all with the same scheme. */
  endpoints: readonly string[];
  tls?: EtcdTlsFiles | undefined;
  /** Whole budget of one call, all attempts together (default 2000 ms). */
  timeoutMs?: number;
  /** One attempt on one member (default 1000 ms); then the next member is tried. */
  attemptTimeoutMs?: number;
}

export interface CallOptions {
  /** May it be sent again after an answer was lost? Reads, keep-alives, revokes: yes; txn, put: no. */
  idempotent: boolean;
  timeoutMs?: number;
  attemptTimeoutMs?: number;
}

export interface CallResult<T> {
  body: T;
  endpoint: string;
  /** When the attempt that was answered was sent (monotonicMs): what lease deadlines count from. */
  sentAt: number;
}

/** An open streaming answer (watch); `done` settles when the stream ends, with the reason. */
export interface GatewayStream {
  readonly endpoint: string;
  close(): void;
  readonly done: Promise<EtcdError | undefined>;
}

interface Endpoint {
  url: URL;
  text: string;
}

/**
 * etcd's JSON gateway over Node's http/https (see client.ts for why not gRPC): one POST per call
 * on kept-alive connections to the current member; when a member is unreachable or has no
 * leader, the next one is tried, and the one that answered becomes current.
 *
 * Every request carries `Grpc-Metadata-Hasleader: true` (the gateway passes it to etcd as the
 * "hasleader" gRPC metadata, what clientv3.WithRequireLeader sets): a member cut off from the
 * quorum then refuses at once with "no leader" instead of letting the request hang — measured in
 * the lab, 9 ms instead of a 3 s timeout for a keep-alive — and closes watches it can no longer
 * feed.
 */
export class GatewayTransport {
  private readonly endpoints: Endpoint[];
  private readonly agent: http.Agent;
  /** Streams get their own connections so that a long watch never holds a pooled one. */
  private readonly streamAgent: http.Agent;
  private current = 0;
  private readonly timeoutMs: number;
  private readonly attemptTimeoutMs: number;
  private closed = false;
  private readonly auth: GatewayAuth | undefined;

  constructor(readonly options: GatewayTransportOptions) {
    if (options.endpoints.length === 0) {
      throw new EtcdError("ETCD_CONFIG_INVALID", "no etcd endpoints given", {
        hint: "list the client URLs of the etcd members, e.g. http://198.18.2.11:2379",
      });
    }
    this.endpoints = options.endpoints.map((text) => parseEndpoint(text));
    const schemes = new Set(this.endpoints.map((e) => e.url.protocol));
    if (schemes.size > 1) {
      throw new EtcdError(
        "ETCD_CONFIG_INVALID",
        `etcd endpoints mix http and https: ${options.endpoints.join(", ")}`,
        {
          hint: "use https:// for every member when etcd runs with TLS, http:// for none",
        },
      );
    }
    const secure = schemes.has("https:");
    if (secure !== (options.tls !== undefined)) {
      throw new EtcdError(
        "ETCD_CONFIG_INVALID",
        secure ? "https endpoints need client TLS files" : "TLS files given for http endpoints",
        { hint: secure ? "give etcd.tls with ca, cert and key" : "use https:// endpoints with TLS" },
      );
    }
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 1000;
    const tls = options.tls ? readTls(options.tls) : undefined;
    this.auth = userCredentials(options.tls);
    const agentOptions = { keepAlive: true, maxSockets: 16, ...tls };
    this.agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.streamAgent = secure
      ? new https.Agent({ ...agentOptions, keepAlive: false })
      : new http.Agent({ keepAlive: false });
  }

  /** The member calls go to first. */
  get currentEndpoint(): string {
    return this.endpoints[this.current]!.text;
  }

  get endpointCount(): number {
    return this.endpoints.length;
  }

  /** The endpoint `offset` places after the current one (watches spread their retries). */
  endpointAt(offset: number): string {
    return this.endpoints[(this.current + offset) % this.endpoints.length]!.text;
  }

  /**
   * POSTs a JSON body and returns the JSON answer. Retries on the next member while nothing was
   * applied (unreachable, no leader) — and, for idempotent calls, also when the answer was lost.
   */
  async call<T>(path: string, body: unknown, options: CallOptions): Promise<CallResult<T>> {
    const budget = options.timeoutMs ?? this.timeoutMs;
    const attemptBudget = options.attemptTimeoutMs ?? this.attemptTimeoutMs;
    const start = monotonicMs();
    const payload = JSON.stringify(body);
    let lastError: EtcdError | undefined;
    // No token is asked for until etcd wants one: lease keep-alives, status and a lease grant
    // need none, so a member busy checking a password (bcrypt) never delays them.
    let wantToken = false;
    let tokenRenewed = false;
    for (let attempt = 0; ; attempt++) {
      const remaining = budget - (monotonicMs() - start);
      if (this.closed) throw new EtcdError("ETCD_UNREACHABLE", "the etcd client is closed");
      if (remaining <= 0) {
        throw (
          lastError ??
          new EtcdError("ETCD_UNREACHABLE", `no etcd member answered within ${budget} ms`, {
            hint: "check that the members run and are reachable from this node",
          })
        );
      }
      const index = this.current;
      const endpoint = this.endpoints[index]!;
      let sentAt = monotonicMs();
      let token: string | undefined;
      try {
        const attemptMs = Math.round(Math.min(remaining, attemptBudget));
        // Logging in gets the call's whole budget: a slow password check is not a dead member.
        token = wantToken
          ? await this.auth?.current((p, b) =>
              this.post(endpoint, p, JSON.stringify(b), Math.round(remaining)),
            )
          : this.auth?.known;
        sentAt = monotonicMs();
        const left = Math.max(1, Math.round(budget - (sentAt - start)));
        const answer = await this.post(endpoint, path, payload, Math.min(attemptMs, left), token);
        return { body: answer as T, endpoint: endpoint.text, sentAt };
      } catch (err) {
        const error = asEtcdError(err, endpoint.text);
        // etcd wants a token, or refused this one, and did nothing: log in and send again, once.
        // Without a token, etcd 3.4 answers some requests (txn) "permission denied", not "user
        // name is empty": without one, that too means "log in".
        const wanted =
          isTokenRefused(error) || (token === undefined && error.code === "ETCD_PERMISSION_DENIED");
        if (this.auth && wanted && !tokenRenewed) {
          tokenRenewed = true;
          wantToken = true;
          if (token !== undefined) this.auth.refused(token);
          continue;
        }
        const retry = error.retryable || (options.idempotent && error.code === "ETCD_OUTCOME_UNKNOWN");
        if (!retry) throw error;
        lastError = error;
        // Move on from this member (unless another call already did).
        if (this.current === index) this.current = (index + 1) % this.endpoints.length;
        // A pause once every member was tried, so a cluster without quorum is not hammered.
        if ((attempt + 1) % this.endpoints.length === 0) {
          await sleep(Math.min(25 * 2 ** Math.floor(attempt / this.endpoints.length), 250));
        }
      }
    }
  }

  /**
   * Opens a streaming POST (watch) to one member; each JSON line of the answer goes to onLine.
   * The stream ends when the member closes it, on an error, or on close().
   */
  openStream(
    endpointText: string,
    path: string,
    body: unknown,
    onLine: (line: unknown) => void,
    token?: string,
  ): GatewayStream {
    const endpoint = this.endpoints.find((e) => e.text === endpointText) ?? this.endpoints[0]!;
    let settle: (reason: EtcdError | undefined) => void = () => undefined;
    const done = new Promise<EtcdError | undefined>((resolve) => (settle = resolve));
    let closedByUs = false;
    const request = this.request(endpoint, path, this.streamAgent, token, (response) => {
      if (response.statusCode !== 200) {
        readAll(response)
          .then((text) => settle(errorFromBody(text, response.statusCode ?? 0, endpoint.text)))
          .catch((err: unknown) => settle(asEtcdError(err, endpoint.text)));
        return;
      }
      response.setEncoding("utf8");
      let buffer = "";
      response.on("data", (chunk: string) => {
        buffer += chunk;
        for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line === "") continue;
          try {
            onLine(JSON.parse(line));
          } catch (err) {
            request.destroy(err as Error);
            return;
          }
        }
      });
      response.on("end", () =>
        settle(
          closedByUs ? undefined : new EtcdError("ETCD_UNREACHABLE", `${endpoint.text} ended the stream`),
        ),
      );
      response.on("error", (err) => settle(closedByUs ? undefined : asEtcdError(err, endpoint.text)));
    });
    request.on("error", (err) => settle(closedByUs ? undefined : asEtcdError(err, endpoint.text)));
    request.end(JSON.stringify(body));
    return {
      endpoint: endpoint.text,
      done,
      close: () => {
        closedByUs = true;
        request.destroy();
        settle(undefined);
      },
    };
  }

  /**
   * The token a stream (watch) must carry when etcd's authentication is on, asked of `endpoint`;
   * undefined without a user.
   */
  async streamToken(endpointText: string): Promise<string | undefined> {
    if (!this.auth) return undefined;
    const endpoint = this.endpoints.find((e) => e.text === endpointText) ?? this.endpoints[0]!;
    return (
      this.auth.known ??
      this.auth.current((p, b) => this.post(endpoint, p, JSON.stringify(b), this.timeoutMs))
    );
  }

  /** etcd refused `token` on a stream: the next one asks for a new token. */
  tokenRefused(token: string | undefined, message: string): void {
    if (token !== undefined && /invalid auth token|user name is empty/.test(message))
      this.auth?.refused(token);
  }

  close(): void {
    this.closed = true;
    this.agent.destroy();
    this.streamAgent.destroy();
  }

  private request(
    endpoint: Endpoint,
    path: string,
    agent: http.Agent,
    token: string | undefined,
    onResponse: (response: http.IncomingMessage) => void,
  ): http.ClientRequest {
    const module = endpoint.url.protocol === "https:" ? https : http;
    return module.request(
      {
        protocol: endpoint.url.protocol,
        hostname: endpoint.url.hostname,
        port: endpoint.url.port,
        path,
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "grpc-metadata-hasleader": "true",
          ...(token !== undefined ? { authorization: token } : {}),
        },
      },
      onResponse,
    );
  }

  private post(
    endpoint: Endpoint,
    path: string,
    payload: string,
    timeoutMs: number,
    token?: string,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      // Whether the request can have reached etcd: only once a connection stands (a reused one,
      // or a new one that finished connecting — and its TLS handshake).
      let connected = false;
      const request = this.request(endpoint, path, this.agent, token, (response) => {
        readAll(response).then((text) => {
          clearTimeout(timer);
          const error = errorFromBody(text, response.statusCode ?? 0, endpoint.text);
          if (error) reject(error);
          else resolve(text === "" ? {} : (JSON.parse(text) as unknown));
        }, reject);
      });
      request.on("socket", (socket: Socket) => {
        if (request.reusedSocket) connected = true;
        else
          socket.once(
            endpoint.url.protocol === "https:" ? "secureConnect" : "connect",
            () => (connected = true),
          );
      });
      const timer = setTimeout(() => {
        request.destroy(
          connected
            ? new EtcdError(
                "ETCD_OUTCOME_UNKNOWN",
                `${endpoint.text} did not answer within ${timeoutMs} ms`,
                {
                  endpoint: endpoint.text,
                },
              )
            : new EtcdError("ETCD_UNREACHABLE", `cannot connect to ${endpoint.text} within ${timeoutMs} ms`, {
                endpoint: endpoint.text,
              }),
        );
      }, timeoutMs);
      request.on("error", (err) => {
        clearTimeout(timer);
        reject(err instanceof EtcdError ? err : connectionError(err, endpoint.text, connected));
      });
      request.end(payload);
    });
  }
}

function parseEndpoint(text: string): Endpoint {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new EtcdError("ETCD_CONFIG_INVALID", `not an etcd client URL: ${text}`, {
      hint: "write it as http://ADDRESS:2379 (or https:// with TLS)",
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new EtcdError("ETCD_CONFIG_INVALID", `etcd endpoint ${text} is neither http nor https`, {
      hint: "write it as http://ADDRESS:2379 (or https:// with TLS)",
    });
  }
  return { url, text };
}

function userCredentials(tls: EtcdTlsFiles | undefined): GatewayAuth | undefined {
  if (tls?.user === undefined) return undefined;
  if (tls.passwordFile === undefined) {
    throw new EtcdError("ETCD_CONFIG_INVALID", `etcd user ${tls.user} is given without a password file`, {
      hint: "give etcd.tls.password_file with etcd.tls.user",
    });
  }
  return GatewayAuth.shared({ user: tls.user, passwordFile: tls.passwordFile });
}

function readTls(files: EtcdTlsFiles): { ca: Buffer; cert: Buffer; key: Buffer } {
  const read = (name: "ca" | "cert" | "key"): Buffer => {
    try {
      return readFileSync(files[name]);
    } catch (err) {
      throw new EtcdError(
        "ETCD_CONFIG_INVALID",
        `cannot read etcd TLS ${name} file ${files[name]}: ${(err as Error).message}`,
        {
          hint: `give the path of a readable PEM file as etcd.tls.${name}`,
        },
      );
    }
  };
  return { ca: read("ca"), cert: read("cert"), key: read("key") };
}

function readAll(response: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on("data", (chunk: Buffer) => chunks.push(chunk));
    response.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    response.on("error", reject);
  });
}

/** The error a gateway answer carries, if any (an HTTP error status, or an error in the body). */
function errorFromBody(text: string, status: number, endpoint: string): EtcdError | undefined {
  let body: unknown;
  try {
    body = text === "" ? {} : JSON.parse(text);
  } catch {
    return new EtcdError(
      "ETCD_REQUEST_FAILED",
      `${endpoint} answered HTTP ${status} with: ${text.slice(0, 200)}`,
      {
        endpoint,
        // etcd ≥ 3.4.10 with --client-cert-auth refuses gateway requests from a certificate with a CN.
        ...(/CommonName/.test(text)
          ? {
              hint: "etcd's JSON gateway refuses client certificates with a Common Name: issue this client's certificate without CN and name its etcd user in etcd.tls.user",
            }
          : {}),
      },
    );
  }
  // Unary calls answer {error, message, code}; a streaming call used once (keep-alive) {error: {…}}.
  const error = decodeError(body);
  if (error) return etcdErrorFromGateway(error.message, error.grpcCode, endpoint);
  if (status !== 200) {
    return new EtcdError("ETCD_REQUEST_FAILED", `${endpoint} answered HTTP ${status}`, { endpoint });
  }
  return undefined;
}

function connectionError(err: Error, endpoint: string, connected: boolean): EtcdError {
  const code = (err as NodeJS.ErrnoException).code ?? "";
  const message = `${endpoint}: ${err.message}`;
  if (!connected || ["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND"].includes(code)) {
    return new EtcdError("ETCD_UNREACHABLE", message, {
      endpoint,
      cause: err,
      ...(/certificate|self.signed|SSL|TLS/i.test(err.message + code)
        ? {
            hint: "check etcd.tls: the CA must have signed the members' certificates, and the client certificate theirs",
          }
        : {}),
    });
  }
  return new EtcdError("ETCD_OUTCOME_UNKNOWN", message, { endpoint, cause: err });
}

function asEtcdError(err: unknown, endpoint: string): EtcdError {
  if (err instanceof EtcdError) return err;
  if (err instanceof Error) return connectionError(err, endpoint, true);
  return new EtcdError("ETCD_REQUEST_FAILED", `${endpoint}: ${String(err)}`, { endpoint });
}
