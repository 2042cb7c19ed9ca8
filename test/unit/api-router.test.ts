import { describe, expect, it } from "vitest";
import {
  API_ERROR_CODES,
  API_ERROR_STATUS,
  apiError,
  failureFrom,
  fromPaviseError,
  methodNotAllowed,
  rateLimited,
} from "../../src/api/http/api-errors.js";
import { Router, type Route } from "../../src/api/http/router.js";
import {
  apiHeaders,
  CONTENT_SECURITY_POLICY,
  staticFileHeaders,
} from "../../src/api/http/security-headers.js";
import { PaviseError } from "../../src/util/errors.js";
import { seededRandom } from "../support/seeded-random.js";

const routes: Route<string>[] = [
  { method: "GET", pattern: "/", role: "none", handler: "console" },
  { method: "GET", pattern: "/v1/health", role: "none", handler: "health" },
  { method: "POST", pattern: "/v1/session", role: "none", handler: "login" },
  { method: "GET", pattern: "/v1/session", role: "any", handler: "session" },
  { method: "DELETE", pattern: "/v1/session", role: "any", handler: "logout" },
  { method: "GET", pattern: "/v1/packages/{pkg}", role: "read", handler: "package" },
  { method: "POST", pattern: "/v1/packages/{pkg}/move", role: "package-operate", handler: "move" },
  {
    method: "POST",
    pattern: "/v1/packages/{pkg}/resources/{name}",
    role: "package-resource",
    handler: "resource",
  },
  { method: "POST", pattern: "/v1/nodes/{node}/halt", role: "node-operate", handler: "halt" },
];
const router = new Router(routes);

describe("router", () => {
  it("matches literal paths and hands out the route's role", () => {
    const hit = router.match("GET", "/v1/health");
    expect(hit).toMatchObject({ ok: true, params: {}, route: { handler: "health", role: "none" } });
    expect(router.match("GET", "/")).toMatchObject({ ok: true, route: { handler: "console" } });
  });

  it("extracts parameters, percent-decoded, and ignores the query", () => {
    const hit = router.match("POST", "/v1/packages/web%2Dv2/resources/sfp?wait=true");
    expect(hit).toMatchObject({
      ok: true,
      params: { pkg: "web-v2", name: "sfp" },
      route: { handler: "resource" },
    });
  });

  it("chooses by method on one path", () => {
    expect(router.match("POST", "/v1/session")).toMatchObject({ ok: true, route: { handler: "login" } });
    expect(router.match("DELETE", "/v1/session")).toMatchObject({ ok: true, route: { handler: "logout" } });
  });

  it("answers HEAD wherever GET is", () => {
    expect(router.match("HEAD", "/v1/packages/web")).toMatchObject({
      ok: true,
      route: { handler: "package" },
    });
  });

  it("answers 404 for an unknown path, naming it", () => {
    const miss = router.match("GET", "/v1/nope");
    expect(miss.ok).toBe(false);
    if (miss.ok) return;
    expect(miss.failure.status).toBe(404);
    expect(miss.failure.body.error).toMatchObject({
      code: "API_NOT_FOUND",
      message: "no such path: /v1/nope",
    });
  });

  it("answers 405 with Allow for a known path and another method", () => {
    const miss = router.match("PUT", "/v1/session");
    expect(miss.ok).toBe(false);
    if (miss.ok) return;
    expect(miss.failure.status).toBe(405);
    expect(miss.failure.headers.allow).toBe("DELETE, GET, HEAD, POST");
    expect(miss.failure.body.error.code).toBe("API_METHOD_NOT_ALLOWED");
    const post = router.match("GET", "/v1/nodes/n2/halt");
    expect(!post.ok && post.failure.headers.allow).toBe("POST");
  });

  it("refuses paths a parameter could use to name something else", () => {
    for (const target of [
      "/v1/packages/web/",
      "/v1/packages//move",
      "/v1/packages/..",
      "/v1/packages/%2E%2E",
      "/v1/packages/a%2Fb",
      "/v1/packages/%zz",
      "/v1/packages/a%00",
      "v1/health",
      "*",
      "http://host/v1/health",
    ]) {
      const miss = router.match("GET", target);
      expect(miss.ok, target).toBe(false);
      if (!miss.ok) expect(miss.failure.status, target).toBe(404);
    }
  });

  it("never echoes control characters or unbounded text", () => {
    const miss = router.match("GET", `/\u001b[31m${"x".repeat(5000)}`);
    expect(miss.ok).toBe(false);
    if (miss.ok) return;
    expect(miss.failure.body.error.message).not.toContain("\u001b");
    expect(miss.failure.body.error.message.length).toBeLessThan(300);
  });

  it("refuses a table with a repeated or malformed route", () => {
    const move = routes[6] as Route<string>;
    expect(() => new Router([move, { ...move, pattern: "/v1/packages/{name}/move" }])).toThrow(/twice/);
    expect(() => new Router([{ ...move, pattern: "v1/x" }])).toThrow(/start with/);
    expect(() => new Router([{ ...move, pattern: "/v1/{a}/{a}" }])).toThrow(/twice/);
    expect(() => new Router([{ ...move, pattern: "/v1/a b" }])).toThrow(/bad segment/);
  });
});

describe("API errors", () => {
  it("maps every code to one status, as design §5 lists them", () => {
    expect(API_ERROR_STATUS.API_BAD_REQUEST).toBe(400);
    expect(API_ERROR_STATUS.NO_SUCH_PACKAGE).toBe(404);
    expect(API_ERROR_STATUS.OPERATOR_REFUSED).toBe(409);
    expect(API_ERROR_STATUS.ETCD_NO_LEADER).toBe(503);
    for (const code of API_ERROR_CODES) {
      const failure = apiError(code, "m");
      expect(failure.status).toBe(API_ERROR_STATUS[code]);
      expect(Object.keys(failure.body)).toEqual(["error"]);
    }
  });

  it("writes {error: {code, message, hint?, where?}} and nothing else", () => {
    const failure = apiError("API_BAD_REQUEST", "node must be a string", {
      hint: "write a node name",
      where: { key: "/node", value: 3 },
    });
    expect(failure.body).toEqual({
      error: {
        code: "API_BAD_REQUEST",
        message: "node must be a string",
        hint: "write a node name",
        where: { key: "/node", value: 3 },
      },
    });
    expect(apiError("API_FORBIDDEN", "no").body).toEqual({ error: { code: "API_FORBIDDEN", message: "no" } });
  });

  it("adds the headers 401, 405 and 429 need", () => {
    expect(apiError("API_UNAUTHENTICATED", "who?").headers["www-authenticate"]).toMatch(/^Bearer /);
    expect(methodNotAllowed("PUT", "/v1/x", ["GET", "HEAD"]).headers.allow).toBe("GET, HEAD");
    expect(rateLimited("slow down", 0.2).headers["retry-after"]).toBe("1");
    expect(rateLimited("slow down", 2.5).headers["retry-after"]).toBe("3");
  });

  it("passes a known PaviseError through, and hides an unknown one behind the request id", () => {
    const refused = new PaviseError("OPERATOR_REFUSED", "web cannot run on n3", { hint: "enable n3" });
    expect(fromPaviseError(refused, "r1")).toMatchObject({
      status: 409,
      body: { error: { code: "OPERATOR_REFUSED", hint: "enable n3" } },
    });
    const odd = new PaviseError("ETCD_KEY_SECRET", "/pavise/c1/secret/x: boom");
    const hidden = fromPaviseError(odd, "r7");
    expect(hidden.status).toBe(500);
    expect(hidden.body.error.message).toBe("internal error, id r7");
    expect(JSON.stringify(failureFrom(new TypeError("x.y of undefined"), "r8"))).not.toMatch(
      /undefined|stack/,
    );
  });
});

describe("security headers", () => {
  it("forbid inline script, framing and sniffing; API answers are never stored", () => {
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toContain("unsafe-inline");
    expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
    expect(apiHeaders()).toMatchObject({
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-store",
    });
    expect(staticFileHeaders()["cache-control"]).toBe("no-cache");
  });
});

describe("router fuzz", () => {
  it("never throws on 5,000 random methods and targets; every miss is 404 or 405 with Allow", () => {
    const seed = 0x7e57;
    const random = seededRandom(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const methods = [
      "GET",
      "HEAD",
      "POST",
      "PUT",
      "DELETE",
      "PATCH",
      "OPTIONS",
      "get",
      "",
      "G\u0000T",
      "TRACE",
    ];
    const pieces = [
      "v1",
      "packages",
      "nodes",
      "web",
      "n1",
      "move",
      "halt",
      "resources",
      "session",
      "health",
      "",
      ".",
      "..",
      "%2F",
      "%",
      "%zz",
      "%00",
      "a%20b",
      "?",
      "#",
      "~",
      "é",
      "//",
    ];
    let hits = 0;
    for (let i = 0; i < 5000; i++) {
      const length = Math.floor(random() * 6);
      const target =
        (random() < 0.95 ? "/" : "") +
        Array.from({ length }, () => pick(pieces)).join(random() < 0.9 ? "/" : "");
      const method = pick(methods);
      const result = router.match(method, target);
      if (result.ok) {
        hits++;
        if (result.route.method !== (method === "HEAD" ? "GET" : method))
          throw new Error(`seed ${seed} run ${i}: ${method} ${target} matched ${result.route.method}`);
        for (const value of Object.values(result.params)) {
          if (value === "" || value.includes("/") || value === "..")
            throw new Error(`seed ${seed} run ${i}: param ${JSON.stringify(value)} from ${target}`);
        }
        continue;
      }
      const { status, headers, body } = result.failure;
      if (status === 405 ? !headers.allow : status !== 404)
        throw new Error(`seed ${seed} run ${i}: ${status} for ${method} ${target}`);
      if (!API_ERROR_CODES.includes(body.error.code))
        throw new Error(`seed ${seed} run ${i}: code ${body.error.code}`);
    }
    expect(hits).toBeGreaterThan(10);
  });
});
