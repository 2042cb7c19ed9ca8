import { type ByteWriter, readU16 } from "./bytes.js";
import { DecodeErrorCode, type DecodeResult, ok, syntaxError } from "./decode-result.js";
import { type PayloadBody, bodyLength } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";

/**
 * Notify payload (RFC 7296 §3.10).
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C|  RESERVED   |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  Protocol ID  |   SPI Size    |      Notify Message Type      |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    ~                Security Parameter Index (SPI)                 ~
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    ~                       Notification Data                       ~
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field               | octets    | meaning                                                   |
 * | ------------------- | --------- | --------------------------------------------------------- |
 * | Protocol ID         | 1         | 0 or 1 (IKE) for IKE SA notifies, 2 AH, 3 ESP             |
 * | SPI Size            | 1         | 0 for the IKE SA, 4 for AH/ESP                            |
 * | Notify Message Type | 2         | below 16384 an error, from 16384 a status (§3.10.1)       |
 * | SPI                 | SPI Size  | the Child SA concerned (e.g. REKEY_SA)                    |
 * | Notification Data   | rest      | per type: NAT_DETECTION_* a SHA-1 hash, COOKIE opaque,    |
 * |                     |           | INVALID_KE_PAYLOAD 2-octet group, UNSUPPORTED_CRITICAL_PAYLOAD 1-octet type |
 */
export interface NotifyPayload {
  type: typeof PayloadType.NOTIFY;
  protocolId: number;
  spi: Uint8Array;
  notifyType: number;
  data: Uint8Array;
}

/**
 * The notify types Pavise uses. Checked against the IANA "IKEv2 Notify Message Error Types" and
 * "Status Types" registries, RFC 7296 §3.10.1, RFC 4555 (MOBIKE), RFC 6311 (HA sync), RFC 7383
 * (fragmentation) and RFC 7427 (signature hash algorithms). Types not listed are kept as numbers.
 */
export const NotifyType = {
  // Errors (0..16383), RFC 7296 §3.10.1 unless noted.
  UNSUPPORTED_CRITICAL_PAYLOAD: 1,
  INVALID_IKE_SPI: 4,
  INVALID_MAJOR_VERSION: 5,
  INVALID_SYNTAX: 7,
  INVALID_MESSAGE_ID: 9,
  INVALID_SPI: 11,
  NO_PROPOSAL_CHOSEN: 14,
  INVALID_KE_PAYLOAD: 17,
  AUTHENTICATION_FAILED: 24,
  SINGLE_PAIR_REQUIRED: 34,
  NO_ADDITIONAL_SAS: 35,
  INTERNAL_ADDRESS_FAILURE: 36,
  FAILED_CP_REQUIRED: 37,
  TS_UNACCEPTABLE: 38,
  INVALID_SELECTORS: 39,
  /** RFC 4555 */
  UNACCEPTABLE_ADDRESSES: 40,
  /** RFC 4555 */
  UNEXPECTED_NAT_DETECTED: 41,
  TEMPORARY_FAILURE: 43,
  CHILD_SA_NOT_FOUND: 44,
  // Status (16384..65535).
  INITIAL_CONTACT: 16384,
  SET_WINDOW_SIZE: 16385,
  ADDITIONAL_TS_POSSIBLE: 16386,
  IPCOMP_SUPPORTED: 16387,
  NAT_DETECTION_SOURCE_IP: 16388,
  NAT_DETECTION_DESTINATION_IP: 16389,
  COOKIE: 16390,
  USE_TRANSPORT_MODE: 16391,
  HTTP_CERT_LOOKUP_SUPPORTED: 16392,
  REKEY_SA: 16393,
  ESP_TFC_PADDING_NOT_SUPPORTED: 16394,
  NON_FIRST_FRAGMENTS_ALSO: 16395,
  /** RFC 4555 */
  MOBIKE_SUPPORTED: 16396,
  /** RFC 4555 */
  ADDITIONAL_IP4_ADDRESS: 16397,
  /** RFC 4555 */
  ADDITIONAL_IP6_ADDRESS: 16398,
  /** RFC 4555 */
  NO_ADDITIONAL_ADDRESSES: 16399,
  /** RFC 4555 */
  UPDATE_SA_ADDRESSES: 16400,
  /** RFC 4555 */
  COOKIE2: 16401,
  /** RFC 4555 */
  NO_NATS_ALLOWED: 16402,
  /** RFC 4739 */
  MULTIPLE_AUTH_SUPPORTED: 16404,
  /** RFC 5685 */
  REDIRECT_SUPPORTED: 16406,
  /** RFC 5998 */
  EAP_ONLY_AUTHENTICATION: 16417,
  /** RFC 6023 */
  CHILDLESS_IKEV2_SUPPORTED: 16418,
  /** RFC 6311 */
  IKEV2_MESSAGE_ID_SYNC_SUPPORTED: 16420,
  /** RFC 6311 */
  IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED: 16421,
  /** RFC 6311 */
  IKEV2_MESSAGE_ID_SYNC: 16422,
  /** RFC 6311 */
  IPSEC_REPLAY_COUNTER_SYNC: 16423,
  /** RFC 7383 */
  IKEV2_FRAGMENTATION_SUPPORTED: 16430,
  /** RFC 7427 */
  SIGNATURE_HASH_ALGORITHMS: 16431,
} as const;

/** Types below 16384 report errors (§3.10.1); an unknown error type in a response means failure. */
export function isErrorNotify(notifyType: number): boolean {
  return notifyType < 16384;
}

export function notifyTypeName(notifyType: number): string {
  for (const [name, value] of Object.entries(NotifyType)) if (value === notifyType) return name;
  return `${isErrorNotify(notifyType) ? "error" : "status"} notify ${notifyType}`;
}

export function decodeNotify(body: PayloadBody): DecodeResult<NotifyPayload> {
  const { bytes, start, end } = body;
  if (bodyLength(body) < 4) {
    return syntaxError(
      DecodeErrorCode.PAYLOAD_TOO_SHORT,
      "N: body shorter than 4 octets",
      start,
      PayloadType.NOTIFY,
    );
  }
  const spiSize = bytes[start + 1] ?? 0;
  if (start + 4 + spiSize > end) {
    return syntaxError(
      DecodeErrorCode.INVALID_PAYLOAD,
      `N: SPI Size ${spiSize} runs past the payload`,
      start + 1,
      PayloadType.NOTIFY,
    );
  }
  return ok({
    type: PayloadType.NOTIFY,
    protocolId: bytes[start] ?? 0,
    notifyType: readU16(bytes, start + 2),
    spi: bytes.slice(start + 4, start + 4 + spiSize),
    data: bytes.slice(start + 4 + spiSize, end),
  });
}

export function encodeNotify(writer: ByteWriter, payload: NotifyPayload): void {
  writer.u8(payload.protocolId, "N.protocolId");
  writer.u8(payload.spi.length, "N.spi length");
  writer.u16(payload.notifyType, "N.notifyType");
  writer.bytes(payload.spi);
  writer.bytes(payload.data);
}

/** A notify about the IKE SA (Protocol ID 0, no SPI), the common case. */
export function notify(notifyType: number, data: Uint8Array = new Uint8Array(0)): NotifyPayload {
  return { type: PayloadType.NOTIFY, protocolId: 0, spi: new Uint8Array(0), notifyType, data };
}
