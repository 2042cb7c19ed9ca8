import type { AccessPolicy, AccessRule } from "../../cluster/config/model.js";
import { parseIpv4, parsePrefix, prefixContains } from "../../net/ipv4.js";
import { apiError, type ApiFailure } from "../http/api-errors.js";
import type { Grant } from "./access-policy.js";
import { tokenDigest } from "./bearer-token.js";
import { verifySessionToken } from "./session-token.js";

/**
 * Who is asking (design §2, §4): one principal from what a request presents. Precedence is a
 * verified client certificate, then a bearer token, then the session cookie; the first one
 * presented decides, and a bad one is refused rather than passed over for the next. Its grants
 * are the access rules of that USER_NAME whose USER_HOST admits the request's source.
 *
 * Special principals: root on the daemon's control socket is FULL_ADMIN (root on a node is in
 * Serviceguard); a node's own certificate (O=pavise, OU=pavise-node, CN=<node>) is MONITOR, for
 * the owner proxy; no credentials at all is MONITOR only with `anonymous: monitor`.
 */
export type AuthMethod = "certificate" | "token" | "password" | "node" | "control" | "anonymous";

export interface Principal {
  user: string;
  auth: AuthMethod;
  /** The source address (USER_HOST), when the request came over TCP. */
  host: string | undefined;
  grants: Grant[];
}

/** Subject fields of a client certificate the TLS layer verified against the cluster CA. */
export interface VerifiedCertificate {
  cn: string;
  o?: string | undefined;
  ou?: string | undefined;
}

export interface PresentedCredentials {
  via: "tcp" | "unix" | "control";
  remoteAddress?: string | undefined;
  /** Only a certificate that chains to the cluster CA (`socket.authorized`). */
  certificate?: VerifiedCertificate | undefined;
  /** The Authorization header as received. */
  authorization?: string | undefined;
  /** The value of the pavise_session cookie. */
  sessionCookie?: string | undefined;
}

export interface PrincipalContext {
  policy: AccessPolicy;
  nodeNames: readonly string[];
  /** Token digest (bearer-token.ts) → user, from the users' token files. */
  tokenUsers: ReadonlyMap<string, string>;
  /** Undefined when no session key is configured: then there are no password sessions. */
  sessionKey: Uint8Array | undefined;
  /**
   * Users who may log in with a password now (their hash file was read). A session of a user
   * whose password_file was since removed ends at once, not when its cookie expires.
   */
  passwordUsers: ReadonlySet<string>;
  now: number;
}

export type PrincipalResult = { ok: true; principal: Principal } | { ok: false; failure: ApiFailure };

export const NODE_CERT_O = "pavise";
export const NODE_CERT_OU = "pavise-node";

export function resolvePrincipal(
  presented: PresentedCredentials,
  context: PrincipalContext,
): PrincipalResult {
  if (presented.via === "control") {
    return known({ user: "root", auth: "control", host: undefined, grants: [{ role: "full_admin" }] });
  }
  const host = hostOf(presented.remoteAddress);
  if (presented.certificate) return fromCertificate(presented.certificate, host, context);
  if (presented.authorization !== undefined) return fromAuthorization(presented.authorization, host, context);
  if (presented.sessionCookie !== undefined) return fromSession(presented.sessionCookie, host, context);
  if (context.policy.anonymous === "monitor") {
    return known({ user: "anonymous", auth: "anonymous", host, grants: [{ role: "monitor" }] });
  }
  return unauthenticated(
    "this request carries no credentials",
    "log in, or send a client certificate or an Authorization: Bearer token",
  );
}

function fromCertificate(
  cert: VerifiedCertificate,
  host: string | undefined,
  context: PrincipalContext,
): PrincipalResult {
  if (cert.o === NODE_CERT_O && cert.ou === NODE_CERT_OU) {
    if (!context.nodeNames.includes(cert.cn)) {
      return unauthenticated(
        `the node certificate names ${quoted(cert.cn)}, which is not a node of this cluster`,
        "use the certificate of a node in the cluster file",
      );
    }
    return known({ user: cert.cn, auth: "node", host, grants: [{ role: "monitor" }] });
  }
  return forUser(cert.cn, "certificate", host, context, `the client certificate's CN ${quoted(cert.cn)}`);
}

/** RFC 6750 §2.1: `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110 §11.1). */
function fromAuthorization(
  header: string,
  host: string | undefined,
  context: PrincipalContext,
): PrincipalResult {
  const match = /^bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header);
  if (!match) {
    return unauthenticated(
      "the Authorization header is not a bearer token",
      "send Authorization: Bearer <token from pavise api token USER>",
    );
  }
  const user = context.tokenUsers.get(tokenDigest(match[1] as string));
  if (user === undefined) {
    return unauthenticated(
      "the bearer token is not known",
      "make a new one with pavise api token USER and name its file in api.users[].token_file",
    );
  }
  return forUser(user, "token", host, context, `token user ${quoted(user)}`);
}

function fromSession(cookie: string, host: string | undefined, context: PrincipalContext): PrincipalResult {
  if (!context.sessionKey) {
    return unauthenticated(
      "this node has no session key, so no login session is valid here",
      "set api.session_key_file, or use a certificate or token",
    );
  }
  const check = verifySessionToken(context.sessionKey, cookie, context.now);
  if (!check.ok) {
    return unauthenticated(
      check.reason === "expired" ? "the login session has expired" : "the login session is not valid",
      "log in again (POST /v1/session)",
    );
  }
  if (!context.passwordUsers.has(check.claims.user)) {
    return unauthenticated(
      `the login session of ${quoted(check.claims.user)} is no longer valid: the user has no password login now`,
      "log in with a client certificate or token, or ask for a password_file in api.users",
    );
  }
  return forUser(check.claims.user, "password", host, context, `session user ${quoted(check.claims.user)}`);
}

/** The grants of one USER_NAME from this USER_HOST; none at all is a refusal. */
function forUser(
  user: string,
  auth: AuthMethod,
  host: string | undefined,
  context: PrincipalContext,
  what: string,
): PrincipalResult {
  const rules = context.policy.rules.filter((rule) => rule.user === user);
  if (rules.length === 0) {
    return unauthenticated(
      `${what} is not a user of the API`,
      "add the user to api.users (or to a package's access:) in the cluster file",
    );
  }
  const admitted = rules.filter((rule) => fromAllowed(rule, host));
  if (admitted.length === 0) {
    return {
      ok: false,
      failure: apiError("API_FORBIDDEN", `${user} may not use the API from ${host ?? "this local socket"}`, {
        hint: `api.users ${user} from: lists the source prefixes allowed (USER_HOST)`,
      }),
    };
  }
  const grants = admitted.map((rule): Grant => ({
    role: rule.role,
    ...(rule.package !== undefined ? { package: rule.package } : {}),
  }));
  return known({ user, auth, host, grants });
}

/** USER_HOST: no prefix means any host; with prefixes, only a TCP source inside one of them. */
function fromAllowed(rule: AccessRule, host: string | undefined): boolean {
  if (rule.from.length === 0) return true;
  const address = host === undefined ? undefined : parseIpv4(host);
  if (address === undefined) return false;
  return rule.from.some((text) => {
    // A bare address is one host (validate-api.ts accepts both forms).
    const prefix = parsePrefix(text.includes("/") ? text : `${text}/32`);
    return prefix !== undefined && prefixContains(prefix, address);
  });
}

/** An IPv4-mapped IPv6 source (::ffff:198.18.1.5, as a dual-stack listener reports it) as IPv4. */
function hostOf(remoteAddress: string | undefined): string | undefined {
  if (remoteAddress === undefined) return undefined;
  return remoteAddress.startsWith("::ffff:") ? remoteAddress.slice(7) : remoteAddress;
}

function known(principal: Principal): PrincipalResult {
  return { ok: true, principal };
}

function unauthenticated(message: string, hint: string): PrincipalResult {
  return { ok: false, failure: apiError("API_UNAUTHENTICATED", message, { hint }) };
}

/** A name from a certificate or cookie, bounded and printable, for a message. */
function quoted(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, "?");
  return JSON.stringify(clean.length > 64 ? `${clean.slice(0, 64)}…` : clean);
}
