/**
 * Does a certificate vouch for the identity in an ID payload? strongSwan's rule (x509_cert.c
 * has_subject), which RFC 4945 §3.1 also asks for:
 *
 * | ID type        | matches                                                                 |
 * | -------------- | ----------------------------------------------------------------------- |
 * | DER_ASN1_DN    | the subject, or a directoryName subjectAltName (semantic DN comparison) |
 * | FQDN           | a dNSName subjectAltName, ignoring case                                 |
 * | RFC822_ADDR    | an rfc822Name subjectAltName, ignoring case                             |
 * | IPV4/IPV6_ADDR | an iPAddress subjectAltName, octet for octet                            |
 * | KEY_ID         | SHA-1 of the certificate, its subjectKeyIdentifier, SHA-1 of the public |
 * |                | key or of its SubjectPublicKeyInfo, or its serial number                |
 *
 * The subject's CN is not consulted for FQDN identities (RFC 4945 §3.1.2 discourages it, and
 * strongSwan does not do it either).
 */
import { createHash } from "node:crypto";
import { IdType } from "../codec/id.js";
import type { WireIdentity } from "../core/identity-payload.js";
import type { Certificate } from "./certificates.js";
import { dnEquals, formatDn } from "./distinguished-name.js";
import type { GeneralName } from "./x509-fields.js";
import { formatAddress } from "../config/traffic-selector-spec.js";

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function sha1(bytes: Uint8Array): Uint8Array {
  return createHash("sha1").update(bytes).digest();
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("latin1");
}

export function certificateHasIdentity(cert: Certificate, id: WireIdentity): boolean {
  const sans = cert.fields.subjectAltNames;
  switch (id.idType) {
    case IdType.DER_ASN1_DN:
      return (
        dnEquals(cert.fields.subject, id.data) ||
        sans.some((n) => n.kind === "dn" && dnEquals(n.value, id.data))
      );
    case IdType.FQDN:
      return sans.some((n) => n.kind === "dns" && n.value.toLowerCase() === latin1(id.data).toLowerCase());
    case IdType.RFC822_ADDR:
      return sans.some((n) => n.kind === "email" && n.value.toLowerCase() === latin1(id.data).toLowerCase());
    case IdType.IPV4_ADDR:
    case IdType.IPV6_ADDR:
      return sans.some((n) => n.kind === "ip" && equalBytes(n.value, id.data));
    case IdType.KEY_ID: {
      const f = cert.fields;
      return [
        sha1(cert.der),
        f.subjectKeyIdentifier,
        sha1(f.subjectPublicKey),
        sha1(f.subjectPublicKeyInfo),
        f.serial,
      ].some((candidate) => candidate !== undefined && equalBytes(candidate, id.data));
    }
    default:
      return false;
  }
}

/** A subjectAltName as OpenSSL and strongSwan print it: "DNS:moon.example", "IP:198.18.1.1". */
export function describeGeneralName(name: GeneralName): string {
  switch (name.kind) {
    case "dns":
      return `DNS:${name.value}`;
    case "email":
      return `email:${name.value}`;
    case "uri":
      return `URI:${name.value}`;
    case "ip":
      return `IP:${formatAddress(name.value)}`;
    case "dn":
      return `DirName:${formatDn(name.value)}`;
    case "other":
      return `othername(tag 0x${name.tag.toString(16)})`;
  }
}

/** Where a certificate's identities are, for the error when the peer's ID is not among them. */
export function describeCertificateIdentities(cert: Certificate): string {
  const sans = cert.fields.subjectAltNames.map(describeGeneralName);
  return `subject "${cert.name}"${sans.length > 0 ? `, subjectAltNames ${sans.join(", ")}` : ", no subjectAltNames"}`;
}
