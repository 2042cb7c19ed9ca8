import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { issueSessionToken, verifySessionToken } from "../../src/api/auth/session-token.js";
import { newBearerToken, tokenDigest, TOKEN_DIGEST_PATTERN } from "../../src/api/auth/bearer-token.js";

const key = randomBytes(32);
const HOUR = 3_600_000;

describe("session token", () => {
  it("round-trips the user until it expires", () => {
    const token = issueSessionToken(key, "alice", 1_000_000, 8 * HOUR);
    expect(verifySessionToken(key, token, 1_000_000)).toEqual({
      ok: true,
      claims: { user: "alice", expiresAt: 1_000_000 + 8 * HOUR },
    });
    expect(verifySessionToken(key, token, 1_000_000 + 8 * HOUR - 1).ok).toBe(true);
    expect(verifySessionToken(key, token, 1_000_000 + 8 * HOUR)).toEqual({ ok: false, reason: "expired" });
  });

  it("refuses a token made with another key", () => {
    const token = issueSessionToken(randomBytes(32), "alice", 0, HOUR);
    expect(verifySessionToken(key, token, 0)).toEqual({ ok: false, reason: "forged" });
  });

  it("refuses a changed payload: another user, or a later expiry", () => {
    const token = issueSessionToken(key, "bob", 0, HOUR);
    const [, mac] = token.split(".");
    for (const claims of [
      { u: "alice", e: HOUR },
      { u: "bob", e: 100 * HOUR },
    ]) {
      const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
      expect(verifySessionToken(key, `${payload}.${mac}`, 0)).toEqual({ ok: false, reason: "forged" });
    }
    // One flipped bit anywhere in the MAC.
    const flipped = `${token.slice(0, -2)}${token.at(-2) === "A" ? "B" : "A"}${token.at(-1)}`;
    expect(verifySessionToken(key, flipped, 0).ok).toBe(false);
  });

  it("is total on garbage", () => {
    for (const junk of [
      "",
      ".",
      "a.b",
      "a.b.c",
      "x".repeat(5000),
      "é.é",
      `${"A".repeat(10)}.${"A".repeat(43)}`,
    ]) {
      const check = verifySessionToken(key, junk, 0);
      expect(check.ok, junk.slice(0, 20)).toBe(false);
    }
  });

  it("refuses a short key, which is a setup mistake", () => {
    expect(() => issueSessionToken(randomBytes(16), "alice", 0, HOUR)).toThrow(/at least 32/);
  });
});

describe("bearer token", () => {
  it("is 256 random bits, and a node keeps only its SHA-256", () => {
    const a = newBearerToken();
    const b = newBearerToken();
    expect(a).not.toBe(b);
    expect(a).toMatch(/^pvt_[A-Za-z0-9_-]{43}$/);
    expect(tokenDigest(a)).toMatch(TOKEN_DIGEST_PATTERN);
    // FIPS 180-2 test vector "abc".
    expect(tokenDigest("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});
