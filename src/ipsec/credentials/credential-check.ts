import { readFileSync } from "node:fs";
import type { PackageConfig, PackageIpsecConfig } from "../../cluster/config/model.js";
import type { Certificate } from "../../ike/auth/certificates.js";
import { loadCertificateFile, loadPrivateKeyFile } from "../../ike/auth/credential-files.js";
import { loadLocalCredentials } from "../../ike/auth/pubkey-authenticator.js";
import type { CredentialFacts } from "../status/ipsec-health.js";

/**
 * A PSK shorter than this is refused by the check: RFC 7296 §2.15 wants a pre-shared key as
 * unpredictable as the strongest key it protects (128 bits for AES-128), and a captured IKE_AUTH
 * lets anyone brute-force a weak one offline (design §15, risk 10).
 */
export const MIN_PSK_OCTETS = 16;

/**
 * Re-reads every credential file of a package's `ipsec:` section from disk (design §4, §10: the
 * next start needs them, so a file removed or broken since the last start is found now, not at
 * failover time): its own key and certificates (and that the key belongs to one of them), each
 * connection's trust anchors and pinned peer certificates, each PSK file. Never keeps or returns
 * a secret: only what is wrong, and the certificates' end of validity.
 */
export function checkPackageCredentials(
  pkg: Pick<PackageConfig, "name"> & { ipsec: PackageIpsecConfig },
): CredentialFacts[] {
  const base = `packages.${pkg.name}.ipsec`;
  const facts: CredentialFacts[] = [];
  const local = pkg.ipsec.local;
  if (local.auth === "pubkey") {
    const keyOk = local.key === undefined ? false : checkKey(`${base}.credentials.key`, local.key, facts);
    const certsOk = local.certs
      .map((file) => checkCertificates(`${base}.credentials.certs`, file, facts))
      .every(Boolean);
    if (keyOk && certsOk && local.key !== undefined) {
      const both = loadLocalCredentials(local);
      if (!both.ok) facts.push({ key: `${base}.credentials`, file: local.key, problem: both.error.message });
    }
  }
  for (const entry of pkg.ipsec.connections) {
    const c = entry.connection;
    const at = `${base}.connections.${c.name}`;
    for (const file of c.remote.cacerts) checkCertificates(`${at}.remote.cacerts`, file, facts);
    for (const file of c.remote.certs) checkCertificates(`${at}.remote.certs`, file, facts);
    if (entry.pskFile !== undefined) checkPsk(`${at}.psk_file`, entry.pskFile, facts);
  }
  return facts;
}

function checkKey(key: string, file: string, facts: CredentialFacts[]): boolean {
  const loaded = loadPrivateKeyFile(file);
  facts.push(loaded.ok ? { key, file } : { key, file, problem: loaded.error.message });
  return loaded.ok;
}

function checkCertificates(key: string, file: string, facts: CredentialFacts[]): boolean {
  const loaded = loadCertificateFile(file);
  if (!loaded.ok) {
    facts.push({ key, file, problem: loaded.error.message });
    return false;
  }
  for (const cert of loaded.value) facts.push({ key, file, certificate: validity(cert) });
  return true;
}

function validity(cert: Certificate): { subject: string; notAfter: number } {
  return { subject: cert.name, notAfter: new Date(cert.x509.validTo).getTime() };
}

function checkPsk(key: string, file: string, facts: CredentialFacts[]): void {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    facts.push({
      key,
      file,
      problem: `cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    });
    return;
  }
  // As the host reads it (package-ipsec-host.ts): the editor's line break is not part of the key.
  const octets = Buffer.byteLength(text.replace(/\r?\n$/, ""), "utf8");
  facts.push(
    octets < MIN_PSK_OCTETS
      ? {
          key,
          file,
          problem: `the pre-shared key has ${octets} octet(s); at least ${MIN_PSK_OCTETS} random octets are needed`,
        }
      : { key, file },
  );
}
