import { type ByteWriter, encodeError } from "./bytes.js";
import { DecodeErrorCode, type DecodeResult, noteReservedOctets, ok, syntaxError } from "./decode-result.js";
import { type PayloadBody, bodyLength } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";

/**
 * Identification payloads IDi and IDr (RFC 7296 §3.5).
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C|  RESERVED   |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |   ID Type     |                 RESERVED                      |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    ~                   Identification Data                         ~
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field               | octets | meaning                                                 |
 * | ------------------- | ------ | ------------------------------------------------------- |
 * | ID Type             | 1      | see IdType; others are kept                             |
 * | RESERVED            | 3      | zero; ignored on receipt (reported in ignoredBits)      |
 * | Identification Data | rest   | 4 octets for IPV4_ADDR, 16 for IPV6_ADDR (checked here) |
 *
 * The AUTH payload (§2.15) signs "RestOfInitIDPayload": ID Type, RESERVED and data as they were
 * on the wire. `restOfIdPayload` rebuilds them with RESERVED zero, which is exact unless the
 * decoder listed this payload's RESERVED octets in ignoredBits.
 */
export interface IdPayload {
  type: typeof PayloadType.IDi | typeof PayloadType.IDr;
  idType: number;
  data: Uint8Array;
}

export const IdType = {
  IPV4_ADDR: 1,
  FQDN: 2,
  RFC822_ADDR: 3,
  IPV6_ADDR: 5,
  DER_ASN1_DN: 9,
  KEY_ID: 11,
} as const;

const ADDRESS_LENGTH: Record<number, number> = { [IdType.IPV4_ADDR]: 4, [IdType.IPV6_ADDR]: 16 };

export function decodeId(body: PayloadBody): DecodeResult<IdPayload> {
  const { bytes, start, end } = body;
  const type = body.type === PayloadType.IDi ? PayloadType.IDi : PayloadType.IDr;
  if (bodyLength(body) < 4) {
    return syntaxError(DecodeErrorCode.PAYLOAD_TOO_SHORT, "ID: body shorter than 4 octets", start, type);
  }
  const idType = bytes[start] ?? 0;
  const data = bytes.slice(start + 4, end);
  const expected = ADDRESS_LENGTH[idType];
  if (expected !== undefined && data.length !== expected) {
    return syntaxError(
      DecodeErrorCode.INVALID_PAYLOAD,
      `ID: an address of ID type ${idType} has ${expected} octets, not ${data.length}`,
      start + 4,
      type,
    );
  }
  noteReservedOctets(body.ignored, bytes, start + 1, 3, "ID RESERVED");
  return ok({ type, idType, data });
}

export function encodeId(writer: ByteWriter, payload: IdPayload): void {
  const expected = ADDRESS_LENGTH[payload.idType];
  if (expected !== undefined && payload.data.length !== expected) {
    throw encodeError(
      "ID.data",
      `ID type ${payload.idType} needs ${expected} octets, not ${payload.data.length}`,
    );
  }
  writer.u8(payload.idType, "ID.idType");
  writer.zeros(3);
  writer.bytes(payload.data);
}

/** ID Type ‖ RESERVED (zero) ‖ Identification Data: the octets AUTH signs (§2.15). */
export function restOfIdPayload(payload: IdPayload): Uint8Array {
  const octets = new Uint8Array(4 + payload.data.length);
  octets[0] = payload.idType;
  octets.set(payload.data, 4);
  return octets;
}
