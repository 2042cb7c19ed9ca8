import { type ByteWriter, readU16 } from "./bytes.js";
import { DecodeErrorCode, type DecodeResult, fail, ok } from "./decode-result.js";
import { type PayloadBody, bodyLength } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";

/**
 * Encrypted Fragment payload, SKF (RFC 7383 §2.5). A message too large for the path is split:
 * its inner payload chain is cut into pieces, each piece is encrypted on its own and travels in
 * its own message (same exchange and Message ID) as an SKF payload. The receiver decrypts every
 * fragment, joins the plaintexts in Fragment Number order and parses the result as the chain
 * whose first type the first fragment's Next Payload gives.
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C|  RESERVED   |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |        Fragment Number        |        Total Fragments        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                     Initialization Vector                     |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    ~                      Encrypted content                        ~
 *    +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |               |             Padding (0-255 octets)            |
 *    +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
 *    |                                               |  Pad Length   |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    ~                    Integrity Checksum Data                    ~
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field           | octets | meaning                                                        |
 * | --------------- | ------ | -------------------------------------------------------------- |
 * | Next Payload    | 1      | fragment 1: type of the first inner payload; others: 0         |
 * | Fragment Number | 2      | 1..Total Fragments; 0 or above the total: discard (§2.6)       |
 * | Total Fragments | 2      | at least 1                                                     |
 * | IV, content, ICV| rest   | as in SK (encrypted.ts), for this fragment's piece             |
 *
 * The associated data / checksummed prefix is the IKE header through the end of Total Fragments
 * (the whole 8-octet SKF header), so the fragment fields are protected too.
 */
export interface EncryptedFragmentPayload {
  type: typeof PayloadType.SKF;
  /** Next Payload: the first inner payload's type in fragment 1, zero in the others. */
  firstInnerType: number;
  fragmentNumber: number;
  totalFragments: number;
  /** IV ‖ ciphertext ‖ ICV of this fragment. */
  body: Uint8Array;
}

/** Octets of the SKF payload before the IV: generic header + Fragment Number + Total Fragments. */
export const SKF_HEADER_LENGTH = 8;

export function decodeSkf(body: PayloadBody, nextPayload: number): DecodeResult<EncryptedFragmentPayload> {
  const { bytes, start, end } = body;
  if (bodyLength(body) < 4) {
    return fail(DecodeErrorCode.PAYLOAD_TOO_SHORT, "SKF: body shorter than 4 octets", start, {
      payloadType: PayloadType.SKF,
    });
  }
  const fragmentNumber = readU16(bytes, start);
  const totalFragments = readU16(bytes, start + 2);
  if (fragmentNumber === 0 || totalFragments === 0 || fragmentNumber > totalFragments) {
    // RFC 7383 §2.6: such a fragment is discarded, not answered.
    return fail(
      DecodeErrorCode.INVALID_FRAGMENT,
      `SKF: fragment ${fragmentNumber} of ${totalFragments}`,
      start,
      { payloadType: PayloadType.SKF },
    );
  }
  return ok({
    type: PayloadType.SKF,
    firstInnerType: nextPayload,
    fragmentNumber,
    totalFragments,
    body: bytes.slice(start + 4, end),
  });
}

export function encodeSkf(writer: ByteWriter, payload: EncryptedFragmentPayload): void {
  writer.u16(payload.fragmentNumber, "SKF.fragmentNumber");
  writer.u16(payload.totalFragments, "SKF.totalFragments");
  writer.bytes(payload.body);
}
