import { PaviseError } from "../../util/errors.js";

/**
 * Big-endian reads (callers have checked the bounds) and a growing writer for the encoders.
 *
 * Encoders are given our own typed objects, not peer input: a value that cannot be encoded (a
 * field out of range, an SPI of the wrong size) is a bug in the caller, so the writer throws a
 * PaviseError naming the field, as the noble libraries check arguments at the boundary.
 */

export function readU16(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] ?? 0) << 8) | (bytes[offset + 1] ?? 0);
}

export function readU32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset] ?? 0) * 0x1000000 +
      (((bytes[offset + 1] ?? 0) << 16) | ((bytes[offset + 2] ?? 0) << 8) | (bytes[offset + 3] ?? 0))) >>>
    0
  );
}

/** A plain Uint8Array view of any byte array (a Node Buffer included), so copies are plain too. */
export function plainView(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function encodeError(field: string, message: string): PaviseError {
  return new PaviseError("IKE_ENCODE_INVALID", `cannot encode ${field}: ${message}`, {
    where: { key: field },
    hint: "this is a bug in the code that built the payload object",
  });
}

function checkUint(value: number, max: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw encodeError(field, `${value} is not an integer in 0..${max}`);
  }
  return value;
}

export class ByteWriter {
  private buffer: Uint8Array;
  private used = 0;

  constructor(initialCapacity = 512) {
    this.buffer = new Uint8Array(initialCapacity);
  }

  get length(): number {
    return this.used;
  }

  private ensure(extra: number): void {
    if (this.used + extra <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < this.used + extra) capacity *= 2;
    const bigger = new Uint8Array(capacity);
    bigger.set(this.buffer.subarray(0, this.used));
    this.buffer = bigger;
  }

  u8(value: number, field: string): void {
    checkUint(value, 0xff, field);
    this.ensure(1);
    this.buffer[this.used++] = value;
  }

  u16(value: number, field: string): void {
    checkUint(value, 0xffff, field);
    this.ensure(2);
    this.buffer[this.used++] = value >>> 8;
    this.buffer[this.used++] = value & 0xff;
  }

  u32(value: number, field: string): void {
    checkUint(value, 0xffffffff, field);
    this.ensure(4);
    this.buffer[this.used++] = value >>> 24;
    this.buffer[this.used++] = (value >>> 16) & 0xff;
    this.buffer[this.used++] = (value >>> 8) & 0xff;
    this.buffer[this.used++] = value & 0xff;
  }

  zeros(count: number): void {
    this.ensure(count);
    this.buffer.fill(0, this.used, this.used + count);
    this.used += count;
  }

  bytes(data: Uint8Array): void {
    this.ensure(data.length);
    this.buffer.set(data, this.used);
    this.used += data.length;
  }

  /** Overwrites a 16-bit field written earlier (a length known only after its contents). */
  patchU16(offset: number, value: number, field: string): void {
    checkUint(value, 0xffff, field);
    this.buffer[offset] = value >>> 8;
    this.buffer[offset + 1] = value & 0xff;
  }

  patchU32(offset: number, value: number, field: string): void {
    checkUint(value, 0xffffffff, field);
    this.buffer[offset] = value >>> 24;
    this.buffer[offset + 1] = (value >>> 16) & 0xff;
    this.buffer[offset + 2] = (value >>> 8) & 0xff;
    this.buffer[offset + 3] = value & 0xff;
  }

  /** A copy of what was written. */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.used);
  }
}
