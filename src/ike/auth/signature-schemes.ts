/**
 * Signature schemes of RFC 7427 (IKEv2 Digital Signature authentication, AUTH method 14): the
 * hash algorithm IDs of the SIGNATURE_HASH_ALGORITHMS notify (§4, IANA "IKEv2 Hash
 * Algorithms"), the AlgorithmIdentifier each scheme is announced with inside the AUTH data, and
 * the order in which a signer picks one, which is strongSwan 5.9's (public_key.c scheme_map):
 *
 *   RSA  ≤ 3072 bits: PSS-SHA256*, PSS-SHA384*, PSS-SHA512*, PKCS1-SHA256, PKCS1-SHA384, PKCS1-SHA512
 *   RSA  ≤ 7680 bits: PSS-SHA384*, PSS-SHA512*, PKCS1-SHA384, PKCS1-SHA512, then PKCS1-SHA256
 *   RSA  larger:      PSS-SHA512*, PKCS1-SHA512, then PKCS1-SHA384, PKCS1-SHA256
 *   ECDSA P-256: SHA256, SHA384, SHA512; P-384: SHA384, SHA512; P-521: SHA512
 *   Ed25519: Identity
 *   (* only when RSASSA-PSS is enabled, strongSwan's charon.rsa_pss, default off)
 *
 * The first scheme whose hash the peer listed is used.
 */
import {
  DerTag,
  type DerNode,
  contentOf,
  contextConstructed,
  decodeOid,
  decodeSmallInteger,
  readChildren,
  readWhole,
} from "./der-reader.js";
import { derInteger, derNull, derOid, derSequence, derTlv } from "./der-writer.js";

/** IKEv2 Hash Algorithm IDs (RFC 7427 §4, RFC 8420 for Identity). */
export const SignatureHash = {
  SHA1: 1,
  SHA2_256: 2,
  SHA2_384: 3,
  SHA2_512: 4,
  /** RFC 8420: the "hash" of EdDSA, which signs the message itself. */
  IDENTITY: 5,
} as const;

/** What we can verify: announce these in SIGNATURE_HASH_ALGORITHMS. */
export const SUPPORTED_SIGNATURE_HASHES: readonly number[] = [
  SignatureHash.SHA2_256,
  SignatureHash.SHA2_384,
  SignatureHash.SHA2_512,
  SignatureHash.IDENTITY,
];

/** Notify data of SIGNATURE_HASH_ALGORITHMS: 2-octet IDs. */
export function encodeSignatureHashes(ids: readonly number[]): Uint8Array {
  const out = new Uint8Array(ids.length * 2);
  ids.forEach((id, i) => {
    out[2 * i] = (id >> 8) & 0xff;
    out[2 * i + 1] = id & 0xff;
  });
  return out;
}

/** The IDs in a SIGNATURE_HASH_ALGORITHMS notify; an odd last octet is ignored, as strongSwan does. */
export function decodeSignatureHashes(data: Uint8Array): number[] {
  const ids: number[] = [];
  for (let i = 0; i + 1 < data.length; i += 2) ids.push(((data[i] ?? 0) << 8) | (data[i + 1] ?? 0));
  return ids;
}

export type Digest = "sha256" | "sha384" | "sha512";
export type SchemeFamily = "rsa-pkcs1" | "rsa-pss" | "ecdsa" | "ed25519";

export interface SignatureScheme {
  /** For logs: "sha256WithRSAEncryption", "RSASSA-PSS(SHA-256, salt 32)", "ecdsa-with-SHA384", "Ed25519". */
  readonly name: string;
  readonly family: SchemeFamily;
  /** The digest node:crypto applies; null for Ed25519. */
  readonly digest: Digest | null;
  /** The RFC 7427 hash ID the peer must have announced. */
  readonly hashId: number;
  /** RSASSA-PSS salt length in octets. */
  readonly saltLength?: number;
}

const OID = {
  RSASSA_PSS: "1.2.840.113549.1.1.10",
  MGF1: "1.2.840.113549.1.1.8",
  SHA1: "1.3.14.3.2.26",
  SHA256: "2.16.840.1.101.3.4.2.1",
  SHA384: "2.16.840.1.101.3.4.2.2",
  SHA512: "2.16.840.1.101.3.4.2.3",
  ED25519: "1.3.101.112",
} as const;

const DIGESTS: readonly { digest: Digest; oid: string; hashId: number; size: number; label: string }[] = [
  { digest: "sha256", oid: OID.SHA256, hashId: SignatureHash.SHA2_256, size: 32, label: "SHA-256" },
  { digest: "sha384", oid: OID.SHA384, hashId: SignatureHash.SHA2_384, size: 48, label: "SHA-384" },
  { digest: "sha512", oid: OID.SHA512, hashId: SignatureHash.SHA2_512, size: 64, label: "SHA-512" },
];

const PKCS1_OIDS: Record<Digest, string> = {
  sha256: "1.2.840.113549.1.1.11",
  sha384: "1.2.840.113549.1.1.12",
  sha512: "1.2.840.113549.1.1.13",
};
const ECDSA_OIDS: Record<Digest, string> = {
  sha256: "1.2.840.10045.4.3.2",
  sha384: "1.2.840.10045.4.3.3",
  sha512: "1.2.840.10045.4.3.4",
};
/** SHA-1 based AlgorithmIdentifiers: recognised only to refuse them by name (RFC 8247 §3.2). */
const SHA1_SIGNATURE_OIDS: Record<string, string> = {
  "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
  "1.2.840.10045.4.1": "ecdsa-with-SHA1",
};

function digestInfo(digest: Digest): (typeof DIGESTS)[number] {
  const info = DIGESTS.find((d) => d.digest === digest);
  if (!info) throw new RangeError(`unknown digest ${digest}`);
  return info;
}

export function pkcs1Scheme(digest: Digest): SignatureScheme {
  const info = digestInfo(digest);
  return { name: `${digest}WithRSAEncryption`, family: "rsa-pkcs1", digest, hashId: info.hashId };
}

/** RSASSA-PSS with MGF1 of the same hash; strongSwan uses a salt as long as the hash. */
export function pssScheme(digest: Digest, saltLength: number = digestInfo(digest).size): SignatureScheme {
  const info = digestInfo(digest);
  return {
    name: `RSASSA-PSS(${info.label}, salt ${saltLength})`,
    family: "rsa-pss",
    digest,
    hashId: info.hashId,
    saltLength,
  };
}

export function ecdsaScheme(digest: Digest): SignatureScheme {
  const info = digestInfo(digest);
  return { name: `ecdsa-with-${info.label.replace("-", "")}`, family: "ecdsa", digest, hashId: info.hashId };
}

export const ED25519_SCHEME: SignatureScheme = {
  name: "Ed25519",
  family: "ed25519",
  digest: null,
  hashId: SignatureHash.IDENTITY,
};

function hashAlgorithmIdentifier(digest: Digest): Uint8Array {
  // RFC 4055 §2.1: hash AlgorithmIdentifiers inside PSS parameters carry NULL, as strongSwan writes them.
  return derSequence(derOid(digestInfo(digest).oid), derNull());
}

/** The AlgorithmIdentifier of a scheme, as strongSwan's signature_params_build() writes it. */
export function algorithmIdentifier(scheme: SignatureScheme): Uint8Array {
  switch (scheme.family) {
    case "rsa-pkcs1":
      return derSequence(derOid(PKCS1_OIDS[scheme.digest ?? "sha256"]), derNull());
    case "ecdsa":
      return derSequence(derOid(ECDSA_OIDS[scheme.digest ?? "sha256"]));
    case "ed25519":
      return derSequence(derOid(OID.ED25519));
    case "rsa-pss": {
      const digest = scheme.digest ?? "sha256";
      const salt = scheme.saltLength ?? digestInfo(digest).size;
      // RSASSA-PSS-params (RFC 4055 §3.1); fields equal to their SHA-1 defaults are omitted.
      return derSequence(
        derOid(OID.RSASSA_PSS),
        derSequence(
          derTlv(contextConstructed(0), hashAlgorithmIdentifier(digest)),
          derTlv(contextConstructed(1), derSequence(derOid(OID.MGF1), hashAlgorithmIdentifier(digest))),
          ...(salt === 20 ? [] : [derTlv(contextConstructed(2), derInteger(salt))]),
        ),
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reading AlgorithmIdentifiers from AUTH data

/** The scheme an AlgorithmIdentifier names, or why not: malformed DER, or a scheme we do not do. */
export type SchemeLookup =
  | { readonly ok: true; readonly scheme: SignatureScheme }
  | { readonly ok: false; readonly reason: "malformed" | "unsupported"; readonly message: string };

const found = (scheme: SignatureScheme): SchemeLookup => ({ ok: true, scheme });
const malformed = (message: string): SchemeLookup => ({ ok: false, reason: "malformed", message });
const unsupported = (message: string): SchemeLookup => ({ ok: false, reason: "unsupported", message });

/** Params must be absent (or NULL where `nullAllowed`). */
function noParams(parts: readonly DerNode[], nullAllowed: boolean): boolean {
  if (parts.length === 1) return true;
  const p = parts[1];
  return parts.length === 2 && nullAllowed && p?.tag === DerTag.NULL && p.end === p.contentStart;
}

/** Reads an AlgorithmIdentifier that spans `der` exactly. */
export function schemeFromAlgorithmIdentifier(der: Uint8Array): SchemeLookup {
  const node = readWhole(der);
  if (!node.ok) return malformed(`AlgorithmIdentifier: ${node.error.message}`);
  const parts = node.value.tag === DerTag.SEQUENCE ? readChildren(der, node.value) : undefined;
  const oidNode = parts?.ok ? parts.value[0] : undefined;
  if (!parts?.ok || !oidNode || oidNode.tag !== DerTag.OID || parts.value.length > 2) {
    return malformed("an AlgorithmIdentifier is SEQUENCE { OID, parameters OPTIONAL }");
  }
  const oid = decodeOid(contentOf(der, oidNode), oidNode.contentStart);
  if (!oid.ok) return malformed(`AlgorithmIdentifier: ${oid.error.message}`);
  for (const digest of ["sha256", "sha384", "sha512"] as const) {
    if (oid.value === PKCS1_OIDS[digest]) {
      return noParams(parts.value, true)
        ? found(pkcs1Scheme(digest))
        : malformed(`${digest}WithRSAEncryption: parameters must be NULL`);
    }
    if (oid.value === ECDSA_OIDS[digest]) {
      // RFC 5758 §3.2: the parameters MUST be absent; a NULL is tolerated.
      return noParams(parts.value, true)
        ? found(ecdsaScheme(digest))
        : malformed(`ecdsa-with-${digest}: parameters must be absent`);
    }
  }
  if (oid.value === OID.ED25519) {
    return noParams(parts.value, false)
      ? found(ED25519_SCHEME)
      : malformed("Ed25519: parameters must be absent");
  }
  if (oid.value === OID.RSASSA_PSS) {
    const params = parts.value[1];
    if (!params) return unsupported("RSASSA-PSS without parameters means SHA-1, which is not accepted");
    return parsePssParams(der, params);
  }
  const sha1 = SHA1_SIGNATURE_OIDS[oid.value];
  if (sha1) return unsupported(`${sha1}: SHA-1 signatures are not accepted in RFC 7427 AUTH (RFC 8247 §3.2)`);
  return unsupported(`signature algorithm ${oid.value} is not supported`);
}

/** The digest a hash AlgorithmIdentifier names (parameters absent or NULL, RFC 4055 §2.1). */
function digestOf(der: Uint8Array, node: DerNode): Digest | "sha1" | undefined {
  if (node.tag !== DerTag.SEQUENCE) return undefined;
  const parts = readChildren(der, node);
  if (!parts.ok) return undefined;
  const oidNode = parts.value[0];
  if (!oidNode || oidNode.tag !== DerTag.OID || !noParams(parts.value, true)) return undefined;
  const oid = decodeOid(contentOf(der, oidNode));
  if (!oid.ok) return undefined;
  if (oid.value === OID.SHA1) return "sha1";
  return DIGESTS.find((d) => d.oid === oid.value)?.digest;
}

/**
 * RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] DEFAULT sha1, maskGenAlgorithm [1] DEFAULT
 * mgf1SHA1, saltLength [2] INTEGER DEFAULT 20, trailerField [3] INTEGER DEFAULT 1 } (RFC 4055 §3.1)
 */
function parsePssParams(der: Uint8Array, params: DerNode): SchemeLookup {
  if (params.tag !== DerTag.SEQUENCE) return malformed("RSASSA-PSS parameters are a SEQUENCE");
  const fields = readChildren(der, params);
  if (!fields.ok) return malformed(`RSASSA-PSS parameters: ${fields.error.message}`);
  let hash: Digest | "sha1" | undefined = "sha1";
  let mgfHash: Digest | "sha1" | undefined = "sha1";
  let salt = 20;
  let lastTag = -1;
  for (const field of fields.value) {
    if (field.tag <= lastTag || field.tag < contextConstructed(0) || field.tag > contextConstructed(3)) {
      return malformed("RSASSA-PSS parameters out of order or unknown");
    }
    lastTag = field.tag;
    const inner = readChildren(der, field);
    const value = inner.ok && inner.value.length === 1 ? inner.value[0] : undefined;
    if (!value) return malformed("an RSASSA-PSS parameter holds one element");
    if (field.tag === contextConstructed(0)) {
      hash = digestOf(der, value);
    } else if (field.tag === contextConstructed(1)) {
      const mgf = value.tag === DerTag.SEQUENCE ? readChildren(der, value) : undefined;
      if (!mgf?.ok) return malformed("maskGenAlgorithm is a SEQUENCE");
      const [mgfOid, mgfParams] = mgf.value;
      const name = mgfOid?.tag === DerTag.OID ? decodeOid(contentOf(der, mgfOid)) : undefined;
      if (!name?.ok || name.value !== OID.MGF1 || !mgfParams || mgf.value.length !== 2) {
        return unsupported("RSASSA-PSS: only MGF1 is supported");
      }
      mgfHash = digestOf(der, mgfParams);
    } else {
      const n = value.tag === DerTag.INTEGER ? decodeSmallInteger(contentOf(der, value)) : undefined;
      if (!n?.ok) return malformed("RSASSA-PSS saltLength and trailerField are small INTEGERs");
      if (field.tag === contextConstructed(2)) salt = n.value;
      else if (n.value !== 1) return malformed("RSASSA-PSS trailerField must be 1");
    }
  }
  if (hash === undefined || mgfHash === undefined) return unsupported("RSASSA-PSS: unknown hash algorithm");
  if (hash === "sha1") return unsupported("RSASSA-PSS with SHA-1 is not accepted");
  // node:crypto signs and verifies PSS with MGF1 over the signature's own hash.
  if (mgfHash !== hash) return unsupported(`RSASSA-PSS: MGF1 with ${mgfHash} under ${hash} is not supported`);
  if (salt > 1024) return malformed(`RSASSA-PSS: salt length ${salt} is absurd`);
  return found(pssScheme(hash, salt));
}

// ---------------------------------------------------------------------------------------------
// Choosing a scheme to sign with

export interface KeyDescription {
  readonly kind: "rsa" | "rsa-pss" | "ec" | "ed25519" | "other";
  /** RSA modulus or EC field size in bits. */
  readonly bits: number;
  /** node:crypto's curve name: "prime256v1", "secp384r1", "secp521r1". */
  readonly curve?: string;
}

/** strongSwan's preference order for a key (see the table at the top of this file). */
export function schemesForKey(key: KeyDescription, options: { rsaPss?: boolean } = {}): SignatureScheme[] {
  const bySize = (limits: readonly [number, Digest][]): Digest[] =>
    limits.filter(([max]) => max === 0 || key.bits <= max).map(([, d]) => d);
  const rsaDigests = bySize([
    [3072, "sha256"],
    [7680, "sha384"],
    [0, "sha512"],
  ]);
  switch (key.kind) {
    case "rsa": {
      const schemes = [
        ...(options.rsaPss ? rsaDigests.map((d) => pssScheme(d)) : []),
        ...rsaDigests.map((d) => pkcs1Scheme(d)),
      ];
      // strongSwan: "for RSA we tried at least SHA-512, also try other schemes".
      for (const d of ["sha384", "sha256"] as const) {
        if (!schemes.some((s) => s.family === "rsa-pkcs1" && s.digest === d)) schemes.push(pkcs1Scheme(d));
      }
      return schemes;
    }
    case "rsa-pss":
      // A key restricted to PSS (id-RSASSA-PSS SubjectPublicKeyInfo) signs nothing else.
      return rsaDigests.map((d) => pssScheme(d));
    case "ec": {
      const sizes: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };
      const bits = sizes[key.curve ?? ""] ?? key.bits;
      return (
        [
          [256, "sha256"],
          [384, "sha384"],
          [0, "sha512"],
        ] as const
      )
        .filter(([max]) => max === 0 || bits <= max)
        .map(([, d]) => ecdsaScheme(d));
    }
    case "ed25519":
      return [ED25519_SCHEME];
    default:
      return [];
  }
}
