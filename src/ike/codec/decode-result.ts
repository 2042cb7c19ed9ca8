import type { IkeHeader } from "./header.js";

/**
 * What the IKE decoder returns: a value, or an error value. The decoder never throws on input
 * from the network; a peer that sends garbage gets an error with a stable code, the offset of
 * the first bad byte and, where RFC 7296 says so, the notify a responder sends back.
 */
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: DecodeError };

/**
 * The notify a responder answers with (RFC 7296 §2.21, §3.10.1). It is advice to the core, which
 * still applies the RFC's conditions: INVALID_SYNTAX only inside a protected response to a
 * request whose Message ID and integrity checksum were valid, never in answer to a response;
 * INVALID_MAJOR_VERSION unprotected, with the highest version we speak in the reply header.
 */
export interface NotifyToSend {
  notifyType: number;
  data: Uint8Array;
}

export interface DecodeError {
  code: DecodeErrorCode;
  message: string;
  /** Offset of the first byte in error, in the bytes given to the decoder. */
  offset: number;
  /** The payload being decoded when the error was found. */
  payloadType?: number;
  notify?: NotifyToSend;
  /** The IKE header, when it could be read: the core needs its SPIs, exchange and Message ID to answer. */
  header?: IkeHeader;
}

/** Stable error codes; tests and logs match on them. */
export const DecodeErrorCode = {
  /** The datagram is longer than the configured maximum (default 64 KiB). */
  OVERSIZED: "IKE_MESSAGE_OVERSIZED",
  /** Shorter than the 28-byte IKE header. */
  TRUNCATED: "IKE_MESSAGE_TRUNCATED",
  /** The header's Length differs from the datagram's length (§3.1). */
  LENGTH_MISMATCH: "IKE_LENGTH_MISMATCH",
  /** Major version below 2 (IKEv1): dropped, we do not speak it. */
  OLD_MAJOR_VERSION: "IKE_OLD_MAJOR_VERSION",
  /** Major version above 2: answered with INVALID_MAJOR_VERSION (§2.5). */
  UNSUPPORTED_MAJOR_VERSION: "IKE_UNSUPPORTED_MAJOR_VERSION",
  /** Fewer than 4 bytes left for a generic payload header. */
  PAYLOAD_TRUNCATED: "IKE_PAYLOAD_TRUNCATED",
  /** A Payload Length below the minimum for its type (or below 4, which would never advance). */
  PAYLOAD_TOO_SHORT: "IKE_PAYLOAD_TOO_SHORT",
  /** A Payload Length that runs past the end of the message. */
  PAYLOAD_OVERRUN: "IKE_PAYLOAD_OVERRUN",
  /** More payloads than the configured cap (default 64). */
  TOO_MANY_PAYLOADS: "IKE_TOO_MANY_PAYLOADS",
  /** Bytes after the last payload of a chain. */
  TRAILING_BYTES: "IKE_TRAILING_BYTES",
  /** An unknown payload type with the critical bit set (§2.5). */
  UNSUPPORTED_CRITICAL_PAYLOAD: "IKE_UNSUPPORTED_CRITICAL_PAYLOAD",
  /** A field inside a payload is out of range or its inner lengths and counts disagree. */
  INVALID_PAYLOAD: "IKE_INVALID_PAYLOAD",
  /** An SK/SKF payload inside decrypted payloads, or a payload after it. */
  MISPLACED_ENCRYPTED: "IKE_MISPLACED_ENCRYPTED",
  /** RFC 7383 §2.6: Fragment Number zero or above Total Fragments; the message is discarded. */
  INVALID_FRAGMENT: "IKE_INVALID_FRAGMENT",
  /** The ICV length asked for does not fit in the SK payload. */
  CHECKSUM_TOO_LONG: "IKE_CHECKSUM_TOO_LONG",
} as const;
export type DecodeErrorCode = (typeof DecodeErrorCode)[keyof typeof DecodeErrorCode];

/**
 * Bits that RFC 7296 says a receiver MUST ignore (RESERVED fields, §2.5; the critical bit of a
 * payload type we understand, §2.5) but that were set. The decoder ignores them and reports them
 * here, for logs, and so that `encode(decode(x))` equals `x` with exactly these bits cleared.
 */
export interface IgnoredBits {
  /** Offset of the byte, in the bytes given to the decoder. */
  offset: number;
  /** The bits of that byte that were set and ignored. */
  mask: number;
  field: string;
}

// Notify numbers used here (RFC 7296 §3.10.1); notify.ts has the full table.
const INVALID_SYNTAX = 7;

export function ok<T>(value: T): DecodeResult<T> {
  return { ok: true, value };
}

export function fail(
  code: DecodeErrorCode,
  message: string,
  offset: number,
  extra: Omit<DecodeError, "code" | "message" | "offset"> = {},
): { ok: false; error: DecodeError } {
  return { ok: false, error: { code, message, offset, ...extra } };
}

/** An error a responder answers with INVALID_SYNTAX (§3.10.1: "any error not covered by" another type). */
export function syntaxError(
  code: DecodeErrorCode,
  message: string,
  offset: number,
  payloadType?: number,
): { ok: false; error: DecodeError } {
  return fail(code, message, offset, {
    ...(payloadType === undefined ? {} : { payloadType }),
    notify: { notifyType: INVALID_SYNTAX, data: new Uint8Array(0) },
  });
}

/** Records reserved bits that were set (they are ignored, §2.5). */
export function noteReserved(
  ignored: IgnoredBits[],
  bytes: Uint8Array,
  offset: number,
  mask: number,
  field: string,
): void {
  const set = (bytes[offset] ?? 0) & mask;
  if (set !== 0) ignored.push({ offset, mask: set, field });
}

/** Records every set bit of a run of RESERVED octets. */
export function noteReservedOctets(
  ignored: IgnoredBits[],
  bytes: Uint8Array,
  offset: number,
  count: number,
  field: string,
): void {
  for (let i = 0; i < count; i++) noteReserved(ignored, bytes, offset + i, 0xff, field);
}
