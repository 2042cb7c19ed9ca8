import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect, type TLSSocket } from "node:tls";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoginThrottle, LOGIN_LIMITS } from "../../src/api/auth/login-throttle.js";
import { hashPassword, parsePasswordHash, type PasswordHash } from "../../src/api/auth/password-hash.js";
import type { ApiHandler } from "../../src/api/http/api-handler.js";
import { ApiServer } from "../../src/api/http/api-server.js";
import { ApiMetrics } from "../../src/api/http/api-metrics.js";
import type { Route } from "../../src/api/http/router.js";
import { nodeHealthRoutes } from "../../src/api/routes/node-health-routes.js";
import { sessionRoutes } from "../../src/api/routes/session-routes.js";
import { createLabCa, issueCertificate } from "../../src/lab/lab-ca.js";
import { MetricRegistry } from "../../src/metrics/registry.js";
import { exposition } from "../../src/metrics/exposition.js";
import { apiCall, type ApiAnswer } from "../support/api-client.js";

// The API server on loopback (no lab): TLS with and without a client certificate, the order of
// its checks (route, principal, role, Origin, rate, body) and what each refusal answers, HEAD,
// an unexpected error's answer (an id, no details), and the login's delay and lockout with a
// fast clock-free throttle. Needs openssl (lab-ca.ts).

const dir = mkdtempSync(join(tmpdir(), "pavise-api-server-"));
let server: ApiServer;
let port = 0;
let ca: Buffer;
let serverTls: { key: Buffer; cert: Buffer };
let adminCert: { cert: Buffer; key: Buffer };
let strangerCert: { cert: Buffer; key: Buffer };
const logged: string[] = [];
const registry = new MetricRegistry();
const apiMetrics = new ApiMetrics(registry);
const throttle = new LoginThrottle({ ...LOGIN_LIMITS, failureDelayMs: 200, maxFailures: 3 });

function call(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string; cert?: { cert: Buffer; key: Buffer } } = {},
): Promise<ApiAnswer> {
  return apiCall({ host: "127.0.0.1", port }, method, path, { ...options, ca });
}

const json = { "content-type": "application/json" };

beforeAll(async () => {
  const labCa = await createLabCa(join(dir, "ca"), "api-server-test");
  const serverCert = await issueCertificate(labCa, "server", ["127.0.0.1"], "/CN=server");
  const admin = await issueCertificate(labCa, "admin", [], "/CN=admin");
  const otherCa = await createLabCa(join(dir, "other"), "other");
  const stranger = await issueCertificate(otherCa, "admin", [], "/CN=admin");
  ca = readFileSync(labCa.caCert);
  serverTls = { key: readFileSync(serverCert.key), cert: readFileSync(serverCert.cert) };
  adminCert = { cert: readFileSync(admin.cert), key: readFileSync(admin.key) };
  strangerCert = { cert: readFileSync(stranger.cert), key: readFileSync(stranger.key) };
  const hash = parsePasswordHash(await hashPassword("right", { N: 1024, r: 8, p: 1 }));
  const passwords = new Map<string, PasswordHash>([
    ["bob", (hash as { ok: true; value: PasswordHash }).value],
  ]);
  const sessionKey = Buffer.alloc(32, 7);
  const boom: ApiHandler = () => Promise.reject(new Error("secret detail /etc/pavise"));
  const echo: ApiHandler = (r) =>
    Promise.resolve({ status: 200, body: { got: r.body, user: r.principal.user } });
  const routes: Route<ApiHandler>[] = [
    ...nodeHealthRoutes({
      node: "n1",
      health: () => ({ member: true, fenced: false, leader: true }),
      metrics: () => exposition(registry.collect()),
    }),
    ...sessionRoutes({
      passwords: () => passwords,
      sessionKey: () => sessionKey,
      sessionTtlMs: () => 3_600_000,
      throttle,
      log: (e, m) => logged.push(`${e}: ${m}`),
      metrics: apiMetrics,
    }),
    { method: "GET", pattern: "/v1/boom", role: "read", handler: boom },
    { method: "POST", pattern: "/v1/packages/{pkg}/run", role: "package-operate", handler: echo },
    { method: "POST", pattern: "/v1/nodes/{node}/halt", role: "node-operate", handler: echo },
  ];
  server = await ApiServer.start({
    node: "n1",
    tls: { key: readFileSync(serverCert.key), cert: readFileSync(serverCert.cert), ca },
    listen: ["127.0.0.1:0"],
    routes,
    principalContext: (now) => ({
      policy: {
        anonymous: "none",
        rules: [
          { user: "admin", role: "full_admin", from: [] },
          { user: "bob", role: "package_admin", package: "web", from: [] },
        ],
      },
      nodeNames: ["n1"],
      tokenUsers: new Map(),
      sessionKey,
      passwordUsers: new Set(["bob"]),
      now,
    }),
    log: (e, m) => logged.push(`${e}: ${m}`),
    metrics: apiMetrics,
  });
  port = Number(server.addresses[0]!.split(":").pop());
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("API server on loopback", () => {
  it("exposes the route table it serves (for the OpenAPI document)", () => {
    expect(server.routes.map((r) => `${r.method} ${r.pattern}`)).toContain("POST /v1/session");
  });

  it("health is open to all; HEAD has the headers and no body", async () => {
    const health = await call("GET", "/v1/health");
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ node: "n1", member: true, fenced: false, leader: true, api: "ok" });
    expect(health.headers["x-content-type-options"]).toBe("nosniff");
    expect(health.headers["cache-control"]).toBe("no-store");
    expect(health.headers["x-request-id"]).toMatch(/^n1-/);
    const head = await call("HEAD", "/v1/health");
    expect(head.status).toBe(200);
    expect(head.text).toBe("");
    expect(Number(head.headers["content-length"])).toBe(Buffer.byteLength(health.text));
  });

  it("no credentials: 401 with a Bearer challenge; a certificate of another CA does not count", async () => {
    const none = await call("GET", "/metrics");
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect(none.json.error.code).toBe("API_UNAUTHENTICATED");
    expect((await call("GET", "/metrics", { cert: strangerCert })).status).toBe(401);
    const ok = await call("GET", "/metrics", { cert: adminCert });
    expect(ok.status).toBe(200);
    expect(ok.headers["content-type"]).toMatch(/^text\/plain; version=0.0.4/);
  });

  it("404, 405 with Allow, 415, 413, 400 — in that order of checks", async () => {
    expect((await call("GET", "/v1/nope", { cert: adminCert })).json.error.code).toBe("API_NOT_FOUND");
    const m = await call("PUT", "/v1/health");
    expect([m.status, m.headers.allow]).toEqual([405, "GET, HEAD"]);
    const type = await call("POST", "/v1/packages/web/run", { cert: adminCert, body: "{}" });
    expect(type.status).toBe(415);
    const big = await call("POST", "/v1/packages/web/run", {
      cert: adminCert,
      headers: json,
      body: JSON.stringify({ pad: "x".repeat(20 * 1024) }),
    });
    expect([big.status, big.json.error.code]).toEqual([413, "API_BODY_TOO_LARGE"]);
    const bad = await call("POST", "/v1/packages/web/run", { cert: adminCert, headers: json, body: "{nope" });
    expect(bad.status).toBe(400);
    const ok = await call("POST", "/v1/packages/web/run", {
      cert: adminCert,
      headers: json,
      body: '{"a":1}',
    });
    expect(ok.json).toEqual({ got: { a: 1 }, user: "admin" });
  });

  it("writes beyond the per-user burst: 429 API_RATE_LIMITED with Retry-After", async () => {
    const statuses: number[] = [];
    let retryAfter: string | string[] | undefined;
    for (let i = 0; i < 40; i++) {
      const r = await call("POST", "/v1/packages/web/run", { cert: adminCert, headers: json, body: "{}" });
      statuses.push(r.status);
      if (r.status === 429) retryAfter ??= r.headers["retry-after"];
    }
    // A burst of 30 (a few spent by the tests before), then 10 per second: refused from about the 30th.
    const first = statuses.indexOf(429);
    expect(first).toBeGreaterThanOrEqual(24);
    expect(statuses.slice(0, first)).toEqual(Array(first).fill(200));
    expect(retryAfter).toBe("1");
    // Reads are not limited.
    expect((await call("GET", "/metrics", { cert: adminCert })).status).toBe(200);
  });

  it("a request the HTTP parser refuses gets the API's error shape, then the connection closes", async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port, ca }, () => {
        socket.write("GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
      });
      let text = "";
      socket.on("data", (d: Buffer) => (text += d.toString("utf8")));
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
    expect(raw).toMatch(/^HTTP\/1.1 400 Bad Request\r\n/);
    expect(raw).toContain("connection: close");
    expect(JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4))).toEqual({
      error: { code: "API_BAD_REQUEST", message: "the request is not valid HTTP/1.1" },
    });
  });

  it("an unexpected error: 500 API_INTERNAL with an id, the details only in the log", async () => {
    const r = await call("GET", "/v1/boom", { cert: adminCert });
    expect(r.status).toBe(500);
    expect(r.json.error.code).toBe("API_INTERNAL");
    const id = r.headers["x-request-id"] as string;
    expect(r.json.error.message).toBe(`internal error, id ${id}`);
    expect(r.text).not.toContain("secret detail");
    expect(r.text).not.toMatch(/\.[jt]s:\d+/);
    expect(logged.some((l) => l.includes(id) && l.includes("secret detail"))).toBe(true);
  });

  it("password login: cookie; GET /v1/session; cookie writes need the Origin; role checked per package", async () => {
    const login = await call("POST", "/v1/session", {
      headers: json,
      body: '{"user":"bob","password":"right"}',
    });
    expect(login.status).toBe(204);
    const setCookie = String(login.headers["set-cookie"]);
    expect(setCookie).toMatch(/^pavise_session=[^;]+; Secure; HttpOnly; SameSite=Strict; Path=\//);
    const cookie = setCookie.split(";")[0]!;
    const who = await call("GET", "/v1/session", { headers: { cookie } });
    expect(who.json).toEqual({ user: "bob", role: "package_admin", packages: ["web"], auth: "password" });
    const origin = `https://127.0.0.1:${port}`;
    const noOrigin = await call("POST", "/v1/packages/web/run", { headers: { ...json, cookie }, body: "{}" });
    expect([noOrigin.status, noOrigin.json.error.code]).toEqual([403, "API_FORBIDDEN"]);
    const withOrigin = await call("POST", "/v1/packages/web/run", {
      headers: { ...json, cookie, origin, host: `127.0.0.1:${port}` },
      body: "{}",
    });
    expect(withOrigin.status).toBe(200);
    const other = await call("POST", "/v1/packages/db/run", {
      headers: { ...json, cookie, origin, host: `127.0.0.1:${port}` },
      body: "{}",
    });
    expect(other.status).toBe(403);
    expect(other.json.error.message).toBe(
      "bob may not run, halt, move or switch package db: this needs package_admin for db or full_admin",
    );
    const node = await call("POST", "/v1/nodes/n1/halt", {
      headers: { ...json, cookie, origin },
      body: "{}",
    });
    expect(node.status).toBe(403);
    const out = await call("DELETE", "/v1/session", { headers: { cookie, origin } });
    expect(out.status).toBe(204);
    expect(String(out.headers["set-cookie"])).toMatch(/^pavise_session=; .*Max-Age=0/);
  });

  it("a wrong password waits the delay; repeated failures lock the user (429, Retry-After)", async () => {
    const started = performance.now();
    const wrong = await call("POST", "/v1/session", {
      headers: json,
      body: '{"user":"bob","password":"wrong"}',
    });
    const ms = performance.now() - started;
    expect(wrong.status).toBe(401);
    expect(ms).toBeGreaterThanOrEqual(190);
    await call("POST", "/v1/session", { headers: json, body: '{"user":"bob","password":"wrong"}' });
    await call("POST", "/v1/session", { headers: json, body: '{"user":"bob","password":"wrong"}' });
    const locked = await call("POST", "/v1/session", {
      headers: json,
      body: '{"user":"bob","password":"right"}',
    });
    expect([locked.status, locked.json.error.code]).toEqual([429, "API_RATE_LIMITED"]);
    expect(Number(locked.headers["retry-after"])).toBeGreaterThan(50);
    const text = exposition(registry.collect());
    expect(text).toContain('pavise_api_denied_total{reason="login-locked"} 1');
    expect(text).toMatch(/pavise_api_requests_total\{route="\/v1\/session",code="401"\} 3/);
  });
});

describe("API server connection cap", () => {
  it("refuses connections beyond the cap (counted), and takes new ones once others close", async () => {
    const capRegistry = new MetricRegistry();
    const capped = await ApiServer.start({
      node: "n1",
      tls: { ...serverTls, ca },
      listen: ["127.0.0.1:0"],
      routes: nodeHealthRoutes({ node: "n1", health: () => undefined, metrics: () => "" }),
      principalContext: (now) => ({
        policy: { anonymous: "none", rules: [] },
        nodeNames: ["n1"],
        tokenUsers: new Map(),
        sessionKey: undefined,
        passwordUsers: new Set(),
        now,
      }),
      log: () => undefined,
      metrics: new ApiMetrics(capRegistry),
      maxConnections: 2,
    });
    const cappedPort = Number(capped.addresses[0]!.split(":").pop());
    const open = (): Promise<{ socket: TLSSocket; ok: boolean }> =>
      new Promise((resolve) => {
        const socket = connect({ host: "127.0.0.1", port: cappedPort, ca });
        socket.once("secureConnect", () => resolve({ socket, ok: true }));
        socket.once("error", () => resolve({ socket, ok: false }));
        socket.once("close", () => resolve({ socket, ok: false }));
      });
    try {
      const first = await open();
      const second = await open();
      const third = await open();
      expect([first.ok, second.ok, third.ok]).toEqual([true, true, false]);
      first.socket.destroy();
      await new Promise((r) => setTimeout(r, 100));
      const fourth = await open();
      expect(fourth.ok).toBe(true);
      for (const s of [second, fourth]) s.socket.destroy();
      const text = exposition(capRegistry.collect());
      expect(text).toContain('pavise_api_connections_total{outcome="accepted"} 3');
      expect(text).toContain('pavise_api_connections_total{outcome="refused"} 1');
    } finally {
      await capped.close();
    }
  });
});
