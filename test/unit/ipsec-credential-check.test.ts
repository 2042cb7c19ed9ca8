import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseClusterConfig } from "../../src/cluster/config/cluster-config.js";
import { checkPackageCredentials, MIN_PSK_OCTETS } from "../../src/ipsec/credentials/credential-check.js";
import { judgeIpsecHealth, type IpsecHealthSnapshot } from "../../src/ipsec/status/ipsec-health.js";
import { IPSEC_CLUSTER_YAML } from "../support/cluster-fixtures.js";

// The credential files of a package, re-read for `pavise ipsec status` (design §4, §10): the
// test PKI's real certificates and keys (test/unit/fixtures/pki), PSK files in a temp directory.

const PKI = join(import.meta.dirname, "fixtures", "pki");
const scratch = mkdtempSync(join(tmpdir(), "pavise-credcheck-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function web(changes: [string, string][]): Parameters<typeof checkPackageCredentials>[0] {
  let text = IPSEC_CLUSTER_YAML;
  for (const [from, to] of changes) {
    if (!text.includes(from)) throw new Error(`not in the base file: ${from}`);
    text = text.replaceAll(from, to);
  }
  const pkg = parseClusterConfig(text, "cluster.yaml").packages[0]!;
  return { name: pkg.name, ipsec: pkg.ipsec! };
}

function pubkey(cert: string, key: string, ca = "root.crt"): Parameters<typeof checkPackageCredentials>[0] {
  return web([
    ["/etc/pavise/ipsec/web/web.crt", join(PKI, cert)],
    ["/etc/pavise/ipsec/web/web.key", join(PKI, key)],
    ["/etc/pavise/ipsec/clients-ca.crt", join(PKI, ca)],
  ]);
}

/** The verdict codes for these credential facts on a standby (everything else healthy). */
function codesFor(pkg: Parameters<typeof checkPackageCredentials>[0], now = Date.now()): string[] {
  const snapshot: IpsecHealthSnapshot = {
    package: "web",
    node: "n2",
    at: now,
    hostOpen: true,
    credentials: checkPackageCredentials(pkg),
    runsHere: false,
    addresses: [],
    ikeChildSas: [],
    datapathChildSas: [],
    gaveUp: [],
  };
  return judgeIpsecHealth(snapshot, now).reasons.map((r) => r.code);
}

describe("credential-check: certificates and keys", () => {
  it("a matching certificate and key, and a readable CA: no problem, the dates known", () => {
    const facts = checkPackageCredentials(pubkey("moon.crt", "moon.key"));
    expect(facts.filter((f) => f.problem)).toEqual([]);
    const own = facts.find((f) => f.key === "packages.web.ipsec.credentials.certs");
    expect(own?.certificate?.subject).toContain("moon.pavise.test");
    expect(own?.certificate?.notAfter).toBe(Date.UTC(2036, 4, 31, 23, 59, 59));
    expect(codesFor(pubkey("moon.crt", "moon.key"))).toEqual([]);
  });

  it("a key that is not the certificate's: one problem naming both files", () => {
    const facts = checkPackageCredentials(pubkey("moon.crt", "sun.key"));
    const problems = facts.filter((f) => f.problem);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.problem).toContain(join(PKI, "sun.key"));
    expect(codesFor(pubkey("moon.crt", "sun.key"))).toEqual(["IPSEC_CREDENTIALS"]);
  });

  it("a missing key file, a missing CA file: each a problem with its key", () => {
    const facts = checkPackageCredentials(pubkey("moon.crt", "gone.key", "gone-ca.crt"));
    expect(facts.filter((f) => f.problem).map((f) => f.key)).toEqual([
      "packages.web.ipsec.credentials.key",
      "packages.web.ipsec.connections.clients.remote.cacerts",
    ]);
    expect(facts.find((f) => f.problem)?.problem).toContain("ENOENT");
  });

  it("an expired certificate (expired.crt ended 2026-01-31)", () => {
    expect(codesFor(pubkey("expired.crt", "expired.key"), Date.UTC(2026, 10, 27))).toEqual([
      "IPSEC_CREDENTIALS",
    ]);
    expect(codesFor(pubkey("expired.crt", "expired.key"), Date.UTC(2026, 0, 1))).toEqual([]);
  });
});

describe("credential-check: PSK files", () => {
  const pskPackage = (file: string): Parameters<typeof checkPackageCredentials>[0] =>
    web([
      [
        "auth: pubkey\n        certs: [/etc/pavise/ipsec/web/web.crt]\n        key: /etc/pavise/ipsec/web/web.key",
        "auth: psk",
      ],
      [
        "remote: { auth: pubkey, cacerts: [/etc/pavise/ipsec/clients-ca.crt] }",
        `remote: { auth: psk }\n          psk_file: ${file}`,
      ],
    ]);

  it("a readable key of 32 random octets (base64) is fine; its line break does not count", () => {
    const file = join(scratch, "good.psk");
    writeFileSync(file, "0123456789abcdef\n", { mode: 0o600 });
    expect(checkPackageCredentials(pskPackage(file))).toEqual([
      { key: "packages.web.ipsec.connections.clients.psk_file", file },
    ]);
  });

  it(`a missing file, an empty one, one shorter than ${MIN_PSK_OCTETS} octets: IPSEC_CREDENTIALS`, () => {
    const short = join(scratch, "short.psk");
    writeFileSync(short, "0123456789abcde\n", { mode: 0o600 });
    const empty = join(scratch, "empty.psk");
    writeFileSync(empty, "", { mode: 0o600 });
    for (const file of [join(scratch, "gone.psk"), empty, short]) {
      expect(codesFor(pskPackage(file))).toEqual(["IPSEC_CREDENTIALS"]);
    }
    expect(checkPackageCredentials(pskPackage(short))[0]?.problem).toContain("15 octet(s)");
  });
});
