import type { IgnoredBits } from "./decode-result.js";

/**
 * What a payload's body decoder is given: the bytes of the whole message (or decrypted chain),
 * the body's bounds within them (after the 4-byte generic payload header), the payload type (one
 * decoder serves IDi and IDr, TSi and TSr) and the list of ignored reserved bits to add to.
 * Offsets in errors are absolute, so a peer's bad byte can be found in a hex dump.
 */
export interface PayloadBody {
  bytes: Uint8Array;
  start: number;
  end: number;
  type: number;
  ignored: IgnoredBits[];
}

export function bodyLength(body: PayloadBody): number {
  return body.end - body.start;
}
