/**
 * What arrives on the IKE ports (RFC 7296 §2.23, RFC 3948 §2): on port 500 only IKE; on port
 * 4500 an IKE message is preceded by the four-byte non-ESP marker (zero, where an ESP packet
 * has its non-zero SPI), a single 0xFF byte is a NAT keepalive, anything else is ESP.
 */
export type Datagram =
  | { kind: "ike"; message: Uint8Array }
  | { kind: "esp"; packet: Uint8Array }
  | { kind: "keepalive" }
  | { kind: "invalid"; reason: string };

export const IKE_PORT = 500;
export const NAT_T_PORT = 4500;
const NON_ESP_MARKER_LENGTH = 4;
/** The IKE header is 28 octets; anything shorter cannot be a message. */
const IKE_HEADER_LENGTH = 28;
/** ESP needs at least SPI and sequence number. */
const ESP_MIN_LENGTH = 8;

export function classifyDatagram(localPort: number, bytes: Uint8Array): Datagram {
  if (localPort !== NAT_T_PORT) {
    return bytes.length >= IKE_HEADER_LENGTH
      ? { kind: "ike", message: bytes }
      : { kind: "invalid", reason: `${bytes.length} bytes is shorter than an IKE header` };
  }
  if (bytes.length === 1 && bytes[0] === 0xff) return { kind: "keepalive" };
  if (
    bytes.length >= NON_ESP_MARKER_LENGTH &&
    bytes[0] === 0 &&
    bytes[1] === 0 &&
    bytes[2] === 0 &&
    bytes[3] === 0
  ) {
    const message = bytes.subarray(NON_ESP_MARKER_LENGTH);
    return message.length >= IKE_HEADER_LENGTH
      ? { kind: "ike", message }
      : {
          kind: "invalid",
          reason: `${message.length} bytes after the non-ESP marker is shorter than an IKE header`,
        };
  }
  return bytes.length >= ESP_MIN_LENGTH
    ? { kind: "esp", packet: bytes }
    : { kind: "invalid", reason: `${bytes.length} bytes is too short for ESP` };
}

/** The bytes to send for an IKE message on a port: with the non-ESP marker on 4500. */
export function frameIkeMessage(localPort: number, message: Uint8Array): Uint8Array {
  if (localPort !== NAT_T_PORT) return message;
  const framed = new Uint8Array(NON_ESP_MARKER_LENGTH + message.length);
  framed.set(message, NON_ESP_MARKER_LENGTH);
  return framed;
}
