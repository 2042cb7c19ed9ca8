/**
 * The AUTH payload of public-key authentication (RFC 7296 §2.15, §3.8): a signature over the
 * InitiatorSignedOctets or ResponderSignedOctets (`signedOctets` in crypto/auth.ts).
 *
 * | method | name                   | data                                                           |
 * | ------ | ---------------------- | -------------------------------------------------------------- |
 * | 1      | RSA Digital Signature  | RSASSA-PKCS1-v1_5 with SHA-1 (RFC 7296 §3.8)                   |
 * | 9      | ECDSA SHA-256 P-256    | r ‖ s, 32 octets each (RFC 4754 §7: not DER)                   |
 * | 10     | ECDSA SHA-384 P-384    | r ‖ s, 48 octets each                                          |
 * | 11     | ECDSA SHA-512 P-521    | r ‖ s, 66 octets each                                          |
 * | 14     | Digital Signature      | length octet ‖ AlgorithmIdentifier ‖ signature (RFC 7427 §3); |
 * |        |                        | ECDSA signatures here are DER Ecdsa-Sig-Value                  |
 *
 * Sending: method 14 when the peer announced SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4) and one of
 * its hashes fits our key, with strongSwan's choice of scheme (signature-schemes.ts); otherwise
 * the classic method of the key (1, 9, 10 or 11), as strongSwan does when the peer does not
 * support RFC 7427. Receiving: every method above, and in method 14 sha256/384/512WithRSA,
 * RSASSA-PSS (SHA-2, MGF1 with the same hash, any salt length), ecdsa-with-SHA256/384/512 and
 * Ed25519.
 */
import { type KeyObject, constants, createPublicKey, sign, verify } from "node:crypto";
import { type AuthResult, authFail, authOk } from "./auth-result.js";
import { AuthMethod } from "../codec/auth.js";
import {
  type KeyDescription,
  type SignatureScheme,
  algorithmIdentifier,
  schemeFromAlgorithmIdentifier,
  schemesForKey,
} from "./signature-schemes.js";

/** The classic ECDSA methods and what each fixes (RFC 4754 §3). */
const ECDSA_METHODS: Record<
  number,
  { curve: string; digest: "sha256" | "sha384" | "sha512"; size: number; label: string }
> = {
  [AuthMethod.ECDSA_SHA256_P256]: { curve: "prime256v1", digest: "sha256", size: 32, label: "ECDSA-256" },
  [AuthMethod.ECDSA_SHA384_P384]: { curve: "secp384r1", digest: "sha384", size: 48, label: "ECDSA-384" },
  [AuthMethod.ECDSA_SHA512_P521]: { curve: "secp521r1", digest: "sha512", size: 66, label: "ECDSA-521" },
};

/** What kind of key this is, for choosing and checking schemes. */
export function describeKey(key: KeyObject): KeyDescription {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "rsa":
    case "rsa-pss":
      return { kind: key.asymmetricKeyType, bits: details.modulusLength ?? 0 };
    case "ec": {
      const curve = details.namedCurve ?? "";
      const bits: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };
      return { kind: "ec", bits: bits[curve] ?? 0, curve };
    }
    case "ed25519":
      return { kind: "ed25519", bits: 256 };
    default:
      return { kind: "other", bits: 0 };
  }
}

function classicMethod(key: KeyDescription): number | undefined {
  if (key.kind === "rsa") return AuthMethod.RSA_SIGNATURE;
  if (key.kind !== "ec") return undefined;
  for (const [method, ecdsa] of Object.entries(ECDSA_METHODS))
    if (ecdsa.curve === key.curve) return Number(method);
  return undefined;
}

function fitsKey(scheme: SignatureScheme, key: KeyDescription): boolean {
  switch (scheme.family) {
    case "rsa-pkcs1":
      return key.kind === "rsa";
    case "rsa-pss":
      return key.kind === "rsa" || key.kind === "rsa-pss";
    case "ecdsa":
      return key.kind === "ec";
    case "ed25519":
      return key.kind === "ed25519";
  }
}

/** node:crypto options that both sign() and verify() take. */
interface KeyOptions {
  key: KeyObject;
  padding?: number;
  saltLength?: number;
  dsaEncoding?: "der" | "ieee-p1363";
}

function nodeSignOptions(scheme: SignatureScheme, key: KeyObject): KeyOptions {
  switch (scheme.family) {
    case "rsa-pkcs1":
      return { key, padding: constants.RSA_PKCS1_PADDING };
    case "rsa-pss":
      return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength ?? 32 };
    case "ecdsa":
      // RFC 7427: inside method 14 an ECDSA signature is the DER Ecdsa-Sig-Value.
      return { key, dsaEncoding: "der" };
    case "ed25519":
      return { key };
  }
}

export interface SignAuthInput {
  /** Our private key. */
  readonly privateKey: KeyObject;
  /** InitiatorSignedOctets or ResponderSignedOctets (RFC 7296 §2.15). */
  readonly octets: Uint8Array;
  /**
   * Hash IDs from the peer's SIGNATURE_HASH_ALGORITHMS notify (decodeSignatureHashes); undefined
   * or empty if it sent none, which means it does not do RFC 7427.
   */
  readonly peerHashes: readonly number[] | undefined;
  /** "digital-signature" (default): method 14 when possible; "classic": methods 1, 9-11 when possible. */
  readonly prefer?: "digital-signature" | "classic";
  /** RSASSA-PSS for RSA keys in method 14 (strongSwan's charon.rsa_pss; default off, as there). */
  readonly rsaPss?: boolean;
}

export interface SignedAuth {
  /** The AUTH payload's Auth Method. */
  readonly method: number;
  /** The AUTH payload's Authentication Data. */
  readonly data: Uint8Array;
  /** What was used, for logs: "ecdsa-with-SHA256", "RSA_SIGNATURE (SHA-1)", ... */
  readonly scheme: string;
}

function signClassic(
  key: KeyObject,
  description: KeyDescription,
  octets: Uint8Array,
): AuthResult<SignedAuth> {
  const method = classicMethod(description);
  if (method === AuthMethod.RSA_SIGNATURE) {
    const data = sign("sha1", octets, { key, padding: constants.RSA_PKCS1_PADDING });
    return authOk({ method, data: new Uint8Array(data), scheme: "RSA_SIGNATURE (PKCS#1 v1.5, SHA-1)" });
  }
  const ecdsa = method === undefined ? undefined : ECDSA_METHODS[method];
  if (method === undefined || !ecdsa) {
    return authFail(
      "AUTH_NO_COMMON_HASH",
      `a ${description.kind} key${description.curve ? ` on ${description.curve}` : ""} has no classic AUTH method, and the peer does not do RFC 7427 with a hash this key can use`,
    );
  }
  const data = sign(ecdsa.digest, octets, { key, dsaEncoding: "ieee-p1363" });
  return authOk({ method, data: new Uint8Array(data), scheme: ecdsa.label });
}

/**
 * Signs the octets for our AUTH payload (see the table above for which method). Errors: a key
 * that fits no method the peer accepts (AUTH_NO_COMMON_HASH), or one we cannot use.
 */
export function signAuth(input: SignAuthInput): AuthResult<SignedAuth> {
  const key = input.privateKey;
  if (key.type !== "private") return authFail("AUTH_KEY_MISMATCH", "signAuth needs a private key");
  const description = describeKey(key);
  if (description.kind === "other") {
    return authFail(
      "AUTH_METHOD_UNSUPPORTED",
      `cannot sign with a ${key.asymmetricKeyType ?? "unknown"} key`,
    );
  }
  const peerHashes = input.peerHashes ?? [];
  const classic = classicMethod(description);
  const wantClassic = input.prefer === "classic" && classic !== undefined;
  if (peerHashes.length > 0 && !wantClassic) {
    const scheme = schemesForKey(description, { rsaPss: input.rsaPss ?? false }).find((s) =>
      peerHashes.includes(s.hashId),
    );
    if (scheme) {
      const signature = sign(scheme.digest, input.octets, nodeSignOptions(scheme, key));
      const algorithm = algorithmIdentifier(scheme);
      const data = new Uint8Array(1 + algorithm.length + signature.length);
      data[0] = algorithm.length;
      data.set(algorithm, 1);
      data.set(signature, 1 + algorithm.length);
      return authOk({ method: AuthMethod.DIGITAL_SIGNATURE, data, scheme: scheme.name });
    }
    // No common hash: the classic method still works with any IKEv2 peer (RFC 7427 §1).
  }
  return signClassic(key, description, input.octets);
}

export interface VerifyAuthInput {
  /** The peer's public key (from its end-entity certificate). */
  readonly publicKey: KeyObject;
  /** The AUTH payload's Auth Method. */
  readonly method: number;
  /** The AUTH payload's Authentication Data. */
  readonly data: Uint8Array;
  /** The peer's InitiatorSignedOctets or ResponderSignedOctets, computed by us (RFC 7296 §2.15). */
  readonly octets: Uint8Array;
}

export interface VerifiedAuth {
  /** For logs: "sha256WithRSAEncryption", "ECDSA-256", ... */
  readonly scheme: string;
}

function checkedVerify(
  digest: string | null,
  octets: Uint8Array,
  options: KeyOptions,
  signature: Uint8Array,
  scheme: string,
): AuthResult<VerifiedAuth> {
  let valid: boolean;
  try {
    valid = verify(digest, octets, options, signature);
  } catch (error) {
    // node:crypto throws for some malformed signatures (e.g. bad DER in ECDSA); that is a bad signature.
    return authFail("AUTH_SIGNATURE_INVALID", `${scheme} signature rejected: ${(error as Error).message}`);
  }
  return valid
    ? authOk({ scheme })
    : authFail("AUTH_SIGNATURE_INVALID", `${scheme} signature does not verify with the peer's public key`);
}

/** Checks a received AUTH payload against the peer's public key. Never throws on the data. */
export function verifyAuth(input: VerifyAuthInput): AuthResult<VerifiedAuth> {
  const key = input.publicKey.type === "private" ? createPublicKey(input.publicKey) : input.publicKey;
  const description = describeKey(key);
  const { method, data, octets } = input;
  if (method === AuthMethod.RSA_SIGNATURE) {
    if (description.kind !== "rsa") {
      return authFail(
        "AUTH_KEY_MISMATCH",
        `AUTH method 1 (RSA) but the certificate holds a ${description.kind} key`,
      );
    }
    return checkedVerify(
      "sha1",
      octets,
      { key, padding: constants.RSA_PKCS1_PADDING },
      data,
      "RSA_SIGNATURE (SHA-1)",
    );
  }
  const ecdsa = ECDSA_METHODS[method];
  if (ecdsa) {
    if (description.kind !== "ec" || description.curve !== ecdsa.curve) {
      return authFail(
        "AUTH_KEY_MISMATCH",
        `AUTH method ${method} (${ecdsa.label}) needs a ${ecdsa.curve} key, the certificate holds ${description.kind}${description.curve ? ` ${description.curve}` : ""}`,
      );
    }
    if (data.length !== 2 * ecdsa.size) {
      return authFail(
        "AUTH_MALFORMED",
        `${ecdsa.label} signature of ${data.length} octets, expected r ‖ s of ${2 * ecdsa.size}`,
      );
    }
    return checkedVerify(ecdsa.digest, octets, { key, dsaEncoding: "ieee-p1363" }, data, ecdsa.label);
  }
  if (method === AuthMethod.DIGITAL_SIGNATURE) {
    // RFC 7427 §3: one octet with the AlgorithmIdentifier's length, the AlgorithmIdentifier, the signature.
    const length = data[0];
    if (length === undefined || length === 0 || data.length < 1 + length + 1) {
      return authFail(
        "AUTH_MALFORMED",
        "Digital Signature AUTH data too short for its AlgorithmIdentifier and signature",
      );
    }
    const lookup = schemeFromAlgorithmIdentifier(data.subarray(1, 1 + length));
    if (!lookup.ok) {
      return authFail(
        lookup.reason === "malformed" ? "AUTH_MALFORMED" : "AUTH_METHOD_UNSUPPORTED",
        lookup.message,
      );
    }
    const scheme = lookup.scheme;
    if (!fitsKey(scheme, description)) {
      return authFail(
        "AUTH_KEY_MISMATCH",
        `${scheme.name} signature but the certificate holds a ${description.kind} key`,
      );
    }
    if (scheme.family === "rsa-pkcs1" && description.kind === "rsa-pss") {
      return authFail("AUTH_KEY_MISMATCH", "PKCS#1 v1.5 signature with a key restricted to RSASSA-PSS");
    }
    return checkedVerify(
      scheme.digest,
      octets,
      nodeSignOptions(scheme, key),
      data.subarray(1 + length),
      scheme.name,
    );
  }
  const names: Record<number, string> = {
    [AuthMethod.SHARED_KEY_MIC]: "Shared Key Message Integrity Code",
    [AuthMethod.DSS_SIGNATURE]: "DSS Digital Signature",
    [AuthMethod.NULL]: "NULL Authentication",
  };
  return authFail(
    "AUTH_METHOD_UNSUPPORTED",
    `AUTH method ${method}${names[method] ? ` (${names[method]})` : ""} is not a signature method we verify`,
  );
}
