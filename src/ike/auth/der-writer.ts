/**
 * DER encoding (X.690 §10) of the few structures certificate authentication builds itself:
 * distinguished names for ID payloads and AlgorithmIdentifiers for RFC 7427 AUTH data.
 * Inputs are ours (configuration, constants), so mistakes throw.
 */
import { DerTag } from "./der-reader.js";

function lengthOctets(length: number): number[] {
  if (length < 0x80) return [length];
  const octets: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256);
  return [0x80 | octets.length, ...octets];
}

/** tag ‖ length ‖ contents. */
export function derTlv(tag: number, ...contents: readonly Uint8Array[]): Uint8Array {
  const total = contents.reduce((sum, part) => sum + part.length, 0);
  const header = [tag, ...lengthOctets(total)];
  const out = new Uint8Array(header.length + total);
  out.set(header, 0);
  let offset = header.length;
  for (const part of contents) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function derSequence(...elements: readonly Uint8Array[]): Uint8Array {
  return derTlv(DerTag.SEQUENCE, ...elements);
}

/** A SET OF: DER sorts the encodings of its elements (X.690 §11.6). */
export function derSetOf(...elements: readonly Uint8Array[]): Uint8Array {
  const sorted = [...elements].sort((a, b) => Buffer.compare(a, b));
  return derTlv(DerTag.SET, ...sorted);
}

export function derNull(): Uint8Array {
  return Uint8Array.of(DerTag.NULL, 0);
}

/** A non-negative INTEGER. */
export function derInteger(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`derInteger: ${value} is not a count`);
  const octets: number[] = [];
  for (let n = value; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256);
  if (octets.length === 0 || (octets[0] ?? 0) & 0x80) octets.unshift(0);
  return derTlv(DerTag.INTEGER, Uint8Array.from(octets));
}

/** An OBJECT IDENTIFIER from dotted text ("1.2.840.113549.1.1.11"). */
export function derOid(dotted: string): Uint8Array {
  return derTlv(DerTag.OID, oidContent(dotted));
}

/** The contents octets of an OBJECT IDENTIFIER. */
export function oidContent(dotted: string): Uint8Array {
  if (!/^[0-2](\.\d+)+$/.test(dotted)) throw new RangeError(`derOid: "${dotted}" is not a dotted OID`);
  const arcs = dotted.split(".").map((arc) => BigInt(arc));
  const [first = 0n, second = 0n, ...rest] = arcs;
  if (first < 2n && second >= 40n) throw new RangeError(`derOid: second arc of "${dotted}" is above 39`);
  const out: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const septets: number[] = [];
    let n = arc;
    do {
      septets.unshift(Number(n & 0x7fn));
      n >>= 7n;
    } while (n > 0n);
    septets.forEach((septet, i) => out.push(i < septets.length - 1 ? septet | 0x80 : septet));
  }
  return Uint8Array.from(out);
}
