import { isIPv4 } from "node:net";
import { IdType } from "../codec/id.js";
import { addressBytes, formatAddress } from "../config/traffic-selector-spec.js";
import type { Identity } from "../config/identity.js";

/** An identity as an ID payload carries it (RFC 7296 §3.5): a type and its data. */
export interface WireIdentity {
  idType: number;
  data: Uint8Array;
}

/**
 * Encodes a configured identity. Distinguished names need DER encoding, which comes with
 * certificate support; until then they are refused here with an explanation.
 */
export function encodeIdentity(identity: Identity): WireIdentity | { error: string } {
  switch (identity.kind) {
    case "ipv4":
    case "ipv6":
      return {
        idType: isIPv4(identity.value) ? IdType.IPV4_ADDR : IdType.IPV6_ADDR,
        data: addressBytes(identity.value),
      };
    case "fqdn":
      return { idType: IdType.FQDN, data: new TextEncoder().encode(identity.value) };
    case "rfc822":
      return { idType: IdType.RFC822_ADDR, data: new TextEncoder().encode(identity.value) };
    case "keyid":
      return { idType: IdType.KEY_ID, data: Uint8Array.from(Buffer.from(identity.value, "hex")) };
    case "dn":
      return { error: "distinguished-name identities are not supported yet (they come with certificates)" };
    case "any":
      return { error: "%any cannot be sent as an identity" };
  }
}

/** Whether a received identity is the configured one (%any accepts every identity). */
export function identityMatches(configured: Identity, received: WireIdentity): boolean {
  if (configured.kind === "any") return true;
  const wire = encodeIdentity(configured);
  return (
    !("error" in wire) && wire.idType === received.idType && Buffer.compare(wire.data, received.data) === 0
  );
}

/** A received identity for logs and events, as strongSwan prints it. */
export function describeIdentity(id: WireIdentity): string {
  switch (id.idType) {
    case IdType.IPV4_ADDR:
    case IdType.IPV6_ADDR:
      return id.data.length === 4 || id.data.length === 16 ? formatAddress(id.data) : "(bad address)";
    case IdType.FQDN:
    case IdType.RFC822_ADDR:
      return Buffer.from(id.data)
        .toString("latin1")
        .replace(/[^\x20-\x7e]/g, "?");
    default:
      return `@#${Buffer.from(id.data).toString("hex")}`;
  }
}
