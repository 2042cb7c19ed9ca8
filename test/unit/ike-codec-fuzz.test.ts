import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type DecodeResult,
  DecodeErrorCode,
  decodeMessage,
  decodePayloadChain,
  encodeMessage,
  encodePayloadChain,
} from "../../src/ike/codec/index.js";

/**
 * Seeded random mutations of the captured strongSwan messages (bit flips, truncation, extension,
 * splicing, length-field edits, payload-type edits). For every mutant the decoder must return a
 * value, never throw, and every error must carry a known code. For every mutant that decodes,
 * encode(decode(x)) must give x back, with exactly the reserved bits the decoder reported as
 * ignored cleared (RFC 7296 §2.5 says to ignore them, so they are not kept).
 */

interface Fixture {
  messages: { hex: string }[];
}
const corpus = ["psk", "fragments"].flatMap((name) =>
  (
    JSON.parse(
      readFileSync(new URL(`fixtures/ike-strongswan-${name}.json`, import.meta.url), "utf8"),
    ) as Fixture
  ).messages.map((m) => Uint8Array.from(Buffer.from(m.hex, "hex"))),
);

/** xorshift32: small, seedable, the same sequence on every run. */
function random(seed: number): (below: number) => number {
  let state = seed >>> 0 || 1;
  return (below) => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % below;
  };
}

/** Offsets of length fields in a message: the header Length and each payload's Payload Length. */
function lengthFields(bytes: Uint8Array): number[] {
  const fields = [24];
  let at = 28;
  let next = bytes[16] ?? 0;
  while (next !== 0 && at + 4 <= bytes.length) {
    fields.push(at + 2);
    const length = ((bytes[at + 2] ?? 0) << 8) | (bytes[at + 3] ?? 0);
    if (next === 46 || next === 53 || length < 4) break;
    next = bytes[at] ?? 0;
    at += length;
  }
  return fields;
}

function mutate(source: Uint8Array, pick: (below: number) => number, other: Uint8Array): Uint8Array {
  const bytes = Uint8Array.from(source);
  if (bytes.length < 28) {
    // Already shorter than a header: grow it back with octets from another message.
    return Uint8Array.from([...bytes, ...other.subarray(bytes.length, bytes.length + 1 + pick(64))]);
  }
  switch (pick(9)) {
    case 0: {
      const flips = 1 + pick(4);
      for (let i = 0; i < flips; i++) {
        const at = pick(bytes.length);
        bytes[at] = (bytes[at] ?? 0) ^ (1 << pick(8));
      }
      return bytes;
    }
    case 1:
      return bytes.subarray(0, pick(bytes.length));
    case 2:
      return Uint8Array.from([...bytes, ...Array.from({ length: 1 + pick(16) }, () => pick(256))]);
    case 3: {
      // Splice: a prefix of this message, the tail of another.
      const cut = pick(bytes.length);
      return Uint8Array.from([...bytes.subarray(0, cut), ...other.subarray(pick(other.length))]);
    }
    case 4: {
      // A length field set to something near its value, or to an edge.
      const fields = lengthFields(bytes);
      const at = fields[pick(fields.length)] ?? 24;
      const width = at === 24 ? 4 : 2;
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const current = width === 4 ? view.getUint32(at) : view.getUint16(at);
      const choices = [0, 1, 3, 4, 5, current - 1, current + 1, current + 4, current - 4, 0xffff];
      const value = (choices[pick(choices.length)] ?? 0) & (width === 4 ? 0xffffffff : 0xffff);
      if (width === 4) view.setUint32(at, value >>> 0);
      else view.setUint16(at, value);
      return bytes;
    }
    case 5: {
      // A Next Payload field (or the header's) set to another type, known or not.
      const fields = lengthFields(bytes)
        .slice(1)
        .map((f) => f - 2);
      const at = [16, ...fields][pick(fields.length + 1)] ?? 16;
      const types = [0, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 53, 200];
      bytes[at] = types[pick(types.length)] ?? 0;
      return bytes;
    }
    case 6: {
      // The critical bit or reserved bits of a payload header.
      const fields = lengthFields(bytes)
        .slice(1)
        .map((f) => f - 1);
      const at = fields[pick(fields.length)] ?? 29;
      bytes[at] = (bytes[at] ?? 0) ^ (1 << pick(8));
      return bytes;
    }
    case 7: {
      // A run of random octets somewhere.
      const at = pick(bytes.length);
      for (let i = at; i < Math.min(bytes.length, at + 1 + pick(8)); i++) bytes[i] = pick(256);
      return bytes;
    }
    default: {
      // Remove or duplicate a run, then fix the header Length so the chain is what is tested.
      const at = 28 + pick(Math.max(1, bytes.length - 28));
      const run = 1 + pick(12);
      const edited =
        pick(2) === 0
          ? Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + run)])
          : Uint8Array.from([...bytes.subarray(0, at + run), ...bytes.subarray(at)]);
      if (edited.length >= 28) new DataView(edited.buffer).setUint32(24, edited.length);
      return edited;
    }
  }
}

const KNOWN_CODES = new Set<string>(Object.values(DecodeErrorCode));

function checkShape<T>(result: DecodeResult<T>): void {
  if (result.ok) return;
  expect(KNOWN_CODES.has(result.error.code)).toBe(true);
  expect(typeof result.error.message).toBe("string");
  expect(Number.isInteger(result.error.offset)).toBe(true);
}

function withIgnoredBitsCleared(bytes: Uint8Array, ignored: { offset: number; mask: number }[]): Uint8Array {
  const cleared = Uint8Array.from(bytes);
  for (const { offset, mask } of ignored) cleared[offset] = (cleared[offset] ?? 0) & ~mask;
  return cleared;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

describe("fuzzing the decoder with mutated strongSwan messages", () => {
  it("the corpus is the captured traffic", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(12);
  });

  const ITERATIONS = 20_000;
  it(`never throws, and encode(decode(x)) == x for every valid mutant (${ITERATIONS} mutants, seed 7296)`, () => {
    const pick = random(7296);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < ITERATIONS; i++) {
      const source = corpus[pick(corpus.length)] ?? new Uint8Array();
      const other = corpus[pick(corpus.length)] ?? new Uint8Array();
      let mutant = mutate(source, pick, other);
      if (pick(4) === 0) mutant = mutate(mutant, pick, other);
      let result;
      try {
        result = decodeMessage(mutant);
      } catch (error) {
        throw new Error(`decodeMessage threw on mutant ${i} (${hex(mutant)}): ${String(error)}`);
      }
      checkShape(result);
      const outcome = result.ok ? "ok" : result.error.code;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      if (result.ok) {
        const reencoded = encodeMessage(result.value.header, result.value.payloads);
        expect(hex(reencoded), `mutant ${i}`).toBe(
          hex(withIgnoredBitsCleared(mutant, result.value.ignoredBits)),
        );
        if (result.value.ignoredBits.length === 0) expect(hex(reencoded)).toBe(hex(mutant));
      }
    }
    // The mutations reach both sides: many valid decodes and many kinds of error.
    expect(outcomes.get("ok") ?? 0).toBeGreaterThan(ITERATIONS / 20);
    expect(outcomes.size).toBeGreaterThan(8);
  });

  it("decodePayloadChain never throws on random plaintext either, and round-trips what it accepts", () => {
    const pick = random(5282);
    const chains = corpus.map((message) => message.subarray(28));
    for (let i = 0; i < 5_000; i++) {
      const source = chains[pick(chains.length)] ?? new Uint8Array();
      const bytes =
        pick(3) === 0 ? Uint8Array.from({ length: pick(64) }, () => pick(256)) : mutate(source, pick, source);
      const firstType = [33, 34, 35, 40, 41, 42, 43, 44, 46, 47, 48, 49, 0][pick(13)] ?? 0;
      let result;
      try {
        result = decodePayloadChain(firstType, bytes);
      } catch (error) {
        throw new Error(`decodePayloadChain threw on ${firstType} ${hex(bytes)}: ${String(error)}`);
      }
      checkShape(result);
      if (result.ok) {
        const encoded = encodePayloadChain(result.value.payloads);
        expect(hex(encoded.bytes)).toBe(hex(withIgnoredBitsCleared(bytes, result.value.ignoredBits)));
      }
    }
  });
});
