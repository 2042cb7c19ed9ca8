/**
 * Public-key authentication of an IKE SA in the shape the IKE core needs it (RFC 7296 §2.15,
 * §3.6-3.8; strongSwan's pubkey_authenticator.c and ike_cert_pre/post tasks):
 *
 *   at configuration load   loadLocalCredentials(local), loadPeerTrust(remote)
 *   sending IKE_AUTH        localAuthIdentity → ID payload; certPayloads → CERT payloads;
 *                           certReqPayload → CERTREQ; buildAuthPayload(octets) → AUTH
 *   receiving IKE_AUTH      verifyPeerAuth: certificate from CERT payloads (or a pinned one),
 *                           identity in certificate, chain to a trusted CA, AUTH signature
 *
 * No I/O besides reading the credential files in the two loaders; the time of the chain check is
 * an argument.
 */
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { AuthMethod, type AuthPayload } from "../codec/auth.js";
import { CertEncoding, type CertPayload } from "../codec/cert.js";
import type { CertReqPayload } from "../codec/certreq.js";
import { PayloadType } from "../codec/payload-type.js";
import type { AuthConfig } from "../config/ipsec-config.js";
import type { WireIdentity } from "../core/identity-payload.js";
import { describeAuthIdentity } from "./auth-identity.js";
import { type AuthResult, authFail, authOk } from "./auth-result.js";
import { certificateHasIdentity, describeCertificateIdentities } from "./certificate-identity.js";
import {
  type Certificate,
  type Chain,
  type TrustStore,
  createTrustStore,
  parseCertificate,
  verifyChain,
} from "./certificates.js";
import { loadCertificateFiles, loadPrivateKeyFile } from "./credential-files.js";
import { signAuth, verifyAuth } from "./signature-auth.js";

export interface LocalCredentials {
  readonly privateKey: KeyObject;
  /** Our end-entity certificate: the one in `certs` that holds the private key's public half. */
  readonly certificate: Certificate;
  /** The other certificates in `certs` (intermediate CAs), sent after ours. */
  readonly intermediates: readonly Certificate[];
}

function spki(key: KeyObject): Buffer {
  return key.export({ type: "spki", format: "der" });
}

/** Loads `key` and `certs` of the local side; the certificate is the one matching the key. */
export function loadLocalCredentials(local: Pick<AuthConfig, "certs" | "key">): AuthResult<LocalCredentials> {
  if (local.key === undefined)
    return authFail("AUTH_BAD_PRIVATE_KEY", "pubkey authentication needs a private key (key:)");
  const key = loadPrivateKeyFile(local.key);
  if (!key.ok) return key;
  const certs = loadCertificateFiles(local.certs);
  if (!certs.ok) return certs;
  const ours = spki(createPublicKey(key.value));
  const index = certs.value.findIndex((c) => Buffer.compare(spki(c.publicKey), ours) === 0);
  const certificate = certs.value[index];
  if (!certificate) {
    return authFail(
      "AUTH_KEY_CERT_MISMATCH",
      `none of the certificates in ${local.certs.join(", ") || "(no certs)"} holds the public key of ${local.key}`,
    );
  }
  return authOk({
    privateKey: key.value,
    certificate,
    intermediates: certs.value.filter((_, i) => i !== index),
  });
}

/** Trust for the remote side: `cacerts` are trust anchors, `certs` are accepted peer certificates. */
export function loadPeerTrust(remote: Pick<AuthConfig, "cacerts" | "certs">): AuthResult<TrustStore> {
  const anchors = loadCertificateFiles(remote.cacerts);
  if (!anchors.ok) return anchors;
  const pinned = loadCertificateFiles(remote.certs);
  if (!pinned.ok) return pinned;
  return authOk(createTrustStore(anchors.value, pinned.value));
}

/** CERT payloads for IKE_AUTH: our certificate first (RFC 7296 §3.6), then the intermediates. */
export function certPayloads(local: LocalCredentials): CertPayload[] {
  return [local.certificate, ...local.intermediates].map((c) => ({
    type: PayloadType.CERT,
    encoding: CertEncoding.X509_CERT_SIGNATURE,
    data: c.der,
  }));
}

/**
 * CERTREQ for our trust anchors: the SHA-1 hashes of their SubjectPublicKeyInfo, concatenated
 * (RFC 7296 §3.7). Undefined when we trust no CA (then there is nothing to ask for).
 */
export function certReqPayload(trust: TrustStore): CertReqPayload | undefined {
  if (trust.anchors.length === 0) return undefined;
  const hashes = trust.anchors.map((c) => createHash("sha1").update(c.fields.subjectPublicKeyInfo).digest());
  return {
    type: PayloadType.CERTREQ,
    encoding: CertEncoding.X509_CERT_SIGNATURE,
    authorities: Buffer.concat(hashes),
  };
}

export interface BuildAuthInput {
  readonly credentials: LocalCredentials;
  /** Our InitiatorSignedOctets or ResponderSignedOctets (crypto/auth.ts signedOctets). */
  readonly octets: Uint8Array;
  /** The peer's SIGNATURE_HASH_ALGORITHMS (decodeSignatureHashes); undefined if it sent none. */
  readonly peerHashes: readonly number[] | undefined;
  readonly rsaPss?: boolean;
  readonly prefer?: "digital-signature" | "classic";
}

/** Our AUTH payload. */
export function buildAuthPayload(
  input: BuildAuthInput,
): AuthResult<{ payload: AuthPayload; scheme: string }> {
  const signed = signAuth({
    privateKey: input.credentials.privateKey,
    octets: input.octets,
    peerHashes: input.peerHashes,
    ...(input.rsaPss === undefined ? {} : { rsaPss: input.rsaPss }),
    ...(input.prefer === undefined ? {} : { prefer: input.prefer }),
  });
  if (!signed.ok) return signed;
  return authOk({
    payload: { type: PayloadType.AUTH, method: signed.value.method, data: signed.value.data },
    scheme: signed.value.scheme,
  });
}

export interface VerifyPeerInput {
  readonly trust: TrustStore;
  /** The peer's ID payload (IDi at the responder, IDr at the initiator). */
  readonly peerId: WireIdentity;
  /** The CERT payloads of the message, in order. */
  readonly certs: readonly CertPayload[];
  readonly auth: AuthPayload;
  /** The peer's signed octets, computed by us from our copy of its messages. */
  readonly octets: Uint8Array;
  /** Wall-clock time for certificate validity. */
  readonly now: Date;
}

export interface VerifiedPeer {
  readonly certificate: Certificate;
  /** End entity first, trust anchor (or pinned certificate) last. */
  readonly chain: Chain;
  /** The AUTH scheme the peer used, for logs. */
  readonly scheme: string;
}

const SIGNATURE_METHODS = new Set<number>([
  AuthMethod.RSA_SIGNATURE,
  AuthMethod.ECDSA_SHA256_P256,
  AuthMethod.ECDSA_SHA384_P384,
  AuthMethod.ECDSA_SHA512_P521,
  AuthMethod.DIGITAL_SIGNATURE,
]);

/** Everything a responder (or initiator) checks before it believes the peer's identity. */
export function verifyPeerAuth(input: VerifyPeerInput): AuthResult<VerifiedPeer> {
  const { trust, peerId, auth, octets, now } = input;
  if (!SIGNATURE_METHODS.has(auth.method)) {
    return authFail("AUTH_METHOD_UNSUPPORTED", `AUTH method ${auth.method} is not public-key authentication`);
  }
  const first = input.certs[0];
  if (first && first.encoding !== CertEncoding.X509_CERT_SIGNATURE) {
    return authFail(
      "AUTH_CERT_ENCODING_UNSUPPORTED",
      `the peer's first CERT payload has encoding ${first.encoding}; only X.509 Certificate - Signature (4) is supported`,
    );
  }
  const received: Certificate[] = [];
  for (const payload of input.certs) {
    if (payload.encoding !== CertEncoding.X509_CERT_SIGNATURE) continue; // e.g. CRLs: not used
    const cert = parseCertificate(payload.data);
    if (!cert.ok) return authFail(cert.error.code, `CERT payload: ${cert.error.message}`);
    received.push(cert.value);
  }
  const who = describeAuthIdentity(peerId);
  const [endEntity, ...intermediates] = received;
  if (!endEntity) {
    // No CERT: a configured peer certificate for this identity (swanctl remote.certs).
    const pinned = trust.pinned.filter((c) => certificateHasIdentity(c, peerId));
    if (pinned.length === 0) {
      return authFail("AUTH_NO_CERTIFICATE", `"${who}" sent no certificate and none is configured for it`);
    }
    let last: AuthResult<VerifiedPeer> | undefined;
    for (const cert of pinned) {
      last = checkPeer(cert, [], input, who);
      if (last.ok) return last;
    }
    return last ?? authFail("AUTH_NO_CERTIFICATE", `no certificate for "${who}"`);
  }
  return checkPeer(endEntity, intermediates, { trust, peerId, octets, now, auth }, who);
}

function checkPeer(
  endEntity: Certificate,
  intermediates: readonly Certificate[],
  input: Pick<VerifyPeerInput, "trust" | "peerId" | "octets" | "now" | "auth">,
  who: string,
): AuthResult<VerifiedPeer> {
  if (!certificateHasIdentity(endEntity, input.peerId)) {
    return authFail(
      "AUTH_IDENTITY_NOT_IN_CERT",
      `identity "${who}" is not in the peer's certificate (${describeCertificateIdentities(endEntity)})`,
    );
  }
  const chain = verifyChain({ endEntity, intermediates, trustStore: input.trust, now: input.now });
  if (!chain.ok) return chain;
  const verified = verifyAuth({
    publicKey: endEntity.publicKey,
    method: input.auth.method,
    data: input.auth.data,
    octets: input.octets,
  });
  if (!verified.ok)
    return authFail(verified.error.code, `authentication of "${who}": ${verified.error.message}`);
  return authOk({ certificate: endEntity, chain: chain.value, scheme: verified.value.scheme });
}
