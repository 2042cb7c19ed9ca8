/**
 * A small, strict DER reader (X.690 §10) for what certificate authentication needs: names,
 * certificate fields, AlgorithmIdentifiers. It never throws on its input: every function returns
 * a value or `{ ok: false, error }` with the offset of the first bad octet, because the bytes
 * come from the network (ID, CERT and AUTH payloads).
 *
 * Strict means DER, not BER: definite lengths in the fewest octets, single-octet tags (tag
 * numbers below 31, which is all X.509 uses), booleans 0x00 or 0xFF, minimal INTEGERs and OID
 * arcs.
 */

export interface DerError {
  readonly message: string;
  /** Offset of the first bad octet in the bytes given to the reader. */
  readonly offset: number;
}

export type DerResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: DerError };

/** One TLV: where it starts, where its contents are, and its identifier octet. */
export interface DerNode {
  /** The identifier octet (class, constructed bit and tag number), e.g. 0x30 for SEQUENCE. */
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  /** One past the last content octet: the TLV is bytes[start, end). */
  readonly end: number;
}

export const DerTag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  /** TeletexString (T61String) */
  TELETEX_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** [n] with the constructed bit (EXPLICIT tagging, or IMPLICIT of a constructed type). */
export function contextConstructed(n: number): number {
  return 0xa0 | n;
}

/** [n] primitive (IMPLICIT tagging of a primitive type). */
export function contextPrimitive(n: number): number {
  return 0x80 | n;
}

export function derOk<T>(value: T): DerResult<T> {
  return { ok: true, value };
}

export function derFail<T = never>(message: string, offset: number): DerResult<T> {
  return { ok: false, error: { message, offset } };
}

/** Reads the TLV at `offset`; it must end at or before `limit`. */
export function readNode(
  bytes: Uint8Array,
  offset: number,
  limit: number = bytes.length,
): DerResult<DerNode> {
  if (offset >= limit) return derFail("expected a DER element, found the end of the data", offset);
  const tag = bytes[offset] ?? 0;
  if ((tag & 0x1f) === 0x1f) return derFail(`multi-octet tag 0x${hex2(tag)} is not supported`, offset);
  if (offset + 1 >= limit) return derFail("DER element without a length octet", offset);
  const first = bytes[offset + 1] ?? 0;
  let length: number;
  let contentStart: number;
  if (first < 0x80) {
    length = first;
    contentStart = offset + 2;
  } else if (first === 0x80) {
    return derFail("indefinite length is BER, not DER", offset + 1);
  } else {
    const count = first & 0x7f;
    if (count > 4) return derFail(`a length of ${count} octets is too long`, offset + 1);
    if (offset + 2 + count > limit) return derFail("the length octets run past the end", offset + 1);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (bytes[offset + 2 + i] ?? 0);
    if ((bytes[offset + 2] ?? 0) === 0 || length < 0x80) {
      return derFail("the length is not in its shortest form (DER)", offset + 1);
    }
    contentStart = offset + 2 + count;
  }
  const end = contentStart + length;
  if (end > limit) {
    return derFail(`the element claims ${length} octets but only ${limit - contentStart} remain`, offset + 1);
  }
  return derOk({ tag, start: offset, contentStart, end });
}

/** Reads a TLV that must span `bytes` exactly (no trailing octets). */
export function readWhole(bytes: Uint8Array): DerResult<DerNode> {
  const node = readNode(bytes, 0, bytes.length);
  if (!node.ok) return node;
  if (node.value.end !== bytes.length) {
    return derFail(`${bytes.length - node.value.end} octets after the DER element`, node.value.end);
  }
  return node;
}

/** Reads a TLV and checks its tag. */
export function readTagged(
  bytes: Uint8Array,
  offset: number,
  limit: number,
  tag: number,
  what: string,
): DerResult<DerNode> {
  const node = readNode(bytes, offset, limit);
  if (!node.ok) return derFail(`${what}: ${node.error.message}`, node.error.offset);
  if (node.value.tag !== tag) {
    return derFail(`${what}: expected tag 0x${hex2(tag)}, found 0x${hex2(node.value.tag)}`, offset);
  }
  return node;
}

/** The elements inside a constructed node, which must fill it exactly. */
export function readChildren(bytes: Uint8Array, parent: DerNode): DerResult<DerNode[]> {
  if ((parent.tag & 0x20) === 0) return derFail("a primitive element has no children", parent.start);
  const children: DerNode[] = [];
  let offset = parent.contentStart;
  while (offset < parent.end) {
    const child = readNode(bytes, offset, parent.end);
    if (!child.ok) return child;
    children.push(child.value);
    offset = child.value.end;
  }
  return derOk(children);
}

export function contentOf(bytes: Uint8Array, node: DerNode): Uint8Array {
  return bytes.subarray(node.contentStart, node.end);
}

export function encodingOf(bytes: Uint8Array, node: DerNode): Uint8Array {
  return bytes.subarray(node.start, node.end);
}

/** An OBJECT IDENTIFIER's contents as dotted text ("2.5.4.3"). */
export function decodeOid(content: Uint8Array, offset = 0): DerResult<string> {
  if (content.length === 0) return derFail("empty OBJECT IDENTIFIER", offset);
  const arcs: bigint[] = [];
  let value = 0n;
  let startOfArc = true;
  for (let i = 0; i < content.length; i++) {
    const octet = content[i] ?? 0;
    if (startOfArc && octet === 0x80) return derFail("OID arc with a leading 0x80 octet", offset + i);
    value = (value << 7n) | BigInt(octet & 0x7f);
    startOfArc = (octet & 0x80) === 0;
    if (startOfArc) {
      arcs.push(value);
      value = 0n;
    }
  }
  if (!startOfArc) return derFail("OID ends inside an arc", offset + content.length - 1);
  const first = arcs[0] ?? 0n;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return derOk([...head, ...arcs.slice(1)].join("."));
}

/** A non-negative INTEGER that fits a JavaScript number (lengths, counts, path lengths). */
export function decodeSmallInteger(content: Uint8Array, offset = 0): DerResult<number> {
  if (content.length === 0) return derFail("empty INTEGER", offset);
  const first = content[0] ?? 0;
  if (first & 0x80) return derFail("negative INTEGER where a count is expected", offset);
  if (content.length > 1 && first === 0 && ((content[1] ?? 0) & 0x80) === 0) {
    return derFail("INTEGER not in its shortest form (DER)", offset);
  }
  if (content.length > 7) return derFail("INTEGER too large", offset);
  let value = 0;
  for (const octet of content) value = value * 256 + octet;
  return derOk(value);
}

export function decodeBoolean(content: Uint8Array, offset = 0): DerResult<boolean> {
  if (content.length !== 1) return derFail("a BOOLEAN has exactly one octet", offset);
  if (content[0] === 0x00) return derOk(false);
  if (content[0] === 0xff) return derOk(true);
  return derFail("a DER BOOLEAN is 0x00 or 0xFF", offset);
}

/** A BIT STRING's contents: the unused-bit count and the octets. */
export function decodeBitString(
  content: Uint8Array,
  offset = 0,
): DerResult<{ unusedBits: number; bits: Uint8Array }> {
  if (content.length === 0) return derFail("empty BIT STRING", offset);
  const unusedBits = content[0] ?? 0;
  if (unusedBits > 7 || (content.length === 1 && unusedBits !== 0)) {
    return derFail(`BIT STRING with ${unusedBits} unused bits`, offset);
  }
  return derOk({ unusedBits, bits: content.subarray(1) });
}

const TIME_FORMS: Record<number, RegExp> = {
  // RFC 5280 §4.1.2.5.1: YYMMDDHHMMSSZ; §4.1.2.5.2: YYYYMMDDHHMMSSZ, no fractions.
  [DerTag.UTC_TIME]: /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/,
  [DerTag.GENERALIZED_TIME]: /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/,
};

/** UTCTime or GeneralizedTime in the forms RFC 5280 allows in certificates. */
export function decodeTime(tag: number, content: Uint8Array, offset = 0): DerResult<Date> {
  const form = TIME_FORMS[tag];
  if (!form) return derFail(`tag 0x${hex2(tag)} is not a time`, offset);
  const text = Buffer.from(content).toString("latin1");
  const m = form.exec(text);
  if (!m) return derFail(`time "${printable(text)}" is not in RFC 5280 form`, offset);
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  // RFC 5280 §4.1.2.5.1: two-digit years 50..99 are 19xx, 00..49 are 20xx.
  const year = tag === DerTag.UTC_TIME ? (y >= 50 ? 1900 + y : 2000 + y) : y;
  const date = new Date(Date.UTC(year, mo - 1, d, h, mi, s));
  if (
    date.getUTCMonth() !== mo - 1 ||
    date.getUTCDate() !== d ||
    h > 23 ||
    mi > 59 ||
    s > 59 ||
    date.getUTCFullYear() !== year
  ) {
    return derFail(`time "${text}" is not a valid date`, offset);
  }
  return derOk(date);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?");
}
