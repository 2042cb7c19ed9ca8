/**
 * X.501 distinguished names: read as strongSwan users write them ("C=CH, O=Org, CN=host" or
 * "/C=CH/O=Org/CN=host"), encoded as the DER an ID_DER_ASN1_DN payload carries (RFC 7296 §3.5:
 * "the binary DER encoding of an ASN.1 X.500 Distinguished Name"), decoded from ID payloads
 * and certificates, compared, and formatted back to text.
 *
 *   Name ::= SEQUENCE OF RelativeDistinguishedName
 *   RelativeDistinguishedName ::= SET OF AttributeTypeAndValue
 *   AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
 *
 * Text syntax: RDNs separated by "," (or by "/" when the text starts with "/"), each
 * `name=value`; names from the table below, case-insensitive, or a dotted OID. Beyond what
 * strongSwan's atodn() reads, values may be quoted (`CN="Doe, John"`) or contain RFC 4514
 * escapes (`CN=Doe\, John`, `\2C`). Leading and trailing blanks of a value are dropped unless
 * escaped. "+" is an ordinary character, as in strongSwan (no multi-valued RDNs from text;
 * decoding and comparing handle them).
 *
 * Comparison is semantic, as strongSwan's compare_dn(): same RDNs in the same order, same OIDs,
 * and the same value whatever the string type (PrintableString "moon" equals UTF8String "moon").
 * Like strongSwan, letter case is ignored only when both values are PrintableString, or for
 * emailAddress.
 */
import {
  DerTag,
  type DerResult,
  contentOf,
  decodeOid,
  derFail,
  derOk,
  readChildren,
  readNode,
  readTagged,
  readWhole,
} from "./der-reader.js";
import { derOid, derSequence, derSetOf, derTlv } from "./der-writer.js";

/** One attribute as text gives it: a type and a Unicode value. */
export interface DnAttribute {
  readonly oid: string;
  readonly value: string;
}

/** One attribute as DER carries it. */
export interface DnValue {
  readonly oid: string;
  /** The value's tag, e.g. DerTag.PRINTABLE_STRING. */
  readonly tag: number;
  /** The content octets of the value. */
  readonly raw: Uint8Array;
  /** The value as Unicode text, or undefined if the tag is not a string type we read. */
  readonly text: string | undefined;
}

/** A decoded Name: RDNs in order, each a set of one or more attribute values. */
export type DecodedDn = readonly (readonly DnValue[])[];

/**
 * Which string types `encodeDn` picks. "strongswan" (default): PrintableString when the value
 * fits its character set, else UTF8String; IA5String for emailAddress and unstructuredName
 * (strongSwan's atodn(), so the DER equals that of certificates made by `pki`). "openssl":
 * PrintableString for C, serialNumber and dnQualifier, IA5String for emailAddress and DC,
 * UTF8String for everything else (OpenSSL's default string_mask utf8only).
 */
export type DnStringStyle = "strongswan" | "openssl";

interface AttributeType {
  readonly oid: string;
  /** Names accepted in text, case-insensitive; the first is the one we print. */
  readonly names: readonly string[];
  readonly ia5?: boolean;
  readonly opensslPrintable?: boolean;
  readonly opensslIa5?: boolean;
}

const EMAIL_OID = "1.2.840.113549.1.9.1";

/** strongSwan's x501rdns table (identification.c) and its printed names (oid.txt), plus aliases. */
const ATTRIBUTE_TYPES: readonly AttributeType[] = [
  { oid: "2.5.4.6", names: ["C", "countryName"], opensslPrintable: true },
  { oid: "2.5.4.8", names: ["ST", "stateOrProvinceName"] },
  { oid: "2.5.4.7", names: ["L", "localityName"] },
  { oid: "2.5.4.9", names: ["STREET", "streetAddress"] },
  { oid: "2.5.4.10", names: ["O", "organizationName"] },
  { oid: "2.5.4.11", names: ["OU", "organizationalUnitName"] },
  { oid: "2.5.4.3", names: ["CN", "commonName"] },
  // strongSwan 5.9 reads SN as surname (older releases: serialNumber); we follow 5.9.
  { oid: "2.5.4.4", names: ["SN", "surname", "S"] },
  { oid: "2.5.4.5", names: ["serialNumber"], opensslPrintable: true },
  { oid: "2.5.4.12", names: ["T", "title"] },
  { oid: "2.5.4.13", names: ["D", "description"] },
  { oid: "2.5.4.16", names: ["postalAddress"] },
  { oid: "2.5.4.17", names: ["postalCode"] },
  { oid: "2.5.4.41", names: ["N", "name"] },
  { oid: "2.5.4.42", names: ["G", "GN", "givenName"] },
  { oid: "2.5.4.43", names: ["I", "initials"] },
  { oid: "2.5.4.45", names: ["ID", "uniqueIdentifier"] },
  { oid: "2.5.4.46", names: ["dnQualifier"], opensslPrintable: true },
  { oid: "2.5.4.54", names: ["dmdName"] },
  { oid: "2.5.4.65", names: ["pseudonym"] },
  { oid: "2.5.4.72", names: ["role"] },
  { oid: "2.5.4.97", names: ["organizationIdentifier"] },
  { oid: EMAIL_OID, names: ["E", "Email", "emailAddress"], ia5: true, opensslIa5: true },
  { oid: "1.2.840.113549.1.9.2", names: ["unstructuredName", "UN"], ia5: true },
  { oid: "1.2.840.113549.1.9.8", names: ["unstructuredAddress", "UA"] },
  { oid: "0.9.2342.19200300.100.1.1", names: ["UID", "userId"] },
  { oid: "0.9.2342.19200300.100.1.25", names: ["DC", "domainComponent"], opensslIa5: true },
  { oid: "2.16.840.1.113730.3.1.3", names: ["employeeNumber", "EN"] },
];

const BY_NAME = new Map<string, AttributeType>(
  ATTRIBUTE_TYPES.flatMap((t) => t.names.map((n) => [n.toLowerCase(), t] as const)),
);
const BY_OID = new Map<string, AttributeType>(ATTRIBUTE_TYPES.map((t) => [t.oid, t]));

/** The attribute names `parseDn` knows, for error hints. */
export const DN_ATTRIBUTE_NAMES: readonly string[] = ATTRIBUTE_TYPES.map((t) => t.names[0] ?? t.oid);

const MAX_RDNS = 64;

// ---------------------------------------------------------------------------------------------
// Text → attributes

/** Reads DN text into its attributes (one per RDN), or an error naming the offset in the text. */
export function parseDn(text: string): DerResult<DnAttribute[]> {
  const s = text;
  let i = 0;
  const skipBlanks = (): void => {
    while (s[i] === " " || s[i] === "\t") i++;
  };
  skipBlanks();
  let separator = ",";
  if (s[i] === "/") {
    separator = "/";
    i++;
  }
  const attributes: DnAttribute[] = [];
  for (;;) {
    skipBlanks();
    if (i >= s.length) break;
    const nameStart = i;
    while (i < s.length && /[A-Za-z0-9.-]/.test(s[i] ?? "")) i++;
    const name = s.slice(nameStart, i);
    skipBlanks();
    if (name === "" || s[i] !== "=") {
      const found = name === "" ? `"${s.slice(nameStart, nameStart + 1)}"` : `"${name}" without "="`;
      return derFail(`expected name=value at offset ${nameStart}, found ${found}`, nameStart);
    }
    const type = attributeType(name);
    if (!type) {
      return derFail(
        `unknown attribute type "${name}" (use one of ${DN_ATTRIBUTE_NAMES.join(", ")} or a dotted OID)`,
        nameStart,
      );
    }
    i++; // "="
    skipBlanks();
    const value = s[i] === '"' ? readQuoted(s, i, separator) : readPlain(s, i, separator);
    if (!value.ok) return value;
    attributes.push({ oid: type.oid, value: value.value.text });
    if (attributes.length > MAX_RDNS) return derFail(`more than ${MAX_RDNS} RDNs`, nameStart);
    i = value.value.next;
    if (i < s.length) i++; // the separator
  }
  if (attributes.length === 0) return derFail("a distinguished name needs at least one name=value", 0);
  return derOk(attributes);
}

function attributeType(name: string): AttributeType | undefined {
  const dotted = /^([0-2])\.(\d+)(\.\d+)*$/.exec(name);
  if (!dotted) return BY_NAME.get(name.toLowerCase());
  // X.660: below 0 and 1 the second arc is at most 39.
  if (Number(dotted[1]) < 2 && Number(dotted[2]) > 39) return undefined;
  return BY_OID.get(name) ?? { oid: name, names: [name] };
}

interface ValueRead {
  text: string;
  /** Offset of the separator that ended the value, or the text length. */
  next: number;
}

/** Collects UTF-8 octets: characters as typed plus \XX escapes, decoded at the end. */
class ValueOctets {
  private readonly octets: number[] = [];
  private readonly encoder = new TextEncoder();
  addChar(c: string): void {
    this.octets.push(...this.encoder.encode(c));
  }
  addOctet(o: number): void {
    this.octets.push(o);
  }
  get length(): number {
    return this.octets.length;
  }
  truncate(length: number): void {
    this.octets.length = length;
  }
  text(offset: number): DerResult<string> {
    try {
      return derOk(new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(this.octets)));
    } catch {
      return derFail("the value's \\XX escapes are not valid UTF-8", offset);
    }
  }
}

/** One escape after "\": two hex digits (an octet) or any single character. */
function readEscape(s: string, i: number, out: ValueOctets): DerResult<number> {
  const next = s[i + 1];
  if (next === undefined) return derFail('"\\" at the end of the value', i);
  if (/^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
    out.addOctet(parseInt(s.slice(i + 1, i + 3), 16));
    return derOk(i + 3);
  }
  const codePoint = s.codePointAt(i + 1) ?? 0;
  const char = String.fromCodePoint(codePoint);
  out.addChar(char);
  return derOk(i + 1 + char.length);
}

function readPlain(s: string, start: number, separator: string): DerResult<ValueRead> {
  const out = new ValueOctets();
  /** Octet count up to the last character that must stay (non-blank or escaped). */
  let kept = 0;
  let i = start;
  while (i < s.length && s[i] !== separator) {
    if (s[i] === "\\") {
      const after = readEscape(s, i, out);
      if (!after.ok) return after;
      i = after.value;
      kept = out.length;
      continue;
    }
    if (s[i] === '"') return derFail('a " inside an unquoted value must be escaped', i);
    const char = String.fromCodePoint(s.codePointAt(i) ?? 0);
    out.addChar(char);
    if (char !== " " && char !== "\t") kept = out.length;
    i += char.length;
  }
  out.truncate(kept);
  const text = out.text(start);
  return text.ok ? derOk({ text: text.value, next: i }) : text;
}

function readQuoted(s: string, start: number, separator: string): DerResult<ValueRead> {
  const out = new ValueOctets();
  let i = start + 1;
  for (;;) {
    if (i >= s.length) return derFail("unterminated quoted value", start);
    if (s[i] === '"') break;
    if (s[i] === "\\") {
      const after = readEscape(s, i, out);
      if (!after.ok) return after;
      i = after.value;
      continue;
    }
    const char = String.fromCodePoint(s.codePointAt(i) ?? 0);
    out.addChar(char);
    i += char.length;
  }
  i++; // closing quote
  while (s[i] === " " || s[i] === "\t") i++;
  if (i < s.length && s[i] !== separator) {
    return derFail(`expected "${separator}" after the quoted value`, i);
  }
  const text = out.text(start);
  return text.ok ? derOk({ text: text.value, next: i }) : text;
}

// ---------------------------------------------------------------------------------------------
// Attributes → DER

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

function stringTag(attribute: DnAttribute, style: DnStringStyle): number {
  const type = BY_OID.get(attribute.oid);
  const printable = PRINTABLE.test(attribute.value);
  if (style === "openssl") {
    if (type?.opensslPrintable && printable) return DerTag.PRINTABLE_STRING;
    if (type?.opensslIa5 && ASCII.test(attribute.value)) return DerTag.IA5_STRING;
    return DerTag.UTF8_STRING;
  }
  // strongSwan would keep IA5String even for non-ASCII text; UTF8String keeps the DER valid.
  if (type?.ia5) return ASCII.test(attribute.value) ? DerTag.IA5_STRING : DerTag.UTF8_STRING;
  return printable ? DerTag.PRINTABLE_STRING : DerTag.UTF8_STRING;
}

/** The DER of a Name with one attribute per RDN, in the given order. */
export function encodeDn(
  attributes: readonly DnAttribute[],
  style: DnStringStyle = "strongswan",
): Uint8Array {
  return derSequence(
    ...attributes.map((a) =>
      derSetOf(derSequence(derOid(a.oid), derTlv(stringTag(a, style), new TextEncoder().encode(a.value)))),
    ),
  );
}

/** Text → DER in one step. */
export function dnFromText(text: string, style: DnStringStyle = "strongswan"): DerResult<Uint8Array> {
  const parsed = parseDn(text);
  return parsed.ok ? derOk(encodeDn(parsed.value, style)) : parsed;
}

// ---------------------------------------------------------------------------------------------
// DER → values

/** Decodes the DER of a Name; the bytes must be exactly one Name. */
export function decodeDn(der: Uint8Array): DerResult<DecodedDn> {
  const whole = readWhole(der);
  if (!whole.ok) return whole;
  if (whole.value.tag !== DerTag.SEQUENCE) return derFail("a Name is a SEQUENCE", 0);
  const sets = readChildren(der, whole.value);
  if (!sets.ok) return sets;
  const rdns: DnValue[][] = [];
  for (const set of sets.value) {
    if (set.tag !== DerTag.SET) return derFail("an RDN is a SET", set.start);
    const avas = readChildren(der, set);
    if (!avas.ok) return avas;
    if (avas.value.length === 0) return derFail("an RDN has at least one attribute", set.start);
    const rdn: DnValue[] = [];
    for (const ava of avas.value) {
      if (ava.tag !== DerTag.SEQUENCE) return derFail("an attribute is a SEQUENCE", ava.start);
      const oidNode = readTagged(der, ava.contentStart, ava.end, DerTag.OID, "attribute type");
      if (!oidNode.ok) return oidNode;
      const oid = decodeOid(contentOf(der, oidNode.value), oidNode.value.contentStart);
      if (!oid.ok) return oid;
      const valueNode = readNode(der, oidNode.value.end, ava.end);
      if (!valueNode.ok)
        return derFail(`attribute value: ${valueNode.error.message}`, valueNode.error.offset);
      if (valueNode.value.end !== ava.end)
        return derFail("octets after the attribute value", valueNode.value.end);
      const raw = contentOf(der, valueNode.value);
      const text = decodeString(valueNode.value.tag, raw);
      if (text === null) {
        return derFail(
          `attribute ${oid.value}: invalid string of tag 0x${valueNode.value.tag.toString(16)}`,
          valueNode.value.start,
        );
      }
      rdn.push({ oid: oid.value, tag: valueNode.value.tag, raw, text });
    }
    rdns.push(rdn);
  }
  return derOk(rdns);
}

/** Unicode text of a string value; undefined for tags that are not strings; null if malformed. */
function decodeString(tag: number, raw: Uint8Array): string | undefined | null {
  switch (tag) {
    case DerTag.PRINTABLE_STRING:
    case DerTag.IA5_STRING:
    case 0x12: // NumericString
    case 0x1a: // VisibleString
      return raw.every((o) => o < 0x80) ? Buffer.from(raw).toString("latin1") : null;
    case DerTag.TELETEX_STRING:
      // T.61 is close enough to Latin-1 for the names found in practice.
      return Buffer.from(raw).toString("latin1");
    case DerTag.UTF8_STRING:
      try {
        return new TextDecoder("utf-8", { fatal: true }).decode(raw);
      } catch {
        return null;
      }
    case DerTag.BMP_STRING: {
      if (raw.length % 2 !== 0) return null;
      let out = "";
      for (let i = 0; i < raw.length; i += 2)
        out += String.fromCharCode(((raw[i] ?? 0) << 8) | (raw[i + 1] ?? 0));
      return out;
    }
    case DerTag.UNIVERSAL_STRING: {
      if (raw.length % 4 !== 0) return null;
      let out = "";
      for (let i = 0; i < raw.length; i += 4) {
        const cp =
          (((raw[i] ?? 0) << 24) |
            ((raw[i + 1] ?? 0) << 16) |
            ((raw[i + 2] ?? 0) << 8) |
            (raw[i + 3] ?? 0)) >>>
          0;
        if (cp > 0x10ffff) return null;
        out += String.fromCodePoint(cp);
      }
      return out;
    }
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Comparison

function valuesEqual(a: DnValue, b: DnValue): boolean {
  if (a.oid !== b.oid) return false;
  if (a.text === undefined || b.text === undefined) {
    return a.tag === b.tag && Buffer.compare(a.raw, b.raw) === 0;
  }
  const ignoreCase =
    (a.tag === DerTag.PRINTABLE_STRING && b.tag === DerTag.PRINTABLE_STRING) || a.oid === EMAIL_OID;
  return ignoreCase ? asciiLower(a.text) === asciiLower(b.text) : a.text === b.text;
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Whether two decoded names are the same name (see the rules at the top of this file). */
export function decodedDnEquals(a: DecodedDn, b: DecodedDn): boolean {
  if (a.length !== b.length) return false;
  return a.every((rdnA, i) => {
    const rdnB = b[i] ?? [];
    if (rdnA.length !== rdnB.length) return false;
    // A multi-valued RDN is a set: match each value of one to a distinct value of the other.
    const used = new Set<number>();
    return rdnA.every((va) => {
      const j = rdnB.findIndex((vb, k) => !used.has(k) && valuesEqual(va, vb));
      if (j < 0) return false;
      used.add(j);
      return true;
    });
  });
}

/** Whether two DER names are the same name; malformed DER equals nothing. */
export function dnEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (Buffer.compare(a, b) === 0) return decodeDn(a).ok;
  const da = decodeDn(a);
  const db = decodeDn(b);
  return da.ok && db.ok && decodedDnEquals(da.value, db.value);
}

// ---------------------------------------------------------------------------------------------
// DER → text

/** A decoded name as text that `parseDn` reads back: "C=CH, O=Pavise Test, CN=moon". */
export function formatDecodedDn(dn: DecodedDn): string {
  return dn
    .map((rdn) =>
      rdn
        .map((v) => {
          const name = BY_OID.get(v.oid)?.names[0] ?? v.oid;
          const value = v.text === undefined ? `#${Buffer.from(v.raw).toString("hex")}` : escapeValue(v.text);
          return `${name}=${value}`;
        })
        .join(" + "),
    )
    .join(", ");
}

/** DER name → text, or "(invalid ID_DER_ASN1_DN)" as strongSwan prints bad ones. */
export function formatDn(der: Uint8Array): string {
  const dn = decodeDn(der);
  return dn.ok ? formatDecodedDn(dn.value) : "(invalid ID_DER_ASN1_DN)";
}

function escapeValue(text: string): string {
  const chars = [...text];
  return chars
    .map((char, i) => {
      const cp = char.codePointAt(0) ?? 0;
      if (cp < 0x20 || cp === 0x7f) return `\\${cp.toString(16).toUpperCase().padStart(2, "0")}`;
      if (char === "," || char === "\\" || char === '"') return `\\${char}`;
      // Blanks at either end would be dropped by the parser; escape them (RFC 4514 §2.4).
      if (char === " " && (i === 0 || i === chars.length - 1)) return "\\ ";
      return char;
    })
    .join("");
}
