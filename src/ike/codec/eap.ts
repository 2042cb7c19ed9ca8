import type { ByteWriter } from "./bytes.js";
import { type DecodeResult, ok } from "./decode-result.js";
import type { PayloadBody } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";

/**
 * Extensible Authentication payload (RFC 7296 §3.16), kept opaque: the EAP message (RFC 3748:
 * Code, Identifier, Length, Type, Type-Data) belongs to an EAP method, not to the IKE codec.
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C|  RESERVED   |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    ~                       EAP Message                             ~
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field       | octets | meaning                          |
 * | ----------- | ------ | -------------------------------- |
 * | EAP Message | rest   | one EAP packet, passed as is     |
 */
export interface EapPayload {
  type: typeof PayloadType.EAP;
  message: Uint8Array;
}

export function decodeEap(body: PayloadBody): DecodeResult<EapPayload> {
  return ok({ type: PayloadType.EAP, message: body.bytes.slice(body.start, body.end) });
}

export function encodeEap(writer: ByteWriter, payload: EapPayload): void {
  writer.bytes(payload.message);
}
