import { describe, expect, it } from "vitest";
import { addressBytes, parseTrafficSelector } from "../../src/ike/config/traffic-selector-spec.js";
import type { ChildSaKeys } from "../../src/ike/core/events.js";
import { resolveSelectors, type TrafficSelector } from "../../src/ike/core/traffic-selector.js";
import { Sad } from "../../src/esp/core/sad.js";
import type { PacketSelectors } from "../../src/esp/core/selectors.js";
import { inboundAllowed, Spd } from "../../src/esp/core/spd.js";

function ts(...texts: string[]): TrafficSelector[] {
  return resolveSelectors(
    texts.map((t) => {
      const spec = parseTrafficSelector(t);
      if ("error" in spec) throw new Error(spec.error);
      return spec;
    }),
    "198.18.1.11",
  );
}

/** Selectors as `extractSelectors` gives them (tested on bytes in esp-selectors.test.ts). */
function packet(
  src: string,
  dst: string,
  protocol = 6,
  srcPort = 40000,
  dstPort = 443,
  portsKnown = true,
): PacketSelectors {
  const s = addressBytes(src);
  return {
    family: s.length === 4 ? 4 : 6,
    src: s,
    dst: addressBytes(dst),
    protocol,
    srcPort,
    dstPort,
    portsKnown,
    laterFragment: !portsKnown,
  };
}

function child(overrides: Partial<ChildSaKeys> = {}): ChildSaKeys {
  return {
    name: "web",
    spiIn: 0xc0000001,
    spiOut: 0xd0000001,
    mode: "tunnel",
    encap: { localPort: 4500, remotePort: 4500 },
    localAddress: "198.18.0.1",
    remoteAddress: "198.18.0.2",
    encr: { id: 20, keyLength: 256 },
    integ: undefined,
    esn: false,
    keyIn: { encKey: new Uint8Array(36), integKey: new Uint8Array(0) },
    keyOut: { encKey: new Uint8Array(36), integKey: new Uint8Array(0) },
    localTs: ts("198.18.1.0/24"),
    remoteTs: ts("198.18.2.0/24"),
    replayWindow: 64,
    lifetime: { softBytes: 0, hardBytes: 0, softPackets: 0, hardPackets: 0 },
    ...overrides,
  };
}

describe("security policy database (RFC 4301 §4.4.1)", () => {
  it("protects what a Child SA's selectors cover, and discards what no policy covers", () => {
    const spd = new Spd();
    spd.installChildSa(child());
    expect(spd.lookupOutbound(packet("198.18.1.11", "198.18.2.7"))).toMatchObject({
      action: "protect",
      spiIn: 0xc0000001,
    });
    expect(spd.lookupOutbound(packet("198.18.2.7", "198.18.1.11"))).toEqual({
      action: "discard",
      policy: undefined,
    });
    expect(spd.lookupOutbound(packet("198.18.1.11", "198.18.3.1")).action).toBe("discard");
    expect(spd.lookupOutbound(packet("2001:db8::1", "2001:db8::2")).action).toBe("discard");
  });

  it("the first match by priority wins: a bypass before the tunnel, a discard before that", () => {
    const spd = new Spd();
    spd.installChildSa(child());
    const bypass = spd.add({
      name: "ssh-in-clear",
      local: ts("198.18.1.0/24"),
      remote: ts("198.18.2.0/24[tcp/22]"),
      action: "bypass",
      priority: 10,
    });
    spd.add({
      name: "no-telnet",
      local: ts("0.0.0.0/0"),
      remote: ts("0.0.0.0/0[tcp/23]"),
      action: "discard",
      priority: 5,
    });
    expect(spd.lookupOutbound(packet("198.18.1.11", "198.18.2.7", 6, 40000, 22))).toEqual({
      action: "bypass",
      policy: bypass,
    });
    expect(spd.lookupOutbound(packet("198.18.1.11", "198.18.2.7", 6, 40000, 23))).toMatchObject({
      action: "discard",
      policy: { name: "no-telnet" },
    });
    expect(spd.lookupOutbound(packet("198.18.1.11", "198.18.2.7", 17, 40000, 22)).action).toBe("protect");
    expect(spd.list().map((p) => p.name)).toEqual(["no-telnet", "ssh-in-clear", "web"]);
    expect(spd.remove(bypass.id)).toBe(true);
    expect(spd.remove(bypass.id)).toBe(false);
    expect(spd.lookupOutbound(packet("198.18.1.11", "198.18.2.7", 6, 40000, 22)).action).toBe("protect");
  });

  it("equal priorities keep the order they were installed in", () => {
    const spd = new Spd();
    spd.add({ name: "a", local: ts("0.0.0.0/0"), remote: ts("0.0.0.0/0"), action: "discard", priority: 7 });
    spd.add({ name: "b", local: ts("0.0.0.0/0"), remote: ts("0.0.0.0/0"), action: "bypass", priority: 7 });
    expect(spd.lookupOutbound(packet("198.18.1.1", "198.18.2.2")).policy?.name).toBe("a");
  });

  it("ports: opaque ports (later fragments) match only selectors covering every port", () => {
    const spd = new Spd();
    spd.installChildSa(child({ remoteTs: ts("198.18.2.0/24[tcp/443]") }));
    spd.installChildSa(child({ name: "all", spiIn: 2, remoteTs: ts("198.18.2.0/24") }), 2000);
    expect(spd.lookupOutbound(packet("198.18.1.11", "198.18.2.7", 6, 40000, 443))).toMatchObject({
      spiIn: 0xc0000001,
    });
    expect(spd.lookupOutbound(packet("198.18.1.11", "198.18.2.7", 6, 0, 0, false))).toMatchObject({
      spiIn: 2,
    });
  });

  it("ICMP: type/code is matched against the sender's selector only", () => {
    const keys = child({ localTs: ts("198.18.1.0/24[icmp/2048]"), remoteTs: ts("198.18.2.0/24[icmp]") });
    const spd = new Spd();
    spd.installChildSa(keys);
    const echoRequest = packet("198.18.1.11", "198.18.2.7", 1, 8, 0);
    const unreachable = packet("198.18.1.11", "198.18.2.7", 1, 3, 1);
    expect(spd.lookupOutbound(echoRequest).action).toBe("protect");
    expect(spd.lookupOutbound(unreachable).action).toBe("discard");
    // The reply comes from the remote side, whose selector allows any type.
    expect(inboundAllowed(packet("198.18.2.7", "198.18.1.11", 1, 0, 0), keys)).toBe(true);
    expect(inboundAllowed(packet("198.18.2.7", "198.18.1.11", 6, 443, 40000), keys)).toBe(false);
  });

  it("inbound: a decrypted packet must lie within its SA's selectors", () => {
    const keys = child();
    expect(inboundAllowed(packet("198.18.2.7", "198.18.1.11"), keys)).toBe(true);
    expect(inboundAllowed(packet("198.18.1.11", "198.18.2.7"), keys)).toBe(false);
    expect(inboundAllowed(packet("198.18.9.9", "198.18.1.11"), keys)).toBe(false);
    const spd = new Spd();
    spd.installChildSa(keys);
    // Cleartext that a protect policy covers must have come through ESP.
    expect(spd.lookupInbound(packet("198.18.2.7", "198.18.1.11"))?.action).toBe("protect");
    expect(spd.lookupInbound(packet("198.18.3.7", "198.18.1.11"))).toBeUndefined();
  });

  it("a rekeyed Child SA joins its policy; outbound takes the newest; removal keeps the rest", () => {
    const spd = new Spd();
    const policy = spd.installChildSa(child());
    const again = spd.installChildSa(child({ spiIn: 0xc0000002, spiOut: 0xd0000002 }));
    expect(again).toBe(policy);
    expect(policy.sas).toEqual([0xc0000001, 0xc0000002]);
    expect(spd.lookupOutbound(packet("198.18.1.11", "198.18.2.7"))).toMatchObject({ spiIn: 0xc0000002 });
    spd.removeChildSa(0xc0000001);
    expect(spd.lookupOutbound(packet("198.18.1.11", "198.18.2.7"))).toMatchObject({ spiIn: 0xc0000002 });
    spd.removeChildSa(0xc0000002);
    expect(spd.list()).toEqual([]);
  });

  it("a trap policy asks for an SA, is fulfilled by it, and stays when the SA goes", () => {
    const spd = new Spd();
    spd.add({
      name: "web",
      local: ts("198.18.1.0/24"),
      remote: ts("198.18.2.0/24"),
      action: "protect",
      priority: 1000,
    });
    const p = packet("198.18.1.11", "198.18.2.7");
    expect(spd.lookupOutbound(p).action).toBe("acquire");
    spd.installChildSa(child());
    expect(spd.list()).toHaveLength(1);
    expect(spd.lookupOutbound(p)).toMatchObject({ action: "protect", spiIn: 0xc0000001 });
    spd.removeChildSa(0xc0000001);
    expect(spd.lookupOutbound(p).action).toBe("acquire");
  });

  it("refuses selectors whose addresses do not fit their family", () => {
    const bad = { ...ts("198.18.1.0/24")[0]!, family: 6 as const };
    expect(() =>
      new Spd().add({ name: "bad", local: [bad], remote: ts("0.0.0.0/0"), action: "bypass", priority: 1 }),
    ).toThrow(/"bad"/);
  });
});

describe("security association database (RFC 4301 §4.4.2)", () => {
  it("finds SAs by inbound SPI; counts and reports unknown SPIs, once a second per SPI", () => {
    const sad = new Sad();
    const sa = sad.install(child(), { now: 0 });
    expect(sad.inbound(0xc0000001, "198.18.0.2:4500", 0)).toBe(sa);
    expect(sad.inbound(0x1234, "198.18.0.9:4500", 10)).toBeUndefined();
    expect(sad.inbound(0x1234, "198.18.0.9:4500", 500)).toBeUndefined();
    expect(sad.inbound(0x1234, "198.18.0.9:4500", 1010)).toBeUndefined();
    expect(sad.unknownSpiPackets).toBe(3);
    expect(sad.takeEvents()).toEqual([
      { type: "unknown-spi", spi: 0x1234, from: "198.18.0.9:4500" },
      { type: "unknown-spi", spi: 0x1234, from: "198.18.0.9:4500" },
    ]);
    expect(sad.takeEvents()).toEqual([]);
    expect(() => sad.install(child(), { now: 0 })).toThrow(/c0000001/);
    expect(sad.remove(0xc0000001)).toBe(true);
    expect(sad.inbound(0xc0000001, "198.18.0.2:4500", 2000)).toBeUndefined();
  });

  it("counts the inbound path: replays, integrity failures, policy drops, traffic", () => {
    const sad = new Sad();
    const sa = sad.install(child(), { now: 0 });
    const first = sad.checkReplay(sa, 1);
    if (!first.ok) throw new Error("first packet refused");
    sad.acceptInbound(sa, first, 100, 1);
    expect(sad.checkReplay(sa, 1)).toEqual({ ok: false, reason: "replayed" });
    const forged = sad.checkReplay(sa, 2);
    expect(forged.ok).toBe(true);
    sad.integrityFailed(sa);
    // The forged packet did not use up number 2.
    expect(sad.checkReplay(sa, 2).ok).toBe(true);
    sad.policyDropped(sa);
    expect(sa.counters).toEqual({
      bytesIn: 100,
      packetsIn: 1,
      bytesOut: 0,
      packetsOut: 0,
      replayDrops: 1,
      integrityFailures: 1,
      policyDrops: 1,
      expiredDrops: 0,
    });
  });

  it("gives the policy's newest live SA for outbound, with sequence numbers from 1", () => {
    const spd = new Spd();
    const sad = new Sad();
    const old = sad.install(child(), { now: 0 });
    const policy = spd.installChildSa(old.keys);
    expect(sad.outboundFor(policy)).toBe(old);
    const fresh = sad.install(child({ spiIn: 0xc0000002, spiOut: 0xd0000002 }), { now: 5 });
    spd.installChildSa(fresh.keys);
    expect(sad.outboundFor(policy)).toBe(fresh);
    expect(sad.nextOutbound(fresh, 1400, 6)).toBe(true);
    expect([fresh.sequence.high, fresh.sequence.low]).toEqual([0, 1]);
    expect(sad.nextOutbound(fresh, 1400, 6)).toBe(true);
    expect(fresh.sequence.low).toBe(2);
    expect(fresh.counters).toMatchObject({ bytesOut: 2800, packetsOut: 2 });
    sad.remove(fresh.keys.spiIn);
    expect(sad.outboundFor(policy)).toBe(old);
  });

  it("lifetime by bytes: soft, then hard, then nothing more passes", () => {
    const sad = new Sad();
    const sa = sad.install(
      child({ lifetime: { softBytes: 3000, hardBytes: 5000, softPackets: 0, hardPackets: 0 } }),
      {
        now: 0,
      },
    );
    expect(sad.nextOutbound(sa, 1500, 1)).toBe(true);
    expect(sad.takeEvents()).toEqual([]);
    expect(sad.nextOutbound(sa, 1500, 2)).toBe(true);
    expect(sad.takeEvents()).toEqual([{ type: "soft-expire", spiIn: 0xc0000001, reason: "bytes" }]);
    expect(sad.nextOutbound(sa, 1500, 3)).toBe(true);
    expect(sad.takeEvents()).toEqual([]);
    expect(sad.nextOutbound(sa, 1500, 4)).toBe(true);
    expect(sad.takeEvents()).toEqual([{ type: "hard-expire", spiIn: 0xc0000001, reason: "bytes" }]);
    expect(sad.nextOutbound(sa, 1500, 5)).toBe(false);
    expect(sad.inbound(0xc0000001, "198.18.0.2:4500", 5)).toBeUndefined();
    expect(sa.counters).toMatchObject({ packetsOut: 4, expiredDrops: 2 });
    expect(sad.takeEvents()).toEqual([]);
    expect(sad.outboundFor(new Spd().installChildSa(sa.keys))).toBeUndefined();
  });

  it("lifetime by packets, counted per direction", () => {
    const sad = new Sad();
    const sa = sad.install(
      child({ lifetime: { softBytes: 0, hardBytes: 0, softPackets: 2, hardPackets: 3 } }),
      {
        now: 0,
      },
    );
    const events: unknown[] = [];
    sad.nextOutbound(sa, 10, 1);
    for (let seq = 1; seq <= 3; seq++) {
      const v = sad.checkReplay(sa, seq);
      if (!v.ok) throw new Error("refused");
      sad.acceptInbound(sa, v, 10, seq);
      events.push(...sad.takeEvents());
    }
    expect(events).toEqual([
      { type: "soft-expire", spiIn: 0xc0000001, reason: "packets" },
      { type: "hard-expire", spiIn: 0xc0000001, reason: "packets" },
    ]);
    expect(sa.counters).toMatchObject({ packetsIn: 3, packetsOut: 1 });
  });

  it("lifetime by time: tick raises soft then hard; nextDeadline says when", () => {
    const sad = new Sad();
    const sa = sad.install(child(), { now: 1000, softExpireAt: 60_000, hardExpireAt: 66_000 });
    expect(sad.nextDeadline()).toBe(60_000);
    sad.tick(59_999);
    expect(sad.takeEvents()).toEqual([]);
    sad.tick(60_000);
    expect(sad.takeEvents()).toEqual([{ type: "soft-expire", spiIn: 0xc0000001, reason: "time" }]);
    expect(sad.nextDeadline()).toBe(66_000);
    // A packet after the hard time is refused even before the next tick.
    expect(sad.nextOutbound(sa, 100, 66_001)).toBe(false);
    expect(sad.takeEvents()).toEqual([{ type: "hard-expire", spiIn: 0xc0000001, reason: "time" }]);
    expect(sad.nextDeadline()).toBeUndefined();
    sad.tick(70_000);
    expect(sad.takeEvents()).toEqual([]);
  });

  it("a hard limit reached first raises the soft one too, soft first", () => {
    const sad = new Sad();
    sad.install(child(), { now: 0, softExpireAt: 100, hardExpireAt: 100 });
    sad.tick(200);
    expect(sad.takeEvents().map((e) => e.type)).toEqual(["soft-expire", "hard-expire"]);
  });

  it("the outbound sequence space: soft limit asks for a rekey, exhaustion ends the SA", () => {
    const sad = new Sad();
    const sa = sad.install(child(), { now: 0, sequenceSoftLimit: 0xffff_fffe });
    sa.sequence.resumeAfter(0, 0xffff_fffd);
    expect(sad.nextOutbound(sa, 1, 0)).toBe(true);
    expect(sad.takeEvents()).toEqual([{ type: "soft-expire", spiIn: 0xc0000001, reason: "sequence" }]);
    expect(sad.nextOutbound(sa, 1, 0)).toBe(true);
    expect(sa.sequence.low).toBe(0xffff_ffff);
    expect(sad.nextOutbound(sa, 1, 0)).toBe(false);
    expect(sad.takeEvents()).toEqual([{ type: "hard-expire", spiIn: 0xc0000001, reason: "sequence" }]);
  });

  it("an SA with ESN gets an ESN window and counter", () => {
    const sad = new Sad();
    const sa = sad.install(child({ esn: true, replayWindow: 1024 }), { now: 0 });
    expect(sa.replay.esn).toBe(true);
    expect(sa.replay.size).toBe(1024);
    expect(sa.sequence.esn).toBe(true);
  });
});
