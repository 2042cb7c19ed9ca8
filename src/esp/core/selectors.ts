/**
 * The selector values of an inner IP packet (RFC 4301 §4.4.1.1): addresses, next layer
 * protocol and ports, as the SPD matches them.
 *
 * - TCP, UDP, UDP-Lite, SCTP and DCCP: the source and destination ports.
 * - ICMP and ICMPv6: the message type in the source port field and the code in the
 *   destination port field (RFC 4301 §4.4.1.3, as Linux XFRM does). IKEv2 selectors carry the
 *   pair as one 16-bit value, type in the high byte (RFC 7296 §3.13.1); see `icmpPortValue`.
 * - Anything else, non-first fragments (RFC 4301 §7: the ports are not in them) and packets
 *   cut before the ports: `portsKnown` false ("OPAQUE"), which only a selector covering every
 *   port matches.
 *
 * Never throws: what is not a whole IPv4/IPv6 header gives undefined. Addresses are views into
 * the packet, not copies; keep the packet as long as the selectors.
 */
export interface PacketSelectors {
  family: 4 | 6;
  src: Uint8Array;
  dst: Uint8Array;
  /** The upper-layer protocol after IPv6 extension headers (the fragment's, for a non-first fragment). */
  protocol: number;
  srcPort: number;
  dstPort: number;
  portsKnown: boolean;
  /** A fragment other than the first (IPv4 offset or IPv6 Fragment header offset not 0). */
  laterFragment: boolean;
}

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_DCCP = 33;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;
export const IPPROTO_UDPLITE = 136;

const IPV6_HOP_BY_HOP = 0;
const IPV6_ROUTING = 43;
const IPV6_FRAGMENT = 44;
const IPV6_AH = 51;
const IPV6_DEST_OPTIONS = 60;

export function isIcmp(protocol: number): boolean {
  return protocol === IPPROTO_ICMP || protocol === IPPROTO_ICMPV6;
}

/** ICMP type and code as one IKEv2 selector port value (RFC 7296 §3.13.1). */
export function icmpPortValue(sel: PacketSelectors): number {
  return (sel.srcPort << 8) | sel.dstPort;
}

/** The selectors of an inner packet, or undefined when it is no whole IPv4/IPv6 header. */
export function extractSelectors(packet: Uint8Array): PacketSelectors | undefined {
  if (packet.length < 1) return undefined;
  const version = packet[0]! >>> 4;
  if (version === 4) return ipv4(packet);
  if (version === 6) return ipv6(packet);
  return undefined;
}

function ipv4(p: Uint8Array): PacketSelectors | undefined {
  if (p.length < 20) return undefined;
  const headerLength = (p[0]! & 0x0f) * 4;
  const totalLength = (p[2]! << 8) | p[3]!;
  if (headerLength < 20 || p.length < headerLength || totalLength < headerLength) return undefined;
  const end = Math.min(totalLength, p.length);
  const fragmentOffset = ((p[6]! & 0x1f) << 8) | p[7]!;
  const sel: PacketSelectors = {
    family: 4,
    src: p.subarray(12, 16),
    dst: p.subarray(16, 20),
    protocol: p[9]!,
    srcPort: 0,
    dstPort: 0,
    portsKnown: false,
    laterFragment: fragmentOffset !== 0,
  };
  if (!sel.laterFragment) readPorts(p, headerLength, end, sel);
  return sel;
}

function ipv6(p: Uint8Array): PacketSelectors | undefined {
  if (p.length < 40) return undefined;
  const payloadLength = (p[4]! << 8) | p[5]!;
  // A payload length of 0 is a jumbogram (RFC 2675) or a lie: take what is there.
  const end = payloadLength === 0 ? p.length : Math.min(40 + payloadLength, p.length);
  const sel: PacketSelectors = {
    family: 6,
    src: p.subarray(8, 24),
    dst: p.subarray(24, 40),
    protocol: p[6]!,
    srcPort: 0,
    dstPort: 0,
    portsKnown: false,
    laterFragment: false,
  };
  let next = p[6]!;
  let offset = 40;
  // Each extension header is at least 8 bytes, so this ends; the bound guards anyway.
  for (let hops = 0; hops < 64; hops++) {
    if (next === IPV6_HOP_BY_HOP || next === IPV6_ROUTING || next === IPV6_DEST_OPTIONS) {
      if (offset + 2 > end) return opaque(sel, next);
      const length = (p[offset + 1]! + 1) * 8;
      next = p[offset]!;
      offset += length;
    } else if (next === IPV6_FRAGMENT) {
      if (offset + 8 > end) return opaque(sel, next);
      const fragmentOffset = (p[offset + 2]! << 5) | (p[offset + 3]! >>> 3);
      next = p[offset]!;
      offset += 8;
      if (fragmentOffset !== 0) {
        sel.laterFragment = true;
        return opaque(sel, next);
      }
    } else if (next === IPV6_AH) {
      if (offset + 2 > end) return opaque(sel, next);
      const length = (p[offset + 1]! + 2) * 4;
      next = p[offset]!;
      offset += length;
    } else {
      break;
    }
  }
  sel.protocol = next;
  readPorts(p, offset, end, sel);
  return sel;
}

function opaque(sel: PacketSelectors, protocol: number): PacketSelectors {
  sel.protocol = protocol;
  sel.portsKnown = false;
  return sel;
}

/** Fills in the ports from the transport header at `offset`, when it is there whole enough. */
function readPorts(p: Uint8Array, offset: number, end: number, sel: PacketSelectors): void {
  switch (sel.protocol) {
    case IPPROTO_TCP:
    case IPPROTO_UDP:
    case IPPROTO_UDPLITE:
    case IPPROTO_SCTP:
    case IPPROTO_DCCP:
      if (offset + 4 > end) return;
      sel.srcPort = (p[offset]! << 8) | p[offset + 1]!;
      sel.dstPort = (p[offset + 2]! << 8) | p[offset + 3]!;
      sel.portsKnown = true;
      return;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      if ((sel.protocol === IPPROTO_ICMP) !== (sel.family === 4)) return;
      if (offset + 2 > end) return;
      sel.srcPort = p[offset]!;
      sel.dstPort = p[offset + 1]!;
      sel.portsKnown = true;
      return;
    default:
      return;
  }
}
