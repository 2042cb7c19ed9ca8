/**
 * Randomness is injected: protocol code never calls a random number generator itself, it is
 * handed a RandomSource. Drivers pass `systemRandom`; tests and simulations pass
 * `deterministicRandom(seed)` so that every byte of a run can be reproduced.
 */
import { createHash, randomBytes } from "node:crypto";
import { asUint8Array, checkBytes, checkInteger } from "./bytes.js";
import { badArgument } from "./errors.js";

/** Returns `length` fresh random bytes. */
export type RandomSource = (length: number) => Uint8Array;

/** The largest single draw; IKE needs at most a nonce (256 bytes) or a private key. */
export const MAX_RANDOM_DRAW = 65_536;

/** crypto.randomBytes: for drivers, the only place randomness enters the system. */
export const systemRandom: RandomSource = (length) => {
  checkInteger(length, "length", 0, MAX_RANDOM_DRAW);
  return asUint8Array(randomBytes(length));
};

/**
 * A reproducible stream: block i is SHA-256(seed | i as 8 bytes big-endian), and successive
 * calls continue the stream. For tests and simulations only — anyone who knows the seed knows
 * every key made from it.
 */
export function deterministicRandom(seed: Uint8Array | string): RandomSource {
  const seedBytes =
    typeof seed === "string" ? new TextEncoder().encode(seed) : checkBytes(seed, "seed").slice();
  let counter = 0n;
  let block: Uint8Array = new Uint8Array(0);
  let used = 0;
  return (length) => {
    checkInteger(length, "length", 0, MAX_RANDOM_DRAW);
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      if (used === block.length) {
        const counterBytes = Buffer.alloc(8);
        counterBytes.writeBigUInt64BE(counter);
        counter += 1n;
        block = asUint8Array(createHash("sha256").update(seedBytes).update(counterBytes).digest());
        used = 0;
      }
      const take = Math.min(length - filled, block.length - used);
      out.set(block.subarray(used, used + take), filled);
      used += take;
      filled += take;
    }
    return out;
  };
}

/**
 * Draws from an injected source and checks what came back, so that a broken source is
 * reported as the caller's mistake instead of turning into a short key.
 */
export function drawRandom(random: RandomSource, length: number): Uint8Array {
  if (typeof random !== "function") throw badArgument("random", "expected a RandomSource function");
  const bytes: unknown = random(length);
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw badArgument(
      "random",
      `the RandomSource returned ${bytes instanceof Uint8Array ? `${bytes.length} bytes` : "no Uint8Array"} for a request of ${length}`,
      length,
    );
  }
  return bytes;
}
