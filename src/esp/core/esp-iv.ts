import type { RandomSource } from "../../ike/crypto/random.js";
import { espBadArgument } from "./esp-errors.js";
import { writeUint32 } from "./esp-packet.js";

/**
 * Where the ESP engine takes the IV of each outbound packet from: `length` is the transform's
 * IV length, `seq` the sequence number the packet carries. Injected, so that the engine stays
 * pure (no randomness of its own) and tests can pin every byte.
 */
export type EspIvSource = (
  length: number,
  seq: { readonly high: number; readonly low: number },
) => Uint8Array;

/**
 * The IV rule of the module comment of esp-transform.ts:
 * - 8-byte IVs (AES-GCM, ChaCha20-Poly1305) are the 64-bit sequence number. They must never
 *   repeat under one key (RFC 4106 §3.1, RFC 7634 §2), and the SA never reuses a sequence
 *   number (RFC 4303 §3.3.3), as strongSwan's iv_gen_seq does. No randomness is spent.
 * - 16-byte IVs (AES-CBC) must be unpredictable (RFC 3602 §2.2): drawn from `random`.
 */
export function espIvSource(random: RandomSource): EspIvSource {
  if (typeof random !== "function") throw espBadArgument("random", "expected a RandomSource function");
  return (length, seq) => {
    if (length === 8) {
      const iv = new Uint8Array(8);
      writeUint32(iv, 0, seq.high);
      writeUint32(iv, 4, seq.low);
      return iv;
    }
    return random(length);
  };
}
