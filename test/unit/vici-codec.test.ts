import { describe, expect, it } from "vitest";
import { seededRandom } from "../support/seeded-random.js";
import {
  VICI_MAX_PACKET,
  ViciFrameSplitter,
  decodeMessage,
  decodePacket,
  encodeMessage,
  encodePacket,
  type ViciPacket,
  type ViciSection,
} from "../../src/lab/strongswan/vici-codec.js";

/** Builds bytes by hand from the protocol description: numbers are bytes, strings ASCII. */
function bytes(...parts: (number | string)[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === "number" ? Buffer.of(p) : Buffer.from(p, "ascii"))));
}

// The encoding example of strongSwan's vici README, element by element.
const README_MESSAGE: ViciSection = {
  key1: "value1",
  section1: {
    "sub-section": { key2: "value2" },
    list1: ["item1", "item2"],
  },
};
// prettier-ignore
const README_BYTES = bytes(
  3, 4, "key1", 0, 6, "value1", //             KEY_VALUE key1 = value1
  1, 8, "section1", //                          SECTION_START section1
  1, 11, "sub-section", //                      SECTION_START sub-section
  3, 4, "key2", 0, 6, "value2", //             KEY_VALUE key2 = value2
  2, //                                         SECTION_END
  4, 5, "list1", //                             LIST_START list1
  5, 0, 5, "item1", //                          LIST_ITEM
  5, 0, 5, "item2", //                          LIST_ITEM
  6, //                                         LIST_END
  2, //                                         SECTION_END
);

/** Strips the 4-byte length of an encoded packet, as the frame splitter does. */
function body(packet: Buffer): Buffer {
  return packet.subarray(4);
}

describe("VICI messages", () => {
  it("encodes the README example to the exact bytes", () => {
    expect(encodeMessage(README_MESSAGE).equals(README_BYTES)).toBe(true);
  });

  it("decodes the README example", () => {
    expect(decodeMessage(README_BYTES)).toEqual({ ok: true, value: README_MESSAGE });
  });

  it("round-trips empty sections and lists, empty and UTF-8 values, limit-sized keys and values", () => {
    const message: ViciSection = {
      "": "",
      empty: {},
      none: [],
      unicode: "Grüße ✓",
      ["k".repeat(255)]: "v".repeat(0xffff),
      nested: { deeper: { deepest: { list: ["", "x"] } } },
    };
    expect(decodeMessage(encodeMessage(message))).toEqual({ ok: true, value: message });
  });

  it("keeps a key named __proto__ as data instead of changing the prototype", () => {
    const decoded = decodeMessage(bytes(1, 9, "__proto__", 3, 1, "x", 0, 1, "y", 2));
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(Object.getPrototypeOf(decoded.value)).toBe(Object.prototype);
    expect(Object.keys(decoded.value)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it("refuses to encode what the format cannot carry", () => {
    expect(() => encodeMessage({ ["k".repeat(256)]: "v" })).toThrow(/key/);
    expect(() => encodeMessage({ k: "v".repeat(0x10000) })).toThrow(/65535/);
    expect(() => encodeMessage({ k: 1 as unknown as string })).toThrow(/number/);
    expect(() => encodeMessage({ k: [1] as unknown as string[] })).toThrow(/list/);
  });

  it.each([
    ["a key-value cut inside its value", bytes(3, 4, "key1", 0, 6, "val")],
    ["a key-value cut before its value length", bytes(3, 4, "key1", 0)],
    ["a key longer than the rest", bytes(3, 9, "key")],
    ["a section that is never closed", bytes(1, 1, "s", 3, 1, "k", 0, 1, "v")],
    ["a list that is never closed", bytes(4, 1, "l", 5, 0, 1, "a")],
    ["SECTION_END at the top level", bytes(3, 1, "k", 0, 1, "v", 2)],
    ["LIST_ITEM outside a list", bytes(5, 0, 1, "a")],
    ["LIST_END outside a list", bytes(6)],
    ["a section start inside a list", bytes(4, 1, "l", 1, 1, "s", 2, 6)],
    ["an unknown element type", bytes(9)],
    ["element type 0", bytes(0)],
  ])("reports %s as an error", (_name, input) => {
    const result = decodeMessage(input);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error).not.toBe("");
      expect(result.offset).toBeGreaterThanOrEqual(0);
      expect(result.offset).toBeLessThanOrEqual(input.length);
    }
  });
});

describe("VICI packets", () => {
  it("encodes a command request to the exact bytes", () => {
    const encoded = encodePacket({ type: "cmd-request", command: "list-sas", message: { noblock: "yes" } });
    // type(1) + name length(1) + "list-sas"(8) + KEY_VALUE(1) + key length(1) + "noblock"(7)
    // + value length(2) + "yes"(3) = 24
    const expected = bytes(0, 0, 0, 24, 0, 8, "list-sas", 3, 7, "noblock", 0, 3, "yes");
    expect(encoded.equals(expected)).toBe(true);
  });

  it("encodes event registration and unnamed packets to the exact bytes", () => {
    expect(
      encodePacket({ type: "event-register", event: "list-sa" }).equals(bytes(0, 0, 0, 9, 3, 7, "list-sa")),
    ).toBe(true);
    expect(encodePacket({ type: "event-confirm" }).equals(bytes(0, 0, 0, 1, 5))).toBe(true);
    expect(encodePacket({ type: "cmd-response", message: {} }).equals(bytes(0, 0, 0, 1, 1))).toBe(true);
  });

  const every: ViciPacket[] = [
    { type: "cmd-request", command: "version", message: {} },
    { type: "cmd-request", command: "initiate", message: { child: "t", timeout: "5000" } },
    { type: "cmd-response", message: README_MESSAGE },
    { type: "cmd-unknown" },
    { type: "event-register", event: "list-sa" },
    { type: "event-unregister", event: "list-sa" },
    { type: "event-confirm" },
    { type: "event-unknown" },
    { type: "event", event: "list-sa", message: { t: { state: "ESTABLISHED", "child-sas": {} } } },
  ];

  it.each(every.map((p) => [p.type, p] as const))("round-trips %s", (_type, packet) => {
    expect(decodePacket(body(encodePacket(packet)))).toEqual({ ok: true, value: packet });
  });

  it.each([
    ["an empty packet", bytes()],
    ["an unknown packet type", bytes(8)],
    ["a command without its name", bytes(0, 5, "ver")],
    ["stray bytes after a confirmation", bytes(5, 1)],
    ["stray bytes after CMD_UNKNOWN", bytes(2, 3, 1, "k", 0, 1, "v")],
    ["an event with a broken message", bytes(7, 1, "e", 1, 1, "s")],
  ])("reports %s as an error", (_name, input) => {
    expect(decodePacket(input).ok).toBe(false);
  });

  it("never throws on any prefix of a valid packet", () => {
    const full = body(encodePacket({ type: "event", event: "list-sa", message: README_MESSAGE }));
    for (let n = 0; n < full.length; n++) {
      expect(() => decodePacket(full.subarray(0, n))).not.toThrow();
    }
    // Cut inside the name or inside an element, the result is an error.
    expect(decodePacket(full.subarray(0, 5)).ok).toBe(false);
    expect(decodePacket(full.subarray(0, full.length - 1)).ok).toBe(false);
  });
});

describe("ViciFrameSplitter", () => {
  const a = encodePacket({ type: "cmd-response", message: README_MESSAGE });
  const b = encodePacket({ type: "event-confirm" });

  it("yields packets fed one byte at a time", () => {
    const splitter = new ViciFrameSplitter();
    const stream = Buffer.concat([a, b]);
    const out: Buffer[] = [];
    for (const byte of stream) {
      const result = splitter.push(Buffer.of(byte));
      expect(result.ok).toBe(true);
      if (result.ok) out.push(...result.packets);
    }
    expect(out.map((p) => p.toString("hex"))).toEqual([body(a).toString("hex"), body(b).toString("hex")]);
    expect(splitter.buffered).toBe(0);
  });

  it("yields several packets from one chunk and keeps a partial one for later", () => {
    const splitter = new ViciFrameSplitter();
    const first = splitter.push(Buffer.concat([a, b, a.subarray(0, 7)]));
    expect(first).toEqual({ ok: true, packets: [body(a), body(b)] });
    expect(splitter.buffered).toBe(7);
    expect(splitter.push(a.subarray(7))).toEqual({ ok: true, packets: [body(a)] });
  });

  it("yields an empty body for a zero-length packet, which decodes to an error", () => {
    const result = new ViciFrameSplitter().push(bytes(0, 0, 0, 0));
    expect(result).toEqual({ ok: true, packets: [Buffer.alloc(0)] });
    expect(decodePacket(Buffer.alloc(0)).ok).toBe(false);
  });

  it("fails for good on a length beyond charon's limit", () => {
    const splitter = new ViciFrameSplitter();
    const tooLong = Buffer.alloc(4);
    tooLong.writeUInt32BE(VICI_MAX_PACKET + 1);
    expect(splitter.push(tooLong).ok).toBe(false);
    expect(splitter.push(b).ok).toBe(false);
  });
});

describe("fuzz: mutated packets never make the decoder throw", () => {
  it("survives 20 000 random mutations, and what decodes re-encodes", () => {
    const next = seededRandom(0x5eed);
    const int = (n: number): number => Math.floor(next() * n);
    const seeds = [
      body(encodePacket({ type: "event", event: "list-sa", message: README_MESSAGE })),
      body(encodePacket({ type: "cmd-request", command: "initiate", message: { child: "t", timeout: "1" } })),
      body(encodePacket({ type: "event-register", event: "ike-updown" })),
    ];
    let decodedOk = 0;
    for (let i = 0; i < 20_000; i++) {
      const input = Buffer.from(seeds[int(seeds.length)] ?? Buffer.alloc(0));
      let mutated: Buffer = input;
      for (let m = 1 + int(3); m > 0; m--) {
        const choice = int(4);
        const at = int(mutated.length + 1);
        if (choice === 0 && mutated.length > 0) mutated[at % mutated.length] = int(256);
        else if (choice === 1) mutated = mutated.subarray(0, at);
        else if (choice === 2)
          mutated = Buffer.concat([mutated.subarray(0, at), Buffer.of(int(8)), mutated.subarray(at)]);
        else mutated = Buffer.concat([mutated.subarray(0, at), mutated.subarray(at + 1 + int(4))]);
      }
      const result = decodePacket(mutated);
      if (result.ok) {
        decodedOk++;
        // Whatever the decoder accepts, the encoder can write and the decoder reads back alike.
        expect(decodePacket(body(encodePacket(result.value)))).toEqual(result);
      }
      const split = new ViciFrameSplitter().push(mutated);
      expect(typeof split.ok).toBe("boolean");
    }
    // Some mutations keep the packet valid (a changed value byte); most break it.
    expect(decodedOk).toBeGreaterThan(0);
    expect(decodedOk).toBeLessThan(20_000);
  });
});
