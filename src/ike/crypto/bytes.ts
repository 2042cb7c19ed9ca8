/**
 * Byte helpers shared by the crypto modules: argument checks that name the argument, copies
 * that never land in Node's shared Buffer pool, views between Buffer and Uint8Array, wiping.
 * Internal to src/ike/crypto.
 */
import { timingSafeEqual } from "node:crypto";
import { badArgument } from "./errors.js";

export interface LengthRule {
  /** Exact length in bytes. */
  readonly length?: number;
  readonly min?: number;
  readonly max?: number;
}

/** Checks that `value` is a Uint8Array (a Buffer is one) of an allowed length; returns it. */
export function checkBytes(value: unknown, name: string, rule: LengthRule = {}): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw badArgument(name, `expected a Uint8Array, got ${describeType(value)}`);
  }
  if (rule.length !== undefined && value.length !== rule.length) {
    throw badArgument(name, `expected ${rule.length} bytes, got ${value.length}`, value.length);
  }
  if (rule.min !== undefined && value.length < rule.min) {
    throw badArgument(name, `expected at least ${rule.min} bytes, got ${value.length}`, value.length);
  }
  if (rule.max !== undefined && value.length > rule.max) {
    throw badArgument(name, `expected at most ${rule.max} bytes, got ${value.length}`, value.length);
  }
  return value;
}

/** Checks that `value` is an integer in [min, max]; returns it. */
export function checkInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw badArgument(name, `expected an integer, got ${describeType(value)}`);
  }
  if (value < min || value > max) {
    throw badArgument(name, `expected an integer from ${min} to ${max}, got ${value}`, value);
  }
  return value;
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return typeof value;
}

/** Concatenates into a fresh, unpooled Uint8Array (safe to wipe, holds nothing else). */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A Buffer over the same memory, for node:crypto calls that want one. No copy. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A plain Uint8Array over the same memory as a Buffer returned by node:crypto (digests and
 * cipher output are allocated for the call, not from the pool). No copy.
 */
export function asUint8Array(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Overwrites temporary secrets with zeros, as noble does; the caller stops using them. */
export function wipe(...arrays: readonly (Uint8Array | undefined)[]): void {
  for (const array of arrays) array?.fill(0);
}

/** Constant-time equality for equal lengths; different lengths are simply unequal. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** True when every byte is zero, without an early exit on the first non-zero byte. */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const byte of bytes) acc |= byte;
  return acc === 0;
}

/** Compares two big-endian unsigned integers of the same length: a < b. */
export function lessThan(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x < y;
  }
  return false;
}

export function base64url(bytes: Uint8Array): string {
  return asBuffer(bytes).toString("base64url");
}
