/**
 * Certificates for IKE (src/ike/auth/certificates.ts and friends) on fixtures made by strongSwan's
 * pki (test/unit/fixtures/pki, see its README): loading PEM and DER, the fields we read, chain
 * validation (valid, wrong CA, missing intermediate, expired, not yet valid, tampered, impostor
 * CA, issuer not a CA, path length, unknown critical extension, key usage), the identity rule,
 * CERT/CERTREQ payloads, and verifyPeerAuth end to end.
 */
import { createHash, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AuthMethod } from "../../src/ike/codec/auth.js";
import { CertEncoding } from "../../src/ike/codec/cert.js";
import { IdType } from "../../src/ike/codec/id.js";
import { PayloadType } from "../../src/ike/codec/payload-type.js";
import type { WireIdentity } from "../../src/ike/core/identity-payload.js";
import {
  type Certificate,
  type TrustStore,
  authIdentityMatches,
  buildAuthPayload,
  certPayloads,
  certReqPayload,
  certificateHasIdentity,
  createTrustStore,
  dnFromText,
  encodeAuthIdentity,
  loadCertificateFile,
  loadLocalCredentials,
  loadPeerTrust,
  loadPrivateKeyFile,
  localAuthIdentity,
  parseCertificate,
  parsePrivateKey,
  verifyChain,
  verifyPeerAuth,
} from "../../src/ike/auth/index.js";
import { KeyUsage } from "../../src/ike/auth/x509-fields.js";

const PKI = fileURLToPath(new URL("./fixtures/pki/", import.meta.url));
const file = (name: string): string => join(PKI, name);
/** All fixtures are valid at this instant, except `expired`. */
const NOW = new Date("2027-01-01T00:00:00Z");

function cert(name: string): Certificate {
  const loaded = loadCertificateFile(file(`${name}.crt`));
  if (!loaded.ok) throw new Error(`${name}: ${loaded.error.message}`);
  expect(loaded.value).toHaveLength(1);
  return loaded.value[0]!;
}

const root = cert("root");
const intermediate = cert("intermediate");
const trustRoot: TrustStore = createTrustStore([root]);

const fqdn = (name: string): WireIdentity => ({ idType: IdType.FQDN, data: new TextEncoder().encode(name) });
const ipv4 = (a: string): WireIdentity => ({
  idType: IdType.IPV4_ADDR,
  data: Uint8Array.from(a.split(".").map(Number)),
});
function dn(text: string, style: "strongswan" | "openssl" = "strongswan"): WireIdentity {
  const der = dnFromText(text, style);
  if (!der.ok) throw new Error(der.error.message);
  return { idType: IdType.DER_ASN1_DN, data: der.value };
}

describe("loading", () => {
  it("reads PEM and DER certificates, PKCS#1 DER, SEC1 PEM and PKCS#8 PEM keys", () => {
    expect(cert("moon").name).toBe("C=CH, O=Pavise Test, CN=moon.pavise.test"); // DER
    expect(cert("sun").name).toBe("C=CH, O=Pavise Test, CN=sun.pavise.test"); // PEM
    for (const [name, type] of [
      ["moon", "rsa"], // PKCS#1 DER, pki's default output
      ["root", "rsa"], // PKCS#1 PEM
      ["sun", "ec"], // SEC1 PEM
      ["doe", "ec"], // PKCS#8 PEM (openssl)
    ] as const) {
      const key = loadPrivateKeyFile(file(`${name}.key`));
      expect(key.ok && key.value.asymmetricKeyType, name).toBe(type);
    }
  });

  it("reads every certificate of a PEM bundle, in order", () => {
    const dir = mkdtempSync(join(tmpdir(), "ike-auth-"));
    try {
      const bundle = join(dir, "chain.pem");
      writeFileSync(bundle, `${cert("sun").x509.toString()}\n${intermediate.x509.toString()}`);
      const loaded = loadCertificateFile(bundle);
      expect(loaded.ok && loaded.value.map((c) => c.name)).toEqual([cert("sun").name, intermediate.name]);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it("reports unreadable files, garbage and encrypted keys as error values", () => {
    expect(loadCertificateFile(file("missing.crt"))).toMatchObject({
      ok: false,
      error: { code: "AUTH_FILE_UNREADABLE" },
    });
    expect(loadCertificateFile(file("README.md"))).toMatchObject({
      ok: false,
      error: { code: "AUTH_BAD_CERTIFICATE" },
    });
    expect(loadPrivateKeyFile(file("moon.crt"))).toMatchObject({
      ok: false,
      error: { code: "AUTH_BAD_PRIVATE_KEY" },
    });
    const { privateKey } = generateKeyPairSync("ec", {
      namedCurve: "P-256",
      privateKeyEncoding: { type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "x" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    const encrypted = parsePrivateKey(new TextEncoder().encode(privateKey));
    expect(encrypted.ok || encrypted.error.message).toMatch(/encrypted private keys are not supported/);
  });

  it("reads the fields node:crypto does not hand out", () => {
    expect(intermediate.fields.basicConstraints).toEqual({ ca: true, pathLength: 0 });
    expect(intermediate.fields.keyUsage).toBe(KeyUsage.KEY_CERT_SIGN | KeyUsage.CRL_SIGN);
    expect(root.fields.basicConstraints).toEqual({ ca: true, pathLength: undefined });
    const moon = cert("moon");
    expect(moon.fields.basicConstraints).toBeUndefined();
    expect(moon.fields.notBefore).toEqual(new Date("2026-06-01T00:00:00Z"));
    expect(moon.fields.notAfter).toEqual(new Date("2036-05-31T23:59:59Z"));
    expect(moon.fields.subjectAltNames.map((n) => n.kind)).toEqual(["dns", "ip", "email", "ip"]);
    expect(cert("critical").fields.extensions.find((e) => e.oid === "1.3.6.1.4.1.55555.1")?.critical).toBe(
      true,
    );
  });
});

describe("chain validation", () => {
  const chain = (name: string, intermediates: Certificate[], trust = trustRoot, now = NOW) =>
    verifyChain({ endEntity: cert(name), intermediates, trustStore: trust, now });

  it("moon (RSA) ← intermediate (ECDSA P-384, signed with RSASSA-PSS) ← root", () => {
    const result = chain("moon", [intermediate]);
    expect(result.ok && result.value.map((c) => c.name)).toEqual([
      "C=CH, O=Pavise Test, CN=moon.pavise.test",
      "C=CH, O=Pavise Test, CN=Pavise Test Intermediate CA",
      "C=CH, O=Pavise Test, CN=Pavise Test Root CA",
    ]);
  });

  it("sun (P-256) and mars (P-521) through the intermediate; venus (P-384) straight from root", () => {
    expect(chain("sun", [intermediate]).ok).toBe(true);
    expect(chain("mars", [intermediate]).ok).toBe(true);
    expect(chain("venus", []).ok).toBe(true);
  });

  it("extra and unrelated certificates from the peer do no harm", () => {
    expect(chain("sun", [cert("other-root"), cert("moon"), intermediate, cert("impostor-root")]).ok).toBe(
      true,
    );
  });

  it("a configured intermediate is a trust anchor of its own", () => {
    const result = chain("sun", [], createTrustStore([intermediate]));
    expect(result.ok && result.value.length).toBe(2);
  });

  it("wrong CA: nobody we trust issued it", () => {
    const result = chain("moon", [intermediate], createTrustStore([cert("other-root")]));
    expect(result).toMatchObject({ ok: false, error: { code: "AUTH_CHAIN_UNTRUSTED" } });
    if (!result.ok) expect(result.error.message).toContain('"C=CH, O=Pavise Test, CN=Pavise Test Root CA"');
  });

  it("missing intermediate: the message names the issuer we could not find", () => {
    const result = chain("moon", []);
    expect(result).toMatchObject({ ok: false, error: { code: "AUTH_CHAIN_UNTRUSTED" } });
    if (!result.ok) {
      expect(result.error.message).toBe(
        '"C=CH, O=Pavise Test, CN=moon.pavise.test" was issued by "C=CH, O=Pavise Test, CN=Pavise Test Intermediate CA", which is neither a trusted CA nor among the certificates the peer sent',
      );
    }
  });

  it("expired, and not yet valid", () => {
    expect(chain("expired", [intermediate])).toEqual({
      ok: false,
      error: {
        code: "AUTH_CERT_EXPIRED",
        message: 'certificate "C=CH, O=Pavise Test, CN=expired.pavise.test" expired on 2026-01-31T23:59:59Z',
      },
    });
    expect(chain("expired", [intermediate], trustRoot, new Date("2026-01-15T00:00:00Z")).ok).toBe(true);
    expect(chain("moon", [intermediate], trustRoot, new Date("2026-05-31T23:59:59Z"))).toMatchObject({
      ok: false,
      error: { code: "AUTH_CERT_NOT_YET_VALID" },
    });
    // The intermediate outlives moon by four years; the root by nine.
    expect(chain("moon", [intermediate], trustRoot, new Date("2036-06-01T00:00:00Z"))).toMatchObject({
      ok: false,
      error: { code: "AUTH_CERT_EXPIRED" },
    });
  });

  it("an expired CA breaks the chain", () => {
    const result = chain("sun", [intermediate], trustRoot, new Date("2041-01-01T00:00:00Z"));
    expect(result).toMatchObject({ ok: false, error: { code: "AUTH_CERT_EXPIRED" } });
  });

  it("tampered signature, tampered contents", () => {
    const moon = cert("moon");
    const badSignature = Uint8Array.from(moon.der);
    badSignature[badSignature.length - 2]! ^= 0x01;
    const tamperedSan = Buffer.from(moon.der);
    const at = tamperedSan.indexOf("moon.pavise.test");
    tamperedSan.write("mood", at, "latin1");
    for (const bytes of [badSignature, new Uint8Array(tamperedSan)]) {
      const parsed = parseCertificate(bytes);
      expect(parsed.ok).toBe(true);
      if (!parsed.ok) continue;
      const result = verifyChain({
        endEntity: parsed.value,
        intermediates: [intermediate],
        trustStore: trustRoot,
        now: NOW,
      });
      expect(result).toMatchObject({ ok: false, error: { code: "AUTH_CERT_BAD_SIGNATURE" } });
    }
  });

  it("impostor CA with the same name as the trusted root", () => {
    const result = chain("impostor-moon", []);
    expect(result).toMatchObject({ ok: false, error: { code: "AUTH_CERT_BAD_SIGNATURE" } });
    if (!result.ok) expect(result.error.message).toContain("trusted CA");
    // The impostor root itself, sent by the peer, does not help: it is not trusted.
    expect(chain("impostor-moon", [cert("impostor-root")]).ok).toBe(false);
  });

  it("an end entity acting as CA (rogue ← sun) is refused", () => {
    const result = chain("rogue", [cert("sun"), intermediate]);
    expect(result).toMatchObject({ ok: false, error: { code: "AUTH_CERT_NOT_CA" } });
    if (!result.ok) expect(result.error.message).toContain("sun.pavise.test");
  });

  it("pathLenConstraint: a CA below the pathlen-0 intermediate is refused", () => {
    const result = chain("deep", [cert("sub-ca"), intermediate]);
    expect(result).toMatchObject({ ok: false, error: { code: "AUTH_CERT_NOT_CA" } });
    if (!result.ok)
      expect(result.error.message).toMatch(/allows 0 intermediate CA\(s\) below it, the chain has 1/);
    expect(chain("deep", [], createTrustStore([cert("sub-ca")])).ok).toBe(true);
  });

  it("an unknown critical extension is refused (strongSwan refuses to parse it at all)", () => {
    expect(chain("critical", [intermediate])).toMatchObject({
      ok: false,
      error: { code: "AUTH_CERT_CRITICAL_EXTENSION" },
    });
  });

  it("keyUsage without digitalSignature or nonRepudiation is refused for IKE (strongSwan's rule)", () => {
    expect(chain("kex", [intermediate])).toMatchObject({ ok: false, error: { code: "AUTH_CERT_KEY_USAGE" } });
  });

  it("forty copies of a CA from the peer do not make the search explode", () => {
    const copies = Array.from({ length: 40 }, () => intermediate);
    expect(chain("moon", copies).ok).toBe(true);
    expect(chain("moon", copies, createTrustStore([cert("other-root")]))).toMatchObject({
      ok: false,
      error: { code: "AUTH_CHAIN_UNTRUSTED" },
    });
  });

  it("a pinned peer certificate needs no chain, but must be in date", () => {
    const pinned = createTrustStore([], [cert("moon")]);
    expect(chain("moon", [], pinned).ok).toBe(true);
    expect(chain("moon", [], pinned, new Date("2040-01-01T00:00:00Z")).ok).toBe(false);
    expect(chain("sun", [], pinned).ok).toBe(false);
  });
});

describe("identity in the certificate", () => {
  const moon = cert("moon");

  it("FQDN, IPv4, IPv6 and RFC822 match subjectAltNames; case does not matter for names", () => {
    expect(certificateHasIdentity(moon, fqdn("moon.pavise.test"))).toBe(true);
    expect(certificateHasIdentity(moon, fqdn("MOON.Pavise.Test"))).toBe(true);
    expect(certificateHasIdentity(moon, ipv4("198.18.3.102"))).toBe(true);
    const v6 = Uint8Array.from(Buffer.from("20010db8000000000000000000000102", "hex"));
    expect(certificateHasIdentity(moon, { idType: IdType.IPV6_ADDR, data: v6 })).toBe(true);
    const email = new TextEncoder().encode("Moon@pavise.test");
    expect(certificateHasIdentity(moon, { idType: IdType.RFC822_ADDR, data: email })).toBe(true);
  });

  it("a DN matches the subject whatever the string types", () => {
    expect(certificateHasIdentity(moon, dn("C=CH, O=Pavise Test, CN=moon.pavise.test"))).toBe(true);
    expect(certificateHasIdentity(moon, dn("C=CH, O=Pavise Test, CN=moon.pavise.test", "openssl"))).toBe(
      true,
    );
  });

  it("KEY_ID matches SHA-1 of the certificate or of its public key (strongSwan's has_subject)", () => {
    const keyId = (data: Uint8Array): WireIdentity => ({ idType: IdType.KEY_ID, data });
    expect(certificateHasIdentity(moon, keyId(createHash("sha1").update(moon.der).digest()))).toBe(true);
    expect(
      certificateHasIdentity(
        moon,
        keyId(createHash("sha1").update(moon.fields.subjectPublicKeyInfo).digest()),
      ),
    ).toBe(true);
    expect(certificateHasIdentity(intermediate, keyId(intermediate.fields.subjectKeyIdentifier!))).toBe(true);
    expect(certificateHasIdentity(moon, keyId(new Uint8Array(20)))).toBe(false);
  });

  it("what is not in the certificate does not match; the CN is not an FQDN", () => {
    expect(certificateHasIdentity(moon, fqdn("sun.pavise.test"))).toBe(false);
    expect(certificateHasIdentity(moon, ipv4("198.18.1.101"))).toBe(false);
    expect(certificateHasIdentity(moon, dn("C=CH, O=Pavise Test, CN=sun.pavise.test"))).toBe(false);
    expect(certificateHasIdentity(cert("sub-ca"), fqdn("Pavise Test Sub CA"))).toBe(false);
  });
});

describe("our own side", () => {
  it("loadLocalCredentials picks the certificate that holds the key, whatever the order", () => {
    const creds = loadLocalCredentials({
      certs: [file("intermediate.crt"), file("sun.crt")],
      key: file("sun.key"),
    });
    expect(creds.ok && creds.value.certificate.name).toBe("C=CH, O=Pavise Test, CN=sun.pavise.test");
    expect(creds.ok && creds.value.intermediates.map((c) => c.name)).toEqual([intermediate.name]);
    expect(creds.ok && certPayloads(creds.value).map((p) => [p.type, p.encoding, p.data.length])).toEqual([
      [PayloadType.CERT, CertEncoding.X509_CERT_SIGNATURE, cert("sun").der.length],
      [PayloadType.CERT, CertEncoding.X509_CERT_SIGNATURE, intermediate.der.length],
    ]);
  });

  it("a key that belongs to none of the certificates is an error", () => {
    expect(loadLocalCredentials({ certs: [file("sun.crt")], key: file("moon.key") })).toMatchObject({
      ok: false,
      error: { code: "AUTH_KEY_CERT_MISMATCH" },
    });
    expect(loadLocalCredentials({ certs: [file("sun.crt")], key: undefined }).ok).toBe(false);
  });

  it("CERTREQ carries SHA-1 of each CA's SubjectPublicKeyInfo, as pki --keyid computes it", () => {
    const keyIds = new Map(readLines("keyids.tsv").map((line) => line.split("\t") as [string, string]));
    const trust = loadPeerTrust({ cacerts: [file("root.crt"), file("intermediate.crt")], certs: [] });
    expect(trust.ok).toBe(true);
    if (!trust.ok) return;
    const payload = certReqPayload(trust.value);
    expect(payload?.encoding).toBe(CertEncoding.X509_CERT_SIGNATURE);
    expect(Buffer.from(payload!.authorities).toString("hex")).toBe(
      `${keyIds.get("root")}${keyIds.get("intermediate")}`,
    );
    expect(certReqPayload(createTrustStore([]))).toBeUndefined();
  });

  it("our ID: the subject when none is configured, the subject's own DER for an equal DN", () => {
    const sun = cert("sun");
    const none = localAuthIdentity({ kind: "any" }, sun);
    expect(none.ok && none.value).toEqual({ idType: IdType.DER_ASN1_DN, data: sun.fields.subject });
    const spaced = localAuthIdentity({ kind: "dn", value: "c=CH,o=Pavise Test ,  cn=sun.pavise.test" }, sun);
    expect(spaced.ok && Buffer.from(spaced.value.data).equals(Buffer.from(sun.fields.subject))).toBe(true);
    const name = localAuthIdentity({ kind: "fqdn", value: "sun.pavise.test" }, sun);
    expect(name.ok && name.value).toEqual(fqdn("sun.pavise.test"));
    expect(localAuthIdentity({ kind: "fqdn", value: "moon.pavise.test" }, sun)).toMatchObject({
      ok: false,
      error: { code: "AUTH_IDENTITY_NOT_IN_CERT" },
    });
    expect(encodeAuthIdentity({ kind: "dn", value: "XX=1" })).toMatchObject({
      ok: false,
      error: { code: "AUTH_BAD_IDENTITY" },
    });
  });

  it("a configured DN matches a received one semantically", () => {
    const configured = { kind: "dn" as const, value: "C=CH, O=Pavise Test, CN=moon.pavise.test" };
    expect(authIdentityMatches(configured, dn("C=CH, O=Pavise Test, CN=moon.pavise.test", "openssl"))).toBe(
      true,
    );
    expect(authIdentityMatches(configured, dn("C=CH, O=Pavise Test, CN=sun.pavise.test"))).toBe(false);
    expect(authIdentityMatches(configured, fqdn("moon.pavise.test"))).toBe(false);
    expect(authIdentityMatches({ kind: "fqdn", value: "moon.pavise.test" }, fqdn("moon.pavise.test"))).toBe(
      true,
    );
    expect(authIdentityMatches({ kind: "any" }, fqdn("anything"))).toBe(true);
  });
});

function readLines(name: string): string[] {
  return readFileSync(file(name), "utf8").trim().split("\n");
}

describe("verifyPeerAuth: certificate, identity, chain and signature together", () => {
  const octets = createHash("sha512").update("InitiatorSignedOctets stand-in").digest();
  const sun = loadLocalCredentials({
    certs: [file("sun.crt"), file("intermediate.crt")],
    key: file("sun.key"),
  });
  if (!sun.ok) throw new Error(sun.error.message);
  const signed = buildAuthPayload({ credentials: sun.value, octets, peerHashes: [2, 3, 4] });
  if (!signed.ok) throw new Error(signed.error.message);
  const auth = signed.value.payload;
  const base = {
    trust: trustRoot,
    peerId: fqdn("sun.pavise.test"),
    certs: certPayloads(sun.value),
    auth,
    octets,
    now: NOW,
  };

  it("accepts the real thing and says how", () => {
    const result = verifyPeerAuth(base);
    expect(
      result.ok && [result.value.scheme, result.value.certificate.name, result.value.chain.length],
    ).toEqual(["ecdsa-with-SHA256", "C=CH, O=Pavise Test, CN=sun.pavise.test", 3]);
  });

  it("refuses an identity the certificate does not hold, before anything else", () => {
    const result = verifyPeerAuth({ ...base, peerId: fqdn("moon.pavise.test") });
    expect(result).toMatchObject({ ok: false, error: { code: "AUTH_IDENTITY_NOT_IN_CERT" } });
    if (!result.ok) {
      expect(result.error.message).toBe(
        'identity "moon.pavise.test" is not in the peer\'s certificate (subject "C=CH, O=Pavise Test, CN=sun.pavise.test", subjectAltNames DNS:sun.pavise.test, IP:198.18.1.101)',
      );
    }
  });

  it("refuses other octets (another IKE SA) and a signature by another key", () => {
    expect(verifyPeerAuth({ ...base, octets: octets.subarray(1) })).toMatchObject({
      ok: false,
      error: { code: "AUTH_SIGNATURE_INVALID" },
    });
    const mars = loadLocalCredentials({ certs: [file("mars.crt")], key: file("mars.key") });
    if (!mars.ok) throw new Error(mars.error.message);
    const other = buildAuthPayload({ credentials: mars.value, octets, peerHashes: [2, 3, 4] });
    expect(other.ok && verifyPeerAuth({ ...base, auth: other.value.payload })).toMatchObject({
      ok: false,
      error: { code: "AUTH_SIGNATURE_INVALID" },
    });
  });

  it("refuses a chain we do not trust", () => {
    expect(verifyPeerAuth({ ...base, trust: createTrustStore([cert("other-root")]) })).toMatchObject({
      ok: false,
      error: { code: "AUTH_CHAIN_UNTRUSTED" },
    });
  });

  it("without CERT payloads uses a pinned certificate for the identity, or refuses", () => {
    const pinned = createTrustStore([], [cert("moon"), cert("sun")]);
    expect(verifyPeerAuth({ ...base, certs: [], trust: pinned }).ok).toBe(true);
    expect(verifyPeerAuth({ ...base, certs: [] })).toMatchObject({
      ok: false,
      error: { code: "AUTH_NO_CERTIFICATE" },
    });
  });

  it("refuses Hash and URL encodings, garbage certificates and non-signature AUTH methods", () => {
    const hashUrl = {
      type: PayloadType.CERT,
      encoding: CertEncoding.HASH_URL_X509_CERT,
      data: new Uint8Array(30),
    };
    expect(verifyPeerAuth({ ...base, certs: [hashUrl] })).toMatchObject({
      ok: false,
      error: { code: "AUTH_CERT_ENCODING_UNSUPPORTED" },
    });
    const garbage = {
      type: PayloadType.CERT,
      encoding: CertEncoding.X509_CERT_SIGNATURE,
      data: Uint8Array.of(0x30, 0x03, 1, 2, 3),
    };
    expect(verifyPeerAuth({ ...base, certs: [garbage] })).toMatchObject({
      ok: false,
      error: { code: "AUTH_BAD_CERTIFICATE" },
    });
    const psk = { ...auth, method: AuthMethod.SHARED_KEY_MIC };
    expect(verifyPeerAuth({ ...base, auth: psk })).toMatchObject({
      ok: false,
      error: { code: "AUTH_METHOD_UNSUPPORTED" },
    });
  });
});
