import { type ByteWriter, encodeError } from "./bytes.js";
import { DecodeErrorCode, type DecodeResult, ok, syntaxError } from "./decode-result.js";
import { type PayloadBody, bodyLength } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";

/**
 * Nonce payload, Ni and Nr (RFC 7296 §3.9).
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C|  RESERVED   |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    ~                            Nonce Data                         ~
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field      | octets  | meaning                                                  |
 * | ---------- | ------- | -------------------------------------------------------- |
 * | Nonce Data | 16..256 | random; "MUST be between 16 and 256 octets, inclusive"   |
 */
export interface NoncePayload {
  type: typeof PayloadType.NONCE;
  data: Uint8Array;
}

export const MIN_NONCE_LENGTH = 16;
export const MAX_NONCE_LENGTH = 256;

export function decodeNonce(body: PayloadBody): DecodeResult<NoncePayload> {
  const length = bodyLength(body);
  if (length < MIN_NONCE_LENGTH || length > MAX_NONCE_LENGTH) {
    return syntaxError(
      DecodeErrorCode.INVALID_PAYLOAD,
      `Nonce: ${length} octets, outside ${MIN_NONCE_LENGTH}..${MAX_NONCE_LENGTH}`,
      body.start,
      PayloadType.NONCE,
    );
  }
  return ok({ type: PayloadType.NONCE, data: body.bytes.slice(body.start, body.end) });
}

export function encodeNonce(writer: ByteWriter, payload: NoncePayload): void {
  const length = payload.data.length;
  if (length < MIN_NONCE_LENGTH || length > MAX_NONCE_LENGTH) {
    throw encodeError("Nonce.data", `${length} octets, outside ${MIN_NONCE_LENGTH}..${MAX_NONCE_LENGTH}`);
  }
  writer.bytes(payload.data);
}
