import { describe, expect, it } from "vitest";
import { LoginThrottle, LOGIN_LIMITS } from "../../src/api/auth/login-throttle.js";
import { RateLimiter } from "../../src/api/http/rate-limit.js";
import { checkWriteOrigin } from "../../src/api/http/write-origin.js";
import { cookieValue, splitAddress } from "../../src/api/http/api-server.js";
import { nodeHealthRoutes } from "../../src/api/routes/node-health-routes.js";
import { etcdFailure } from "../../src/api/routes/action-routes.js";
import { EtcdError } from "../../src/cluster/etcd/errors.js";

// The API server's pure guards: the login lockout (design §4: 10 failures in 5 min lock the
// user for 60 s), the per-user write rate (token bucket), the CSRF Origin rule (§5), and the
// small parsers of the Cookie header and listen addresses.

describe("login throttle", () => {
  it("locks after 10 failures within 5 minutes, for 60 s, then lets the user try again", () => {
    const t = new LoginThrottle();
    const t0 = 1_000_000;
    for (let i = 0; i < 9; i++) {
      expect(t.check("alice", t0 + i)).toEqual({ ok: true });
      expect(t.failed("alice", t0 + i)).toBe(false);
    }
    expect(t.failed("alice", t0 + 9)).toBe(true);
    const locked = t.check("alice", t0 + 10);
    expect(locked.ok).toBe(false);
    expect(!locked.ok && locked.retryAfterMs).toBe(LOGIN_LIMITS.lockMs - 1);
    // Another user is not affected.
    expect(t.check("bob", t0 + 10)).toEqual({ ok: true });
    expect(t.check("alice", t0 + 9 + LOGIN_LIMITS.lockMs)).toEqual({ ok: true });
    expect(t.failuresOf("alice", t0 + 9 + LOGIN_LIMITS.lockMs)).toBe(0);
  });

  it("forgets failures older than the window, and a success clears them", () => {
    const t = new LoginThrottle();
    for (let i = 0; i < 9; i++) t.failed("alice", i * 1000);
    // The 10th failure comes after the first nine left the 5 min window: no lock.
    expect(t.failed("alice", LOGIN_LIMITS.windowMs + 9000)).toBe(false);
    expect(t.failuresOf("alice", LOGIN_LIMITS.windowMs + 9000)).toBe(1);
    t.succeeded("alice");
    expect(t.failuresOf("alice", LOGIN_LIMITS.windowMs + 9000)).toBe(0);
  });

  it("keeps a bounded table of users (random names cannot grow memory)", () => {
    const t = new LoginThrottle({ ...LOGIN_LIMITS, maxUsers: 3, maxFailures: 2 });
    t.failed("a", 0);
    t.failed("b", 1);
    t.failed("c", 2);
    t.failed("d", 3);
    expect(t.failuresOf("a", 4)).toBe(0);
    expect(t.failuresOf("d", 4)).toBe(1);
  });
});

describe("write rate limiter", () => {
  it("allows a burst, then the rate, per key, and says when to come back", () => {
    const r = new RateLimiter({ burst: 3, perSecond: 2, maxKeys: 10 });
    for (let i = 0; i < 3; i++) expect(r.take("alice", 0)).toEqual({ ok: true });
    const refused = r.take("alice", 0);
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.retryAfterMs).toBe(500);
    expect(r.take("bob", 0)).toEqual({ ok: true });
    expect(r.take("alice", 499).ok).toBe(false);
    expect(r.take("alice", 1000)).toEqual({ ok: true });
  });

  it("stays within maxKeys", () => {
    const r = new RateLimiter({ burst: 1, perSecond: 1, maxKeys: 2 });
    r.take("a", 0);
    r.take("b", 0);
    r.take("c", 0);
    // "a" was forgotten: it gets a full bucket again.
    expect(r.take("a", 0)).toEqual({ ok: true });
    expect(r.take("c", 0).ok).toBe(false);
  });
});

describe("write Origin (CSRF)", () => {
  it("a cookie write needs an Origin equal to the served origin", () => {
    expect(checkWriteOrigin({ origin: undefined, host: "198.18.1.11:7443", cookieAuth: true })?.status).toBe(
      403,
    );
    expect(
      checkWriteOrigin({ origin: "https://198.18.1.11:7443", host: "198.18.1.11:7443", cookieAuth: true }),
    ).toBe(undefined);
    expect(
      checkWriteOrigin({ origin: "https://evil.example", host: "198.18.1.11:7443", cookieAuth: true })?.body
        .error.code,
    ).toBe("API_FORBIDDEN");
    // http: is another origin than https:.
    expect(
      checkWriteOrigin({ origin: "http://198.18.1.11:7443", host: "198.18.1.11:7443", cookieAuth: true })
        ?.status,
    ).toBe(403);
    expect(checkWriteOrigin({ origin: "https://node", host: "node:443", cookieAuth: true })).toBe(undefined);
  });

  it("certificate and token writes pass without an Origin, but a wrong one is refused for anyone", () => {
    expect(checkWriteOrigin({ origin: undefined, host: "h:7443", cookieAuth: false })).toBe(undefined);
    expect(
      checkWriteOrigin({ origin: "https://other:7443", host: "h:7443", cookieAuth: false })?.status,
    ).toBe(403);
    expect(checkWriteOrigin({ origin: "https://h:7443", host: undefined, cookieAuth: false })?.status).toBe(
      403,
    );
  });
});

describe("parsers", () => {
  it("cookieValue takes the named cookie", () => {
    expect(cookieValue("a=1; pavise_session=x.y; b=2", "pavise_session")).toBe("x.y");
    expect(cookieValue("pavise_sessionx=1", "pavise_session")).toBe(undefined);
    expect(cookieValue(undefined, "pavise_session")).toBe(undefined);
    expect(cookieValue("junk;;=;pavise_session", "pavise_session")).toBe(undefined);
  });

  it("splitAddress reads IPv4 and bracketed IPv6", () => {
    expect(splitAddress("0.0.0.0:7443")).toEqual({ host: "0.0.0.0", port: 7443 });
    expect(splitAddress("[::]:7443")).toEqual({ host: "::", port: 7443 });
  });
});

describe("GET /v1/health", () => {
  it("503 while the node is not a member (starting, or fenced), 200 when it is", async () => {
    const facts: { value: { member: boolean; fenced: boolean; leader: boolean } | undefined } = {
      value: undefined,
    };
    const [health] = nodeHealthRoutes({ node: "n2", health: () => facts.value, metrics: () => "" });
    const ask = (): Promise<unknown> =>
      health!.handler({
        params: {},
        query: new URLSearchParams(),
        body: undefined,
        principal: { user: "anonymous", auth: "anonymous", host: undefined, grants: [] },
        servedBy: "n2",
        requestId: "n2-1",
      });
    expect(await ask()).toEqual({
      status: 503,
      body: { node: "n2", member: false, fenced: false, leader: false, api: "ok" },
    });
    facts.value = { member: false, fenced: true, leader: false };
    expect(await ask()).toMatchObject({ status: 503, body: { fenced: true } });
    facts.value = { member: true, fenced: false, leader: true };
    expect(await ask()).toMatchObject({ status: 200, body: { member: true, leader: true } });
  });
});

describe("etcd failures of an action", () => {
  it("unreachable or without a leader: 503 with what happened; anything else is not turned into a 503", () => {
    const unreachable = etcdFailure(
      new EtcdError("ETCD_UNREACHABLE", "connect ECONNREFUSED", { endpoint: "e1" }),
    );
    expect(unreachable).toMatchObject({
      status: 503,
      body: {
        error: {
          code: "CLUSTER_ETCD_UNREACHABLE",
          message: "this node cannot reach etcd (e1): nothing was changed",
        },
      },
    });
    expect(etcdFailure(new EtcdError("ETCD_NO_LEADER", "no leader"))).toMatchObject({
      status: 503,
      body: { error: { code: "ETCD_NO_LEADER" } },
    });
    expect(etcdFailure(new EtcdError("ETCD_OUTCOME_UNKNOWN", "timeout"))).toMatchObject({
      status: 503,
      body: { error: { message: "etcd did not answer a write: it may or may not be done" } },
    });
    expect(() => etcdFailure(new EtcdError("ETCD_PERMISSION_DENIED", "denied"))).toThrow("denied");
    expect(() => etcdFailure(new Error("x"))).toThrow("x");
  });
});
