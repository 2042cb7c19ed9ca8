import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { tokenDigest } from "../../src/api/auth/bearer-token.js";
import { readPasswordHashFile, readTokenDigestFile } from "../../src/api/auth/credential-files.js";
import { verifyPassword } from "../../src/api/auth/password-hash.js";
import { apiCommand, type ApiCommandIo } from "../../src/cli/api-command.js";
import { PaviseError } from "../../src/util/errors.js";
import { writeSecretFile } from "../../src/util/write-secret-file.js";

const dir = mkdtempSync(join(tmpdir(), "pavise-cli-api-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const CONFIG = join(dir, "cluster.yaml");
writeFileSync(
  CONFIG,
  `cluster_name: c1
etcd: { endpoints: [http://198.18.2.11:2379] }
subnets: [{ name: public, cidr: 198.18.1.0/24 }]
nodes: [{ name: n1, interfaces: [{ subnet: public, primary: lan0 }] }]
packages:
  - { name: web, node_name: [n1], access: [{ user: carol, role: package_admin }] }
api:
  tls: { ca: /etc/pavise/api/ca.crt, cert: /etc/pavise/api/n1.crt, key: /etc/pavise/api/n1.key }
  session_key_file: /etc/pavise/api/session.key
  users:
    - { name: alice, role: full_admin, password_file: ${dir}/users/alice.scrypt }
    - { name: prometheus, role: monitor, token_file: ${dir}/users/prometheus.sha256 }
`,
);

/** Answers each prompt with the next line; records the prompts. */
function io(lines: string[], interactive = false): ApiCommandIo & { prompts: string[]; notes: string[] } {
  const prompts: string[] = [];
  const notes: string[] = [];
  return {
    prompts,
    notes,
    secrets: {
      interactive,
      read: (prompt) => {
        prompts.push(prompt);
        return Promise.resolve(lines.shift() ?? "");
      },
    },
    note: (line) => notes.push(line),
  };
}

function captureStdout(): () => string {
  const written: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  return () => written.join("");
}

async function errorOf(run: () => Promise<number> | number): Promise<PaviseError> {
  try {
    await run();
  } catch (err) {
    if (err instanceof PaviseError) return err;
    throw err;
  }
  throw new Error("expected a PaviseError");
}

describe("pavise api passwd", () => {
  it("writes the user's password_file from the cluster file, 0600, and the hash verifies", async () => {
    const out = captureStdout();
    expect(await apiCommand(["passwd", "alice", "--config", CONFIG], io(["correct horse"]))).toBe(0);
    const file = join(dir, "users/alice.scrypt");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const read = await readPasswordHashFile(file, "alice");
    expect(read.warnings).toEqual([]);
    expect(await verifyPassword("correct horse", read.value)).toBe(true);
    expect(out()).toMatch(/^alice: password hash written to .*alice\.scrypt \(scrypt N=32768 r=8 p=1\)/);
  });

  it("asks twice on a terminal and writes nothing when they differ", async () => {
    const file = join(dir, "typo.scrypt");
    const input = io(["correct horse", "correct hose"], true);
    const error = await errorOf(() => apiCommand(["passwd", "alice", "--file", file], input));
    expect(error.code).toBe("API_PASSWORD_REFUSED");
    expect(input.prompts).toEqual(["New password for alice: ", "Again: "]);
    expect(() => statSync(file)).toThrow();
  });

  it("refuses a password shorter than 8 characters", async () => {
    const error = await errorOf(() =>
      apiCommand(["passwd", "alice", "--file", join(dir, "x.scrypt")], io(["short"])),
    );
    expect(error.code).toBe("API_PASSWORD_REFUSED");
    expect(error.message).toMatch(/8 to 1024/);
  });

  it("prints --json", async () => {
    const out = captureStdout();
    await apiCommand(["passwd", "alice", "--file", join(dir, "j.scrypt"), "--json"], io(["correct horse"]));
    expect(JSON.parse(out())).toEqual({
      user: "alice",
      file: join(dir, "j.scrypt"),
      scrypt: { N: 32768, r: 8, p: 1 },
    });
  });

  it("usage errors (exit 2): no USER, neither or both of --config and --file, --append, an unknown option", async () => {
    for (const args of [
      ["passwd"],
      ["passwd", "alice"],
      ["passwd", "alice", "--config", CONFIG, "--file", "/tmp/x"],
      ["passwd", "alice", "--file", "/tmp/x", "--append"],
      ["passwd", "alice", "--file", "/tmp/x", "--password", "x"],
      ["passwd", "alice", "bob", "--file", "/tmp/x"],
      ["chpasswd"],
    ]) {
      expect((await errorOf(() => apiCommand(args, io([])))).code, args.join(" ")).toBe("CLI_USAGE");
    }
  });

  it("an unknown user is a usage error with did-you-mean; a package-only user is told why", async () => {
    const typo = await errorOf(() => apiCommand(["passwd", "alcie", "--config", CONFIG], io([])));
    expect(typo.code).toBe("CLI_USAGE");
    expect(typo.message).toMatch(/no user alcie in api.users .* \(did you mean "alice"\?\)/);
    const carol = await errorOf(() => apiCommand(["passwd", "carol", "--config", CONFIG], io([])));
    expect(carol.message).toMatch(/package web's access:, which authenticates by client certificate only/);
  });

  it("a user without password_file: names the key and the fix", async () => {
    const error = await errorOf(() => apiCommand(["passwd", "prometheus", "--config", CONFIG], io([])));
    expect(error.code).toBe("API_NO_CREDENTIAL_FILE");
    expect(error.where).toEqual({ file: CONFIG, key: "api.users[1].password_file" });
    expect(error.hint).toMatch(/add password_file: /);
  });

  it("a cluster file without api: says so", async () => {
    const bare = join(dir, "bare.yaml");
    writeFileSync(
      bare,
      readFileSync(CONFIG, "utf8")
        .replace(/api:[\s\S]*$/, "")
        .replace(", access: [{ user: carol, role: package_admin }]", ""),
    );
    expect((await errorOf(() => apiCommand(["passwd", "alice", "--config", bare], io([])))).code).toBe(
      "API_NOT_CONFIGURED",
    );
  });
});

describe("pavise api token", () => {
  it("prints the token alone on stdout and stores only its SHA-256, 0600", async () => {
    const out = captureStdout();
    const input = io([]);
    expect(await apiCommand(["token", "prometheus", "--config", CONFIG], input)).toBe(0);
    const token = out().trim();
    expect(token).toMatch(/^pvt_[A-Za-z0-9_-]{43}$/);
    const file = join(dir, "users/prometheus.sha256");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8")).toBe(`${tokenDigest(token)}\n`);
    expect(readFileSync(file, "utf8")).not.toContain(token);
    expect(input.notes[0]).toMatch(/shown only now/);
  });

  it("replaces the file, or with --append keeps the earlier tokens (rotation)", async () => {
    const file = join(dir, "rot.sha256");
    const run = async (args: string[]): Promise<string> => {
      const out = captureStdout();
      await apiCommand(["token", "prometheus", "--file", file, "--json", ...args], io([]));
      vi.restoreAllMocks();
      return (JSON.parse(out()) as { token: string; tokens: number }).token;
    };
    const first = await run([]);
    const second = await run(["--append"]);
    expect((await readTokenDigestFile(file, "prometheus")).value).toEqual([
      tokenDigest(first),
      tokenDigest(second),
    ]);
    const third = await run([]);
    expect((await readTokenDigestFile(file, "prometheus")).value).toEqual([tokenDigest(third)]);
  });

  it("refuses to --append to a file that is not a digest list", async () => {
    const file = join(dir, "plain.sha256");
    writeFileSync(file, "pvt_secret_in_plain\n");
    const error = await errorOf(() =>
      apiCommand(["token", "prometheus", "--file", file, "--append"], io([])),
    );
    expect(error.code).toBe("API_CREDENTIALS_INVALID");
    expect(error.message).not.toContain("pvt_secret_in_plain");
  });
});

describe("secret files", () => {
  it("an unwritable place is an error naming the file, and leaves no temporary file", async () => {
    const target = join(dir, "is-a-dir");
    mkdirSync(target);
    await expect(writeSecretFile(target, "x")).rejects.toMatchObject({
      code: "SECRET_FILE_UNWRITABLE",
      where: { file: target },
    });
    expect(readdirSync(dir).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });
});
