/**
 * X.509 certificates for IKE (RFC 7296 §3.6, RFC 4945 §5, RFC 5280 §6 in the subset strongSwan
 * applies): parsing, the trust store, and the path from the peer's end-entity certificate
 * through the intermediates it sent (CERT payloads) to a configured CA.
 *
 * For every link: the issuer's subject equals the certificate's issuer name (semantic DN
 * comparison), the signature verifies with the issuer's public key (node:crypto), the
 * certificate is within its validity at the injected `now`, and no extension we do not
 * implement is critical. Issuers must be CAs (basicConstraints cA, keyCertSign when keyUsage is
 * present, pathLenConstraint respected). The end entity must allow digitalSignature or
 * nonRepudiation when it has keyUsage (strongSwan's X509_IKE_COMPLIANT). Revocation (CRL, OCSP)
 * is not checked.
 */
import { type KeyObject, X509Certificate } from "node:crypto";
import { type AuthResult, authFail, authOk } from "./auth-result.js";
import { dnEquals, formatDn } from "./distinguished-name.js";
import { type CertificateFields, ExtensionOid, KeyUsage, parseCertificateFields } from "./x509-fields.js";

export interface Certificate {
  /** The DER encoding, as sent in a CERT payload. */
  readonly der: Uint8Array;
  readonly x509: X509Certificate;
  readonly fields: CertificateFields;
  readonly publicKey: KeyObject;
  /** The subject as text, for messages: "C=CH, O=Pavise Test, CN=moon.pavise.test". */
  readonly name: string;
}

/** Parses a DER certificate; errors are values. */
export function parseCertificate(der: Uint8Array): AuthResult<Certificate> {
  const fields = parseCertificateFields(der);
  if (!fields.ok) {
    return authFail(
      "AUTH_BAD_CERTIFICATE",
      `not an X.509 certificate: ${fields.error.message} (offset ${fields.error.offset})`,
    );
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch (error) {
    return authFail("AUTH_BAD_CERTIFICATE", `not an X.509 certificate: ${(error as Error).message}`);
  }
  let publicKey: KeyObject;
  try {
    publicKey = x509.publicKey;
  } catch (error) {
    return authFail(
      "AUTH_BAD_CERTIFICATE",
      `certificate ${formatDn(fields.value.subject)}: unusable public key: ${(error as Error).message}`,
    );
  }
  return authOk({
    der: Uint8Array.from(der),
    x509,
    fields: fields.value,
    publicKey,
    name: formatDn(fields.value.subject),
  });
}

/**
 * What we trust for a peer: CA certificates (`cacerts`), and peer certificates accepted as they
 * are (`certs` of the remote side, like swanctl's remote.certs), still checked for dates and
 * identity.
 */
export interface TrustStore {
  readonly anchors: readonly Certificate[];
  readonly pinned: readonly Certificate[];
}

export function createTrustStore(
  anchors: readonly Certificate[],
  pinned: readonly Certificate[] = [],
): TrustStore {
  return { anchors: [...anchors], pinned: [...pinned] };
}

/** Extensions we understand well enough to accept when critical (RFC 5280 §4.2). */
const UNDERSTOOD_EXTENSIONS = new Set<string>([
  ExtensionOid.BASIC_CONSTRAINTS,
  ExtensionOid.KEY_USAGE,
  ExtensionOid.SUBJECT_ALT_NAME,
  ExtensionOid.EXTENDED_KEY_USAGE,
  ExtensionOid.SUBJECT_KEY_ID,
  ExtensionOid.AUTHORITY_KEY_ID,
]);

const MAX_CHAIN_LENGTH = 8;
/** Signature checks one path search may spend: certificates from the peer are untrusted input. */
const MAX_SIGNATURE_CHECKS = 64;

function iso(date: Date): string {
  return date.toISOString().replace(".000Z", "Z");
}

function checkDates(cert: Certificate, now: Date): AuthResult<true> {
  if (now < cert.fields.notBefore) {
    return authFail(
      "AUTH_CERT_NOT_YET_VALID",
      `certificate "${cert.name}" is not valid before ${iso(cert.fields.notBefore)}`,
    );
  }
  if (now > cert.fields.notAfter) {
    return authFail(
      "AUTH_CERT_EXPIRED",
      `certificate "${cert.name}" expired on ${iso(cert.fields.notAfter)}`,
    );
  }
  return authOk(true);
}

function checkCriticalExtensions(cert: Certificate): AuthResult<true> {
  const unknown = cert.fields.extensions.find((e) => e.critical && !UNDERSTOOD_EXTENSIONS.has(e.oid));
  return unknown
    ? authFail(
        "AUTH_CERT_CRITICAL_EXTENSION",
        `certificate "${cert.name}" has critical extension ${unknown.oid}, which we do not implement`,
      )
    : authOk(true);
}

/** May `issuer` issue certificates with `below` intermediate CAs under it? */
function checkIssuer(issuer: Certificate, below: number, anchor: boolean): AuthResult<true> {
  const { basicConstraints, keyUsage, version } = issuer.fields;
  // An X.509 v1 root (no extensions at all) can only be configured, never sent, as a CA.
  const legacyRoot = anchor && version === 1;
  if (!legacyRoot && !basicConstraints?.ca) {
    return authFail(
      "AUTH_CERT_NOT_CA",
      `certificate "${issuer.name}" issued another but is not a CA (no basicConstraints cA)`,
    );
  }
  if (keyUsage !== undefined && (keyUsage & KeyUsage.KEY_CERT_SIGN) === 0) {
    return authFail("AUTH_CERT_NOT_CA", `CA "${issuer.name}" lacks the keyCertSign key usage`);
  }
  const limit = basicConstraints?.pathLength;
  if (limit !== undefined && below > limit) {
    return authFail(
      "AUTH_CERT_NOT_CA",
      `CA "${issuer.name}" allows ${limit} intermediate CA(s) below it, the chain has ${below}`,
    );
  }
  return authOk(true);
}

function signedBy(cert: Certificate, issuer: Certificate): boolean {
  try {
    return cert.x509.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

export interface ChainInput {
  /** The peer's certificate: the first CERT payload (RFC 7296 §3.6). */
  readonly endEntity: Certificate;
  /** Further certificates the peer sent, in any order. */
  readonly intermediates: readonly Certificate[];
  readonly trustStore: TrustStore;
  /** Wall-clock time of the check. */
  readonly now: Date;
}

/** A verified path: the end entity first, the trust anchor (or pinned certificate) last. */
export type Chain = readonly Certificate[];

function sameCertificate(a: Certificate, b: Certificate): boolean {
  return Buffer.compare(a.der, b.der) === 0;
}

function sameKey(a: Certificate, b: Certificate): boolean {
  return Buffer.compare(a.fields.subjectPublicKeyInfo, b.fields.subjectPublicKeyInfo) === 0;
}

/**
 * Builds and checks the path from the end entity to a trust anchor, trying every candidate
 * issuer (so a cross-certified or re-keyed CA with the same name does not hide the right one).
 */
export function verifyChain(input: ChainInput): AuthResult<Chain> {
  const { endEntity, trustStore, now } = input;
  for (const check of [checkDates(endEntity, now), checkCriticalExtensions(endEntity)])
    if (!check.ok) return check;
  const usage = endEntity.fields.keyUsage;
  if (usage !== undefined && (usage & (KeyUsage.DIGITAL_SIGNATURE | KeyUsage.NON_REPUDIATION)) === 0) {
    // strongSwan: "rejecting certificate without digitalSignature or nonRepudiation keyUsage flags"
    return authFail(
      "AUTH_CERT_KEY_USAGE",
      `certificate "${endEntity.name}" allows neither digitalSignature nor nonRepudiation`,
    );
  }
  const direct = [...trustStore.pinned, ...trustStore.anchors].find((c) => sameCertificate(c, endEntity));
  if (direct) return authOk([endEntity]);
  return extend([endEntity], input, { checks: 0 });
}

function extend(
  path: readonly Certificate[],
  input: ChainInput,
  budget: { checks: number },
): AuthResult<Chain> {
  const cert = path[path.length - 1];
  if (!cert) return authFail("AUTH_CHAIN_UNTRUSTED", "empty chain");
  if (path.length > MAX_CHAIN_LENGTH) {
    return authFail(
      "AUTH_CHAIN_UNTRUSTED",
      `no trusted CA within ${MAX_CHAIN_LENGTH} certificates of "${path[0]?.name}"`,
    );
  }
  const issuerName = cert.fields.issuer;
  const below = path.length - 1; // intermediate CAs between a new issuer and the end entity
  let failure: AuthResult<Chain> | undefined;
  const candidates: { cert: Certificate; anchor: boolean }[] = [
    ...input.trustStore.anchors.map((c) => ({ cert: c, anchor: true })),
    ...input.intermediates.map((c) => ({ cert: c, anchor: false })),
  ].filter(
    // A key already on the path would make a loop (a CA re-issued under the same key, or a
    // peer sending many copies of one CA to make us search).
    (c) => dnEquals(c.cert.fields.subject, issuerName) && !path.some((p) => sameKey(p, c.cert)),
  );
  for (const candidate of candidates) {
    if (++budget.checks > MAX_SIGNATURE_CHECKS) {
      return authFail("AUTH_CHAIN_UNTRUSTED", `gave up after ${MAX_SIGNATURE_CHECKS} signature checks`);
    }
    if (!signedBy(cert, candidate.cert)) {
      failure ??= authFail(
        "AUTH_CERT_BAD_SIGNATURE",
        `the signature of "${cert.name}" does not verify with the key of ${candidate.anchor ? "trusted CA" : "CA"} "${candidate.cert.name}"`,
      );
      continue;
    }
    const checks = [
      checkIssuer(candidate.cert, below, candidate.anchor),
      checkDates(candidate.cert, input.now),
      candidate.anchor ? authOk(true) : checkCriticalExtensions(candidate.cert),
    ];
    const bad = checks.find((c) => !c.ok);
    if (bad && !bad.ok) {
      failure = bad;
      continue;
    }
    if (candidate.anchor) return authOk([...path, candidate.cert]);
    const longer = extend([...path, candidate.cert], input, budget);
    if (longer.ok) return longer;
    failure = longer;
  }
  return (
    failure ??
    authFail(
      "AUTH_CHAIN_UNTRUSTED",
      `"${cert.name}" was issued by "${formatDn(issuerName)}", which is neither a trusted CA nor among the certificates the peer sent`,
    )
  );
}
