import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { may } from "../../src/api/auth/access-policy.js";
import { tokenDigest } from "../../src/api/auth/bearer-token.js";
import {
  resolvePrincipal,
  type PresentedCredentials,
  type PrincipalContext,
} from "../../src/api/auth/principal.js";
import { issueSessionToken } from "../../src/api/auth/session-token.js";
import { API_ERROR_CODES, apiError, type ApiFailure } from "../../src/api/http/api-errors.js";
import {
  checkLoginBody,
  checkMaintenanceBody,
  checkNodeActionBody,
  checkPackageActionBody,
  checkResourceBody,
  type Checked,
} from "../../src/api/http/body-checks.js";
import { Router, type Route } from "../../src/api/http/router.js";
import { randomJson, randomObject } from "../support/random-json.js";
import { seededRandom } from "../support/seeded-random.js";

/**
 * The pure request path a server will run (design §10 "fuzz"): route, principal, policy, body
 * check, fed seeded random methods, targets, credentials and bodies. Nothing may throw, and every
 * refusal must carry a code from api-errors.ts with its status, a message and a fix.
 */
type Check = (body: unknown) => Checked<unknown>;
const none: Check = () => ({ ok: true, value: undefined });

const ROUTES: Route<Check>[] = [
  { method: "GET", pattern: "/v1/health", role: "none", handler: none },
  { method: "POST", pattern: "/v1/session", role: "none", handler: checkLoginBody },
  { method: "GET", pattern: "/v1/session", role: "any", handler: none },
  { method: "GET", pattern: "/v1/status", role: "read", handler: none },
  { method: "GET", pattern: "/v1/packages/{pkg}", role: "read", handler: none },
  { method: "GET", pattern: "/v1/packages/{pkg}/log", role: "package-log", handler: none },
  ...(["run", "halt", "move", "enable", "disable"] as const).map((kind): Route<Check> => ({
    method: "POST",
    pattern: `/v1/packages/{pkg}/${kind}`,
    role: "package-operate",
    handler: (b) => checkPackageActionBody(kind, b),
  })),
  {
    method: "POST",
    pattern: "/v1/packages/{pkg}/maintenance",
    role: "package-operate",
    handler: checkMaintenanceBody,
  },
  {
    method: "POST",
    pattern: "/v1/packages/{pkg}/resources/{name}",
    role: "package-resource",
    handler: checkResourceBody,
  },
  { method: "POST", pattern: "/v1/nodes/{node}/halt", role: "node-operate", handler: checkNodeActionBody },
  { method: "POST", pattern: "/v1/nodes/{node}/run", role: "node-operate", handler: checkNodeActionBody },
];
const router = new Router(ROUTES);

const sessionKey = randomBytes(32);
const context: PrincipalContext = {
  policy: {
    anonymous: "none",
    rules: [
      { user: "alice", role: "full_admin", from: [] },
      { user: "bob", role: "package_admin", from: [] },
      { user: "carol", role: "package_admin", package: "web", from: [] },
      { user: "ops", role: "monitor", from: ["198.18.2.0/24"] },
    ],
  },
  nodeNames: ["n1", "n2"],
  tokenUsers: new Map([[tokenDigest("pvt_good"), "ops"]]),
  sessionKey,
  passwordUsers: new Set(["alice", "carol", "dave"]),
  now: 10_000,
};

type Outcome = { ok: true; status: number } | { ok: false; failure: ApiFailure };

function serve(method: string, target: string, presented: PresentedCredentials, body: unknown): Outcome {
  const match = router.match(method, target);
  if (!match.ok) return match;
  const { route, params } = match;
  if (route.role !== "none") {
    const who = resolvePrincipal(presented, context);
    if (!who.ok) return who;
    if (route.role !== "any") {
      const decision = may(who.principal, route.role, params.pkg);
      if (!decision.ok)
        return {
          ok: false,
          failure: apiError("API_FORBIDDEN", decision.message, { hint: `ask for ${decision.needs}` }),
        };
    }
  }
  const checked = route.handler(body);
  return checked.ok ? { ok: true, status: 200 } : checked;
}

describe("request path fuzz", () => {
  it("10,000 random requests: no throw, every refusal a listed code with its status, message and fix", () => {
    const seed = 0xf022;
    const random = seededRandom(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const targets = [
      "/v1/health",
      "/v1/session",
      "/v1/status",
      "/v1/packages/web",
      "/v1/packages/db/log",
      "/v1/packages/web/move",
      "/v1/packages/web/halt",
      "/v1/packages/db/maintenance",
      "/v1/packages/web/resources/sfp",
      "/v1/nodes/n2/halt",
      "/v1/nodes/n1/run",
      "/v1/packages/%zz/run",
      "/v1/nodes//halt",
      "/v1/x",
      "/",
      "*",
    ];
    const cookies = [
      issueSessionToken(sessionKey, "alice", 0, 60_000),
      issueSessionToken(sessionKey, "carol", 0, 60_000),
      issueSessionToken(sessionKey, "alice", 0, 5_000),
      issueSessionToken(randomBytes(32), "alice", 0, 60_000),
      "",
      "a.b",
      "x".repeat(3000),
    ];
    const headers = [
      "Bearer pvt_good",
      "Bearer pvt_bad",
      "bearer",
      "Basic eA==",
      "",
      "Bearer " + "A".repeat(5000),
      "Bearer a b",
    ];
    const certs = [
      { cn: "bob" },
      { cn: "carol" },
      { cn: "n1", o: "pavise", ou: "pavise-node" },
      { cn: "zed" },
      { cn: "\u0000" },
      { cn: "" },
    ];
    const counts: Record<string, number> = {};
    for (let i = 0; i < 10_000; i++) {
      const presented: PresentedCredentials = {
        via: random() < 0.05 ? "control" : pick(["tcp", "unix"] as const),
        remoteAddress: pick([undefined, "198.18.2.5", "::ffff:198.18.2.5", "198.18.9.9", "garbage", "::1"]),
        ...(random() < 0.3 ? { certificate: pick(certs) } : {}),
        ...(random() < 0.3 ? { authorization: pick(headers) } : {}),
        ...(random() < 0.3 ? { sessionCookie: pick(cookies) } : {}),
      };
      const near = {
        keys: ["node", "wait", "timeoutMs", "on", "status", "force", "user", "password"],
        values: ["n1", "up", true, 1000, "alice"],
      };
      const body = random() < 0.7 ? randomObject(random, near) : randomJson(random, near);
      // Mostly the route's own method, so requests get past the router.
      const target = pick(targets);
      const own = ["GET", "POST"].find((m) => router.match(m, target).ok);
      const method = random() < 0.8 && own ? own : pick(["GET", "POST", "HEAD", "DELETE", "PUT", "BREW"]);
      let outcome: Outcome;
      try {
        outcome = serve(method, target, presented, body);
      } catch (err) {
        throw new Error(`seed ${seed} run ${i}: threw ${String(err)} on ${method} ${target}`);
      }
      const key = outcome.ok ? "200" : `${outcome.failure.status} ${outcome.failure.body.error.code}`;
      counts[key] = (counts[key] ?? 0) + 1;
      if (outcome.ok) continue;
      const { status, body: answer } = outcome.failure;
      const context = `seed ${seed} run ${i}: ${method} ${target} → ${JSON.stringify(answer).slice(0, 300)}`;
      if (!API_ERROR_CODES.includes(answer.error.code)) throw new Error(`unlisted code: ${context}`);
      if (status < 400 || status >= 500) throw new Error(`status ${status}: ${context}`);
      if (!answer.error.message || !answer.error.hint) throw new Error(`no message or fix: ${context}`);
    }
    console.log(`request fuzz outcomes: ${JSON.stringify(counts)}`);
    // Each stage was reached, so the fuzz is not stuck at the first gate.
    for (const key of [
      "200",
      "400 API_BAD_REQUEST",
      "400 API_UNKNOWN_FIELD",
      "401 API_UNAUTHENTICATED",
      "403 API_FORBIDDEN",
      "404 API_NOT_FOUND",
      "405 API_METHOD_NOT_ALLOWED",
    ]) {
      expect(counts[key] ?? 0, key).toBeGreaterThan(0);
    }
  });
});
