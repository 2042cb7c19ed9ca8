import { describe, expect, it } from "vitest";
import { loadTunAddon } from "../../src/esp/driver/tun-device.js";
import { seededRandom } from "../support/seeded-random.js";

// TCP segmentation and coalescing across the TUN (native/tun/offload.c), on real bytes: what the
// kernel would hand over with TSO, cut into segments; segments merged back into what the kernel
// takes. Checksums are checked by an independent RFC 1071 implementation below.

const addon = loadTunAddon();
const VNET = 10;
const GSO_TCPV4 = 1;
const GSO_TCPV6 = 4;
const NEEDS_CSUM = 1;
const ACK = 0x10;
const PSH = 0x08;
const FIN = 0x01;
const SYN = 0x02;

function sum16(bytes: Uint8Array, sum = 0): number {
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** Whether the TCP checksum of an IPv4 or IPv6 packet holds. */
function tcpChecksumHolds(packet: Buffer): boolean {
  const v4 = packet[0]! >> 4 === 4;
  const ipLength = v4 ? (packet[0]! & 0xf) * 4 : 40;
  const tcp = packet.subarray(ipLength);
  const pseudo = Buffer.alloc(v4 ? 12 : 40);
  if (v4) {
    packet.copy(pseudo, 0, 12, 20);
    pseudo[9] = 6;
    pseudo.writeUInt16BE(tcp.length, 10);
  } else {
    packet.copy(pseudo, 0, 8, 40);
    pseudo.writeUInt32BE(tcp.length, 32);
    pseudo[39] = 6;
  }
  return sum16(tcp, sum16(pseudo)) === 0xffff;
}

function ipv4HeaderHolds(packet: Buffer): boolean {
  return sum16(packet.subarray(0, (packet[0]! & 0xf) * 4)) === 0xffff;
}

interface Flow {
  v6?: boolean;
  seq: number;
  flags: number;
  payload: Buffer;
  id?: number;
  sport?: number;
}

/** A TCP packet with a timestamp option (32-byte TCP header) and complete checksums. */
function tcpPacket(flow: Flow): Buffer {
  const ipLength = flow.v6 ? 40 : 20;
  const packet = Buffer.alloc(ipLength + 32 + flow.payload.length);
  if (flow.v6) {
    packet[0] = 0x60;
    packet.writeUInt16BE(32 + flow.payload.length, 4);
    packet[6] = 6;
    packet[7] = 64;
    Buffer.from("20010db8000000000000000000000001", "hex").copy(packet, 8);
    Buffer.from("20010db8000000000000000000000002", "hex").copy(packet, 24);
  } else {
    packet[0] = 0x45;
    packet.writeUInt16BE(packet.length, 2);
    packet.writeUInt16BE(flow.id ?? 0x1234, 4);
    packet.writeUInt16BE(0x4000, 6); // DF
    packet[8] = 64;
    packet[9] = 6;
    Buffer.from([198, 18, 20, 11]).copy(packet, 12);
    Buffer.from([198, 18, 20, 12]).copy(packet, 16);
    packet.writeUInt16BE(0xffff - sum16(packet.subarray(0, 20)), 10);
  }
  const tcp = packet.subarray(ipLength);
  tcp.writeUInt16BE(flow.sport ?? 40000, 0);
  tcp.writeUInt16BE(5201, 2);
  tcp.writeUInt32BE(flow.seq >>> 0, 4);
  tcp.writeUInt32BE(777, 8);
  tcp[12] = 8 << 4;
  tcp[13] = flow.flags;
  tcp.writeUInt16BE(502, 14);
  Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]).copy(tcp, 20); // NOP NOP TS
  flow.payload.copy(tcp, 32);
  const ok = sum16(tcp, sum16(pseudoOf(packet, tcp.length, flow.v6 ?? false)));
  tcp.writeUInt16BE(0xffff - ok, 16);
  return packet;
}

function pseudoOf(packet: Buffer, tcpLength: number, v6: boolean): Buffer {
  const pseudo = Buffer.alloc(v6 ? 40 : 12);
  if (v6) {
    packet.copy(pseudo, 0, 8, 40);
    pseudo.writeUInt32BE(tcpLength, 32);
    pseudo[39] = 6;
  } else {
    packet.copy(pseudo, 0, 12, 20);
    pseudo[9] = 6;
    pseudo.writeUInt16BE(tcpLength, 10);
  }
  return pseudo;
}

/** What the kernel reads out with TSO: header + one super-packet with a partial checksum. */
function tsoRead(flow: Flow, mss: number): Buffer {
  const packet = tcpPacket(flow);
  const ipLength = flow.v6 ? 40 : 20;
  // CHECKSUM_PARTIAL: the TCP field holds the folded pseudo-header sum, not the checksum.
  packet.writeUInt16BE(sum16(pseudoOf(packet, packet.length - ipLength, flow.v6 ?? false)), ipLength + 16);
  const header = Buffer.alloc(VNET);
  header[0] = NEEDS_CSUM;
  header[1] = flow.v6 ? GSO_TCPV6 : GSO_TCPV4;
  header.writeUInt16LE(ipLength + 32, 2);
  header.writeUInt16LE(mss, 4);
  header.writeUInt16LE(ipLength, 6);
  header.writeUInt16LE(16, 8);
  return Buffer.concat([header, packet]);
}

function split(result: { buffer: Buffer; lengths: Uint32Array }): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  for (const length of result.lengths) {
    out.push(result.buffer.subarray(offset, offset + length));
    offset += length;
  }
  return out;
}

function randomPayload(length: number, seed: number): Buffer {
  const random = seededRandom(seed);
  return Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
}

describe("TSO read → segments (offload_segment)", () => {
  it("cuts an IPv4 super-packet into MSS-sized segments with complete headers", () => {
    const payload = randomPayload(10_000, 1);
    const result = addon.offloadSegment(
      tsoRead({ seq: 0xfffff000, flags: ACK | PSH | FIN, payload, id: 0xfffe }, 1448),
    );
    expect(result).not.toBeNull();
    const segments = split(result!);
    expect(segments.map((s) => s.length - 52)).toEqual([1448, 1448, 1448, 1448, 1448, 1448, 1312]);
    segments.forEach((segment, i) => {
      expect(ipv4HeaderHolds(segment)).toBe(true);
      expect(tcpChecksumHolds(segment)).toBe(true);
      expect(segment.readUInt16BE(2)).toBe(segment.length);
      expect(segment.readUInt16BE(4)).toBe((0xfffe + i) & 0xffff);
      expect(segment.readUInt32BE(24)).toBe((0xfffff000 + i * 1448) >>> 0); // wraps
      const last = i === segments.length - 1;
      expect(segment[33]).toBe(last ? ACK | PSH | FIN : ACK);
    });
    expect(Buffer.concat(segments.map((s) => s.subarray(52)))).toEqual(payload);
  });

  it("cuts an IPv6 super-packet", () => {
    const payload = randomPayload(3000, 2);
    const segments = split(addon.offloadSegment(tsoRead({ v6: true, seq: 5, flags: ACK, payload }, 1428))!);
    expect(segments.map((s) => s.readUInt16BE(4))).toEqual([32 + 1428, 32 + 1428, 32 + 144]);
    for (const segment of segments) expect(tcpChecksumHolds(segment)).toBe(true);
    expect(Buffer.concat(segments.map((s) => s.subarray(72)))).toEqual(payload);
  });

  it("completes the partial checksum of a packet that is not GSO", () => {
    const read = tsoRead({ seq: 1, flags: ACK, payload: randomPayload(100, 3) }, 1448);
    read[1] = 0; // GSO none, NEEDS_CSUM still set
    const [packet] = split(addon.offloadSegment(read)!);
    expect(tcpChecksumHolds(packet!)).toBe(true);
  });

  it("refuses malformed reads without crashing", () => {
    const good = tsoRead({ seq: 1, flags: ACK, payload: randomPayload(4000, 4) }, 1448);
    expect(addon.offloadSegment(good.subarray(0, 5))).toBeNull(); // shorter than the header
    const zeroMss = Buffer.from(good);
    zeroMss.writeUInt16LE(0, 4);
    expect(addon.offloadSegment(zeroMss)).toBeNull();
    const notTcp = Buffer.from(good);
    notTcp[VNET + 9] = 17;
    expect(addon.offloadSegment(notTcp)).toBeNull();
    const badCsum = Buffer.from(good);
    badCsum.writeUInt16LE(60000, 6); // csum_start past the end
    badCsum[1] = 0;
    expect(addon.offloadSegment(badCsum)).toBeNull();
    const random = seededRandom(5);
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(
        Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256)),
      );
      if (i % 2 === 0 && bytes.length > 2) bytes[1] = [0, 1, 4][i % 3]!;
      const result = addon.offloadSegment(bytes);
      if (result) expect(result.lengths.reduce((a, b) => a + b, 0)).toBe(result.buffer.length);
    }
  });
});

describe("segments → one GSO write (offload_coalesce)", () => {
  const mss = 1448;
  const payload = randomPayload(6 * mss + 500, 6);
  const segments = split(addon.offloadSegment(tsoRead({ seq: 1000, flags: ACK | PSH, payload }, mss))!);

  it("merges a flow's consecutive segments into one super-packet the kernel can take", () => {
    const { write, taken } = addon.offloadCoalesce(segments);
    expect(taken).toBe(7);
    expect(write[0]).toBe(NEEDS_CSUM);
    expect(write[1]).toBe(GSO_TCPV4);
    expect(write.readUInt16LE(2)).toBe(52); // hdr_len
    expect(write.readUInt16LE(4)).toBe(mss);
    expect(write.readUInt16LE(6)).toBe(20);
    expect(write.readUInt16LE(8)).toBe(16);
    const packet = write.subarray(VNET);
    expect(packet.readUInt16BE(2)).toBe(packet.length);
    expect(ipv4HeaderHolds(packet)).toBe(true);
    expect(packet[33]).toBe(ACK | PSH);
    expect(packet.subarray(52)).toEqual(payload);
    // CHECKSUM_PARTIAL: the field holds the pseudo-header sum.
    expect(packet.readUInt16BE(36)).toBe(sum16(pseudoOf(packet, packet.length - 20, false)));
  });

  it("stops where the flow does not continue", () => {
    const other = tcpPacket({
      seq: 1000 + mss,
      flags: ACK,
      payload: payload.subarray(mss, 2 * mss),
      sport: 40001,
    });
    expect(addon.offloadCoalesce([segments[0]!, other]).taken).toBe(1);
    expect(addon.offloadCoalesce([segments[0]!, segments[2]!]).taken).toBe(1); // a gap
    const damaged = Buffer.from(segments[2]!);
    damaged[100]! ^= 1;
    expect(addon.offloadCoalesce([segments[0]!, segments[1]!, damaged, segments[3]!]).taken).toBe(2);
    const short = tcpPacket({ seq: 1000 + 2 * mss, flags: ACK, payload: payload.subarray(0, 700) });
    const after = tcpPacket({
      seq: 1000 + 2 * mss + 700,
      flags: ACK,
      payload: payload.subarray(700, 700 + mss),
    });
    // A short segment may only end a run.
    expect(addon.offloadCoalesce([segments[0]!, segments[1]!, short]).taken).toBe(3);
    expect(addon.offloadCoalesce([short, after]).taken).toBe(1);
    const syn = tcpPacket({ seq: 1000, flags: SYN | ACK, payload: payload.subarray(0, mss) });
    expect(addon.offloadCoalesce([syn, segments[1]!]).taken).toBe(1);
    const pushed = tcpPacket({ seq: 1000, flags: ACK | PSH, payload: payload.subarray(0, mss) });
    expect(addon.offloadCoalesce([pushed, segments[1]!]).taken).toBe(1); // PSH ends a run
  });

  it("writes a packet it cannot merge as it is, behind an empty header", () => {
    const { write, taken } = addon.offloadCoalesce([segments[6]!]);
    expect(taken).toBe(1);
    expect(write.subarray(0, VNET)).toEqual(Buffer.alloc(VNET));
    expect(write.subarray(VNET)).toEqual(segments[6]);
  });

  it("never crashes on what a peer could send", () => {
    const random = seededRandom(7);
    for (let i = 0; i < 2000; i++) {
      const packets = Array.from({ length: 1 + Math.floor(random() * 4) }, () => {
        const base = Buffer.from(segments[Math.floor(random() * segments.length)]!);
        const cut = base.subarray(0, Math.floor(random() * base.length) + 1);
        for (let k = 0; k < 3; k++) cut[Math.floor(random() * cut.length)] = Math.floor(random() * 256);
        return cut;
      });
      const { write, taken } = addon.offloadCoalesce(packets);
      expect(taken).toBeGreaterThanOrEqual(1);
      expect(write.length).toBeGreaterThanOrEqual(VNET);
    }
  });
});
