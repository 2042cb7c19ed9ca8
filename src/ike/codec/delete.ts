import { type ByteWriter, encodeError, readU16 } from "./bytes.js";
import { DecodeErrorCode, type DecodeResult, ok, syntaxError } from "./decode-result.js";
import { type PayloadBody, bodyLength } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";

/**
 * Delete payload (RFC 7296 §3.11).
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C|  RESERVED   |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Protocol ID   |   SPI Size    |          Num of SPIs          |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    ~               Security Parameter Index(es) (SPI)              ~
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field       | octets         | meaning                                                 |
 * | ----------- | -------------- | ------------------------------------------------------- |
 * | Protocol ID | 1              | 1 IKE (the SA the message travels on), 2 AH, 3 ESP      |
 * | SPI Size    | 1              | 0 for IKE, 4 for AH/ESP                                 |
 * | Num of SPIs | 2              | must fill the payload exactly: Num × SPI Size octets     |
 * | SPIs        | Num × SPI Size | the inbound SPIs of the sender's Child SAs              |
 */
export interface DeletePayload {
  type: typeof PayloadType.DELETE;
  protocolId: number;
  /** Kept even with no SPIs (an IKE SA delete has size 0 and none). */
  spiSize: number;
  spis: Uint8Array[];
}

export function decodeDelete(body: PayloadBody): DecodeResult<DeletePayload> {
  const { bytes, start, end } = body;
  if (bodyLength(body) < 4) {
    return syntaxError(
      DecodeErrorCode.PAYLOAD_TOO_SHORT,
      "D: body shorter than 4 octets",
      start,
      PayloadType.DELETE,
    );
  }
  const spiSize = bytes[start + 1] ?? 0;
  const count = readU16(bytes, start + 2);
  if (start + 4 + spiSize * count !== end) {
    return syntaxError(
      DecodeErrorCode.INVALID_PAYLOAD,
      `D: ${count} SPIs of ${spiSize} octets do not fill the ${bodyLength(body) - 4} octets that follow`,
      start + 2,
      PayloadType.DELETE,
    );
  }
  const spis: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const at = start + 4 + i * spiSize;
    spis.push(bytes.slice(at, at + spiSize));
  }
  return ok({ type: PayloadType.DELETE, protocolId: bytes[start] ?? 0, spiSize, spis });
}

export function encodeDelete(writer: ByteWriter, payload: DeletePayload): void {
  writer.u8(payload.protocolId, "D.protocolId");
  writer.u8(payload.spiSize, "D.spiSize");
  writer.u16(payload.spis.length, "D.spis count");
  for (const spi of payload.spis) {
    if (spi.length !== payload.spiSize) {
      throw encodeError(
        "D.spis",
        `an SPI of ${spi.length} octets in a payload of SPI Size ${payload.spiSize}`,
      );
    }
    writer.bytes(spi);
  }
}
