import { describe, expect, it } from "vitest";
import { addressBytes, formatAddress } from "../../src/ike/config/traffic-selector-spec.js";
import { extractSelectors, icmpPortValue, type PacketSelectors } from "../../src/esp/core/selectors.js";

/** An IPv4 packet as it comes out of a TUN device (header checksum left 0: not checked). */
function ipv4(o: {
  src: string;
  dst: string;
  protocol: number;
  payload: number[];
  fragmentOffset?: number;
  moreFragments?: boolean;
  options?: number[];
}): Uint8Array {
  const options = o.options ?? [];
  const headerLength = 20 + options.length;
  const total = headerLength + o.payload.length;
  const flags = (o.moreFragments ? 0x2000 : 0) | (o.fragmentOffset ?? 0);
  return Uint8Array.from([
    0x40 | (headerLength / 4),
    0,
    total >> 8,
    total & 0xff,
    0x12,
    0x34,
    flags >> 8,
    flags & 0xff,
    64,
    o.protocol,
    0,
    0,
    ...addressBytes(o.src),
    ...addressBytes(o.dst),
    ...options,
    ...o.payload,
  ]);
}

function ipv6(o: { src: string; dst: string; next: number; payload: number[] }): Uint8Array {
  const length = o.payload.length;
  return Uint8Array.from([
    0x60,
    0,
    0,
    0,
    length >> 8,
    length & 0xff,
    o.next,
    64,
    ...addressBytes(o.src),
    ...addressBytes(o.dst),
    ...o.payload,
  ]);
}

const udp = (src: number, dst: number, data: number[] = []) => [
  src >> 8,
  src & 0xff,
  dst >> 8,
  dst & 0xff,
  0,
  8 + data.length,
  0,
  0,
  ...data,
];
const tcp = (src: number, dst: number) => [
  src >> 8,
  src & 0xff,
  dst >> 8,
  dst & 0xff,
  ...new Array<number>(16).fill(0),
];

function show(sel: PacketSelectors | undefined) {
  if (!sel) return undefined;
  return {
    family: sel.family,
    src: formatAddress(sel.src),
    dst: formatAddress(sel.dst),
    protocol: sel.protocol,
    ports: sel.portsKnown ? [sel.srcPort, sel.dstPort] : "opaque",
    laterFragment: sel.laterFragment,
  };
}

describe("selectors of an inner packet (RFC 4301 §4.4.1.1)", () => {
  it("IPv4 TCP", () => {
    const packet = ipv4({ src: "198.18.1.11", dst: "198.18.2.7", protocol: 6, payload: tcp(40000, 443) });
    expect(show(extractSelectors(packet))).toEqual({
      family: 4,
      src: "198.18.1.11",
      dst: "198.18.2.7",
      protocol: 6,
      ports: [40000, 443],
      laterFragment: false,
    });
  });

  it("IPv4 UDP behind IP options", () => {
    const packet = ipv4({
      src: "198.18.1.11",
      dst: "198.18.2.7",
      protocol: 17,
      payload: udp(53, 5353, [1, 2, 3]),
      options: [0x01, 0x01, 0x01, 0x00],
    });
    expect(show(extractSelectors(packet))?.ports).toEqual([53, 5353]);
  });

  it("IPv4 ICMP echo request: type in the source port, code in the destination port", () => {
    const packet = ipv4({
      src: "198.18.1.11",
      dst: "198.18.2.7",
      protocol: 1,
      payload: [8, 0, 0xf7, 0xff, 0, 1, 0, 1],
    });
    const sel = extractSelectors(packet)!;
    expect(show(sel)?.ports).toEqual([8, 0]);
    expect(icmpPortValue(sel)).toBe(0x0800);
    const unreachable = extractSelectors(
      ipv4({ src: "198.18.2.7", dst: "198.18.1.11", protocol: 1, payload: [3, 4, 0, 0, 0, 0, 0, 0] }),
    )!;
    expect(icmpPortValue(unreachable)).toBe(0x0304);
  });

  it("IPv6 UDP", () => {
    const packet = ipv6({ src: "2001:db8::1", dst: "2001:db8:1::2", next: 17, payload: udp(500, 4500) });
    expect(show(extractSelectors(packet))).toEqual({
      family: 6,
      src: "2001:db8::1",
      dst: "2001:db8:1::2",
      protocol: 17,
      ports: [500, 4500],
      laterFragment: false,
    });
  });

  it("IPv6 through hop-by-hop and destination options to TCP; ICMPv6", () => {
    const hopByHop = [60, 0, 1, 4, 0, 0, 0, 0];
    const destOptions = [6, 0, 1, 4, 0, 0, 0, 0];
    const packet = ipv6({
      src: "2001:db8::1",
      dst: "2001:db8::2",
      next: 0,
      payload: [...hopByHop, ...destOptions, ...tcp(1234, 22)],
    });
    expect(show(extractSelectors(packet))).toMatchObject({ protocol: 6, ports: [1234, 22] });
    const echo = ipv6({
      src: "2001:db8::1",
      dst: "2001:db8::2",
      next: 58,
      payload: [128, 0, 0, 0, 0, 1, 0, 1],
    });
    expect(show(extractSelectors(echo))).toMatchObject({ protocol: 58, ports: [128, 0] });
  });

  it("IPv4 fragments: the first has ports, the others are opaque", () => {
    const first = ipv4({
      src: "198.18.1.11",
      dst: "198.18.2.7",
      protocol: 17,
      payload: udp(1000, 2000, new Array<number>(16).fill(0)),
      moreFragments: true,
    });
    expect(show(extractSelectors(first))).toMatchObject({ ports: [1000, 2000], laterFragment: false });
    const later = ipv4({
      src: "198.18.1.11",
      dst: "198.18.2.7",
      protocol: 17,
      payload: [0x03, 0xe8, 0x07, 0xd0, 0, 0, 0, 0],
      fragmentOffset: 3,
    });
    expect(show(extractSelectors(later))).toMatchObject({
      protocol: 17,
      ports: "opaque",
      laterFragment: true,
    });
  });

  it("IPv6 fragments: a non-first fragment is opaque, with the fragment's protocol", () => {
    const fragment = (offset: number) => [17, 0, (offset << 3) >> 8, ((offset << 3) & 0xff) | 1, 0, 0, 0, 9];
    const first = ipv6({
      src: "2001:db8::1",
      dst: "2001:db8::2",
      next: 44,
      payload: [...fragment(0), ...udp(7, 9)],
    });
    expect(show(extractSelectors(first))).toMatchObject({
      protocol: 17,
      ports: [7, 9],
      laterFragment: false,
    });
    const later = ipv6({
      src: "2001:db8::1",
      dst: "2001:db8::2",
      next: 44,
      payload: [...fragment(185), 0, 7, 0, 9],
    });
    expect(show(extractSelectors(later))).toMatchObject({
      protocol: 17,
      ports: "opaque",
      laterFragment: true,
    });
  });

  it("protocols without ports are opaque (GRE, ESP)", () => {
    const gre = ipv4({ src: "198.18.1.1", dst: "198.18.1.2", protocol: 47, payload: [0, 0, 8, 0] });
    expect(show(extractSelectors(gre))).toMatchObject({ protocol: 47, ports: "opaque" });
    const esp = ipv6({ src: "2001:db8::1", dst: "2001:db8::2", next: 50, payload: [0, 0, 1, 0, 0, 0, 0, 1] });
    expect(show(extractSelectors(esp))).toMatchObject({ protocol: 50, ports: "opaque" });
  });

  it("truncated and odd packets give undefined or opaque ports, never an exception", () => {
    const whole = ipv4({ src: "198.18.1.11", dst: "198.18.2.7", protocol: 6, payload: tcp(40000, 443) });
    for (let n = 0; n < 20; n++) expect(extractSelectors(whole.subarray(0, n))).toBeUndefined();
    for (let n = 20; n < 24; n++) {
      expect(show(extractSelectors(whole.subarray(0, n)))).toMatchObject({ protocol: 6, ports: "opaque" });
    }
    expect(show(extractSelectors(whole.subarray(0, 24)))?.ports).toEqual([40000, 443]);

    const shortTotal = Uint8Array.from(whole);
    shortTotal[3] = 22; // total length says the TCP header is cut
    expect(show(extractSelectors(shortTotal))?.ports).toBe("opaque");
    const badIhl = Uint8Array.from(whole);
    badIhl[0] = 0x44;
    expect(extractSelectors(badIhl)).toBeUndefined();
    const longIhl = Uint8Array.from(whole.subarray(0, 30));
    longIhl[0] = 0x4f;
    expect(extractSelectors(longIhl)).toBeUndefined();
    expect(extractSelectors(Uint8Array.of(0x50, 0, 0, 0))).toBeUndefined();

    const v6 = ipv6({ src: "2001:db8::1", dst: "2001:db8::2", next: 0, payload: [17, 200, 0, 0] });
    expect(show(extractSelectors(v6))).toMatchObject({ ports: "opaque" });
    for (let n = 0; n < 40; n++) expect(extractSelectors(v6.subarray(0, n))).toBeUndefined();

    // Random bytes behind a valid version nibble: whatever comes out, nothing is thrown.
    let state = 7;
    for (let i = 0; i < 5000; i++) {
      const length = i % 80;
      const bytes = new Uint8Array(length);
      for (let j = 0; j < length; j++) {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        bytes[j] = state >>> 24;
      }
      if (length > 0) bytes[0] = (i % 2 === 0 ? 0x40 : 0x60) | (bytes[0]! & 0x0f);
      expect(() => extractSelectors(bytes)).not.toThrow();
    }
  });
});
