import { type ByteWriter, readU16 } from "./bytes.js";
import { DecodeErrorCode, type DecodeResult, noteReservedOctets, ok, syntaxError } from "./decode-result.js";
import { type PayloadBody, bodyLength } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";

/**
 * Key Exchange payload (RFC 7296 §3.4).
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C|  RESERVED   |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |   Diffie-Hellman Group Num    |           RESERVED            |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    ~                       Key Exchange Data                       ~
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field             | octets | meaning                                                  |
 * | ----------------- | ------ | -------------------------------------------------------- |
 * | DH Group Num      | 2      | the KE transform ID (e.g. 31 Curve25519, 32 octets data) |
 * | RESERVED          | 2      | zero; ignored on receipt                                 |
 * | Key Exchange Data | rest   | the public value; its length per group is the core's check (INVALID_SYNTAX / INVALID_KE_PAYLOAD) |
 */
export interface KePayload {
  type: typeof PayloadType.KE;
  group: number;
  data: Uint8Array;
}

export function decodeKe(body: PayloadBody): DecodeResult<KePayload> {
  const { bytes, start, end } = body;
  if (bodyLength(body) < 4) {
    return syntaxError(
      DecodeErrorCode.PAYLOAD_TOO_SHORT,
      "KE: body shorter than 4 octets",
      start,
      PayloadType.KE,
    );
  }
  noteReservedOctets(body.ignored, bytes, start + 2, 2, "KE RESERVED");
  return ok({ type: PayloadType.KE, group: readU16(bytes, start), data: bytes.slice(start + 4, end) });
}

export function encodeKe(writer: ByteWriter, payload: KePayload): void {
  writer.u16(payload.group, "KE.group");
  writer.zeros(2);
  writer.bytes(payload.data);
}
