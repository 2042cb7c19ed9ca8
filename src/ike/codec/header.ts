import { type ByteWriter, encodeError, readU32 } from "./bytes.js";
import {
  DecodeErrorCode,
  type DecodeResult,
  type IgnoredBits,
  fail,
  noteReserved,
  ok,
} from "./decode-result.js";

/**
 * The IKE header (RFC 7296 §3.1).
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                       IKE SA Initiator's SPI                  |
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                       IKE SA Responder's SPI                  |
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                          Message ID                           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                            Length                             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field         | offset | octets | meaning                                                    |
 * | ------------- | ------ | ------ | ---------------------------------------------------------- |
 * | SPIi, SPIr    | 0, 8   | 8, 8   | the IKE SA's SPIs; SPIr is zero in the first IKE_SA_INIT   |
 * | Next Payload  | 16     | 1      | type of the first payload (§3.2), 0 for none               |
 * | MjVer, MnVer  | 17     | ½, ½   | 2 and 0; a higher major version gets INVALID_MAJOR_VERSION |
 * | Exchange Type | 18     | 1      | 34..37 here; other values are kept as numbers              |
 * | Flags         | 19     | 1      | X X R V I X X X: Response 0x20, Version 0x10, Initiator 0x08 |
 * | Message ID    | 20     | 4      | unsigned, big-endian                                       |
 * | Length        | 24     | 4      | of the whole message, header included                      |
 */

export const IKE_HEADER_LENGTH = 28;
export const IKE_SPI_LENGTH = 8;

/** IKEv2 Exchange Types (IANA registry; §3.1). Values not listed are kept as numbers. */
export const ExchangeType = {
  IKE_SA_INIT: 34,
  IKE_AUTH: 35,
  CREATE_CHILD_SA: 36,
  INFORMATIONAL: 37,
  /** RFC 5723 */
  IKE_SESSION_RESUME: 38,
  /** RFC 9242 */
  IKE_INTERMEDIATE: 43,
  /** RFC 9370 */
  IKE_FOLLOWUP_KE: 44,
} as const;

export const HeaderFlag = {
  RESPONSE: 0x20,
  VERSION: 0x10,
  INITIATOR: 0x08,
} as const;
const RESERVED_FLAGS = 0xc7;

export interface IkeHeader {
  initiatorSpi: Uint8Array;
  responderSpi: Uint8Array;
  nextPayload: number;
  majorVersion: number;
  minorVersion: number;
  exchangeType: number;
  /** I: sent by the original initiator of the IKE SA. */
  initiator: boolean;
  /** V: the sender can speak a higher major version (always false from us). */
  higherVersion: boolean;
  /** R: this message is a response. */
  response: boolean;
  messageId: number;
  /** The Length field as received (decode) or written (encode). */
  length: number;
}

/** What an encoder needs: Next Payload and Length are computed; the version defaults to 2.0. */
export type IkeHeaderFields = Omit<
  IkeHeader,
  "nextPayload" | "length" | "majorVersion" | "minorVersion" | "higherVersion"
> &
  Partial<Pick<IkeHeader, "majorVersion" | "minorVersion" | "higherVersion">>;

export function exchangeTypeName(type: number): string {
  for (const [name, value] of Object.entries(ExchangeType)) if (value === type) return name;
  return `exchange ${type}`;
}

/**
 * Reads the header. Checks only what the header alone can tell: enough bytes and the major
 * version (§2.5: < 2 is IKEv1, dropped; > 2 is answered with INVALID_MAJOR_VERSION). The Length
 * against the datagram is checked by the message decoder.
 */
export function decodeHeader(bytes: Uint8Array, ignored: IgnoredBits[]): DecodeResult<IkeHeader> {
  if (bytes.length < IKE_HEADER_LENGTH) {
    return fail(
      DecodeErrorCode.TRUNCATED,
      `${bytes.length} bytes is shorter than the ${IKE_HEADER_LENGTH}-byte IKE header`,
      0,
    );
  }
  const version = bytes[17] ?? 0;
  const flags = bytes[19] ?? 0;
  const header: IkeHeader = {
    initiatorSpi: bytes.slice(0, 8),
    responderSpi: bytes.slice(8, 16),
    nextPayload: bytes[16] ?? 0,
    majorVersion: version >>> 4,
    minorVersion: version & 0x0f,
    exchangeType: bytes[18] ?? 0,
    initiator: (flags & HeaderFlag.INITIATOR) !== 0,
    higherVersion: (flags & HeaderFlag.VERSION) !== 0,
    response: (flags & HeaderFlag.RESPONSE) !== 0,
    messageId: readU32(bytes, 20),
    length: readU32(bytes, 24),
  };
  if (header.majorVersion > 2) {
    return fail(
      DecodeErrorCode.UNSUPPORTED_MAJOR_VERSION,
      `IKE major version ${header.majorVersion} is above 2`,
      17,
      {
        // §3.10.1: no data; the version we speak goes into the reply's header.
        notify: { notifyType: 5, data: new Uint8Array(0) },
        header,
      },
    );
  }
  if (header.majorVersion < 2) {
    return fail(
      DecodeErrorCode.OLD_MAJOR_VERSION,
      `IKE major version ${header.majorVersion} (IKEv1 or older) is not spoken here`,
      17,
      { header },
    );
  }
  noteReserved(ignored, bytes, 19, RESERVED_FLAGS, "reserved header flags");
  return ok(header);
}

export function encodeHeader(
  writer: ByteWriter,
  fields: IkeHeaderFields,
  nextPayload: number,
  length: number,
): void {
  if (fields.initiatorSpi.length !== IKE_SPI_LENGTH) {
    throw encodeSpiError("initiatorSpi", fields.initiatorSpi.length);
  }
  if (fields.responderSpi.length !== IKE_SPI_LENGTH) {
    throw encodeSpiError("responderSpi", fields.responderSpi.length);
  }
  writer.bytes(fields.initiatorSpi);
  writer.bytes(fields.responderSpi);
  writer.u8(nextPayload, "header.nextPayload");
  const major = fields.majorVersion ?? 2;
  const minor = fields.minorVersion ?? 0;
  if (major > 15 || minor > 15) throw encodeVersionError(major, minor);
  writer.u8((major << 4) | minor, "header.version");
  writer.u8(fields.exchangeType, "header.exchangeType");
  writer.u8(
    (fields.response ? HeaderFlag.RESPONSE : 0) |
      (fields.higherVersion ? HeaderFlag.VERSION : 0) |
      (fields.initiator ? HeaderFlag.INITIATOR : 0),
    "header.flags",
  );
  writer.u32(fields.messageId, "header.messageId");
  writer.u32(length, "header.length");
}

function encodeSpiError(field: string, length: number): Error {
  return encodeError(`header.${field}`, `an IKE SPI has ${IKE_SPI_LENGTH} bytes, not ${length}`);
}

function encodeVersionError(major: number, minor: number): Error {
  return encodeError("header.version", `${major}.${minor} does not fit two 4-bit fields`);
}
