import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

/**
 * Password hashes for console logins (design §2): scrypt (RFC 7914), run on libuv's thread
 * pool so a login never stalls the daemon's event loop (design §12 risk 1: a stall fences the
 * node). A file holds one line `scrypt$N$r$p$salt$hash`, salt and hash in base64url.
 * N = 2^15, r = 8, p = 1 is RFC 7914 §2's interactive-login setting, about 32 MiB per hash.
 */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export interface PasswordHash extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };
const SALT_BYTES = 16;
const HASH_BYTES = 32;

/**
 * Bounds for a hash read from a file: a hand-edited N = 2^30 would ask for 128 GiB on every
 * login attempt, which anyone who can reach the login could then trigger.
 */
const LIMITS = { minLogN: 10, maxLogN: 20, maxR: 32, maxP: 16, maxMemory: 256 * 1024 * 1024 };

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const problem = paramsProblem(params);
  if (problem) throw new RangeError(problem);
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, params, HASH_BYTES);
  return formatPasswordHash({ ...params, salt, hash });
}

/** Whether the password matches; the comparison takes the same time wherever it differs. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const derived = await derive(password, stored.salt, stored, stored.hash.length);
  return timingSafeEqual(derived, stored.hash);
}

export function formatPasswordHash(h: PasswordHash): string {
  return `scrypt$${h.N}$${h.r}$${h.p}$${h.salt.toString("base64url")}$${h.hash.toString("base64url")}`;
}

/** Total: a parsed hash, or what is wrong with the text (for credential-files.ts to report). */
export function parsePasswordHash(
  text: string,
): { ok: true; value: PasswordHash } | { ok: false; reason: string } {
  const parts = text.trim().split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") {
    return { ok: false, reason: "is not a scrypt$N$r$p$salt$hash line" };
  }
  const [N, r, p] = parts.slice(1, 4).map((part) => (/^[0-9]{1,10}$/.test(part) ? Number(part) : NaN)) as [
    number,
    number,
    number,
  ];
  const problem = paramsProblem({ N, r, p });
  if (problem) return { ok: false, reason: problem };
  const [saltText, hashText] = parts.slice(4) as [string, string];
  if (!/^[A-Za-z0-9_-]+$/.test(saltText) || !/^[A-Za-z0-9_-]+$/.test(hashText)) {
    return { ok: false, reason: "salt and hash must be base64url" };
  }
  const salt = Buffer.from(saltText, "base64url");
  const hash = Buffer.from(hashText, "base64url");
  if (salt.length < SALT_BYTES)
    return { ok: false, reason: `the salt has ${salt.length} bytes, needs at least ${SALT_BYTES}` };
  if (hash.length < HASH_BYTES || hash.length > 64)
    return { ok: false, reason: `the hash has ${hash.length} bytes, needs 32 to 64` };
  return { ok: true, value: { N, r, p, salt, hash } };
}

function paramsProblem({ N, r, p }: ScryptParams): string | undefined {
  const logN = Math.log2(N);
  if (!Number.isInteger(logN) || logN < LIMITS.minLogN || logN > LIMITS.maxLogN) {
    return `N must be a power of two from 2^${LIMITS.minLogN} to 2^${LIMITS.maxLogN}, not ${N}`;
  }
  if (!Number.isInteger(r) || r < 1 || r > LIMITS.maxR) return `r must be 1 to ${LIMITS.maxR}, not ${r}`;
  if (!Number.isInteger(p) || p < 1 || p > LIMITS.maxP) return `p must be 1 to ${LIMITS.maxP}, not ${p}`;
  if (memoryOf({ N, r, p }) > LIMITS.maxMemory)
    return `N × r needs more than ${LIMITS.maxMemory / 2 ** 20} MiB`;
  return undefined;
}

/** RFC 7914 §6: scrypt's working set is 128 · N · r bytes (plus 128 · r · p). */
function memoryOf({ N, r, p }: ScryptParams): number {
  return 128 * N * r + 128 * r * p;
}

function derive(password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  // Node's default maxmem (32 MiB) is exactly 128 · 2^15 · 8: the default setting would fail.
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: memoryOf(params) + 1024 * 1024,
  };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFC"), salt, length, options, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}
