import { IdType } from "../codec/id.js";
import { dnEquals } from "../auth/distinguished-name.js";
import type { WireIdentity } from "./identity-payload.js";

/** Two wire identities name the same peer: same type and data; DNs compared as names. */
export function sameIdentity(a: WireIdentity, b: WireIdentity): boolean {
  if (a.idType !== b.idType) return false;
  if (a.idType === IdType.DER_ASN1_DN) return dnEquals(a.data, b.data);
  return Buffer.compare(a.data, b.data) === 0;
}

/**
 * Whether an IKE SA joins the same two identities (RFC 7296 §2.4 "between the authenticated
 * identities"; strongSwan keys its connected peers by own id and peer id). Unknown ids never match.
 */
export function sameIdentityPair(
  local: WireIdentity,
  remote: WireIdentity,
  otherLocal: WireIdentity | undefined,
  otherRemote: WireIdentity | undefined,
): boolean {
  return (
    otherLocal !== undefined &&
    otherRemote !== undefined &&
    sameIdentity(local, otherLocal) &&
    sameIdentity(remote, otherRemote)
  );
}
