import { ByteWriter, encodeError, plainView, readU16 } from "./bytes.js";
import {
  DecodeErrorCode,
  type DecodeResult,
  type IgnoredBits,
  fail,
  noteReserved,
  ok,
  syntaxError,
} from "./decode-result.js";
import { type EncryptedFragmentPayload, SKF_HEADER_LENGTH, decodeSkf } from "./encrypted-fragment.js";
import { type EncryptedPayload, type SkSealer, decodeSk } from "./encrypted.js";
import {
  IKE_HEADER_LENGTH,
  type IkeHeader,
  type IkeHeaderFields,
  decodeHeader,
  encodeHeader,
} from "./header.js";
import { NotifyType } from "./notify.js";
import {
  type InnerPayload,
  type Payload,
  bodyDecoderFor,
  encodePayloadBody,
  payloadTypeOf,
} from "./payload.js";
import { PayloadType, payloadTypeName } from "./payload-type.js";

/**
 * Whole IKEv2 messages (RFC 7296 §3): the header, then a chain of payloads, each starting with
 * the generic payload header (§3.2) whose Next Payload names the type of the payload after it.
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C|  RESERVED   |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field          | octets | meaning                                                          |
 * | -------------- | ------ | ---------------------------------------------------------------- |
 * | Next Payload   | 1      | type of the next payload, 0 after the last one                   |
 * | C (critical)   | 1 bit  | for a type we do not know: set means reject the whole message    |
 * |                |        | with UNSUPPORTED_CRITICAL_PAYLOAD, clear means skip the payload  |
 * |                |        | (§2.5); for a type we know it is ignored                         |
 * | RESERVED       | 7 bits | zero; ignored on receipt                                         |
 * | Payload Length | 2      | of the payload, this header included; at least 4                 |
 *
 * The decoder never throws on input. It bounds its work: a datagram above `maxMessageLength`
 * (default 64 KiB) is refused before it is read, a chain is cut after `maxPayloads` payloads
 * (default 64), and a chain cannot loop, since every payload moves the cursor forward by its
 * Payload Length, which must be at least 4 and stay inside the message.
 *
 * Datagrams received on port 4500 start with the 4-octet non-ESP marker (RFC 3948 §2.2); the
 * driver removes it, and every offset here counts from the first octet of the IKE header.
 */

export const DEFAULT_MAX_MESSAGE_LENGTH = 64 * 1024;
export const DEFAULT_MAX_PAYLOADS = 64;
const GENERIC_HEADER_LENGTH = 4;
const CRITICAL = 0x80;

export interface DecodeOptions {
  /** Refuse datagrams longer than this (default 64 KiB). */
  maxMessageLength?: number;
  /** Refuse chains with more payloads than this (default 64). */
  maxPayloads?: number;
}

/**
 * Where the SK (or SKF) payload sits in a received message, for src/ike/crypto:
 * - AEAD (RFC 5282 §5.1): associated data `aad` = message[0, bodyOffset), the IKE header through
 *   the SK payload header (the SKF header includes Fragment Number and Total Fragments);
 *   `body` = message[bodyOffset, message.length) = IV ‖ ciphertext ‖ ICV.
 * - Other ciphers (§3.14): the checksum covers message[0, message.length - icvLength); see
 *   `checksumParts`.
 */
export interface EncryptedPart {
  payloadType: typeof PayloadType.SK | typeof PayloadType.SKF;
  /** The SK Next Payload: type of the first inner payload (zero in SKF fragments after the first). */
  firstInnerType: number;
  /** For SKF: which fragment of how many. */
  fragment?: { number: number; total: number };
  /** The whole message, as received; `aad` and `body` are views into it. */
  message: Uint8Array;
  /** Offset of the SK/SKF generic payload header. */
  headerOffset: number;
  /** Offset of the IV: end of the associated data, start of the body. */
  bodyOffset: number;
  aad: Uint8Array;
  body: Uint8Array;
}

export interface IkeMessage {
  header: IkeHeader;
  /** In wire order; an SK or SKF payload, when present, is the last. */
  payloads: Payload[];
  encrypted?: EncryptedPart;
  /** Reserved bits that were set and ignored (§2.5), offsets into the message. */
  ignoredBits: IgnoredBits[];
}

export interface PayloadChain {
  payloads: InnerPayload[];
  /** Offsets into the bytes given to decodePayloadChain. */
  ignoredBits: IgnoredBits[];
}

interface ChainResult {
  payloads: Payload[];
  encrypted?: {
    payload: EncryptedPayload | EncryptedFragmentPayload;
    headerOffset: number;
    bodyOffset: number;
  };
}

function decodeChain(
  bytes: Uint8Array,
  start: number,
  firstType: number,
  ignored: IgnoredBits[],
  maxPayloads: number,
  inner: boolean,
): DecodeResult<ChainResult> {
  const end = bytes.length;
  const payloads: Payload[] = [];
  let type = firstType;
  let at = start;
  while (type !== PayloadType.NONE) {
    const name = payloadTypeName(type);
    if (payloads.length >= maxPayloads) {
      return syntaxError(
        DecodeErrorCode.TOO_MANY_PAYLOADS,
        `more than ${maxPayloads} payloads; ${name} would be the next`,
        at,
        type,
      );
    }
    if (end - at < GENERIC_HEADER_LENGTH) {
      return syntaxError(
        DecodeErrorCode.PAYLOAD_TRUNCATED,
        `${name}: ${end - at} octets left where a 4-octet payload header is due`,
        at,
        type,
      );
    }
    const next = bytes[at] ?? 0;
    const critical = ((bytes[at + 1] ?? 0) & CRITICAL) !== 0;
    const length = readU16(bytes, at + 2);
    if (length < GENERIC_HEADER_LENGTH) {
      return syntaxError(
        DecodeErrorCode.PAYLOAD_TOO_SHORT,
        `${name}: Payload Length ${length} is below 4`,
        at + 2,
        type,
      );
    }
    if (at + length > end) {
      return syntaxError(
        DecodeErrorCode.PAYLOAD_OVERRUN,
        `${name}: Payload Length ${length} runs ${at + length - end} octets past the end`,
        at + 2,
        type,
      );
    }
    noteReserved(ignored, bytes, at + 1, 0x7f, "payload header RESERVED");
    const body = { bytes, start: at + GENERIC_HEADER_LENGTH, end: at + length, type, ignored };

    if (type === PayloadType.SK || type === PayloadType.SKF) {
      if (inner) {
        return syntaxError(
          DecodeErrorCode.MISPLACED_ENCRYPTED,
          `${name} inside encrypted payloads`,
          at,
          type,
        );
      }
      // The SK Next Payload names the first inner payload, so SK must end the message (§3.14).
      if (at + length !== end) {
        return syntaxError(
          DecodeErrorCode.MISPLACED_ENCRYPTED,
          `${name} must be the last payload, but ${end - at - length} octets follow it`,
          at + length,
          type,
        );
      }
      noteReserved(ignored, bytes, at + 1, critical ? CRITICAL : 0, "critical bit of a known payload");
      const decoded = type === PayloadType.SK ? decodeSk(body, next) : decodeSkf(body, next);
      if (!decoded.ok) return decoded;
      payloads.push(decoded.value);
      const bodyOffset = at + (type === PayloadType.SK ? GENERIC_HEADER_LENGTH : SKF_HEADER_LENGTH);
      return ok({ payloads, encrypted: { payload: decoded.value, headerOffset: at, bodyOffset } });
    }

    const decoder = bodyDecoderFor(type);
    if (decoder) {
      noteReserved(ignored, bytes, at + 1, critical ? CRITICAL : 0, "critical bit of a known payload");
      const decoded = decoder(body);
      if (!decoded.ok) return decoded;
      payloads.push(decoded.value);
    } else if (critical) {
      // §2.5: reject the message; the notify carries the one-octet payload type.
      return fail(
        DecodeErrorCode.UNSUPPORTED_CRITICAL_PAYLOAD,
        `payload type ${type} is unknown and marked critical`,
        at,
        {
          payloadType: type,
          notify: { notifyType: NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, data: Uint8Array.of(type) },
        },
      );
    } else {
      payloads.push({
        type: "unknown",
        payloadType: type,
        critical: false,
        body: bytes.slice(at + 4, at + length),
      });
    }
    at += length;
    type = next;
  }
  if (at !== end) {
    return syntaxError(DecodeErrorCode.TRAILING_BYTES, `${end - at} octets after the last payload`, at);
  }
  return ok({ payloads });
}

/**
 * Decodes one datagram (the non-ESP marker removed). An SK/SKF payload comes back opaque, with
 * `encrypted` saying where its associated data and body are; after decrypting, parse the inner
 * payloads with `decodePayloadChain(encrypted.firstInnerType, plaintext)`.
 */
export function decodeMessage(datagram: Uint8Array, options: DecodeOptions = {}): DecodeResult<IkeMessage> {
  const maxMessageLength = options.maxMessageLength ?? DEFAULT_MAX_MESSAGE_LENGTH;
  if (datagram.length > maxMessageLength) {
    return fail(
      DecodeErrorCode.OVERSIZED,
      `${datagram.length} octets is above the limit of ${maxMessageLength}`,
      maxMessageLength,
    );
  }
  // One copy: the caller may reuse its buffer; everything decoded refers to this copy or copies.
  const bytes = plainView(datagram).slice();
  const ignoredBits: IgnoredBits[] = [];
  const decodedHeader = decodeHeader(bytes, ignoredBits);
  if (!decodedHeader.ok) return decodedHeader;
  const header = decodedHeader.value;
  if (header.length !== bytes.length) {
    const error = syntaxError(
      DecodeErrorCode.LENGTH_MISMATCH,
      `the header says ${header.length} octets, the datagram has ${bytes.length}`,
      24,
    );
    return { ok: false, error: { ...error.error, header } };
  }
  const chain = decodeChain(
    bytes,
    IKE_HEADER_LENGTH,
    header.nextPayload,
    ignoredBits,
    options.maxPayloads ?? DEFAULT_MAX_PAYLOADS,
    false,
  );
  if (!chain.ok) return { ok: false, error: { ...chain.error, header } };
  const message: IkeMessage = { header, payloads: chain.value.payloads, ignoredBits };
  const found = chain.value.encrypted;
  if (found) {
    const { payload, headerOffset, bodyOffset } = found;
    message.encrypted = {
      payloadType: payload.type,
      firstInnerType: payload.firstInnerType,
      ...(payload.type === PayloadType.SKF
        ? { fragment: { number: payload.fragmentNumber, total: payload.totalFragments } }
        : {}),
      message: bytes,
      headerOffset,
      bodyOffset,
      aad: bytes.subarray(0, bodyOffset),
      body: bytes.subarray(bodyOffset),
    };
  }
  return ok(message);
}

/**
 * Parses decrypted inner payloads: `plaintext` is what SK (or the joined SKF fragments) carried,
 * with Padding and Pad Length already removed by the cipher layer.
 */
export function decodePayloadChain(
  firstType: number,
  plaintext: Uint8Array,
  options: Pick<DecodeOptions, "maxPayloads"> = {},
): DecodeResult<PayloadChain> {
  const bytes = plainView(plaintext).slice();
  const ignoredBits: IgnoredBits[] = [];
  const chain = decodeChain(
    bytes,
    0,
    firstType,
    ignoredBits,
    options.maxPayloads ?? DEFAULT_MAX_PAYLOADS,
    true,
  );
  if (!chain.ok) return chain;
  return ok({ payloads: chain.value.payloads as InnerPayload[], ignoredBits });
}

/**
 * For ciphers with a separate integrity algorithm (§3.14): `signed` is the message from the first
 * octet of the header up to the checksum, `icv` the last `icvLength` octets (views, no copies).
 */
export function checksumParts(
  encrypted: EncryptedPart,
  icvLength: number,
): DecodeResult<{ signed: Uint8Array; icv: Uint8Array }> {
  if (!Number.isInteger(icvLength) || icvLength < 0 || icvLength > encrypted.body.length) {
    return fail(
      DecodeErrorCode.CHECKSUM_TOO_LONG,
      `a ${icvLength}-octet checksum does not fit the ${encrypted.body.length}-octet ${payloadTypeName(encrypted.payloadType)} body`,
      encrypted.bodyOffset,
      { payloadType: encrypted.payloadType },
    );
  }
  const end = encrypted.message.length;
  return ok({
    signed: encrypted.message.subarray(0, end - icvLength),
    icv: encrypted.message.subarray(end - icvLength),
  });
}

// ---------------------------------------------------------------------------------------------
// Encoding

function writeChain(writer: ByteWriter, payloads: readonly Payload[]): void {
  payloads.forEach((payload, i) => {
    const type = payloadTypeOf(payload);
    const following = payloads[i + 1];
    let next: number;
    if (payload.type === PayloadType.SK || payload.type === PayloadType.SKF) {
      if (following !== undefined) {
        throw encodeError("payloads", `${payloadTypeName(type)} must be the last payload of a message`);
      }
      next = payload.firstInnerType;
    } else {
      next = following === undefined ? PayloadType.NONE : payloadTypeOf(following);
    }
    const start = writer.length;
    writer.u8(next, `${payloadTypeName(type)} next payload`);
    writer.u8(payload.type === "unknown" && payload.critical ? CRITICAL : 0, "critical");
    writer.u16(0, "payload length");
    encodePayloadBody(writer, payload);
    writer.patchU16(start + 2, writer.length - start, `${payloadTypeName(type)} payload length`);
  });
}

function firstTypeOf(payloads: readonly Payload[]): number {
  const first = payloads[0];
  return first === undefined ? PayloadType.NONE : payloadTypeOf(first);
}

/** Encodes a payload chain on its own: what goes inside SK before encryption. */
export function encodePayloadChain(payloads: readonly InnerPayload[]): {
  firstType: number;
  bytes: Uint8Array;
} {
  for (const payload of payloads as readonly Payload[]) {
    if (payload.type === PayloadType.SK || payload.type === PayloadType.SKF) {
      throw encodeError("payloads", "an encrypted payload cannot be nested in another");
    }
  }
  const writer = new ByteWriter();
  writeChain(writer, payloads);
  return { firstType: firstTypeOf(payloads), bytes: writer.finish() };
}

/**
 * Encodes a message from payload objects. Unprotected messages (IKE_SA_INIT) are built this way;
 * so is a received message re-encoded, SK/SKF body included as it came.
 */
export function encodeMessage(header: IkeHeaderFields, payloads: readonly Payload[]): Uint8Array {
  const writer = new ByteWriter();
  encodeHeader(writer, header, firstTypeOf(payloads), 0);
  writeChain(writer, payloads);
  writer.patchU32(24, writer.length, "header.length");
  return writer.finish();
}

function sealedBody(
  sealer: SkSealer,
  aad: Uint8Array,
  plaintext: Uint8Array,
  bodyLength: number,
): Uint8Array {
  const body = sealer.seal(aad, plaintext, bodyLength);
  if (body.length !== bodyLength) {
    throw encodeError(
      "sealer.seal",
      `returned ${body.length} octets after bodyLength promised ${bodyLength}`,
    );
  }
  return body;
}

function promisedLength(sealer: SkSealer, plaintextLength: number): number {
  const length = sealer.bodyLength(plaintextLength);
  if (!Number.isInteger(length) || length < 0) {
    throw encodeError("sealer.bodyLength", `${length} for ${plaintextLength} octets is not a length`);
  }
  return length;
}

/**
 * Builds a protected message: header, then one SK payload holding `inner`. The lengths come
 * from `sealer.bodyLength` first, so the header and SK header are final when `sealer.seal` gets
 * them as associated data (see SkSealer in encrypted.ts).
 */
export function encodeEncryptedMessage(
  header: IkeHeaderFields,
  inner: readonly InnerPayload[],
  sealer: SkSealer,
): Uint8Array {
  const { firstType, bytes: plaintext } = encodePayloadChain(inner);
  const bodyLength = promisedLength(sealer, plaintext.length);
  const total = IKE_HEADER_LENGTH + GENERIC_HEADER_LENGTH + bodyLength;
  const writer = new ByteWriter(total);
  encodeHeader(writer, header, PayloadType.SK, total);
  writer.u8(firstType, "SK next payload");
  writer.u8(0, "critical");
  writer.u16(GENERIC_HEADER_LENGTH + bodyLength, "SK payload length (use fragments above 64 KiB)");
  const aad = writer.finish();
  writer.bytes(sealedBody(sealer, aad, plaintext, bodyLength));
  return writer.finish();
}

export interface FragmentPiece {
  fragmentNumber: number;
  totalFragments: number;
  /** The first inner payload's type in fragment 1, zero in the others (RFC 7383 §2.5). */
  firstInnerType: number;
  /** This fragment's share of the inner payload chain's octets. */
  piece: Uint8Array;
}

/** Builds one message carrying one SKF payload (RFC 7383 §2.5). */
export function encodeEncryptedFragment(
  header: IkeHeaderFields,
  fragment: FragmentPiece,
  sealer: SkSealer,
): Uint8Array {
  const bodyLength = promisedLength(sealer, fragment.piece.length);
  const total = IKE_HEADER_LENGTH + SKF_HEADER_LENGTH + bodyLength;
  const writer = new ByteWriter(total);
  encodeHeader(writer, header, PayloadType.SKF, total);
  writer.u8(fragment.firstInnerType, "SKF next payload");
  writer.u8(0, "critical");
  writer.u16(SKF_HEADER_LENGTH + bodyLength, "SKF payload length");
  writer.u16(fragment.fragmentNumber, "SKF.fragmentNumber");
  writer.u16(fragment.totalFragments, "SKF.totalFragments");
  const aad = writer.finish();
  writer.bytes(sealedBody(sealer, aad, fragment.piece, bodyLength));
  return writer.finish();
}

/**
 * Splits `inner` into as few SKF fragments as fit `maxMessageLength` octets each (the IKE message,
 * without IP, UDP and non-ESP marker; RFC 7383 §2.5.1 leaves the size to the sender) and builds
 * them. Every piece but the last is as large as fits.
 */
export function encodeEncryptedFragments(
  header: IkeHeaderFields,
  inner: readonly InnerPayload[],
  sealer: SkSealer,
  maxMessageLength: number,
): Uint8Array[] {
  const { firstType, bytes: plaintext } = encodePayloadChain(inner);
  const room = maxMessageLength - IKE_HEADER_LENGTH - SKF_HEADER_LENGTH;
  // bodyLength grows with the plaintext: find the largest piece that still fits.
  let low = 0;
  let high = Math.max(plaintext.length, 1);
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (promisedLength(sealer, middle) <= room) low = middle;
    else high = middle - 1;
  }
  const pieceLength = low;
  if (pieceLength === 0) {
    throw encodeError(
      "maxMessageLength",
      `${maxMessageLength} octets leave no room for a fragment's content`,
    );
  }
  const totalFragments = Math.max(1, Math.ceil(plaintext.length / pieceLength));
  if (totalFragments > 0xffff) {
    throw encodeError("maxMessageLength", `${totalFragments} fragments exceed Total Fragments' 16 bits`);
  }
  const messages: Uint8Array[] = [];
  for (let i = 0; i < totalFragments; i++) {
    messages.push(
      encodeEncryptedFragment(
        header,
        {
          fragmentNumber: i + 1,
          totalFragments,
          firstInnerType: i === 0 ? firstType : PayloadType.NONE,
          piece: plaintext.subarray(i * pieceLength, (i + 1) * pieceLength),
        },
        sealer,
      ),
    );
  }
  return messages;
}
