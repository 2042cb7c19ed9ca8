import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * The console's session cookie (design §0, §5): `payload.mac`, where payload is base64url JSON
 * `{u: user, e: expiry in ms since the epoch}` and mac is HMAC-SHA256 (RFC 2104) over the
 * payload text with the cluster's session key. Every node has the same key, so a login works
 * on any node or a VIP. Nothing is stored: a session ends when it expires, or for every user at
 * once when the key is replaced. The clock is passed in.
 */
export const SESSION_KEY_MIN_BYTES = 32;
/** Longer cookies are refused before any work: a user name is short. */
const MAX_TOKEN_LENGTH = 1024;

export interface SessionClaims {
  user: string;
  expiresAt: number;
}

export type SessionCheck =
  { ok: true; claims: SessionClaims } | { ok: false; reason: "malformed" | "forged" | "expired" };

export function issueSessionToken(key: Uint8Array, user: string, now: number, ttlMs: number): string {
  checkKey(key);
  const payload = Buffer.from(JSON.stringify({ u: user, e: now + ttlMs }), "utf8").toString("base64url");
  return `${payload}.${mac(key, payload).toString("base64url")}`;
}

/** Total: any string in, a verdict out. The MAC is checked before the payload is believed. */
export function verifySessionToken(key: Uint8Array, token: string, now: number): SessionCheck {
  checkKey(key);
  if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: "malformed" };
  const parts = token.split(".");
  if (parts.length !== 2) return { ok: false, reason: "malformed" };
  const [payload, given] = parts as [string, string];
  if (!/^[A-Za-z0-9_-]+$/.test(payload) || !/^[A-Za-z0-9_-]{43}$/.test(given)) {
    return { ok: false, reason: "malformed" };
  }
  const expected = mac(key, payload);
  const actual = Buffer.from(given, "base64url");
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    return { ok: false, reason: "forged" };
  }
  const claims = parseClaims(payload);
  if (!claims) return { ok: false, reason: "malformed" };
  if (now >= claims.expiresAt) return { ok: false, reason: "expired" };
  return { ok: true, claims };
}

function parseClaims(payload: string): SessionClaims | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { u, e } = value as { u?: unknown; e?: unknown };
  if (typeof u !== "string" || u === "" || typeof e !== "number" || !Number.isFinite(e)) return undefined;
  return { user: u, expiresAt: e };
}

function mac(key: Uint8Array, payload: string): Buffer {
  return createHmac("sha256", key).update(payload, "utf8").digest();
}

/** A short key is a setup mistake (credential-files.ts refuses it), never something to run with. */
function checkKey(key: Uint8Array): void {
  if (key.length < SESSION_KEY_MIN_BYTES) {
    throw new RangeError(`session key has ${key.length} bytes, needs at least ${SESSION_KEY_MIN_BYTES}`);
  }
}
