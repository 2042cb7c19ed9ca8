import type { ByteWriter } from "./bytes.js";
import { type DecodeResult, ok } from "./decode-result.js";
import type { PayloadBody } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";

/**
 * Encrypted and Authenticated payload, SK (RFC 7296 §3.14). The codec treats its body as opaque
 * bytes; src/ike/crypto opens and seals it. What the codec provides is the framing: where the
 * body starts, which octets are the AEAD's associated data, which the integrity checksum covers.
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C|  RESERVED   |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                     Initialization Vector                     |
 *    |         (length is block size for encryption algorithm)       |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    ~                    Encrypted IKE Payloads                     ~
 *    +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |               |             Padding (0-255 octets)            |
 *    +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
 *    |                                               |  Pad Length   |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    ~                    Integrity Checksum Data                    ~
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field                | octets    | meaning                                                  |
 * | -------------------- | --------- | -------------------------------------------------------- |
 * | Next Payload         | 1         | the type of the FIRST INNER payload, not of a next one:  |
 * |                      |           | SK is always the last payload of a message               |
 * | Payload Length       | 2         | 4 + IV + ciphertext + ICV                                |
 * | Initialization Vector| cipher's  | 16 for AES-CBC, 8 for AES-GCM (RFC 5282)                 |
 * | Encrypted payloads   | variable  | the inner payload chain, then Padding and Pad Length     |
 * | Integrity Checksum   | cipher's  | HMAC truncated (e.g. 16 for SHA2-256-128), or the AEAD tag |
 *
 * What is protected (offsets from the first octet of the IKE header; the non-ESP marker on port
 * 4500 is not part of the message):
 * - AEAD ciphers (RFC 5282 §5.1): associated data = the IKE header through the last octet of the
 *   SK payload's generic header, i.e. everything before the IV. All length fields in it must
 *   already be final, which is why the encoder asks the sealer for the body length first.
 * - Other ciphers (§3.14): the checksum is computed over the whole message from the first octet
 *   of the header up to, not including, the checksum: (associated data ‖ IV ‖ ciphertext).
 * SK is the last payload and the header's Length equals the datagram, so the checksum is always
 * the last ICV-length octets of the message.
 */
export interface EncryptedPayload {
  type: typeof PayloadType.SK;
  /** The Next Payload field of the SK header: the type of the first payload inside. */
  firstInnerType: number;
  /** IV ‖ ciphertext (with padding and Pad Length) ‖ ICV, exactly as on the wire. */
  body: Uint8Array;
}

/**
 * Seals the inner payloads of an SK (or SKF) payload; implemented by src/ike/crypto.
 *
 * The encoder must write the header's Length and the SK payload's Payload Length before the
 * cipher runs (they are in the AAD, and under the checksum), and those depend on the size of
 * what the cipher will produce. So sealing takes two calls:
 * 1. `bodyLength(plaintextLength)`: how many octets IV ‖ ciphertext ‖ ICV will take for that
 *    many octets of inner payloads. The padding is the sealer's choice (§3.14: any amount up to
 *    255 octets that makes payloads ‖ Padding ‖ Pad Length a multiple of the block size; strongSwan
 *    uses the minimum, so AES-GCM-16 gives 8 + n + 1 + 16 and AES-CBC with HMAC-SHA2-256-128 gives
 *    16 + roundUp(n + 1, 16) + 16). The result must be the same for the same input.
 * 2. `seal(aad, innerPlaintext, bodyLength)`: `aad` is the finished message from the first octet
 *    of the IKE header through the SK (or SKF) payload header, lengths final; `innerPlaintext` is
 *    the inner payload chain without padding. It returns exactly `bodyLength` octets: IV, then
 *    the encryption of innerPlaintext ‖ Padding ‖ Pad Length, then the ICV. For an AEAD the ICV
 *    is the tag over `aad` as associated data; otherwise the ICV is the integrity algorithm over
 *    aad ‖ IV ‖ ciphertext. The encoder checks the length and appends the octets unchanged.
 */
export interface SkSealer {
  bodyLength(plaintextLength: number): number;
  seal(aad: Uint8Array, innerPlaintext: Uint8Array, bodyLength: number): Uint8Array;
}

export function decodeSk(body: PayloadBody, firstInnerType: number): DecodeResult<EncryptedPayload> {
  return ok({ type: PayloadType.SK, firstInnerType, body: body.bytes.slice(body.start, body.end) });
}

export function encodeSk(writer: ByteWriter, payload: EncryptedPayload): void {
  writer.bytes(payload.body);
}
