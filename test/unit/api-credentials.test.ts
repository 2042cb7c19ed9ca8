import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tokenDigest } from "../../src/api/auth/bearer-token.js";
import {
  API_CREDENTIALS_INVALID,
  readPasswordHashFile,
  readSessionKeyFile,
  readTokenDigestFile,
} from "../../src/api/auth/credential-files.js";
import { loadApiCredentials } from "../../src/api/auth/load-credentials.js";
import {
  formatPasswordHash,
  hashPassword,
  parsePasswordHash,
  verifyPassword,
} from "../../src/api/auth/password-hash.js";
import { PaviseError } from "../../src/util/errors.js";

const FAST = { N: 2 ** 10, r: 8, p: 1 };
const dir = mkdtempSync(join(tmpdir(), "pavise-api-cred-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Buffer, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

async function codeOf(
  promise: Promise<unknown>,
): Promise<{ code: string; message: string; hint?: string | undefined }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof PaviseError) return { code: err.code, message: err.message, hint: err.hint };
    throw err;
  }
  throw new Error("expected a PaviseError");
}

describe("password hash (scrypt, RFC 7914)", () => {
  it("writes scrypt$N$r$p$salt$hash with the default interactive setting, and verifies it", async () => {
    const line = await hashPassword("correct horse");
    expect(line).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    const parsed = parsePasswordHash(line);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(await verifyPassword("correct horse", parsed.value)).toBe(true);
    expect(await verifyPassword("correct horsf", parsed.value)).toBe(false);
  });

  it("salts: the same password hashes differently each time", async () => {
    expect(await hashPassword("pw", FAST)).not.toBe(await hashPassword("pw", FAST));
  });

  it("matches RFC 7914 §12's second test vector (password, NaCl, N=1024, r=8, p=16)", async () => {
    const expected =
      "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640";
    const stored = { N: 1024, r: 8, p: 16, salt: Buffer.from("NaCl"), hash: Buffer.from(expected, "hex") };
    expect(await verifyPassword("password", stored)).toBe(true);
    expect(await verifyPassword("passwore", stored)).toBe(false);
  });

  it("normalises the password (NFC), so a composed and a decomposed é are one password", async () => {
    const parsed = parsePasswordHash(await hashPassword("caf\u00e9", FAST));
    expect(parsed.ok && (await verifyPassword("cafe\u0301", parsed.value))).toBe(true);
  });

  it("refuses malformed or dangerous hash lines without running scrypt", () => {
    const good = formatPasswordHash({ ...FAST, salt: Buffer.alloc(16, 1), hash: Buffer.alloc(32, 2) });
    expect(parsePasswordHash(good).ok).toBe(true);
    for (const [line, reason] of [
      ["", /not a scrypt/],
      ["bcrypt$2$x", /not a scrypt/],
      [good.replace("scrypt$1024", "scrypt$1073741824"), /power of two/],
      [good.replace("scrypt$1024", "scrypt$1000"), /power of two/],
      [good.replace("$8$1$", "$0$1$"), /r must be/],
      [good.replace("$8$1$", "$8$99$"), /p must be/],
      [good.replace("$8$1$", "$32$1$").replace("scrypt$1024", "scrypt$1048576"), /MiB/],
      [good.replace(/\$[^$]+\$([^$]+)$/, "$AAAA$$1"), /salt/],
      [`${good}$extra`, /not a scrypt/],
      [good.replace(/[^$]+$/, "!!"), /base64url/],
    ] as const) {
      const parsed = parsePasswordHash(line);
      expect(parsed.ok, line).toBe(false);
      if (!parsed.ok) expect(parsed.reason, line).toMatch(reason);
    }
  });
});

describe("credential files", () => {
  it("reads a password hash file, and warns when others may read it", async () => {
    const line = await hashPassword("pw", FAST);
    const quiet = await readPasswordHashFile(file("alice.scrypt", `${line}\n`), "alice");
    expect(quiet.warnings).toEqual([]);
    expect(await verifyPassword("pw", quiet.value)).toBe(true);
    const loud = await readPasswordHashFile(file("alice-644.scrypt", `${line}\n`, 0o644), "alice");
    expect(loud.warnings).toHaveLength(1);
    expect(loud.warnings[0]).toMatch(
      /alice-644\.scrypt \(the password hash of API user alice\) may be read by others \(mode 644\): chmod 600 /,
    );
  });

  it("names the file and the fix when a hash file is missing or wrong", async () => {
    const missing = await codeOf(readPasswordHashFile(join(dir, "none.scrypt"), "alice"));
    expect(missing.code).toBe(API_CREDENTIALS_INVALID);
    expect(missing.message).toMatch(/cannot read .*none\.scrypt/);
    expect(missing.hint).toMatch(/pavise api passwd alice/);
    const wrong = await codeOf(readPasswordHashFile(file("bad.scrypt", "hunter2\n"), "alice"));
    expect(wrong.message).toMatch(/bad\.scrypt \(the password hash of API user alice\) is not a scrypt/);
    expect(wrong.message).not.toContain("hunter2");
  });

  it("reads token digests, one a line (old and new during a rotation)", async () => {
    const a = tokenDigest("pvt_a");
    const b = tokenDigest("pvt_b");
    expect((await readTokenDigestFile(file("prom.sha256", `${a}\n\n${b}\n`), "prometheus")).value).toEqual([
      a,
      b,
    ]);
    const bad = await codeOf(
      readTokenDigestFile(file("prom-bad.sha256", `${a}\npvt_plain_token\n`), "prometheus"),
    );
    expect(bad.message).toMatch(/line 2 is not a SHA-256/);
    expect(bad.message).not.toContain("pvt_plain_token");
    expect((await codeOf(readTokenDigestFile(file("empty.sha256", "\n"), "prometheus"))).message).toMatch(
      /is empty/,
    );
  });

  it("reads a session key as raw bytes, hex or base64, and refuses a short one", async () => {
    const raw = Buffer.alloc(32, 7);
    expect((await readSessionKeyFile(file("raw.key", raw))).value).toEqual(raw);
    expect((await readSessionKeyFile(file("hex.key", `${raw.toString("hex")}\n`))).value).toEqual(raw);
    expect((await readSessionKeyFile(file("b64.key", `${raw.toString("base64")}\n`))).value).toEqual(raw);
    const short = await codeOf(readSessionKeyFile(file("short.key", "0123456789abcdef\n")));
    expect(short.message).toMatch(/has 8 bytes, needs at least 32/);
    expect(short.hint).toMatch(/head -c 32 \/dev\/urandom/);
    expect((await readSessionKeyFile(file("open.key", raw, 0o640))).warnings[0]).toMatch(/mode 640/);
  });
});

describe("loading a node's API credentials", () => {
  it("reads every file the api: section names; a bad one costs only its user", async () => {
    const sub = join(dir, "load");
    mkdirSync(sub);
    const alice = file("load/alice.scrypt", `${await hashPassword("pw-alice", FAST)}\n`);
    const prom = file("load/prom.sha256", `${tokenDigest("pvt_prom")}\n${tokenDigest("pvt_shared")}\n`);
    const other = file("load/other.sha256", `${tokenDigest("pvt_shared")}\n`, 0o644);
    const key = file("load/session.key", Buffer.alloc(32, 9));
    const loaded = await loadApiCredentials({
      listen: [],
      tls: { ca: "/x", cert: "/x", key: "/x" },
      sessionKeyFile: key,
      sessionTtlMs: 1000,
      anonymous: "none",
      users: [
        { name: "alice", role: "full_admin", passwordFile: alice, from: [] },
        { name: "bob", role: "package_admin", passwordFile: join(sub, "missing.scrypt"), from: [] },
        { name: "prometheus", role: "monitor", tokenFile: prom, from: [] },
        { name: "other", role: "monitor", tokenFile: other, from: [] },
      ],
    });
    expect([...loaded.passwords.keys()]).toEqual(["alice"]);
    expect(loaded.sessionKey).toEqual(Buffer.alloc(32, 9));
    // The shared token belongs to neither user; prometheus keeps its own.
    expect([...loaded.tokenUsers.entries()]).toEqual([[tokenDigest("pvt_prom"), "prometheus"]]);
    expect(loaded.problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/cannot read .*missing\.scrypt \(the password hash of API user bob\)/),
      expect.stringMatching(/other\.sha256 holds a token that prometheus's token file holds too/),
    ]);
    expect(loaded.warnings).toEqual([expect.stringMatching(/other\.sha256 .*\(mode 644\)/)]);
  });
});
