/**
 * IANA numbers of the IKEv2 transforms we implement ("Internet Key Exchange Version 2 (IKEv2)
 * Parameters" registry, RFC 7296 §3.3.2), the table of their sizes, and a parser for proposal
 * strings written with strongSwan's keywords ("aes128gcm16-prfsha256-x25519").
 */
import { IkeCryptoError, unsupported } from "./errors.js";

/** Transform types (RFC 7296 §3.3.2). Type 4 is "Diffie-Hellman group" (RFC 9370: "Key Exchange Method"). */
export const TransformType = { ENCR: 1, PRF: 2, INTEG: 3, DH: 4, ESN: 5 } as const;
export type TransformType = (typeof TransformType)[keyof typeof TransformType];

/** Transform type 1, encryption algorithms. */
export const EncrId = {
  /** RFC 3602 / RFC 7296 §3.14; Key Length attribute 128 or 256. */
  AES_CBC: 12,
  /** RFC 5282 (ENCR_AES_GCM_16: 16-octet ICV); Key Length attribute 128 or 256. */
  AES_GCM_16: 20,
  /** RFC 7634; always a 256-bit key, sent without a Key Length attribute. */
  CHACHA20_POLY1305: 28,
} as const;
export type EncrId = (typeof EncrId)[keyof typeof EncrId];

/** Transform type 2, pseudorandom functions (RFC 4868). */
export const PrfId = { HMAC_SHA2_256: 5, HMAC_SHA2_384: 6, HMAC_SHA2_512: 7 } as const;
export type PrfId = (typeof PrfId)[keyof typeof PrfId];

/** Transform type 3, integrity algorithms (RFC 4868). NONE goes with AEAD ciphers. */
export const IntegId = {
  NONE: 0,
  HMAC_SHA2_256_128: 12,
  HMAC_SHA2_384_192: 13,
  HMAC_SHA2_512_256: 14,
} as const;
export type IntegId = (typeof IntegId)[keyof typeof IntegId];

/** Transform type 4, Diffie-Hellman groups (RFC 3526, RFC 5903, RFC 8031). */
export const DhId = {
  NONE: 0,
  MODP_2048: 14,
  MODP_3072: 15,
  ECP_256: 19,
  ECP_384: 20,
  ECP_521: 21,
  CURVE25519: 31,
} as const;
export type DhId = (typeof DhId)[keyof typeof DhId];

/** Transform type 5, extended sequence numbers (ESP/AH proposals only). */
export const EsnId = { NO_ESN: 0, ESN: 1 } as const;
export type EsnId = (typeof EsnId)[keyof typeof EsnId];

/** Transform attribute type of the Key Length attribute, in bits (RFC 7296 §3.3.5). */
export const KEY_LENGTH_ATTRIBUTE = 14;

export interface EncrAlgorithm {
  readonly id: EncrId;
  readonly name: string;
  /** Key lengths in bits this implementation accepts. */
  readonly keyLengths: readonly number[];
  /** Whether the transform carries a Key Length attribute. */
  readonly keyLengthAttribute: boolean;
  /**
   * Alignment of inner payloads | padding | pad length in the SK payload (RFC 7296 §3.14).
   * The AEAD modes are stream modes: 1, as in strongSwan; any padding is accepted on receipt.
   */
  readonly blockSize: number;
  /** Bytes of IV sent in front of the ciphertext. */
  readonly ivLength: number;
  /** Bytes of authentication tag for AEAD, 0 when a separate integrity transform is needed. */
  readonly icvLength: number;
  /** Bytes of salt taken from the end of the keying material (RFC 5282, RFC 7634 §2). */
  readonly saltLength: number;
  readonly aead: boolean;
}

export interface PrfAlgorithm {
  readonly id: PrfId;
  readonly name: string;
  readonly hash: "sha256" | "sha384" | "sha512";
  readonly outputLength: number;
  /** Length of SK_d, SK_pi and SK_pr (RFC 7296 §2.14: the PRF's preferred key size). */
  readonly preferredKeyLength: number;
}

export interface IntegAlgorithm {
  readonly id: Exclude<IntegId, 0>;
  readonly name: string;
  readonly hash: "sha256" | "sha384" | "sha512";
  /** RFC 4868 §2.1.1: the key is as long as the hash output. */
  readonly keyLength: number;
  /** RFC 4868 §2.1.1: the ICV is the hash output truncated to half. */
  readonly icvLength: number;
}

export interface DhGroupInfo {
  readonly id: Exclude<DhId, 0>;
  readonly name: string;
  readonly kind: "modp" | "ecp" | "curve25519";
  /** Length of the Key Exchange Data in the KE payload. */
  readonly publicKeyLength: number;
  /** Length of g^ir as it enters SKEYSEED and KEYMAT. */
  readonly sharedSecretLength: number;
}

const ENCR_TABLE: readonly EncrAlgorithm[] = [
  {
    id: EncrId.AES_CBC,
    name: "ENCR_AES_CBC",
    keyLengths: [128, 256],
    keyLengthAttribute: true,
    blockSize: 16,
    ivLength: 16,
    icvLength: 0,
    saltLength: 0,
    aead: false,
  },
  {
    id: EncrId.AES_GCM_16,
    name: "ENCR_AES_GCM_16",
    keyLengths: [128, 256],
    keyLengthAttribute: true,
    blockSize: 1,
    ivLength: 8,
    icvLength: 16,
    saltLength: 4,
    aead: true,
  },
  {
    id: EncrId.CHACHA20_POLY1305,
    name: "ENCR_CHACHA20_POLY1305",
    keyLengths: [256],
    keyLengthAttribute: false,
    blockSize: 1,
    ivLength: 8,
    icvLength: 16,
    saltLength: 4,
    aead: true,
  },
];

const PRF_TABLE: readonly PrfAlgorithm[] = [
  {
    id: PrfId.HMAC_SHA2_256,
    name: "PRF_HMAC_SHA2_256",
    hash: "sha256",
    outputLength: 32,
    preferredKeyLength: 32,
  },
  {
    id: PrfId.HMAC_SHA2_384,
    name: "PRF_HMAC_SHA2_384",
    hash: "sha384",
    outputLength: 48,
    preferredKeyLength: 48,
  },
  {
    id: PrfId.HMAC_SHA2_512,
    name: "PRF_HMAC_SHA2_512",
    hash: "sha512",
    outputLength: 64,
    preferredKeyLength: 64,
  },
];

const INTEG_TABLE: readonly IntegAlgorithm[] = [
  {
    id: IntegId.HMAC_SHA2_256_128,
    name: "AUTH_HMAC_SHA2_256_128",
    hash: "sha256",
    keyLength: 32,
    icvLength: 16,
  },
  {
    id: IntegId.HMAC_SHA2_384_192,
    name: "AUTH_HMAC_SHA2_384_192",
    hash: "sha384",
    keyLength: 48,
    icvLength: 24,
  },
  {
    id: IntegId.HMAC_SHA2_512_256,
    name: "AUTH_HMAC_SHA2_512_256",
    hash: "sha512",
    keyLength: 64,
    icvLength: 32,
  },
];

const DH_TABLE: readonly DhGroupInfo[] = [
  { id: DhId.MODP_2048, name: "MODP_2048", kind: "modp", publicKeyLength: 256, sharedSecretLength: 256 },
  { id: DhId.MODP_3072, name: "MODP_3072", kind: "modp", publicKeyLength: 384, sharedSecretLength: 384 },
  // RFC 5903 §7: KE data is x | y, the shared secret is x alone.
  { id: DhId.ECP_256, name: "ECP_256", kind: "ecp", publicKeyLength: 64, sharedSecretLength: 32 },
  { id: DhId.ECP_384, name: "ECP_384", kind: "ecp", publicKeyLength: 96, sharedSecretLength: 48 },
  { id: DhId.ECP_521, name: "ECP_521", kind: "ecp", publicKeyLength: 132, sharedSecretLength: 66 },
  {
    id: DhId.CURVE25519,
    name: "CURVE25519",
    kind: "curve25519",
    publicKeyLength: 32,
    sharedSecretLength: 32,
  },
];

function lookup<T extends { readonly id: number }>(
  table: readonly T[],
  id: unknown,
  name: string,
  what: string,
): T {
  const found = table.find((entry) => entry.id === id);
  if (found === undefined) {
    const ids = table.map((entry) => entry.id).join(", ");
    throw unsupported(name, `${what} ${String(id)} is not implemented`, String(id), `use one of ${ids}`);
  }
  return found;
}

export const SUPPORTED_ENCR: readonly EncrAlgorithm[] = ENCR_TABLE;
export const SUPPORTED_PRF: readonly PrfAlgorithm[] = PRF_TABLE;
export const SUPPORTED_INTEG: readonly IntegAlgorithm[] = INTEG_TABLE;
export const SUPPORTED_DH: readonly DhGroupInfo[] = DH_TABLE;

export function encrAlgorithm(id: number): EncrAlgorithm {
  return lookup(ENCR_TABLE, id, "encr", "encryption transform");
}

export function prfAlgorithm(id: number): PrfAlgorithm {
  return lookup(PRF_TABLE, id, "prf", "PRF transform");
}

export function integAlgorithm(id: number): IntegAlgorithm {
  return lookup(INTEG_TABLE, id, "integ", "integrity transform");
}

export function dhGroupInfo(id: number): DhGroupInfo {
  return lookup(DH_TABLE, id, "dh", "Diffie-Hellman group");
}

/**
 * The key length in bits for an encryption transform: the Key Length attribute for AES (which
 * must be present), always 256 for ChaCha20-Poly1305 (where the attribute is absent).
 */
export function resolveEncrKeyLength(id: number, keyLength: number | undefined): number {
  const algorithm = encrAlgorithm(id);
  if (keyLength === undefined) {
    const only = algorithm.keyLengths[0];
    if (!algorithm.keyLengthAttribute && only !== undefined) return only;
    throw unsupported(
      "keyLength",
      `${algorithm.name} needs a key length`,
      "undefined",
      `give ${algorithm.keyLengths.join(" or ")}`,
    );
  }
  if (!algorithm.keyLengths.includes(keyLength)) {
    throw unsupported(
      "keyLength",
      `${algorithm.name} with a ${keyLength}-bit key is not implemented`,
      keyLength,
      `use ${algorithm.keyLengths.join(" or ")}`,
    );
  }
  return keyLength;
}

/** Bytes of keying material for an encryption key: key, then salt for AEAD (RFC 5282, RFC 7634). */
export function encrKeyMaterialLength(id: number, keyLength: number | undefined): number {
  return resolveEncrKeyLength(id, keyLength) / 8 + encrAlgorithm(id).saltLength;
}

// ---------------------------------------------------------------------------------------------
// Proposal strings
// ---------------------------------------------------------------------------------------------

export interface EncrTransform {
  readonly type: 1;
  readonly id: EncrId;
  /** Key Length attribute in bits; absent for ChaCha20-Poly1305. */
  readonly keyLength?: number;
}
export interface PrfTransform {
  readonly type: 2;
  readonly id: PrfId;
}
export interface IntegTransform {
  readonly type: 3;
  readonly id: Exclude<IntegId, 0>;
}
export interface DhTransform {
  readonly type: 4;
  readonly id: Exclude<DhId, 0>;
}
export interface EsnTransform {
  readonly type: 5;
  readonly id: EsnId;
}
export type Transform = EncrTransform | PrfTransform | IntegTransform | DhTransform | EsnTransform;

/** The transforms of one proposal, by type, in the order they were written. */
export interface ProposalTransforms {
  readonly encr: readonly EncrTransform[];
  readonly prf: readonly PrfTransform[];
  readonly integ: readonly IntegTransform[];
  readonly dh: readonly DhTransform[];
  readonly esn: readonly EsnTransform[];
}

export type ProposalProtocol = "ike" | "esp";

const KEYWORDS: ReadonlyMap<string, Transform> = new Map<string, Transform>([
  ["aes128", { type: 1, id: EncrId.AES_CBC, keyLength: 128 }],
  ["aes256", { type: 1, id: EncrId.AES_CBC, keyLength: 256 }],
  ["aes128gcm16", { type: 1, id: EncrId.AES_GCM_16, keyLength: 128 }],
  ["aes128gcm128", { type: 1, id: EncrId.AES_GCM_16, keyLength: 128 }],
  ["aes256gcm16", { type: 1, id: EncrId.AES_GCM_16, keyLength: 256 }],
  ["aes256gcm128", { type: 1, id: EncrId.AES_GCM_16, keyLength: 256 }],
  ["chacha20poly1305", { type: 1, id: EncrId.CHACHA20_POLY1305 }],
  ["prfsha256", { type: 2, id: PrfId.HMAC_SHA2_256 }],
  ["prfsha384", { type: 2, id: PrfId.HMAC_SHA2_384 }],
  ["prfsha512", { type: 2, id: PrfId.HMAC_SHA2_512 }],
  ["sha256", { type: 3, id: IntegId.HMAC_SHA2_256_128 }],
  ["sha2_256", { type: 3, id: IntegId.HMAC_SHA2_256_128 }],
  ["sha384", { type: 3, id: IntegId.HMAC_SHA2_384_192 }],
  ["sha2_384", { type: 3, id: IntegId.HMAC_SHA2_384_192 }],
  ["sha512", { type: 3, id: IntegId.HMAC_SHA2_512_256 }],
  ["sha2_512", { type: 3, id: IntegId.HMAC_SHA2_512_256 }],
  ["modp2048", { type: 4, id: DhId.MODP_2048 }],
  ["modp3072", { type: 4, id: DhId.MODP_3072 }],
  ["ecp256", { type: 4, id: DhId.ECP_256 }],
  ["ecp384", { type: 4, id: DhId.ECP_384 }],
  ["ecp521", { type: 4, id: DhId.ECP_521 }],
  ["x25519", { type: 4, id: DhId.CURVE25519 }],
  ["curve25519", { type: 4, id: DhId.CURVE25519 }],
  ["esn", { type: 5, id: EsnId.ESN }],
  ["noesn", { type: 5, id: EsnId.NO_ESN }],
]);

/** strongSwan derives an IKE PRF from the integrity algorithm when none is written. */
const PRF_FROM_INTEG: ReadonlyMap<number, PrfId> = new Map<number, PrfId>([
  [IntegId.HMAC_SHA2_256_128, PrfId.HMAC_SHA2_256],
  [IntegId.HMAC_SHA2_384_192, PrfId.HMAC_SHA2_384],
  [IntegId.HMAC_SHA2_512_256, PrfId.HMAC_SHA2_512],
]);

/** The keywords `parseProposalString` understands, for help texts. */
export const PROPOSAL_KEYWORDS: readonly string[] = [...KEYWORDS.keys()];

function proposalError(text: string, problem: string, keyword: string, hint: string): IkeCryptoError {
  return new IkeCryptoError("IKE_PROPOSAL_INVALID", `proposal "${text}": ${problem}`, {
    key: "proposal",
    value: keyword,
    hint,
  });
}

/**
 * Parses one proposal in strongSwan's syntax: algorithm keywords joined by "-", any order,
 * several per transform type allowed (they become alternatives in the same proposal).
 *
 * IKE: at least one ENCR and one DH group. With AEAD ciphers a PRF keyword is required and
 * integrity keywords are refused (RFC 5282 §8, RFC 7634 §4); without, an integrity keyword is
 * required and a missing PRF is derived from it, as strongSwan does (sha256 → prfsha256).
 * ESP: ENCR, INTEG unless AEAD, DH optional (PFS), no PRF; ESN defaults to noesn (an ESP
 * proposal must carry an ESN transform, RFC 7296 §3.3.3).
 * AEAD and non-AEAD ciphers cannot share a proposal: write two proposals.
 */
export function parseProposalString(text: string, protocol: ProposalProtocol = "ike"): ProposalTransforms {
  if (typeof text !== "string") {
    throw proposalError(
      String(text),
      "expected a string",
      String(text),
      'write e.g. "aes128gcm16-prfsha256-x25519"',
    );
  }
  const supported = `supported keywords: ${PROPOSAL_KEYWORDS.join(", ")}`;
  const encr: EncrTransform[] = [];
  const prf: PrfTransform[] = [];
  const integ: IntegTransform[] = [];
  const dh: DhTransform[] = [];
  const esn: EsnTransform[] = [];
  const seen = new Set<string>();

  for (const raw of text.trim().split("-")) {
    const keyword = raw.trim().toLowerCase();
    if (keyword === "") {
      throw proposalError(
        text,
        "empty algorithm keyword (two dashes in a row, or a dash at an end)",
        raw,
        supported,
      );
    }
    const transform = KEYWORDS.get(keyword);
    if (transform === undefined) {
      throw proposalError(text, `unknown or unsupported algorithm keyword "${raw}"`, raw, supported);
    }
    const identity = `${transform.type}/${transform.id}/${transform.type === 1 ? (transform.keyLength ?? "") : ""}`;
    if (seen.has(identity)) {
      throw proposalError(
        text,
        `algorithm keyword "${raw}" repeats an algorithm already listed`,
        raw,
        "list each algorithm once",
      );
    }
    seen.add(identity);
    switch (transform.type) {
      case 1:
        encr.push(transform);
        break;
      case 2:
        if (protocol === "esp") {
          throw proposalError(text, `"${raw}" is a PRF, which ESP proposals do not have`, raw, "remove it");
        }
        prf.push(transform);
        break;
      case 3:
        integ.push(transform);
        break;
      case 4:
        dh.push(transform);
        break;
      case 5:
        if (protocol === "ike") {
          throw proposalError(text, `"${raw}" applies to ESP proposals, not IKE`, raw, "remove it");
        }
        esn.push(transform);
        break;
    }
  }

  const first = encr[0];
  if (first === undefined) {
    throw proposalError(text, "no encryption algorithm", text, "add one, e.g. aes128gcm16 or aes256");
  }
  const aead = encrAlgorithm(first.id).aead;
  const mixed = encr.find((t) => encrAlgorithm(t.id).aead !== aead);
  if (mixed !== undefined) {
    throw proposalError(
      text,
      "AEAD and non-AEAD encryption algorithms cannot share a proposal",
      keywordOf(mixed),
      "write two proposals, one with the AEAD ciphers and one with the others",
    );
  }
  const firstInteg = integ[0];
  if (aead && firstInteg !== undefined) {
    throw proposalError(
      text,
      `integrity algorithm "${keywordOf(firstInteg)}" given with an AEAD cipher`,
      keywordOf(firstInteg),
      "remove it: AEAD ciphers protect integrity themselves",
    );
  }
  if (!aead && firstInteg === undefined) {
    throw proposalError(text, "no integrity algorithm for a non-AEAD cipher", text, "add one, e.g. sha256");
  }
  if (protocol === "ike") {
    if (prf.length === 0) {
      if (aead) {
        throw proposalError(
          text,
          "no PRF (an AEAD proposal has no integrity algorithm to derive it from)",
          text,
          "add one, e.g. prfsha256",
        );
      }
      for (const t of integ) {
        const derived = PRF_FROM_INTEG.get(t.id);
        if (derived !== undefined) prf.push({ type: 2, id: derived });
      }
    }
    if (dh.length === 0) {
      throw proposalError(text, "no Diffie-Hellman group", text, "add one, e.g. x25519 or ecp256");
    }
  } else if (esn.length === 0) {
    esn.push({ type: 5, id: EsnId.NO_ESN });
  }
  return { encr, prf, integ, dh, esn };
}

function keywordOf(transform: Transform): string {
  for (const [keyword, t] of KEYWORDS) {
    if (t.type === transform.type && t.id === transform.id && keyLengthOf(t) === keyLengthOf(transform)) {
      return keyword;
    }
  }
  return `${transform.type}/${transform.id}`;
}

function keyLengthOf(transform: Transform): number | undefined {
  return transform.type === 1 ? transform.keyLength : undefined;
}
