/**
 * The clear part of an ESP packet (RFC 4303 §2): read without any key, so that the datapath
 * can find the SA (by SPI) and check the replay window (by sequence number) before spending
 * any crypto on the packet.
 *
 *      0                   1                   2                   3
 *     +---------------------------------------------------------------+
 *     |               Security Parameters Index (SPI)                 |
 *     +---------------------------------------------------------------+
 *     |      Sequence Number (low 32 bits with ESN, RFC 4303 §2.2.1)  |
 *     +---------------------------------------------------------------+
 *     |      IV | encrypted payload | padding | pad length | NH | ICV |
 *
 * With UDP encapsulation (RFC 3948) the driver strips the UDP header and tells the 4-byte
 * non-ESP marker (a zero SPI, i.e. IKE) apart before calling this.
 */

/** Bytes of SPI and Sequence Number in front of every ESP packet. */
export const ESP_HEADER_LENGTH = 8;

/** Next Header values the datapath deals with (IANA "Assigned Internet Protocol Numbers"). */
export const NextHeader = {
  /** Tunnel mode, inner IPv4 packet ("IP in IP"). */
  IPV4: 4,
  /** Tunnel mode, inner IPv6 packet. */
  IPV6: 41,
  /** No next header: a dummy packet (RFC 4303 §2.6), which the receiver drops. */
  NONE: 59,
} as const;
export type NextHeader = (typeof NextHeader)[keyof typeof NextHeader];

export interface EspHeader {
  readonly spi: number;
  /** The 32 bits on the wire: the whole number without ESN, its low half with ESN. */
  readonly seq: number;
}

export type ParseEspHeaderResult =
  | ({ readonly ok: true } & EspHeader)
  | {
      readonly ok: false;
      /**
       * "truncated": shorter than the 8-byte header. "reserved-spi": SPI 0, reserved for local
       * use and never sent (RFC 4303 §2.1; also RFC 3948's non-ESP marker). SPIs 1–255 are
       * reserved by IANA too, but are left to the SAD lookup, which will not find them.
       */
      readonly reason: "truncated" | "reserved-spi";
    };

/** Reads a big-endian 32-bit unsigned integer; the caller has checked the length. */
export function readUint32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>>
    0
  );
}

/** Writes a big-endian 32-bit unsigned integer; the caller has checked the length. */
export function writeUint32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = value >>> 16;
  bytes[offset + 2] = value >>> 8;
  bytes[offset + 3] = value;
}

/** SPI and sequence number of an ESP packet, without crypto. Never throws on packet bytes. */
export function parseEspHeader(packet: Uint8Array): ParseEspHeaderResult {
  if (packet.length < ESP_HEADER_LENGTH) return { ok: false, reason: "truncated" };
  const spi = readUint32(packet, 0);
  if (spi === 0) return { ok: false, reason: "reserved-spi" };
  return { ok: true, spi, seq: readUint32(packet, 4) };
}
