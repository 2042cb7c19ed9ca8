/**
 * The fields of an X.509 v3 certificate (RFC 5280 §4.1) that IKE certificate authentication
 * looks at and node:crypto's X509Certificate does not hand out in a usable form: issuer and
 * subject as DER (for semantic DN comparison), validity as dates, basicConstraints with its path
 * length, keyUsage bits, subjectAltNames as typed values, and which extensions are critical.
 * Signatures are checked by node:crypto, not here.
 *
 *   Certificate  ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
 *   TBSCertificate ::= SEQUENCE { [0] version, serialNumber, signature, issuer, validity,
 *                                 subject, subjectPublicKeyInfo, [1] issuerUniqueID,
 *                                 [2] subjectUniqueID, [3] extensions }
 */
import {
  DerTag,
  type DerError,
  type DerNode,
  type DerResult,
  contentOf,
  contextConstructed,
  contextPrimitive,
  decodeBitString,
  decodeBoolean,
  decodeOid,
  decodeSmallInteger,
  decodeTime,
  derFail,
  derOk,
  encodingOf,
  readChildren,
  readNode,
  readWhole,
} from "./der-reader.js";

export interface CertificateExtension {
  readonly oid: string;
  readonly critical: boolean;
  /** The contents of extnValue (itself DER). */
  readonly value: Uint8Array;
}

export type GeneralName =
  | { readonly kind: "dns"; readonly value: string }
  | { readonly kind: "email"; readonly value: string }
  | { readonly kind: "uri"; readonly value: string }
  /** 4 or 16 octets */
  | { readonly kind: "ip"; readonly value: Uint8Array }
  /** DER of a Name */
  | { readonly kind: "dn"; readonly value: Uint8Array }
  | { readonly kind: "other"; readonly tag: number };

/** KeyUsage bits (RFC 5280 §4.2.1.3), bit n of the BIT STRING as 1 << n. */
export const KeyUsage = {
  DIGITAL_SIGNATURE: 1 << 0,
  NON_REPUDIATION: 1 << 1,
  KEY_ENCIPHERMENT: 1 << 2,
  DATA_ENCIPHERMENT: 1 << 3,
  KEY_AGREEMENT: 1 << 4,
  KEY_CERT_SIGN: 1 << 5,
  CRL_SIGN: 1 << 6,
  ENCIPHER_ONLY: 1 << 7,
  DECIPHER_ONLY: 1 << 8,
} as const;

export const ExtensionOid = {
  SUBJECT_KEY_ID: "2.5.29.14",
  KEY_USAGE: "2.5.29.15",
  SUBJECT_ALT_NAME: "2.5.29.17",
  BASIC_CONSTRAINTS: "2.5.29.19",
  AUTHORITY_KEY_ID: "2.5.29.35",
  EXTENDED_KEY_USAGE: "2.5.29.37",
} as const;

export interface CertificateFields {
  /** 1, 2 or 3 */
  readonly version: number;
  /** Content octets of serialNumber. */
  readonly serial: Uint8Array;
  /** DER of the issuer Name. */
  readonly issuer: Uint8Array;
  /** DER of the subject Name. */
  readonly subject: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DER of SubjectPublicKeyInfo (CERTREQ hashes it, RFC 7296 §3.7). */
  readonly subjectPublicKeyInfo: Uint8Array;
  /** The subjectPublicKey BIT STRING's octets. */
  readonly subjectPublicKey: Uint8Array;
  readonly extensions: readonly CertificateExtension[];
  /** Absent extension: undefined. */
  readonly basicConstraints: { readonly ca: boolean; readonly pathLength: number | undefined } | undefined;
  /** Absent extension: undefined (all uses allowed). */
  readonly keyUsage: number | undefined;
  readonly subjectAltNames: readonly GeneralName[];
  readonly subjectKeyIdentifier: Uint8Array | undefined;
}

function children(bytes: Uint8Array, node: DerNode, what: string): DerResult<DerNode[]> {
  const list = readChildren(bytes, node);
  return list.ok ? list : derFail(`${what}: ${list.error.message}`, list.error.offset);
}

function expectTag(node: DerNode | undefined, tag: number, what: string, at: number): DerResult<DerNode> {
  if (!node) return derFail(`${what} is missing`, at);
  if (node.tag !== tag)
    return derFail(
      `${what}: expected tag 0x${tag.toString(16)}, found 0x${node.tag.toString(16)}`,
      node.start,
    );
  return derOk(node);
}

/** Parses a DER certificate; never throws. */
export function parseCertificateFields(der: Uint8Array): DerResult<CertificateFields> {
  const whole = readWhole(der);
  if (!whole.ok) return whole;
  if (whole.value.tag !== DerTag.SEQUENCE) return derFail("a Certificate is a SEQUENCE", 0);
  const top = children(der, whole.value, "Certificate");
  if (!top.ok) return top;
  if (top.value.length !== 3) return derFail("a Certificate has three elements", 0);
  const tbsNode = expectTag(top.value[0], DerTag.SEQUENCE, "tbsCertificate", 0);
  if (!tbsNode.ok) return tbsNode;
  const tbs = children(der, tbsNode.value, "tbsCertificate");
  if (!tbs.ok) return tbs;
  const items = tbs.value;
  let i = 0;
  let version = 1;
  if (items[0]?.tag === contextConstructed(0)) {
    const inner = readNode(der, items[0].contentStart, items[0].end);
    if (!inner.ok || inner.value.tag !== DerTag.INTEGER || inner.value.end !== items[0].end) {
      return derFail("bad version field", items[0].start);
    }
    const v = decodeSmallInteger(contentOf(der, inner.value), inner.value.contentStart);
    if (!v.ok) return v;
    if (v.value > 2) return derFail(`unknown certificate version ${v.value + 1}`, inner.value.start);
    version = v.value + 1;
    i++;
  }
  const serial = expectTag(items[i++], DerTag.INTEGER, "serialNumber", tbsNode.value.start);
  if (!serial.ok) return serial;
  const sigAlg = expectTag(items[i++], DerTag.SEQUENCE, "signature", tbsNode.value.start);
  if (!sigAlg.ok) return sigAlg;
  const issuer = expectTag(items[i++], DerTag.SEQUENCE, "issuer", tbsNode.value.start);
  if (!issuer.ok) return issuer;
  const validity = expectTag(items[i++], DerTag.SEQUENCE, "validity", tbsNode.value.start);
  if (!validity.ok) return validity;
  const subject = expectTag(items[i++], DerTag.SEQUENCE, "subject", tbsNode.value.start);
  if (!subject.ok) return subject;
  const spki = expectTag(items[i++], DerTag.SEQUENCE, "subjectPublicKeyInfo", tbsNode.value.start);
  if (!spki.ok) return spki;

  const times = children(der, validity.value, "validity");
  if (!times.ok) return times;
  const [nb, na] = times.value;
  if (!nb || !na || times.value.length !== 2) return derFail("validity has two times", validity.value.start);
  const notBefore = decodeTime(nb.tag, contentOf(der, nb), nb.start);
  if (!notBefore.ok) return notBefore;
  const notAfter = decodeTime(na.tag, contentOf(der, na), na.start);
  if (!notAfter.ok) return notAfter;

  const keyParts = children(der, spki.value, "subjectPublicKeyInfo");
  if (!keyParts.ok) return keyParts;
  const bitString = expectTag(keyParts.value[1], DerTag.BIT_STRING, "subjectPublicKey", spki.value.start);
  if (!bitString.ok) return bitString;
  const keyBits = decodeBitString(contentOf(der, bitString.value), bitString.value.contentStart);
  if (!keyBits.ok) return keyBits;

  let extensions: CertificateExtension[] = [];
  for (; i < items.length; i++) {
    const item = items[i];
    if (!item) break;
    if (item.tag === contextPrimitive(1) || item.tag === contextPrimitive(2)) continue; // unique IDs
    if (item.tag !== contextConstructed(3) || version !== 3) {
      return derFail(`unexpected element 0x${item.tag.toString(16)} in tbsCertificate`, item.start);
    }
    const parsed = parseExtensions(der, item);
    if (!parsed.ok) return parsed;
    extensions = parsed.value;
  }

  const interpreted = interpretExtensions(extensions);
  if (!interpreted.ok) return interpreted;
  return derOk({
    version,
    serial: contentOf(der, serial.value),
    issuer: encodingOf(der, issuer.value),
    subject: encodingOf(der, subject.value),
    notBefore: notBefore.value,
    notAfter: notAfter.value,
    subjectPublicKeyInfo: encodingOf(der, spki.value),
    subjectPublicKey: keyBits.value.bits,
    extensions,
    ...interpreted.value,
  });
}

function parseExtensions(der: Uint8Array, wrapper: DerNode): DerResult<CertificateExtension[]> {
  const seq = readNode(der, wrapper.contentStart, wrapper.end);
  if (!seq.ok) return seq;
  if (seq.value.tag !== DerTag.SEQUENCE || seq.value.end !== wrapper.end) {
    return derFail("extensions is one SEQUENCE", wrapper.start);
  }
  const list = children(der, seq.value, "extensions");
  if (!list.ok) return list;
  const out: CertificateExtension[] = [];
  for (const ext of list.value) {
    if (ext.tag !== DerTag.SEQUENCE) return derFail("an Extension is a SEQUENCE", ext.start);
    const parts = children(der, ext, "Extension");
    if (!parts.ok) return parts;
    const [oidNode, second, third] = parts.value;
    const oidChecked = expectTag(oidNode, DerTag.OID, "extnID", ext.start);
    if (!oidChecked.ok) return oidChecked;
    const oid = decodeOid(contentOf(der, oidChecked.value), oidChecked.value.contentStart);
    if (!oid.ok) return oid;
    let critical = false;
    let valueNode = second;
    if (second?.tag === DerTag.BOOLEAN) {
      const flag = decodeBoolean(contentOf(der, second), second.contentStart);
      if (!flag.ok) return flag;
      // DER: a DEFAULT FALSE field is omitted when false (X.690 §11.5); some CAs write it anyway.
      critical = flag.value;
      valueNode = third;
    } else if (third) {
      return derFail(`extension ${oid.value} has extra elements`, third.start);
    }
    const value = expectTag(valueNode, DerTag.OCTET_STRING, `extension ${oid.value} extnValue`, ext.start);
    if (!value.ok) return value;
    if (parts.value.length > (valueNode === third ? 3 : 2)) {
      return derFail(`extension ${oid.value} has extra elements`, ext.start);
    }
    if (out.some((e) => e.oid === oid.value)) {
      return derFail(`extension ${oid.value} appears twice (RFC 5280 §4.2)`, ext.start);
    }
    out.push({ oid: oid.value, critical, value: contentOf(der, value.value) });
  }
  return derOk(out);
}

type Interpreted = Pick<
  CertificateFields,
  "basicConstraints" | "keyUsage" | "subjectAltNames" | "subjectKeyIdentifier"
>;

function interpretExtensions(extensions: readonly CertificateExtension[]): DerResult<Interpreted> {
  let basicConstraints: Interpreted["basicConstraints"];
  let keyUsage: number | undefined;
  let subjectAltNames: GeneralName[] = [];
  let subjectKeyIdentifier: Uint8Array | undefined;
  for (const ext of extensions) {
    const v = ext.value;
    let problem: DerError | undefined;
    switch (ext.oid) {
      case ExtensionOid.BASIC_CONSTRAINTS: {
        const parsed = parseBasicConstraints(v);
        if (parsed.ok) basicConstraints = parsed.value;
        else problem = parsed.error;
        break;
      }
      case ExtensionOid.KEY_USAGE: {
        const parsed = parseKeyUsage(v);
        if (parsed.ok) keyUsage = parsed.value;
        else problem = parsed.error;
        break;
      }
      case ExtensionOid.SUBJECT_ALT_NAME: {
        const parsed = parseGeneralNames(v);
        if (parsed.ok) subjectAltNames = parsed.value;
        else problem = parsed.error;
        break;
      }
      case ExtensionOid.SUBJECT_KEY_ID: {
        const node = readWhole(v);
        if (node.ok && node.value.tag === DerTag.OCTET_STRING)
          subjectKeyIdentifier = contentOf(v, node.value);
        else problem = node.ok ? { message: "not an OCTET STRING", offset: 0 } : node.error;
        break;
      }
    }
    // Offsets inside an extension are relative to its extnValue.
    if (problem) return derFail(`extension ${ext.oid}: ${problem.message}`, problem.offset);
  }
  return derOk({ basicConstraints, keyUsage, subjectAltNames, subjectKeyIdentifier });
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL } */
function parseBasicConstraints(v: Uint8Array): DerResult<{ ca: boolean; pathLength: number | undefined }> {
  const seq = readWhole(v);
  if (!seq.ok) return seq;
  if (seq.value.tag !== DerTag.SEQUENCE) return derFail("not a SEQUENCE", 0);
  const parts = readChildren(v, seq.value);
  if (!parts.ok) return parts;
  let ca = false;
  let pathLength: number | undefined;
  let k = 0;
  const first = parts.value[0];
  if (first?.tag === DerTag.BOOLEAN) {
    const flag = decodeBoolean(contentOf(v, first), first.contentStart);
    if (!flag.ok) return flag;
    ca = flag.value;
    k++;
  }
  const len = parts.value[k];
  if (len) {
    if (len.tag !== DerTag.INTEGER) return derFail("pathLenConstraint is not an INTEGER", len.start);
    const n = decodeSmallInteger(contentOf(v, len), len.contentStart);
    if (!n.ok) return n;
    pathLength = n.value;
    k++;
  }
  if (k !== parts.value.length) return derFail("extra elements in basicConstraints", 0);
  return derOk({ ca, pathLength });
}

/** KeyUsage ::= BIT STRING, named bits from the most significant bit of the first octet. */
function parseKeyUsage(v: Uint8Array): DerResult<number> {
  const node = readWhole(v);
  if (!node.ok) return node;
  if (node.value.tag !== DerTag.BIT_STRING) return derFail("not a BIT STRING", 0);
  const bits = decodeBitString(contentOf(v, node.value), node.value.contentStart);
  if (!bits.ok) return bits;
  let mask = 0;
  bits.value.bits.forEach((octet, index) => {
    for (let b = 0; b < 8; b++) if (octet & (0x80 >> b) && index * 8 + b <= 8) mask |= 1 << (index * 8 + b);
  });
  return derOk(mask);
}

/** GeneralNames ::= SEQUENCE OF GeneralName (RFC 5280 §4.2.1.6). */
export function parseGeneralNames(v: Uint8Array): DerResult<GeneralName[]> {
  const seq = readWhole(v);
  if (!seq.ok) return seq;
  if (seq.value.tag !== DerTag.SEQUENCE) return derFail("GeneralNames is a SEQUENCE", 0);
  const names = readChildren(v, seq.value);
  if (!names.ok) return names;
  const out: GeneralName[] = [];
  for (const n of names.value) {
    const content = contentOf(v, n);
    const ia5 = (): string | undefined =>
      content.every((o) => o < 0x80) ? Buffer.from(content).toString("latin1") : undefined;
    switch (n.tag) {
      case contextPrimitive(1):
      case contextPrimitive(2):
      case contextPrimitive(6): {
        const text = ia5();
        if (text === undefined) return derFail("IA5String with non-ASCII octets", n.start);
        out.push({
          kind: n.tag === contextPrimitive(1) ? "email" : n.tag === contextPrimitive(2) ? "dns" : "uri",
          value: text,
        });
        break;
      }
      case contextPrimitive(7):
        if (content.length !== 4 && content.length !== 16) {
          return derFail(`iPAddress of ${content.length} octets`, n.start);
        }
        out.push({ kind: "ip", value: content });
        break;
      case contextConstructed(4): {
        // directoryName [4] EXPLICIT Name
        const inner = readNode(v, n.contentStart, n.end);
        if (!inner.ok) return inner;
        if (inner.value.tag !== DerTag.SEQUENCE || inner.value.end !== n.end) {
          return derFail("directoryName is one Name", n.start);
        }
        out.push({ kind: "dn", value: encodingOf(v, inner.value) });
        break;
      }
      default:
        out.push({ kind: "other", tag: n.tag });
    }
  }
  return derOk(out);
}
