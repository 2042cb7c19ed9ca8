/**
 * IKEv2 payload types (RFC 7296 §3.2 and the IANA "IKEv2 Payload Types" registry), with the
 * short names the RFC's exchange notation uses. SKF is RFC 7383 §2.5.
 */
export const PayloadType = {
  NONE: 0,
  SA: 33,
  KE: 34,
  IDi: 35,
  IDr: 36,
  CERT: 37,
  CERTREQ: 38,
  AUTH: 39,
  NONCE: 40,
  NOTIFY: 41,
  DELETE: 42,
  VENDOR_ID: 43,
  TSi: 44,
  TSr: 45,
  SK: 46,
  CP: 47,
  EAP: 48,
  SKF: 53,
} as const;
export type KnownPayloadType = Exclude<(typeof PayloadType)[keyof typeof PayloadType], 0>;

const NAMES: Record<number, string> = {
  33: "SA",
  34: "KE",
  35: "IDi",
  36: "IDr",
  37: "CERT",
  38: "CERTREQ",
  39: "AUTH",
  40: "Nonce",
  41: "N",
  42: "D",
  43: "V",
  44: "TSi",
  45: "TSr",
  46: "SK",
  47: "CP",
  48: "EAP",
  53: "SKF",
};

export function isKnownPayloadType(type: number): type is KnownPayloadType {
  return NAMES[type] !== undefined;
}

/** "SA", "N", "SKF"… or "payload 49" for a type we do not know. */
export function payloadTypeName(type: number): string {
  return NAMES[type] ?? `payload ${type}`;
}
