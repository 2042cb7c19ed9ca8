import { setTimeout as sleep } from "node:timers/promises";
import { summarise } from "../auth/access-policy.js";
import type { LoginThrottle } from "../auth/login-throttle.js";
import { verifyPassword, type PasswordHash } from "../auth/password-hash.js";
import { issueSessionToken } from "../auth/session-token.js";
import type { ApiHandler, ApiReply } from "../http/api-handler.js";
import { apiError, rateLimited } from "../http/api-errors.js";
import type { ApiMetrics } from "../http/api-metrics.js";
import { checkLoginBody } from "../http/body-checks.js";
import { SESSION_COOKIE } from "../http/api-server.js";
import type { Route } from "../http/router.js";

/**
 * The console's login (design §5): POST /v1/session checks a password (scrypt on the thread
 * pool, password-hash.ts) and sets the session cookie; GET tells who the session is; DELETE
 * clears the cookie. A failed login is answered after a delay and counted per user
 * (login-throttle.ts); a locked user gets 429 with Retry-After until the lock ends. Logins in
 * progress at once are capped, so that guesses cannot fill the thread pool the daemon's file
 * and DNS work share.
 */
export interface SessionRouteDeps {
  /** user → scrypt hash (load-credentials.ts). */
  passwords: () => ReadonlyMap<string, PasswordHash>;
  /** Undefined: no password logins on this node. */
  sessionKey: () => Uint8Array | undefined;
  sessionTtlMs: () => number;
  throttle: LoginThrottle;
  log: (event: string, message: string) => void;
  metrics?: ApiMetrics | undefined;
  /** Logins verified at once (default 8). */
  maxConcurrent?: number | undefined;
  now?: () => number;
}

/** Cookie attributes (RFC 6265 §4.1.2): HTTPS only, not for scripts, never sent cross-site. */
const COOKIE_ATTRIBUTES = "Secure; HttpOnly; SameSite=Strict; Path=/";

export function sessionRoutes(deps: SessionRouteDeps): Route<ApiHandler>[] {
  const now = deps.now ?? Date.now;
  let inFlight = 0;
  const maxConcurrent = deps.maxConcurrent ?? 8;

  const login: ApiHandler = async (request): Promise<ApiReply> => {
    const checked = checkLoginBody(request.body);
    if (!checked.ok) return checked.failure;
    const { user, password } = checked.value;
    const gate = deps.throttle.check(user, now());
    if (!gate.ok) {
      deps.metrics?.refused("login-locked");
      return rateLimited(
        `password login for ${printable(user)} is locked after ${deps.throttle.limits.maxFailures} failures`,
        gate.retryAfterMs / 1000,
      );
    }
    const key = deps.sessionKey();
    if (key === undefined) {
      return apiError("API_UNAUTHENTICATED", "password logins are off on this node: it has no session key", {
        hint: "set api.session_key_file (the same key on every node), or use a certificate or token",
      });
    }
    if (inFlight >= maxConcurrent) {
      return rateLimited("too many logins in progress on this node", 1);
    }
    inFlight += 1;
    let ok = false;
    try {
      const hash = deps.passwords().get(user);
      ok = hash !== undefined && (await verifyPassword(password, hash));
    } finally {
      inFlight -= 1;
    }
    if (!ok) {
      const locked = deps.throttle.failed(user, now());
      deps.metrics?.refused("login-failed");
      deps.log(
        "api-login-failed",
        `${request.requestId}: login of ${printable(user)} from ${request.principal.host ?? "the local socket"} failed` +
          (locked ? `; locked for ${deps.throttle.limits.lockMs / 1000} s` : ""),
      );
      // The same delay whether the user exists or not: guessing is slow, and says nothing.
      await sleep(deps.throttle.limits.failureDelayMs);
      return apiError("API_UNAUTHENTICATED", "wrong user name or password", {
        hint: "check both; after repeated failures the login is locked for a minute",
      });
    }
    deps.throttle.succeeded(user);
    const ttl = deps.sessionTtlMs();
    const token = issueSessionToken(key, user, now(), ttl);
    return {
      status: 204,
      body: undefined,
      headers: {
        "set-cookie": `${SESSION_COOKIE}=${token}; ${COOKIE_ATTRIBUTES}; Max-Age=${Math.floor(ttl / 1000)}`,
      },
    };
  };

  const whoami: ApiHandler = (request) => {
    const { role, packages } = summarise(request.principal.grants);
    return Promise.resolve({
      status: 200,
      body: { user: request.principal.user, role, packages, auth: request.principal.auth },
    });
  };

  const logout: ApiHandler = () =>
    Promise.resolve({
      status: 204,
      body: undefined,
      headers: { "set-cookie": `${SESSION_COOKIE}=; ${COOKIE_ATTRIBUTES}; Max-Age=0` },
    });

  return [
    { method: "POST", pattern: "/v1/session", role: "none", handler: login },
    { method: "GET", pattern: "/v1/session", role: "any", handler: whoami },
    // Open to all: a logout clears the cookie even when the session already expired.
    { method: "DELETE", pattern: "/v1/session", role: "none", handler: logout },
  ];
}

function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return JSON.stringify(text.replace(/[\u0000-\u001f\u007f]/g, "?").slice(0, 64));
}
