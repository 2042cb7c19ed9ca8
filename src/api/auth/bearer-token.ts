import { createHash, randomBytes } from "node:crypto";

/**
 * Bearer tokens (RFC 6750) for scripts and Prometheus. A node keeps only the SHA-256 of a token
 * (`pavise api token USER` prints the token once and writes its digest file): reading the
 * file does not let anyone call the API. A token has 256 random bits, so a plain digest is
 * enough; a slow hash is for passwords, which people choose.
 */
export const TOKEN_PREFIX = "pvt_";

export function newBearerToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
}

/** The digest as the token file holds it: 64 lowercase hex digits. */
export function tokenDigest(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export const TOKEN_DIGEST_PATTERN = /^[0-9a-f]{64}$/;
