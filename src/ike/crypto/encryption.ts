/**
 * The ciphers of the Encrypted (SK) payload, transform type 1: ENCR_AES_CBC (12) with a separate
 * integrity transform (RFC 7296 §3.14), ENCR_AES_GCM_16 (20, RFC 5282) and
 * ENCR_CHACHA20_POLY1305 (28, RFC 7634).
 *
 * How a message is split between the codec and these functions:
 *
 *     +------------------------------+ <- aad starts at the first octet of the IKE header
 *     | IKE header (28 octets)       |
 *     | any unencrypted payloads     |    (none in practice)
 *     | SK generic header (4 octets) |    (SKF, RFC 7383 §2.5: 8 octets)
 *     +------------------------------+ <- body: what encryptSk returns and decryptSk takes
 *     | IV                           |    16 octets (AES-CBC) or 8 octets (AES-GCM, ChaCha20)
 *     | encrypted: inner payloads    |
 *     |   | padding | pad length (1) |
 *     | ICV                          |    integrity checksum or AEAD tag
 *     +------------------------------+
 *
 * `aad` is every octet of the message before the IV, so the length fields it holds (IKE header
 * Length, SK Payload Length) must already count the whole body: compute them with
 * `skBodyLength` before encrypting.
 * - AES-CBC: ICV = integ(SK_a, aad | IV | ciphertext), "the entire message starting with the
 *   fixed IKE header through the Pad Length" (RFC 7296 §3.14); the ICV is checked before any
 *   decryption.
 * - AES-GCM, ChaCha20-Poly1305: nonce = salt (last 4 octets of SK_e) | IV; AAD = aad
 *   (RFC 5282 §5.1, RFC 7634 §3); the tag is the ICV.
 *
 * The IV is an argument: it comes from the injected RandomSource. AES-CBC needs an
 * unpredictable IV (RFC 7296 §3.14); the AEAD modes need an IV never repeated under one key
 * (a counter is fine).
 *
 * `decryptSk` never throws for what comes from the network (a short, misaligned or altered body,
 * bad padding): it returns `{ ok: false, error }`. It throws only for the caller's mistakes
 * (unknown transform, wrong key length, non-Uint8Array arguments).
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { asBuffer, asUint8Array, checkBytes, concatBytes, wipe } from "./bytes.js";
import { badArgument } from "./errors.js";
import { integrityById, type Integrity } from "./integrity.js";
import { EncrId, IntegId, encrAlgorithm, resolveEncrKeyLength, type EncrAlgorithm } from "./transforms.js";

/** The negotiated SK payload transforms. */
export interface SkSuite {
  /** ENCR transform ID: 12, 20 or 28. */
  readonly transform: number;
  /** Key Length attribute in bits (128 or 256); may be omitted for ChaCha20-Poly1305. */
  readonly keyLength?: number;
  /** INTEG transform ID for AES-CBC (12, 13, 14); absent or 0 (NONE) for AEAD ciphers. */
  readonly integ?: number;
}

export interface SkKeys extends SkSuite {
  /** SK_ei or SK_er: the key, followed by the 4-octet salt for AEAD ciphers. */
  readonly encKey: Uint8Array;
  /** SK_ai or SK_ar, for AES-CBC only. */
  readonly integKey?: Uint8Array;
  /** Every message octet before the IV (see the module comment). */
  readonly aad: Uint8Array;
}

export interface EncryptSkParams extends SkKeys {
  /** The inner payloads. */
  readonly plaintext: Uint8Array;
  /** Exactly the transform's IV length, fresh from the RandomSource. */
  readonly iv: Uint8Array;
  /**
   * Padding octets to send (any values, RFC 7296 §3.14). Default: the fewest zero octets that
   * align plaintext | padding | pad length to the block size.
   */
  readonly padding?: Uint8Array;
}

export interface DecryptSkParams extends SkKeys {
  /** IV | ciphertext | ICV, everything after the SK generic header. */
  readonly body: Uint8Array;
}

export type SkErrorCode =
  /** Shorter than IV + one block (or pad length octet) + ICV. */
  | "SK_TRUNCATED"
  /** AES-CBC ciphertext that is not a whole number of blocks. */
  | "SK_MISALIGNED"
  /** Integrity checksum or AEAD tag does not match: altered, or another key. */
  | "SK_AUTHENTICATION_FAILED"
  /** Authentic, but the Pad Length points before the start of the plaintext. */
  | "SK_BAD_PADDING";

export interface SkError {
  readonly code: SkErrorCode;
  readonly message: string;
}

export type DecryptSkResult =
  { readonly ok: true; readonly plaintext: Uint8Array } | { readonly ok: false; readonly error: SkError };

interface ResolvedSuite {
  readonly algorithm: EncrAlgorithm;
  readonly keyBits: number;
  readonly integrity: Integrity | undefined;
}

function resolveSuite(suite: SkSuite): ResolvedSuite {
  const algorithm = encrAlgorithm(suite.transform);
  const keyBits = resolveEncrKeyLength(suite.transform, suite.keyLength);
  const integ = suite.integ ?? IntegId.NONE;
  if (algorithm.aead) {
    if (integ !== IntegId.NONE) {
      throw badArgument("integ", `${algorithm.name} is AEAD and takes no integrity transform`, integ);
    }
    return { algorithm, keyBits, integrity: undefined };
  }
  if (integ === IntegId.NONE) {
    throw badArgument("integ", `${algorithm.name} needs an integrity transform`);
  }
  return { algorithm, keyBits, integrity: integrityById(integ) };
}

/** Keys split for node:crypto; `mac` is present exactly for the non-AEAD cipher. */
interface Keys {
  readonly key: Buffer;
  readonly salt: Buffer;
  readonly mac: { readonly integrity: Integrity; readonly key: Uint8Array } | undefined;
}

function splitKeys(suite: ResolvedSuite, params: SkKeys): Keys {
  const keyBytes = suite.keyBits / 8;
  const encKey = checkBytes(params.encKey, "encKey", { length: keyBytes + suite.algorithm.saltLength });
  let mac: Keys["mac"];
  if (suite.integrity !== undefined) {
    mac = {
      integrity: suite.integrity,
      key: checkBytes(params.integKey, "integKey", { length: suite.integrity.keyLength }),
    };
  } else if (params.integKey !== undefined && params.integKey.length > 0) {
    throw badArgument("integKey", `${suite.algorithm.name} is AEAD and takes no integrity key`);
  }
  return {
    key: asBuffer(encKey.subarray(0, keyBytes)),
    salt: asBuffer(encKey.subarray(keyBytes)),
    mac,
  };
}

function minimalPadding(blockSize: number, plaintextLength: number): number {
  return (blockSize - ((plaintextLength + 1) % blockSize)) % blockSize;
}

/**
 * Length of the body (IV | ciphertext | ICV) that `encryptSk` produces for `plaintextLength`
 * octets of inner payloads with `paddingLength` octets of padding (default: the minimum), so
 * that the codec can write the length fields before encrypting.
 */
export function skBodyLength(suite: SkSuite, plaintextLength: number, paddingLength?: number): number {
  const { algorithm, integrity } = resolveSuite(suite);
  const padding = paddingLength ?? minimalPadding(algorithm.blockSize, plaintextLength);
  const icvLength = integrity?.icvLength ?? algorithm.icvLength;
  return algorithm.ivLength + plaintextLength + padding + 1 + icvLength;
}

function gcmName(keyBits: number): "aes-128-gcm" | "aes-256-gcm" {
  return keyBits === 128 ? "aes-128-gcm" : "aes-256-gcm";
}

function cbcName(keyBits: number): "aes-128-cbc" | "aes-256-cbc" {
  return keyBits === 128 ? "aes-128-cbc" : "aes-256-cbc";
}

/** Encrypts inner payloads into an SK payload body: IV | ciphertext | ICV. */
export function encryptSk(params: EncryptSkParams): Uint8Array {
  const suite = resolveSuite(params);
  const { algorithm } = suite;
  const keys = splitKeys(suite, params);
  const aad = checkBytes(params.aad, "aad");
  const plaintext = checkBytes(params.plaintext, "plaintext");
  const iv = checkBytes(params.iv, "iv", { length: algorithm.ivLength });
  let padding: Uint8Array;
  if (params.padding === undefined) {
    padding = new Uint8Array(minimalPadding(algorithm.blockSize, plaintext.length));
  } else {
    padding = checkBytes(params.padding, "padding", { max: 255 });
    if ((plaintext.length + padding.length + 1) % algorithm.blockSize !== 0) {
      throw badArgument(
        "padding",
        `plaintext, padding and pad length must fill whole ${algorithm.blockSize}-octet blocks`,
        padding.length,
      );
    }
  }
  const padded = concatBytes(plaintext, padding, Uint8Array.of(padding.length));
  try {
    if (keys.mac !== undefined) {
      // AES-CBC, encrypt-then-MAC over aad | IV | ciphertext.
      const cipher = createCipheriv(cbcName(suite.keyBits), keys.key, iv).setAutoPadding(false);
      const ciphertext = asUint8Array(Buffer.concat([cipher.update(padded), cipher.final()]));
      const icv = keys.mac.integrity.compute(keys.mac.key, aad, iv, ciphertext);
      return concatBytes(iv, ciphertext, icv);
    }
    const nonce = Buffer.concat([keys.salt, iv]);
    const options = { authTagLength: algorithm.icvLength };
    const cipher =
      algorithm.id === EncrId.AES_GCM_16
        ? createCipheriv(gcmName(suite.keyBits), keys.key, nonce, options)
        : createCipheriv("chacha20-poly1305", keys.key, nonce, options);
    cipher.setAAD(asBuffer(aad));
    const ciphertext = asUint8Array(Buffer.concat([cipher.update(padded), cipher.final()]));
    return concatBytes(iv, ciphertext, asUint8Array(cipher.getAuthTag()));
  } finally {
    wipe(padded);
  }
}

function failure(code: SkErrorCode, message: string): DecryptSkResult {
  return { ok: false, error: { code, message } };
}

/**
 * Checks and decrypts an SK payload body. Returns the inner payloads without padding, or
 * `{ ok: false }` with the reason; never throws for anything in `body` or `aad`.
 */
export function decryptSk(params: DecryptSkParams): DecryptSkResult {
  const suite = resolveSuite(params);
  const { algorithm } = suite;
  const keys = splitKeys(suite, params);
  const aad = checkBytes(params.aad, "aad");
  const body = checkBytes(params.body, "body");

  const icvLength = keys.mac?.integrity.icvLength ?? algorithm.icvLength;
  const minCiphertext = keys.mac !== undefined ? algorithm.blockSize : 1;
  if (body.length < algorithm.ivLength + minCiphertext + icvLength) {
    return failure(
      "SK_TRUNCATED",
      `${body.length} octets cannot hold an IV, a pad length and a ${icvLength}-octet ICV`,
    );
  }
  const iv = body.subarray(0, algorithm.ivLength);
  const ciphertext = body.subarray(algorithm.ivLength, body.length - icvLength);
  const icv = body.subarray(body.length - icvLength);

  let decrypted: Uint8Array;
  if (keys.mac !== undefined) {
    // AES-CBC: check the ICV before decrypting anything.
    if (ciphertext.length % algorithm.blockSize !== 0) {
      return failure("SK_MISALIGNED", `ciphertext of ${ciphertext.length} octets is not whole AES blocks`);
    }
    if (!keys.mac.integrity.verify(keys.mac.key, icv, aad, iv, ciphertext)) {
      return failure("SK_AUTHENTICATION_FAILED", "integrity checksum does not match");
    }
    const decipher = createDecipheriv(cbcName(suite.keyBits), keys.key, iv).setAutoPadding(false);
    decrypted = asUint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
  } else {
    const nonce = Buffer.concat([keys.salt, iv]);
    const options = { authTagLength: algorithm.icvLength };
    const decipher =
      algorithm.id === EncrId.AES_GCM_16
        ? createDecipheriv(gcmName(suite.keyBits), keys.key, nonce, options)
        : createDecipheriv("chacha20-poly1305", keys.key, nonce, options);
    decipher.setAAD(asBuffer(aad));
    decipher.setAuthTag(asBuffer(icv));
    const opened = asUint8Array(decipher.update(ciphertext));
    try {
      decipher.final(); // throws when the tag does not match
    } catch {
      wipe(opened);
      return failure("SK_AUTHENTICATION_FAILED", "AEAD tag does not match");
    }
    decrypted = opened;
  }

  // RFC 7296 §3.14: the receiver accepts any padding length that fits; the pad octets' values
  // are not checked.
  const padLength = decrypted[decrypted.length - 1] ?? 0;
  if (padLength + 1 > decrypted.length) {
    wipe(decrypted);
    return failure(
      "SK_BAD_PADDING",
      `pad length ${padLength} exceeds the ${decrypted.length - 1} decrypted octets`,
    );
  }
  const plaintext = decrypted.slice(0, decrypted.length - 1 - padLength);
  wipe(decrypted);
  return { ok: true, plaintext };
}
