import type { ByteWriter } from "./bytes.js";
import { DecodeErrorCode, type DecodeResult, noteReservedOctets, ok, syntaxError } from "./decode-result.js";
import { type PayloadBody, bodyLength } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";

/**
 * Authentication payload (RFC 7296 §3.8).
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C|  RESERVED   |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Auth Method   |                RESERVED                       |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    ~                      Authentication Data                      ~
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field               | octets | meaning                                               |
 * | ------------------- | ------ | ----------------------------------------------------- |
 * | Auth Method         | 1      | see AuthMethod; others are kept                       |
 * | RESERVED            | 3      | zero; ignored on receipt                              |
 * | Authentication Data | rest   | the MAC or signature (§2.15); RFC 7427: ASN.1 length, AlgorithmIdentifier, signature |
 */
export interface AuthPayload {
  type: typeof PayloadType.AUTH;
  method: number;
  data: Uint8Array;
}

export const AuthMethod = {
  RSA_SIGNATURE: 1,
  SHARED_KEY_MIC: 2,
  DSS_SIGNATURE: 3,
  ECDSA_SHA256_P256: 9,
  ECDSA_SHA384_P384: 10,
  ECDSA_SHA512_P521: 11,
  /** RFC 7619 */
  NULL: 13,
  /** RFC 7427 */
  DIGITAL_SIGNATURE: 14,
} as const;

export function decodeAuth(body: PayloadBody): DecodeResult<AuthPayload> {
  const { bytes, start, end } = body;
  if (bodyLength(body) < 4) {
    return syntaxError(
      DecodeErrorCode.PAYLOAD_TOO_SHORT,
      "AUTH: body shorter than 4 octets",
      start,
      PayloadType.AUTH,
    );
  }
  noteReservedOctets(body.ignored, bytes, start + 1, 3, "AUTH RESERVED");
  return ok({ type: PayloadType.AUTH, method: bytes[start] ?? 0, data: bytes.slice(start + 4, end) });
}

export function encodeAuth(writer: ByteWriter, payload: AuthPayload): void {
  writer.u8(payload.method, "AUTH.method");
  writer.zeros(3);
  writer.bytes(payload.data);
}
