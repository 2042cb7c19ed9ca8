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
import type { AccessPolicy } from "../../src/cluster/config/model.js";

const sessionKey = randomBytes(32);
const policy: AccessPolicy = {
  anonymous: "none",
  rules: [
    { user: "alice", role: "full_admin", from: [] },
    { user: "bob", role: "package_admin", from: [] },
    { user: "prometheus", role: "monitor", from: [] },
    { user: "ops", role: "monitor", from: ["198.18.2.0/24"] },
    { user: "carol", role: "package_admin", package: "web", from: [] },
    { user: "carol", role: "package_admin", package: "db", from: ["198.18.1.0/24"] },
  ],
};
const context: PrincipalContext = {
  policy,
  nodeNames: ["n1", "n2", "n3"],
  tokenUsers: new Map([[tokenDigest("pvt_prom"), "prometheus"]]),
  sessionKey,
  passwordUsers: new Set(["alice", "carol", "dave"]),
  now: 1_000,
};

function resolve(presented: Partial<PresentedCredentials>, ctx: PrincipalContext = context) {
  return resolvePrincipal({ via: "tcp", remoteAddress: "198.18.2.101", ...presented }, ctx);
}

function codeOf(result: ReturnType<typeof resolve>): string {
  return result.ok ? "ok" : result.failure.body.error.code;
}

describe("principal", () => {
  it("takes the user from a verified certificate's CN", () => {
    const result = resolve({ certificate: { cn: "bob" } });
    expect(result).toMatchObject({
      ok: true,
      principal: { user: "bob", auth: "certificate", grants: [{ role: "package_admin" }] },
    });
  });

  it("takes the user from a bearer token's digest (scheme case-insensitive)", () => {
    for (const header of ["Bearer pvt_prom", "bearer pvt_prom", "BEARER  pvt_prom"]) {
      expect(resolve({ authorization: header }), header).toMatchObject({
        ok: true,
        principal: { user: "prometheus", auth: "token" },
      });
    }
    expect(codeOf(resolve({ authorization: "Bearer pvt_other" }))).toBe("API_UNAUTHENTICATED");
    expect(codeOf(resolve({ authorization: "Basic YWxpY2U6eA==" }))).toBe("API_UNAUTHENTICATED");
  });

  it("takes the user from a valid session cookie", () => {
    const cookie = issueSessionToken(sessionKey, "alice", 0, 10_000);
    expect(resolve({ sessionCookie: cookie })).toMatchObject({
      ok: true,
      principal: { user: "alice", auth: "password" },
    });
    const expired = issueSessionToken(sessionKey, "alice", 0, 500);
    const result = resolve({ sessionCookie: expired });
    expect(!result.ok && result.failure.body.error.message).toMatch(/expired/);
    expect(codeOf(resolve({ sessionCookie: cookie }, { ...context, sessionKey: undefined }))).toBe(
      "API_UNAUTHENTICATED",
    );
  });

  it("precedence: certificate > bearer > cookie, and a bad first one is not passed over", () => {
    const aliceCookie = issueSessionToken(sessionKey, "alice", 0, 10_000);
    const all = { certificate: { cn: "bob" }, authorization: "Bearer pvt_prom", sessionCookie: aliceCookie };
    expect(resolve(all)).toMatchObject({ ok: true, principal: { user: "bob" } });
    expect(resolve({ authorization: "Bearer pvt_prom", sessionCookie: aliceCookie })).toMatchObject({
      ok: true,
      principal: { user: "prometheus" },
    });
    expect(codeOf(resolve({ authorization: "Bearer wrong", sessionCookie: aliceCookie }))).toBe(
      "API_UNAUTHENTICATED",
    );
    expect(codeOf(resolve({ certificate: { cn: "mallory" }, sessionCookie: aliceCookie }))).toBe(
      "API_UNAUTHENTICATED",
    );
  });

  it("USER_HOST: a user with from: is admitted only from inside its prefixes", () => {
    expect(resolve({ certificate: { cn: "ops" }, remoteAddress: "198.18.2.7" })).toMatchObject({
      ok: true,
      principal: { host: "198.18.2.7" },
    });
    expect(resolve({ certificate: { cn: "ops" }, remoteAddress: "::ffff:198.18.2.7" })).toMatchObject({
      ok: true,
      principal: { host: "198.18.2.7" },
    });
    const outside = resolve({ certificate: { cn: "ops" }, remoteAddress: "198.18.3.7" });
    expect(codeOf(outside)).toBe("API_FORBIDDEN");
    expect(!outside.ok && outside.failure.status).toBe(403);
    // The local unix socket has no source address: a host-restricted user cannot use it.
    expect(codeOf(resolve({ via: "unix", remoteAddress: undefined, certificate: { cn: "ops" } }))).toBe(
      "API_FORBIDDEN",
    );
  });

  it("USER_HOST per rule: carol is web's admin from anywhere, db's only from 198.18.1.0/24", () => {
    const far = resolve({ certificate: { cn: "carol" }, remoteAddress: "198.18.2.9" });
    expect(far.ok && may(far.principal, "package-operate", "web").ok).toBe(true);
    expect(far.ok && may(far.principal, "package-operate", "db").ok).toBe(false);
    const near = resolve({ certificate: { cn: "carol" }, remoteAddress: "198.18.1.9" });
    expect(near.ok && may(near.principal, "package-operate", "db").ok).toBe(true);
  });

  it("a node certificate is MONITOR, and only for a node of the cluster", () => {
    const node = resolve({ certificate: { cn: "n2", o: "pavise", ou: "pavise-node" } });
    expect(node).toMatchObject({
      ok: true,
      principal: { user: "n2", auth: "node", grants: [{ role: "monitor" }] },
    });
    expect(codeOf(resolve({ certificate: { cn: "n9", o: "pavise", ou: "pavise-node" } }))).toBe(
      "API_UNAUTHENTICATED",
    );
    // A user certificate named like a node is not a node certificate.
    expect(codeOf(resolve({ certificate: { cn: "n2" } }))).toBe("API_UNAUTHENTICATED");
  });

  it("root on the control socket is FULL_ADMIN", () => {
    const root = resolve({ via: "control", remoteAddress: undefined });
    expect(root).toMatchObject({ ok: true, principal: { user: "root", auth: "control" } });
    expect(root.ok && may(root.principal, "node-operate").ok).toBe(true);
  });

  it("no credentials: 401 with a Bearer challenge, or MONITOR with anonymous: monitor", () => {
    const none = resolve({});
    expect(codeOf(none)).toBe("API_UNAUTHENTICATED");
    expect(!none.ok && none.failure.headers["www-authenticate"]).toMatch(/^Bearer/);
    const open = resolve({}, { ...context, policy: { ...policy, anonymous: "monitor" } });
    expect(open).toMatchObject({ ok: true, principal: { user: "anonymous", grants: [{ role: "monitor" }] } });
    expect(open.ok && may(open.principal, "package-operate", "web").ok).toBe(false);
  });

  it("a session for a user since removed from the policy is refused", () => {
    const cookie = issueSessionToken(sessionKey, "dave", 0, 10_000);
    expect(codeOf(resolve({ sessionCookie: cookie }))).toBe("API_UNAUTHENTICATED");
  });

  it("a session ends at once when the user's password login is removed", () => {
    const cookie = issueSessionToken(sessionKey, "alice", 0, 10_000);
    const result = resolve({ sessionCookie: cookie }, { ...context, passwordUsers: new Set(["carol"]) });
    expect(codeOf(result)).toBe("API_UNAUTHENTICATED");
    expect(!result.ok && result.failure.body.error.message).toMatch(/no password login now/);
  });
});
