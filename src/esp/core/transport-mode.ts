/**
 * Transport mode (RFC 4303 §3.1.1) over UDP encapsulation (RFC 3948): the sender protects the
 * upper-layer payload of its own packet, with the protocol as ESP next header, and drops the
 * IP header; the receiver puts an IP header back from the SA's addresses.
 *
 * The receiver recomputes TCP and UDP checksums (RFC 3948 §3.1.2): a NAT between the peers
 * changed the addresses their pseudo-header covers, and the ESP ICV already vouches for the
 * payload. An IPv4 UDP checksum of 0 (none) stays 0.
 *
 * Not carried (the sender drops them, reason "unsupported"): IPv4 fragments and IPv4 options,
 * IPv6 packets with extension headers. Tunnel mode carries all of those.
 */
import { IPPROTO_TCP, IPPROTO_UDP } from "./selectors.js";

export type TransportStripResult =
  | { ok: true; family: 4 | 6; protocol: number; payload: Uint8Array }
  | { ok: false; reason: "malformed" | "unsupported" };

const IPV6_EXTENSION_HEADERS = new Set([0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254]);

/** The upper-layer payload and protocol of an outgoing IP packet. Never throws. */
export function stripTransportHeader(packet: Uint8Array): TransportStripResult {
  const version = packet.length > 0 ? packet[0]! >>> 4 : 0;
  if (version === 4) {
    if (packet.length < 20) return { ok: false, reason: "malformed" };
    const headerLength = (packet[0]! & 0x0f) * 4;
    const total = (packet[2]! << 8) | packet[3]!;
    if (headerLength < 20 || total < headerLength || total > packet.length) {
      return { ok: false, reason: "malformed" };
    }
    const moreFragments = (packet[6]! & 0x20) !== 0;
    const offset = ((packet[6]! & 0x1f) << 8) | packet[7]!;
    if (headerLength !== 20 || moreFragments || offset !== 0) return { ok: false, reason: "unsupported" };
    return { ok: true, family: 4, protocol: packet[9]!, payload: packet.subarray(headerLength, total) };
  }
  if (version === 6) {
    if (packet.length < 40) return { ok: false, reason: "malformed" };
    const end = 40 + ((packet[4]! << 8) | packet[5]!);
    if (end > packet.length || end === 40) return { ok: false, reason: "malformed" };
    const next = packet[6]!;
    if (IPV6_EXTENSION_HEADERS.has(next)) return { ok: false, reason: "unsupported" };
    return { ok: true, family: 6, protocol: next, payload: packet.subarray(40, end) };
  }
  return { ok: false, reason: "malformed" };
}

/**
 * An IP packet around a received transport-mode payload: source `src` (the peer), destination
 * `dst` (us), both 4 or both 16 bytes. Undefined when the payload does not fit an IP packet.
 */
export function rebuildTransportPacket(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  payload: Uint8Array,
): Uint8Array | undefined {
  const v4 = src.length === 4;
  const headerLength = v4 ? 20 : 40;
  if (payload.length > 0xffff - (v4 ? headerLength : 0)) return undefined;
  const packet = new Uint8Array(headerLength + payload.length);
  packet.set(payload, headerLength);
  if (v4) {
    const total = packet.length;
    packet[0] = 0x45;
    packet[2] = total >>> 8;
    packet[3] = total & 0xff;
    packet[6] = 0x40; // DF: the packet was whole when sealed
    packet[8] = 64;
    packet[9] = protocol;
    packet.set(src, 12);
    packet.set(dst, 16);
    const sum = fold(sumWords(packet, 0, 20, 0));
    packet[10] = (~sum >>> 8) & 0xff;
    packet[11] = ~sum & 0xff;
  } else {
    packet[0] = 0x60;
    packet[4] = payload.length >>> 8;
    packet[5] = payload.length & 0xff;
    packet[6] = protocol;
    packet[7] = 64;
    packet.set(src, 8);
    packet.set(dst, 24);
  }
  fixUpperChecksum(packet, headerLength, protocol, src, dst, v4);
  return packet;
}

/** Recomputes the TCP or UDP checksum over the pseudo-header of the new addresses. */
function fixUpperChecksum(
  packet: Uint8Array,
  offset: number,
  protocol: number,
  src: Uint8Array,
  dst: Uint8Array,
  v4: boolean,
): void {
  const length = packet.length - offset;
  let at: number;
  if (protocol === IPPROTO_TCP && length >= 20) at = offset + 16;
  else if (protocol === IPPROTO_UDP && length >= 8) at = offset + 6;
  else return;
  if (protocol === IPPROTO_UDP && v4 && packet[at] === 0 && packet[at + 1] === 0) return;
  packet[at] = 0;
  packet[at + 1] = 0;
  let sum = sumWords(src, 0, src.length, 0);
  sum = sumWords(dst, 0, dst.length, sum);
  sum += protocol + (length & 0xffff) + Math.floor(length / 0x10000);
  sum = sumWords(packet, offset, packet.length, sum);
  let checksum = ~fold(sum) & 0xffff;
  // A computed UDP checksum of 0 is sent as 0xFFFF (RFC 768), 0 meaning "none".
  if (protocol === IPPROTO_UDP && checksum === 0) checksum = 0xffff;
  packet[at] = checksum >>> 8;
  packet[at + 1] = checksum & 0xff;
}

function sumWords(bytes: Uint8Array, start: number, end: number, sum: number): number {
  let i = start;
  for (; i + 1 < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  // Fold now and then so the sum stays an exact integer on any packet size.
  return sum > 0x7fff_ffff ? fold(sum) : sum;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}
