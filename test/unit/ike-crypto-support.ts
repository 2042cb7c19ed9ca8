/** Helpers shared by the ike-crypto-*.test.ts files: vector loading, hex, scripted randomness. */
import { readFileSync } from "node:fs";
import type { RandomSource } from "../../src/ike/crypto/random.js";

/** Reads test/unit/vectors/<name>; the files are named after their source. */
export function loadVectors<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./vectors/${name}`, import.meta.url), "utf8")) as T;
}

export function hex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/**
 * A RandomSource that hands out the given byte strings in order, each for a request of exactly
 * its length: the way to feed a published private key into `generate`.
 */
export function queuedRandom(...chunks: Uint8Array[]): RandomSource & { remaining(): number } {
  const queue = [...chunks];
  const source = (length: number): Uint8Array => {
    const next = queue.shift();
    if (next === undefined) throw new Error(`queuedRandom: no bytes left for a request of ${length}`);
    if (next.length !== length)
      throw new Error(`queuedRandom: request of ${length}, next chunk has ${next.length}`);
    return next.slice();
  };
  return Object.assign(source, { remaining: () => queue.length });
}

/** Runs `fn` and returns what it threw (failing the test if it did not throw). */
export function thrown(fn: () => unknown): {
  code?: string;
  message: string;
  where?: { key?: string; value?: unknown };
} {
  try {
    fn();
  } catch (error) {
    return error as { code?: string; message: string; where?: { key?: string; value?: unknown } };
  }
  throw new Error("expected a throw");
}
