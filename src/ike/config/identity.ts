import { isIPv4, isIPv6 } from "node:net";

/**
 * IKE identities (RFC 7296 §3.5), written as strongSwan users write them: an IP address, a
 * host name, user@host, a distinguished name "C=CH, O=Org, CN=host", "@#hex" for a key ID, "@name"
 * to force an FQDN, a "type:" prefix to be explicit, or %any to accept any peer identity.
 */

export type IdentityKind = "ipv4" | "ipv6" | "fqdn" | "rfc822" | "dn" | "keyid";

export type Identity = { kind: "any" } | { kind: IdentityKind; value: string };

const PREFIXES: Record<string, IdentityKind> = {
  "ipv4:": "ipv4",
  "ipv6:": "ipv6",
  "fqdn:": "fqdn",
  "email:": "rfc822",
  "rfc822:": "rfc822",
  "dn:": "dn",
  "asn1dn:": "dn",
  "keyid:": "keyid",
};

/** Reads an identity; returns an error message for text that cannot be one. */
export function parseIdentity(text: string): Identity | { error: string } {
  const value = text.trim();
  if (value === "") return { error: "an identity must not be empty" };
  if (value === "%any") return { kind: "any" };
  for (const [prefix, kind] of Object.entries(PREFIXES)) {
    if (value.toLowerCase().startsWith(prefix)) return checked(kind, value.slice(prefix.length));
  }
  if (isIPv4(value)) return { kind: "ipv4", value };
  if (isIPv6(value)) return { kind: "ipv6", value };
  if (value.startsWith("@#")) return checked("keyid", value.slice(2));
  if (value.startsWith("@")) return checked("fqdn", value.slice(1));
  if (value.includes("=")) return { kind: "dn", value };
  if (value.includes("@")) return { kind: "rfc822", value };
  return checked("fqdn", value);
}

function checked(kind: IdentityKind, value: string): Identity | { error: string } {
  switch (kind) {
    case "ipv4":
      return isIPv4(value) ? { kind, value } : { error: `${value} is not an IPv4 address` };
    case "ipv6":
      return isIPv6(value) ? { kind, value } : { error: `${value} is not an IPv6 address` };
    case "keyid":
      return /^([0-9a-fA-F]{2})+$/.test(value)
        ? { kind, value: value.toLowerCase() }
        : { error: `key ID ${value} is not hex` };
    default:
      return value === "" ? { error: "an identity must not be empty" } : { kind, value };
  }
}

/** How an identity is shown: as strongSwan shows it. */
export function formatIdentity(identity: Identity): string {
  if (identity.kind === "any") return "%any";
  if (identity.kind === "keyid") return `@#${identity.value}`;
  return identity.value;
}
