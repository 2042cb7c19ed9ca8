import { createCipheriv } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { EncrId, IntegId } from "../../src/ike/crypto/transforms.js";
import { EspError } from "../../src/esp/core/esp-errors.js";
import { NextHeader, parseEspHeader } from "../../src/esp/core/esp-packet.js";
import {
  createEspTransform,
  espTransformForChildSa,
  splitSequenceNumber,
  type EspTransform,
  type EspTransformKeys,
} from "../../src/esp/core/esp-transform.js";
import { seededRandom } from "../support/seeded-random.js";

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, "hex"));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
function vectors<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./vectors/${name}`, import.meta.url), "utf8")) as T;
}

interface McGrewCase {
  name: string;
  keyBits: number;
  encKey: string;
  spi: string;
  esn: boolean;
  seqHigh: string;
  seqLow: string;
  iv: string;
  payload: string;
  nextHeader: number;
  padLength: number;
  packet: string;
}
const mcgrew = vectors<{ cases: McGrewCase[]; skipped: { cases: string[] } }>(
  "draft-mcgrew-gcm-test-01-esp.json",
);
const rfc7634 = vectors<{
  encKey: string;
  spi: string;
  seq: number;
  iv: string;
  payload: string;
  nextHeader: number;
  packet: string;
}>("rfc7634-esp-example.json");
const rfc3602 = vectors<{
  cases: {
    case: string;
    key: string;
    spi: string;
    seq: number;
    iv: string;
    payload: string;
    nextHeader: number;
    packetWithoutIcv: string;
  }[];
}>("rfc3602-aes-cbc-esp.json");

/** A deterministic key of `length` bytes (a different one per `tag`). */
function fakeKey(length: number, tag: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + tag * 31 + 1) & 0xff);
}

interface Suite {
  name: string;
  keys: (esn: boolean) => EspTransformKeys;
}
const SUITES: Suite[] = [
  ...[128, 256].map((bits) => ({
    name: `aes${bits}gcm16`,
    keys: (esn: boolean) => ({
      encr: { id: EncrId.AES_GCM_16, keyLength: bits },
      integ: undefined,
      esn,
      encKey: fakeKey(bits / 8 + 4, bits),
    }),
  })),
  {
    name: "chacha20poly1305",
    keys: (esn: boolean) => ({
      encr: { id: EncrId.CHACHA20_POLY1305, keyLength: undefined },
      integ: undefined,
      esn,
      encKey: fakeKey(36, 3),
    }),
  },
  ...[128, 256].flatMap((bits) =>
    (
      [
        [IntegId.HMAC_SHA2_256_128, 32, "sha256"],
        [IntegId.HMAC_SHA2_384_192, 48, "sha384"],
        [IntegId.HMAC_SHA2_512_256, 64, "sha512"],
      ] as const
    ).map(([integ, macKeyLength, label]) => ({
      name: `aes${bits}-${label}`,
      keys: (esn: boolean) => ({
        encr: { id: EncrId.AES_CBC, keyLength: bits },
        integ,
        esn,
        encKey: fakeKey(bits / 8, 5),
        integKey: fakeKey(macKeyLength, 6),
      }),
    })),
  ),
];

/** A syntactically valid IPv4 packet of `total` bytes (only the header length fields matter here). */
function ipv4Packet(total: number, fill = 0xab): Uint8Array {
  const packet = new Uint8Array(total).fill(fill);
  packet[0] = 0x45;
  packet[2] = total >>> 8;
  packet[3] = total & 0xff;
  return packet;
}

function ivFor(transform: EspTransform, n: number): Uint8Array {
  return Uint8Array.from({ length: transform.ivLength }, (_, i) => (n * 13 + i) & 0xff);
}

describe("ESP packet header (RFC 4303 §2)", () => {
  it("reads SPI and sequence number without keys", () => {
    expect(parseEspHeader(hex(rfc7634.packet))).toEqual({ ok: true, spi: 0x01020304, seq: 5 });
    expect(parseEspHeader(hex("ffffffff80000001"))).toEqual({ ok: true, spi: 0xffffffff, seq: 0x80000001 });
  });
  it("refuses short packets and SPI 0", () => {
    expect(parseEspHeader(hex("01020304000000"))).toEqual({ ok: false, reason: "truncated" });
    expect(parseEspHeader(new Uint8Array(0))).toEqual({ ok: false, reason: "truncated" });
    expect(parseEspHeader(hex("0000000000000001"))).toEqual({ ok: false, reason: "reserved-spi" });
  });
  it("names the next header values", () => {
    expect(NextHeader).toEqual({ IPV4: 4, IPV6: 41, NONE: 59 });
  });
});

describe("draft-mcgrew-gcm-test-01 AES-GCM ESP packets (RFC 4106)", () => {
  it("uses 13 of the 14 vectors; the one AES-192 vector is skipped", () => {
    expect(mcgrew.cases).toHaveLength(13);
    expect(mcgrew.skipped.cases).toEqual(["draft-mcgrew-gcm-test-01 ESP vector 7"]);
  });
  for (const v of mcgrew.cases) {
    const keys: EspTransformKeys = {
      encr: { id: EncrId.AES_GCM_16, keyLength: v.keyBits },
      integ: undefined,
      esn: v.esn,
      encKey: hex(v.encKey),
    };
    const high = parseInt(v.seqHigh, 16);
    const low = parseInt(v.seqLow, 16);
    it(`${v.name}: seal gives the published packet`, () => {
      const transform = createEspTransform(keys);
      if (parseInt(v.spi, 16) === 0) {
        // Vector 4 uses SPI 0, which is never sent (RFC 4303 §2.1): seal refuses it, open is checked below.
        expect(v.name).toBe("draft-mcgrew-gcm-test-01 ESP vector 4");
        expect(() =>
          transform.seal({ spi: 0, seq: low, iv: hex(v.iv), payload: hex(v.payload), nextHeader: 1 }),
        ).toThrow(/spi/);
        return;
      }
      const packet = transform.seal({
        spi: parseInt(v.spi, 16),
        seq: { high, low },
        iv: hex(v.iv),
        payload: hex(v.payload),
        nextHeader: v.nextHeader,
      });
      expect(toHex(packet)).toBe(v.packet);
    });
    it(`${v.name}: open gives the payload back`, () => {
      const result = createEspTransform(keys).open(hex(v.packet), high);
      expect(result).toMatchObject({ ok: true, spi: parseInt(v.spi, 16), seqLow: low, seqHigh: high });
      if (!result.ok) return;
      expect(result.seq).toBe((BigInt(high) << 32n) | BigInt(low));
      expect(result.nextHeader).toBe(v.nextHeader);
      expect(toHex(result.payload)).toBe(v.payload);
      if (v.esn)
        expect(createEspTransform(keys).open(hex(v.packet), high ^ 1)).toEqual({
          ok: false,
          reason: "integrity",
        });
    });
  }
});

describe("RFC 7634 Appendix A: ChaCha20-Poly1305 ESP example", () => {
  const keys: EspTransformKeys = {
    encr: { id: EncrId.CHACHA20_POLY1305, keyLength: undefined },
    integ: undefined,
    esn: false,
    encKey: hex(rfc7634.encKey),
  };
  it("seal gives the published packet", () => {
    const packet = createEspTransform(keys).seal({
      spi: 0x01020304,
      seq: rfc7634.seq,
      iv: hex(rfc7634.iv),
      payload: hex(rfc7634.payload),
      nextHeader: rfc7634.nextHeader,
    });
    expect(toHex(packet)).toBe(rfc7634.packet);
  });
  it("open gives the inner IPv4 packet back", () => {
    const result = createEspTransform(keys).open(hex(rfc7634.packet));
    expect(result).toMatchObject({ ok: true, seq: 5n, nextHeader: 4, dummy: false });
    if (result.ok) expect(toHex(result.payload)).toBe(rfc7634.payload);
  });
});

describe("RFC 3602 §4 cases 5-8, adapted: AES-128-CBC ESP with HMAC-SHA2-256-128 added", () => {
  for (const v of rfc3602.cases) {
    const keys: EspTransformKeys = {
      encr: { id: EncrId.AES_CBC, keyLength: 128 },
      integ: IntegId.HMAC_SHA2_256_128,
      esn: false,
      encKey: hex(v.key),
      integKey: fakeKey(32, 9),
    };
    it(`${v.case}: header, IV and ciphertext are the published ones; open reverses`, () => {
      const transform = createEspTransform(keys);
      const packet = transform.seal({
        spi: parseInt(v.spi, 16),
        seq: v.seq,
        iv: hex(v.iv),
        payload: hex(v.payload),
        nextHeader: v.nextHeader,
      });
      expect(toHex(packet.subarray(0, packet.length - 16))).toBe(v.packetWithoutIcv);
      const result = transform.open(packet);
      expect(result).toMatchObject({ ok: true, seqLow: v.seq, nextHeader: v.nextHeader });
      if (result.ok) expect(toHex(result.payload)).toBe(v.payload);
    });
  }
});

describe("round trips, every suite, with and without ESN", () => {
  for (const suite of SUITES) {
    for (const esn of [false, true]) {
      it(`${suite.name}${esn ? " esn" : ""}`, () => {
        const sender = createEspTransform(suite.keys(esn));
        const receiver = createEspTransform(suite.keys(esn));
        const seqs: bigint[] = esn ? [1n, 0xffffffffn, 0x100000000n, 0x1234567800000009n] : [1n, 0xffffffffn];
        let n = 0;
        for (const seq of seqs) {
          for (const length of [0, 1, 2, 3, 15, 16, 17, 20, 64, 1400]) {
            const payload = length >= 20 ? ipv4Packet(length, n) : new Uint8Array(length).fill(n);
            const nextHeader = length >= 20 ? NextHeader.IPV4 : 17;
            const packet = sender.seal({ spi: 0xc0ffee01, seq, iv: ivFor(sender, n++), payload, nextHeader });
            expect(packet.length).toBe(sender.sealedLength(length));
            expect((packet.length - 8 - sender.ivLength - sender.icvLength) % sender.alignment).toBe(0);
            expect(parseEspHeader(packet)).toEqual({
              ok: true,
              spi: 0xc0ffee01,
              seq: Number(seq & 0xffffffffn),
            });
            const result = receiver.open(packet, Number(seq >> 32n));
            expect(result).toMatchObject({ ok: true, seq, nextHeader, dummy: false });
            if (result.ok) expect(result.payload).toEqual(payload);
          }
        }
      });
    }
  }

  it("ESN: the high half is authenticated though not sent (RFC 4303 §2.2.1)", () => {
    for (const suite of SUITES) {
      const transform = createEspTransform(suite.keys(true));
      const packet = transform.seal({
        spi: 0x1000,
        seq: 0x500000007n,
        iv: ivFor(transform, 1),
        payload: ipv4Packet(40),
        nextHeader: 4,
      });
      expect(packet.length).toBe(transform.sealedLength(40));
      expect(transform.open(packet, 5).ok).toBe(true);
      expect(transform.open(packet, 4)).toEqual({ ok: false, reason: "integrity" });
      expect(transform.open(packet)).toEqual({ ok: false, reason: "integrity" });
    }
  });

  it("without ESN, seqHigh is ignored and a 33-bit sequence number is refused", () => {
    const transform = createEspTransform(SUITES[0]!.keys(false));
    const packet = transform.seal({
      spi: 0x1000,
      seq: 7,
      iv: ivFor(transform, 1),
      payload: ipv4Packet(20),
      nextHeader: 4,
    });
    expect(transform.open(packet, 99)).toMatchObject({ ok: true, seq: 7n, seqHigh: 0 });
    expect(() =>
      transform.seal({
        spi: 0x1000,
        seq: 0x100000000n,
        iv: ivFor(transform, 1),
        payload: ipv4Packet(20),
        nextHeader: 4,
      }),
    ).toThrow(EspError);
  });

  it("transforms from ChildSaKeys: our outbound opens with the peer's inbound", () => {
    const ours = {
      encr: { id: EncrId.AES_GCM_16, keyLength: 128 },
      integ: undefined,
      esn: false,
      keyIn: { encKey: fakeKey(20, 1), integKey: new Uint8Array(0) },
      keyOut: { encKey: fakeKey(20, 2), integKey: new Uint8Array(0) },
    };
    const theirs = { ...ours, keyIn: ours.keyOut, keyOut: ours.keyIn };
    const out = espTransformForChildSa(ours, "outbound");
    const packet = out.seal({
      spi: 0x2000,
      seq: 1,
      iv: ivFor(out, 0),
      payload: ipv4Packet(60),
      nextHeader: 4,
    });
    expect(espTransformForChildSa(theirs, "inbound").open(packet).ok).toBe(true);
    expect(espTransformForChildSa(ours, "inbound").open(packet)).toEqual({ ok: false, reason: "integrity" });
  });
});

describe("padding (RFC 4303 §2.4)", () => {
  it("is minimal, 1, 2, 3, …, and padTo pads further", () => {
    const keys: EspTransformKeys = {
      encr: { id: EncrId.AES_CBC, keyLength: 128 },
      integ: IntegId.HMAC_SHA2_256_128,
      esn: false,
      encKey: fakeKey(16, 1),
      integKey: fakeKey(32, 2),
    };
    const transform = createEspTransform(keys);
    for (const [length, padTo, expectedPad] of [
      [14, undefined, 0],
      [13, undefined, 1],
      [1, undefined, 13],
      [0, undefined, 14],
      [14, 64, 48],
      [0, 256, 254],
    ] as const) {
      const packet = transform.seal({
        spi: 0x3000,
        seq: 1,
        iv: ivFor(transform, 0),
        payload: new Uint8Array(length),
        nextHeader: 6,
        padTo,
      });
      expect(packet.length).toBe(8 + 16 + length + expectedPad + 2 + 16);
      const result = transform.open(packet);
      expect(result).toMatchObject({ ok: true, nextHeader: 6 });
      if (result.ok) expect(result.payload.length).toBe(length);
    }
    expect(() =>
      transform.seal({
        spi: 0x3000,
        seq: 1,
        iv: ivFor(transform, 0),
        payload: new Uint8Array(0),
        nextHeader: 6,
        padTo: 20,
      }),
    ).toThrow(/padTo/);
    expect(() =>
      transform.seal({
        spi: 0x3000,
        seq: 1,
        iv: ivFor(transform, 0),
        payload: new Uint8Array(0),
        nextHeader: 6,
        padTo: 512,
      }),
    ).toThrow(/255/);
  });

  it("AEAD pads to 4 bytes with 1, 2, 3 (RFC 7634 example's trailer 01 02 02 04)", () => {
    const transform = createEspTransform(SUITES[2]!.keys(false));
    for (let length = 0; length < 8; length++) {
      expect(transform.sealedLength(length)).toBe(8 + 8 + length + ((4 - ((length + 2) % 4)) % 4) + 2 + 16);
    }
  });

  /** An authentic AES-128-GCM packet whose plaintext (payload | padding | pad length | NH) is chosen freely. */
  function sealRaw(keys: EspTransformKeys, plaintext: Uint8Array): Uint8Array {
    const key = keys.encKey.subarray(0, keys.encKey.length - 4);
    const iv = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const nonce = new Uint8Array(12);
    nonce.set(keys.encKey.subarray(keys.encKey.length - 4));
    nonce.set(iv, 4);
    const header = hex("0000300000000001");
    const cipher = createCipheriv("aes-128-gcm", key, nonce, { authTagLength: 16 });
    cipher.setAAD(header);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Uint8Array.from(Buffer.concat([header, iv, ciphertext, cipher.getAuthTag()]));
  }

  it("open insists on pad bytes 1, 2, 3, … and a pad length inside the plaintext", () => {
    const keys = SUITES[0]!.keys(false);
    const transform = createEspTransform(keys);
    // payload aabb, pad 01 02, pad length 2, next header 6
    expect(transform.open(sealRaw(keys, hex("aabb01020206")))).toMatchObject({ ok: true, nextHeader: 6 });
    expect(transform.open(sealRaw(keys, hex("aabb01030206")))).toEqual({ ok: false, reason: "padding" });
    expect(transform.open(sealRaw(keys, hex("aabb00000206")))).toEqual({ ok: false, reason: "padding" });
    expect(transform.open(sealRaw(keys, hex("aabb01020506")))).toEqual({ ok: false, reason: "padding" });
    expect(transform.open(sealRaw(keys, hex("0206")))).toMatchObject({ ok: false, reason: "padding" });
    expect(transform.open(sealRaw(keys, hex("0006")))).toMatchObject({ ok: true, nextHeader: 6 });
  });
});

describe("TFC padding (§2.7) and dummy packets (§2.6)", () => {
  for (const suite of SUITES) {
    it(`${suite.name}: TFC zeros are stripped by the inner IP length`, () => {
      const transform = createEspTransform(suite.keys(false));
      const inner = ipv4Packet(100, 7);
      const packet = transform.seal({
        spi: 0x4000,
        seq: 3,
        iv: ivFor(transform, 3),
        payload: inner,
        nextHeader: 4,
        tfcPadding: 300,
      });
      expect(packet.length).toBe(transform.sealedLength(100, undefined, 300));
      const result = transform.open(packet);
      expect(result).toMatchObject({ ok: true, nextHeader: 4, dummy: false });
      if (result.ok) expect(result.payload).toEqual(inner);

      const v6 = new Uint8Array(60).fill(9);
      v6[0] = 0x60;
      v6[4] = 0;
      v6[5] = 20;
      const sealed6 = transform.seal({
        spi: 0x4000,
        seq: 4,
        iv: ivFor(transform, 4),
        payload: v6,
        nextHeader: 41,
        tfcPadding: 33,
      });
      const result6 = transform.open(sealed6);
      expect(result6).toMatchObject({ ok: true, nextHeader: 41 });
      if (result6.ok) expect(result6.payload).toEqual(v6);
    });
    it(`${suite.name}: next header 59 is reported as a dummy`, () => {
      const transform = createEspTransform(suite.keys(false));
      const packet = transform.seal({
        spi: 0x4000,
        seq: 9,
        iv: ivFor(transform, 9),
        payload: new Uint8Array(0),
        nextHeader: 59,
        tfcPadding: 64,
      });
      expect(transform.open(packet)).toMatchObject({ ok: true, seq: 9n, nextHeader: 59, dummy: true });
    });
  }

  it("an inner IP header longer than what was sent is refused", () => {
    const transform = createEspTransform(SUITES[0]!.keys(false));
    const lying = ipv4Packet(40);
    lying[3] = 41;
    const packet = transform.seal({
      spi: 0x4000,
      seq: 1,
      iv: ivFor(transform, 1),
      payload: lying,
      nextHeader: 4,
    });
    expect(transform.open(packet)).toEqual({ ok: false, reason: "inner-length" });
    const short = transform.seal({
      spi: 0x4000,
      seq: 1,
      iv: ivFor(transform, 1),
      payload: new Uint8Array(10),
      nextHeader: 4,
    });
    expect(transform.open(short)).toEqual({ ok: false, reason: "inner-length" });
  });
});

describe("hostile packets: tampering, truncation, never a throw", () => {
  for (const suite of SUITES) {
    for (const esn of [false, true]) {
      it(`${suite.name}${esn ? " esn" : ""}: every altered byte fails integrity`, () => {
        const transform = createEspTransform(suite.keys(esn));
        const packet = transform.seal({
          spi: 0x5000,
          seq: esn ? 0x300000011n : 0x11,
          iv: ivFor(transform, 5),
          payload: ipv4Packet(48),
          nextHeader: 4,
        });
        for (let i = 0; i < packet.length; i++) {
          const altered = packet.slice();
          altered[i]! ^= 0x01 << (i % 8);
          expect(transform.open(altered, 3)).toEqual({ ok: false, reason: "integrity" });
        }
      });
    }
  }

  it("truncations give truncated, misaligned or integrity", () => {
    for (const suite of SUITES) {
      const transform = createEspTransform(suite.keys(false));
      const packet = transform.seal({
        spi: 0x5000,
        seq: 1,
        iv: ivFor(transform, 5),
        payload: ipv4Packet(48),
        nextHeader: 4,
      });
      for (let length = 0; length < packet.length; length++) {
        const result = transform.open(packet.subarray(0, length));
        expect(result.ok).toBe(false);
        if (!result.ok) expect(["truncated", "misaligned", "integrity"]).toContain(result.reason);
        if (length < 8 + transform.ivLength + 2 + transform.icvLength)
          expect(result).toEqual({ ok: false, reason: "truncated" });
      }
    }
  });

  it("a seeded mutation loop never throws (seed 4303)", () => {
    const random = seededRandom(4303);
    for (const suite of SUITES) {
      for (const esn of [false, true]) {
        const transform = createEspTransform(suite.keys(esn));
        const packet = transform.seal({
          spi: 0x5000,
          seq: 77,
          iv: ivFor(transform, 7),
          payload: ipv4Packet(90),
          nextHeader: 4,
        });
        for (let round = 0; round < 150; round++) {
          let mutated: Uint8Array = packet.slice();
          const edits = 1 + Math.floor(random() * 4);
          for (let e = 0; e < edits; e++) {
            const choice = random();
            if (choice < 0.5) mutated[Math.floor(random() * mutated.length)] = Math.floor(random() * 256);
            else if (choice < 0.75) mutated = mutated.subarray(0, Math.floor(random() * mutated.length));
            else
              mutated = Uint8Array.from([
                ...mutated,
                ...Array.from({ length: Math.floor(random() * 20) }, () => Math.floor(random() * 256)),
              ]);
          }
          const result = transform.open(mutated, Math.floor(random() * 4));
          if (result.ok) {
            // Only the unmodified packet (possibly re-created by chance) may pass.
            expect(toHex(mutated)).toBe(toHex(packet));
          }
        }
      }
    }
  });
});

describe("caller mistakes throw ESP_BAD_ARGUMENT", () => {
  it("keys of the wrong length, integrity with AEAD, missing integrity with CBC", () => {
    expect(() => createEspTransform({ ...SUITES[0]!.keys(false), encKey: new Uint8Array(16) })).toThrow(
      /encKey/,
    );
    expect(() => createEspTransform({ ...SUITES[0]!.keys(false), integ: IntegId.HMAC_SHA2_256_128 })).toThrow(
      /integ/,
    );
    expect(() => createEspTransform({ ...SUITES[3]!.keys(false), integ: undefined })).toThrow(/integ/);
    expect(() => createEspTransform({ ...SUITES[3]!.keys(false), integKey: new Uint8Array(31) })).toThrow(
      /integKey/,
    );
    expect(() => createEspTransform({ ...SUITES[0]!.keys(false), encr: { id: 3, keyLength: 128 } })).toThrow(
      /not implemented/,
    );
  });
  it("bad seal arguments", () => {
    const transform = createEspTransform(SUITES[0]!.keys(false));
    const base = { spi: 1000, seq: 1, iv: ivFor(transform, 0), payload: new Uint8Array(4), nextHeader: 6 };
    expect(() => transform.seal({ ...base, spi: 0 })).toThrow(/spi/);
    expect(() => transform.seal({ ...base, iv: new Uint8Array(16) })).toThrow(/iv/);
    expect(() => transform.seal({ ...base, nextHeader: 256 })).toThrow(/nextHeader/);
    expect(() => transform.seal({ ...base, tfcPadding: -1 })).toThrow(/tfcPadding/);
    expect(() => transform.seal({ ...base, seq: -1 })).toThrow(/seq/);
    try {
      transform.seal({ ...base, spi: 0 });
    } catch (error) {
      expect((error as EspError).code).toBe("ESP_BAD_ARGUMENT");
    }
  });
  it("splits sequence numbers given three ways", () => {
    expect(splitSequenceNumber(0x123456789n)).toEqual([1, 0x23456789]);
    expect(splitSequenceNumber(0x123456789)).toEqual([1, 0x23456789]);
    expect(splitSequenceNumber({ high: 1, low: 0x23456789 })).toEqual([1, 0x23456789]);
    expect(() => splitSequenceNumber(1n << 64n)).toThrow(/seq/);
    expect(() => splitSequenceNumber({ high: 1, low: 2 ** 32 })).toThrow(/seq/);
  });
});
