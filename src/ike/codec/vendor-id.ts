import type { ByteWriter } from "./bytes.js";
import { type DecodeResult, ok } from "./decode-result.js";
import type { PayloadBody } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";

/**
 * Vendor ID payload (RFC 7296 §3.12).
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C|  RESERVED   |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    ~                        Vendor ID (VID)                        ~
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field     | octets | meaning                                                     |
 * | --------- | ------ | ----------------------------------------------------------- |
 * | Vendor ID | rest   | opaque, usually a hash of a vendor string; unknown ones are ignored |
 */
export interface VendorIdPayload {
  type: typeof PayloadType.VENDOR_ID;
  data: Uint8Array;
}

export function decodeVendorId(body: PayloadBody): DecodeResult<VendorIdPayload> {
  return ok({ type: PayloadType.VENDOR_ID, data: body.bytes.slice(body.start, body.end) });
}

export function encodeVendorId(writer: ByteWriter, payload: VendorIdPayload): void {
  writer.bytes(payload.data);
}
