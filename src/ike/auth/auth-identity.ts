/**
 * Identities for certificate authentication: the ID payload we send (RFC 7296 §3.5), including
 * distinguished names, and whether a received ID is the configured one.
 *
 * A DN identity goes out as the certificate's own subject DER when the configured DN is the same
 * name, so peers that compare IDs octet for octet (rather than semantically, as strongSwan and we
 * do) see exactly the subject of the certificate we send. With no configured identity the
 * certificate's subject is used, as strongSwan does for `auth = pubkey`.
 */
import { IdType } from "../codec/id.js";
import type { Identity } from "../config/identity.js";
import {
  type WireIdentity,
  describeIdentity,
  encodeIdentity,
  identityMatches,
} from "../core/identity-payload.js";
import { type AuthResult, authFail, authOk } from "./auth-result.js";
import type { Certificate } from "./certificates.js";
import { certificateHasIdentity, describeCertificateIdentities } from "./certificate-identity.js";
import { dnEquals, dnFromText, formatDn } from "./distinguished-name.js";

/** A configured identity as an ID payload carries it; DNs as DER (strongSwan's string types). */
export function encodeAuthIdentity(identity: Identity): AuthResult<WireIdentity> {
  if (identity.kind === "dn") {
    const der = dnFromText(identity.value);
    return der.ok
      ? authOk({ idType: IdType.DER_ASN1_DN, data: der.value })
      : authFail("AUTH_BAD_IDENTITY", `distinguished name "${identity.value}": ${der.error.message}`);
  }
  const wire = encodeIdentity(identity);
  return "error" in wire ? authFail("AUTH_BAD_IDENTITY", wire.error) : authOk(wire);
}

/**
 * The identity to send with our certificate: the configured one (a DN equal to the subject is
 * sent as the subject's DER), or the subject when none is configured. It must be in the
 * certificate, or the peer would reject us (strongSwan refuses such a configuration too).
 */
export function localAuthIdentity(configured: Identity, certificate: Certificate): AuthResult<WireIdentity> {
  const subject: WireIdentity = { idType: IdType.DER_ASN1_DN, data: certificate.fields.subject };
  if (configured.kind === "any") return authOk(subject);
  const wire = encodeAuthIdentity(configured);
  if (!wire.ok) return wire;
  if (wire.value.idType === IdType.DER_ASN1_DN && dnEquals(wire.value.data, subject.data))
    return authOk(subject);
  if (!certificateHasIdentity(certificate, wire.value)) {
    return authFail(
      "AUTH_IDENTITY_NOT_IN_CERT",
      `our identity "${describeAuthIdentity(wire.value)}" is not in our certificate (${describeCertificateIdentities(certificate)})`,
    );
  }
  return authOk(wire.value);
}

/**
 * Whether a received ID is the configured one: %any accepts all; DNs compare semantically (a
 * PrintableString "CN=moon" equals a UTF8String "CN=moon"); other types as core's identityMatches.
 */
export function authIdentityMatches(configured: Identity, received: WireIdentity): boolean {
  if (configured.kind === "any") return true;
  if (configured.kind === "dn") {
    const wire = encodeAuthIdentity(configured);
    return wire.ok && received.idType === IdType.DER_ASN1_DN && dnEquals(wire.value.data, received.data);
  }
  return identityMatches(configured, received);
}

/** A received identity for logs; DNs as text ("C=CH, O=Org, CN=host"). */
export function describeAuthIdentity(id: WireIdentity): string {
  return id.idType === IdType.DER_ASN1_DN ? formatDn(id.data) : describeIdentity(id);
}
