/**
 * The ESP transforms (RFC 4303) for one direction of a Child SA: `seal` turns an inner packet
 * into an ESP packet, `open` turns an ESP packet back into the inner packet. Pure: no sockets,
 * no clock, no randomness (the IV is an argument), no replay window (the SAD does that, and
 * moves its window only after `open` said the packet is authentic, as libipsec's esp_context).
 *
 *     +--------------------------------------+ <- packet, what seal returns and open takes
 *     | SPI (4) | Sequence Number (4)        |    clear; the low 32 bits with ESN
 *     | IV                                   |    8 bytes (AEAD) or 16 bytes (AES-CBC)
 *     | encrypted: payload | TFC padding     |
 *     |   | padding 1,2,3… | pad length | NH |    whole 4-byte words (whole blocks for CBC)
 *     | ICV                                  |    16 bytes (AEAD tag) or the HMAC truncation
 *     +--------------------------------------+
 *
 * Suites (IDs and sizes come from src/ike/crypto/transforms.ts, HMACs from integrity.ts):
 * - ENCR_AES_GCM_16, 128/256-bit (RFC 4106): nonce = salt (last 4 bytes of the keying material)
 *   | IV; AAD = SPI | Sequence Number (8 bytes), or SPI | ESN high | ESN low (12 bytes) with ESN
 *   (RFC 4106 §5); the 16-byte tag is the ICV.
 * - ENCR_CHACHA20_POLY1305 (RFC 7634): the same shape, 256-bit key, 4-byte salt, 8-byte IV.
 * - ENCR_AES_CBC 128/256 (RFC 3602) with AUTH_HMAC_SHA2_256_128/384_192/512_256 (RFC 4868):
 *   ICV = HMAC over SPI | Sequence Number | IV | ciphertext, followed (with ESN) by the high 32
 *   bits of the sequence number, which are not sent (RFC 4303 §2.2.1). `open` checks the ICV
 *   before decrypting anything.
 *
 * The IV: AES-GCM and ChaCha20-Poly1305 need an IV that never repeats under one key, and a
 * counter is fine (RFC 4106 §3.1); libipsec's iv_gen_seq uses the 64-bit sequence number, which
 * the SA never reuses, and the driver may do the same. AES-CBC needs an unpredictable IV
 * (RFC 3602 §2.2): the driver draws it from its random source.
 *
 * Padding (RFC 4303 §2.4): the fewest bytes that make payload | TFC padding | padding | pad
 * length | next header whole 4-byte words (whole 16-byte blocks for AES-CBC), with the contents
 * 1, 2, 3, … that §2.4 prescribes; `padTo` pads further, to hide lengths. `open` insists on
 * exactly those contents (after authentication, so this reveals nothing to a forger).
 *
 * TFC padding (§2.7) is zeros after the payload; `open` strips it by the inner IPv4/IPv6 header's
 * length (next header 4 or 41). A packet with next header 59 is a dummy (§2.6): `open` reports
 * it with `dummy: true` so that the caller counts it in the replay window and then drops it.
 *
 * `open` never throws for anything in the packet: it returns `{ ok: false, reason }`. Both
 * functions throw (EspError ESP_BAD_ARGUMENT) only for the caller's mistakes.
 *
 * Speed: one `createCipheriv`/`createDecipheriv` per packet (FACTS.md: cheap enough), no
 * concatenation of the plaintext (payload and trailer are fed to the cipher in turn), the output
 * packet allocated once and written in place, the HMAC run over the packet bytes as they lie.
 * Nonce, AAD and trailer are per-transform scratch buffers: a transform is used by one caller
 * at a time, which node's single thread gives for free.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from "node:crypto";
import type { ChildSaKeys } from "../../ike/core/events.js";
import { integrityById } from "../../ike/crypto/integrity.js";
import {
  EncrId,
  IntegId,
  encrAlgorithm,
  resolveEncrKeyLength,
  type EncrAlgorithm,
} from "../../ike/crypto/transforms.js";
import { espBadArgument } from "./esp-errors.js";
import { ESP_HEADER_LENGTH, NextHeader, readUint32, writeUint32 } from "./esp-packet.js";

/** The suite and keys of one direction of a Child SA. */
export interface EspTransformKeys {
  readonly encr: { readonly id: number; readonly keyLength: number | undefined };
  /** INTEG transform ID for AES-CBC (12, 13, 14); undefined or 0 (NONE) for AEAD. */
  readonly integ: number | undefined;
  /** Extended (64-bit) sequence numbers, RFC 4303 §2.2.1. */
  readonly esn: boolean;
  /** The encryption key, followed by the 4-byte salt for AEAD. Copied. */
  readonly encKey: Uint8Array;
  /** The HMAC key for AES-CBC; empty or absent for AEAD. Copied. */
  readonly integKey?: Uint8Array | undefined;
}

/**
 * A sequence number: a bigint or a safe integer (the whole 64-bit number), or its two 32-bit
 * halves. Without ESN the high half must be 0.
 */
export type EspSequenceNumber = bigint | number | { readonly high: number; readonly low: number };

export interface EspSealParams {
  /** The SPI the peer chose for this SA (ChildSaKeys.spiOut). */
  readonly spi: number;
  readonly seq: EspSequenceNumber;
  /** Exactly `ivLength` bytes; see the module comment for what each cipher needs. */
  readonly iv: Uint8Array;
  /** The inner packet (tunnel mode) or upper-layer payload (transport mode). */
  readonly payload: Uint8Array;
  /** 4 (IPv4), 41 (IPv6), 59 (dummy packet), or an upper-layer protocol in transport mode. */
  readonly nextHeader: number;
  /**
   * Pad payload | TFC padding | trailer to a multiple of this many bytes (a multiple of
   * `alignment`), e.g. to hide lengths; the padding may not exceed 255 bytes. Default:
   * `alignment`, the minimum.
   */
  readonly padTo?: number;
  /** Bytes of TFC padding (zeros) after the payload (RFC 4303 §2.7). Default 0. */
  readonly tfcPadding?: number;
}

/** Why `open` refused a packet. */
export type EspOpenFailureReason =
  /** Too short for header, IV, pad length, next header and ICV. */
  | "truncated"
  /** AES-CBC ciphertext that is not whole 16-byte blocks. */
  | "misaligned"
  /** ICV or AEAD tag does not match: altered, another key, or the wrong ESN high half. */
  | "integrity"
  /** Authentic, but the pad length overruns the plaintext or the padding is not 1, 2, 3, … */
  | "padding"
  /** Authentic, but the inner IPv4/IPv6 header claims more bytes than were sent. */
  | "inner-length";

export type EspOpenResult =
  | {
      readonly ok: true;
      readonly spi: number;
      /** The whole sequence number (with the high half the caller gave, under ESN). */
      readonly seq: bigint;
      readonly seqLow: number;
      readonly seqHigh: number;
      readonly nextHeader: number;
      /** Next header 59: a dummy packet; count it in the replay window, then drop it. */
      readonly dummy: boolean;
      /** The inner packet without TFC padding; a view into a buffer of its own. */
      readonly payload: Uint8Array;
    }
  | { readonly ok: false; readonly reason: EspOpenFailureReason };

type CipherKind = "aes-gcm" | "chacha20-poly1305" | "aes-cbc";

const TWO_32 = 4294967296;
const GCM_TAG = { authTagLength: 16 } as const;

/** One direction of a Child SA: see the module comment. */
export class EspTransform {
  readonly algorithm: EncrAlgorithm;
  /** ENCR key length in bits. */
  readonly keyBits: number;
  readonly esn: boolean;
  readonly ivLength: number;
  readonly icvLength: number;
  /** Payload | TFC | padding | pad length | NH is a multiple of this: 4, or 16 for AES-CBC. */
  readonly alignment: number;
  private readonly kind: CipherKind;
  private readonly cipherName: string;
  private readonly key: Uint8Array;
  private readonly macHash: "sha256" | "sha384" | "sha512" | undefined;
  private readonly macKey: Uint8Array;
  /** salt | IV, the salt written once. */
  private readonly nonce: Uint8Array;
  /** SPI | ESN high | ESN low, for AEAD with ESN. */
  private readonly aad12 = new Uint8Array(12);
  /** ESN high half appended to the HMAC input. */
  private readonly seqHighBytes = new Uint8Array(4);
  /** 1, 2, …, 255, then room for pad length and next header. */
  private readonly trailer = new Uint8Array(257);

  constructor(keys: EspTransformKeys) {
    const algorithm = encrAlgorithm(keys.encr.id);
    const keyBits = resolveEncrKeyLength(keys.encr.id, keys.encr.keyLength);
    const keyBytes = keyBits / 8;
    const encKey = checkBytes(keys.encKey, "encKey");
    if (encKey.length !== keyBytes + algorithm.saltLength) {
      throw espBadArgument(
        "encKey",
        `${algorithm.name} with a ${keyBits}-bit key takes ${keyBytes + algorithm.saltLength} bytes, got ${encKey.length}`,
        encKey.length,
      );
    }
    this.algorithm = algorithm;
    this.keyBits = keyBits;
    this.esn = keys.esn === true;
    this.ivLength = algorithm.ivLength;
    this.key = encKey.slice(0, keyBytes);
    this.nonce = new Uint8Array(algorithm.saltLength + algorithm.ivLength);
    this.nonce.set(encKey.subarray(keyBytes));
    const integ = keys.integ ?? IntegId.NONE;
    if (algorithm.aead) {
      if (integ !== IntegId.NONE) {
        throw espBadArgument("integ", `${algorithm.name} is AEAD and takes no integrity transform`, integ);
      }
      if (keys.integKey !== undefined && keys.integKey.length > 0) {
        throw espBadArgument("integKey", `${algorithm.name} is AEAD and takes no integrity key`);
      }
      this.macHash = undefined;
      this.macKey = new Uint8Array(0);
      this.icvLength = algorithm.icvLength;
      this.alignment = 4;
      if (algorithm.id === EncrId.AES_GCM_16) {
        this.kind = "aes-gcm";
        this.cipherName = `aes-${keyBits}-gcm`;
      } else {
        this.kind = "chacha20-poly1305";
        this.cipherName = "chacha20-poly1305";
      }
    } else {
      if (integ === IntegId.NONE)
        throw espBadArgument("integ", `${algorithm.name} needs an integrity transform`);
      const integrity = integrityById(integ);
      const integKey = checkBytes(keys.integKey, "integKey");
      if (integKey.length !== integrity.keyLength) {
        throw espBadArgument(
          "integKey",
          `${integrity.name} takes a ${integrity.keyLength}-byte key, got ${integKey.length}`,
          integKey.length,
        );
      }
      this.macHash = integrity.hash;
      this.macKey = integKey.slice();
      this.icvLength = integrity.icvLength;
      this.alignment = Math.max(4, algorithm.blockSize);
      this.kind = "aes-cbc";
      this.cipherName = `aes-${keyBits}-cbc`;
    }
    for (let i = 0; i < 255; i++) this.trailer[i] = i + 1;
  }

  /** Length of the packet `seal` makes for a payload of `payloadLength` bytes. */
  sealedLength(payloadLength: number, padTo?: number, tfcPadding = 0): number {
    const align = this.checkPadTo(padTo);
    const inner = payloadLength + tfcPadding;
    const padLength = (align - ((inner + 2) % align)) % align;
    return ESP_HEADER_LENGTH + this.ivLength + inner + padLength + 2 + this.icvLength;
  }

  /** Builds the ESP packet SPI | seq | IV | ciphertext | ICV around `payload`. */
  seal(params: EspSealParams): Uint8Array {
    const spi = params.spi;
    if (!isUint32(spi) || spi === 0)
      throw espBadArgument("spi", "expected a non-zero 32-bit unsigned integer");
    const [high, low] = splitSequenceNumber(params.seq);
    if (!this.esn && high !== 0) {
      throw espBadArgument("seq", "exceeds 32 bits on an SA without ESN: the SA must be rekeyed before this");
    }
    const iv = checkBytes(params.iv, "iv");
    if (iv.length !== this.ivLength) {
      throw espBadArgument("iv", `expected ${this.ivLength} bytes, got ${iv.length}`, iv.length);
    }
    const payload = checkBytes(params.payload, "payload");
    const nextHeader = params.nextHeader;
    if (!Number.isInteger(nextHeader) || nextHeader < 0 || nextHeader > 255) {
      throw espBadArgument("nextHeader", "expected an integer from 0 to 255");
    }
    const tfc = params.tfcPadding ?? 0;
    if (!Number.isSafeInteger(tfc) || tfc < 0) throw espBadArgument("tfcPadding", "expected a byte count");
    const align = this.checkPadTo(params.padTo);
    const inner = payload.length + tfc;
    const padLength = (align - ((inner + 2) % align)) % align;
    if (padLength > 255) {
      throw espBadArgument("padTo", `needs ${padLength} bytes of padding, more than 255`, params.padTo);
    }

    // Trailer: TFC zeros | 1, 2, …, padLength | padLength | nextHeader.
    let tail: Uint8Array;
    const trailer = this.trailer;
    const saved0 = trailer[padLength]!;
    const saved1 = trailer[padLength + 1]!;
    if (tfc === 0) {
      trailer[padLength] = padLength;
      trailer[padLength + 1] = nextHeader;
      tail = trailer.subarray(0, padLength + 2);
    } else {
      tail = new Uint8Array(tfc + padLength + 2);
      tail.set(trailer.subarray(0, padLength), tfc);
      tail[tfc + padLength] = padLength;
      tail[tfc + padLength + 1] = nextHeader;
    }

    const bodyStart = ESP_HEADER_LENGTH + this.ivLength;
    const icvStart = bodyStart + inner + padLength + 2;
    // Not zeroed, not from the shared pool: every byte is written below.
    const raw = Buffer.allocUnsafeSlow(icvStart + this.icvLength);
    const packet = new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
    writeUint32(packet, 0, spi);
    writeUint32(packet, 4, low);
    packet.set(iv, ESP_HEADER_LENGTH);
    try {
      let offset = bodyStart;
      if (this.kind === "aes-cbc") {
        const cipher = createCipheriv(this.cipherName, this.key, iv).setAutoPadding(false);
        offset = put(packet, offset, cipher.update(payload));
        offset = put(packet, offset, cipher.update(tail));
        put(packet, offset, cipher.final());
        const hmac = createHmac(this.macHash!, this.macKey).update(packet.subarray(0, icvStart));
        if (this.esn) {
          writeUint32(this.seqHighBytes, 0, high);
          hmac.update(this.seqHighBytes);
        }
        packet.set(hmac.digest().subarray(0, this.icvLength), icvStart);
      } else {
        const nonce = this.nonce;
        nonce.set(iv, nonce.length - this.ivLength);
        const cipher =
          this.kind === "aes-gcm"
            ? createCipheriv(this.cipherName as "aes-128-gcm", this.key, nonce, GCM_TAG)
            : createCipheriv("chacha20-poly1305", this.key, nonce, GCM_TAG);
        cipher.setAAD(this.esn ? this.fillAad12(packet, high) : packet.subarray(0, ESP_HEADER_LENGTH));
        offset = put(packet, offset, cipher.update(payload));
        offset = put(packet, offset, cipher.update(tail));
        put(packet, offset, cipher.final());
        packet.set(cipher.getAuthTag(), icvStart);
      }
    } finally {
      trailer[padLength] = saved0;
      trailer[padLength + 1] = saved1;
    }
    return packet;
  }

  /**
   * Authenticates and decrypts an ESP packet (as `seal` makes it, UDP header already removed).
   * `seqHigh`: with ESN, the high half of the sequence number as the replay window inferred it
   * from the low half (RFC 4303 Appendix A); ignored without ESN. Never throws on packet bytes.
   */
  open(packet: Uint8Array, seqHigh = 0): EspOpenResult {
    const bodyStart = ESP_HEADER_LENGTH + this.ivLength;
    const minBody = this.kind === "aes-cbc" ? this.alignment : 2;
    const length = packet.length;
    if (length < bodyStart + minBody + this.icvLength) return { ok: false, reason: "truncated" };
    const high = this.esn ? seqHigh >>> 0 : 0;
    const icvStart = length - this.icvLength;
    const ciphertext = packet.subarray(bodyStart, icvStart);
    let plaintext: Buffer;
    try {
      if (this.kind === "aes-cbc") {
        if (ciphertext.length % this.alignment !== 0) return { ok: false, reason: "misaligned" };
        const hmac = createHmac(this.macHash!, this.macKey).update(packet.subarray(0, icvStart));
        if (this.esn) {
          writeUint32(this.seqHighBytes, 0, high);
          hmac.update(this.seqHighBytes);
        }
        const expected = hmac.digest().subarray(0, this.icvLength);
        if (!timingSafeEqual(expected, packet.subarray(icvStart))) return { ok: false, reason: "integrity" };
        const decipher = createDecipheriv(
          this.cipherName,
          this.key,
          packet.subarray(ESP_HEADER_LENGTH, bodyStart),
        ).setAutoPadding(false);
        plaintext = decipher.update(ciphertext);
        decipher.final();
      } else {
        const nonce = this.nonce;
        nonce.set(packet.subarray(ESP_HEADER_LENGTH, bodyStart), nonce.length - this.ivLength);
        const decipher =
          this.kind === "aes-gcm"
            ? createDecipheriv(this.cipherName as "aes-128-gcm", this.key, nonce, GCM_TAG)
            : createDecipheriv("chacha20-poly1305", this.key, nonce, GCM_TAG);
        decipher.setAAD(this.esn ? this.fillAad12(packet, high) : packet.subarray(0, ESP_HEADER_LENGTH));
        decipher.setAuthTag(packet.subarray(icvStart));
        plaintext = decipher.update(ciphertext);
        decipher.final(); // throws when the tag does not match
      }
    } catch {
      return { ok: false, reason: "integrity" };
    }

    const end = plaintext.length - 2;
    const padLength = plaintext[end]!;
    const nextHeader = plaintext[end + 1]!;
    let payloadEnd = end - padLength;
    if (payloadEnd < 0) return { ok: false, reason: "padding" };
    for (let i = 0; i < padLength; i++) {
      if (plaintext[payloadEnd + i] !== i + 1) return { ok: false, reason: "padding" };
    }
    if (nextHeader === NextHeader.IPV4) {
      if (payloadEnd < 20) return { ok: false, reason: "inner-length" };
      const total = (plaintext[2]! << 8) | plaintext[3]!;
      if (total < 20 || total > payloadEnd) return { ok: false, reason: "inner-length" };
      payloadEnd = total;
    } else if (nextHeader === NextHeader.IPV6) {
      if (payloadEnd < 40) return { ok: false, reason: "inner-length" };
      const payloadLength = (plaintext[4]! << 8) | plaintext[5]!;
      // Payload Length 0: a jumbogram (RFC 2675), whose length is in a hop-by-hop option: keep all.
      if (payloadLength !== 0) {
        if (40 + payloadLength > payloadEnd) return { ok: false, reason: "inner-length" };
        payloadEnd = 40 + payloadLength;
      }
    }
    const seqLow = readUint32(packet, 4);
    return {
      ok: true,
      spi: readUint32(packet, 0),
      seq: (BigInt(high) << 32n) | BigInt(seqLow),
      seqLow,
      seqHigh: high,
      nextHeader,
      dummy: nextHeader === NextHeader.NONE,
      payload: new Uint8Array(plaintext.buffer, plaintext.byteOffset, payloadEnd),
    };
  }

  /** Overwrites the keys; the transform is unusable afterwards. */
  dispose(): void {
    this.key.fill(0);
    this.macKey.fill(0);
    this.nonce.fill(0);
  }

  private fillAad12(packet: Uint8Array, high: number): Uint8Array {
    const aad = this.aad12;
    aad.set(packet.subarray(0, 4), 0);
    writeUint32(aad, 4, high);
    aad.set(packet.subarray(4, 8), 8);
    return aad;
  }

  private checkPadTo(padTo: number | undefined): number {
    if (padTo === undefined) return this.alignment;
    if (!Number.isSafeInteger(padTo) || padTo <= 0 || padTo % this.alignment !== 0) {
      throw espBadArgument("padTo", `expected a positive multiple of ${this.alignment}`, String(padTo));
    }
    return padTo;
  }
}

/** Builds the transform for one direction of a Child SA. */
export function createEspTransform(keys: EspTransformKeys): EspTransform {
  return new EspTransform(keys);
}

/**
 * The transform for one direction of a Child SA as IKE hands it over: "inbound" opens what
 * the peer sends us (keyIn, SPI spiIn), "outbound" seals what we send (keyOut, SPI spiOut).
 */
export function espTransformForChildSa(
  sa: Pick<ChildSaKeys, "encr" | "integ" | "esn" | "keyIn" | "keyOut">,
  direction: "inbound" | "outbound",
): EspTransform {
  const keys = direction === "inbound" ? sa.keyIn : sa.keyOut;
  return new EspTransform({
    encr: sa.encr,
    integ: sa.integ,
    esn: sa.esn,
    encKey: keys.encKey,
    integKey: keys.integKey,
  });
}

/** The two 32-bit halves [high, low] of a sequence number; throws on anything else. */
export function splitSequenceNumber(seq: EspSequenceNumber): [number, number] {
  if (typeof seq === "bigint") {
    if (seq < 0n || seq > 0xffffffffffffffffn) throw espBadArgument("seq", "expected 0 to 2^64-1");
    return [Number(seq >> 32n), Number(seq & 0xffffffffn)];
  }
  if (typeof seq === "number") {
    if (!Number.isSafeInteger(seq) || seq < 0)
      throw espBadArgument("seq", "expected a non-negative safe integer");
    return [Math.floor(seq / TWO_32), seq >>> 0];
  }
  if (typeof seq === "object" && seq !== null && isUint32(seq.high) && isUint32(seq.low)) {
    return [seq.high, seq.low];
  }
  throw espBadArgument("seq", "expected a bigint, a safe integer or { high, low } 32-bit halves");
}

function isUint32(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

function checkBytes(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw espBadArgument(name, "expected a Uint8Array");
  return value;
}

function put(target: Uint8Array, offset: number, chunk: Uint8Array): number {
  target.set(chunk, offset);
  return offset + chunk.length;
}
