import { describe, expect, it } from "vitest";
import { ExchangeType } from "../../src/ike/codec/header.js";
import { decodeMessage } from "../../src/ike/codec/message.js";
import type { IkeEvent } from "../../src/ike/core/events.js";
import { IkePair, PATH_A_TO_B, pskConfig } from "../support/ike-pair.js";

function exchangeOf(message: Uint8Array): number | undefined {
  const decoded = decodeMessage(message);
  return decoded.ok ? decoded.value.header.exchangeType : undefined;
}

function childSpis(events: IkeEvent[]): { up: number[]; down: number[] } {
  return {
    up: events.flatMap((e) => (e.type === "child-up" ? [e.child.spiIn] : [])),
    down: events.flatMap((e) => (e.type === "child-down" ? [e.spiIn] : [])),
  };
}

function established(pair: IkePair): void {
  pair.a.initiate(pair.now, "test", PATH_A_TO_B);
  pair.drive();
}

describe("CREATE_CHILD_SA: Child SA rekey (RFC 7296 §1.3.3, §2.8)", () => {
  it.each([
    ["a", "without PFS", "aes128gcm16"],
    ["b", "without PFS", "aes128gcm16"],
    ["a", "with PFS (x25519)", "aes128gcm16-x25519"],
    ["b", "with PFS (modp2048)", "aes256-sha256-modp2048"],
  ] as const)("started by %s %s: new SPIs and keys on both sides, the old SA deleted", (side, _what, esp) => {
    const pair = new IkePair(pskConfig("a", { esp }), pskConfig("b", { esp }));
    established(pair);
    const endpoint = side === "a" ? pair.a : pair.b;
    const sa = endpoint.ikeSas()[0]!;
    const old = sa.childSas()[0]!;
    endpoint.rekey(pair.now, sa, old.spiIn);
    pair.drive();
    const [a] = pair.a.ikeSas()[0]!.childSas();
    const [b] = pair.b.ikeSas()[0]!.childSas();
    expect(pair.a.ikeSas()[0]!.childSas()).toHaveLength(1);
    expect(pair.b.ikeSas()[0]!.childSas()).toHaveLength(1);
    expect(a!.spiOut).toBe(b!.spiIn);
    expect(b!.spiOut).toBe(a!.spiIn);
    expect([a!.spiIn, a!.spiOut]).not.toContain(old.spiIn);
    expect(Buffer.from(a!.keyOut.encKey)).toEqual(Buffer.from(b!.keyIn.encKey));
    expect(Buffer.from(a!.keyOut.encKey)).not.toEqual(Buffer.from(old.keyOut.encKey));
    const kinds = pair.wire.map((w) => exchangeOf(w.message));
    expect(kinds.filter((k) => k === ExchangeType.CREATE_CHILD_SA)).toHaveLength(2);
    expect(kinds.filter((k) => k === ExchangeType.INFORMATIONAL)).toHaveLength(2); // the delete of the old SA
    for (const events of [pair.eventsA, pair.eventsB]) {
      const spis = childSpis(events);
      expect(spis.up).toHaveLength(2);
      expect(spis.down).toHaveLength(1);
    }
  });

  it("a simultaneous rekey from both sides is answered as usual; the redundant SA goes by nonces (§2.8.1)", () => {
    for (let seed = 1; seed <= 10; seed++) {
      const pair = new IkePair(pskConfig("a"), pskConfig("b"), { seed });
      established(pair);
      const old = pair.a.ikeSas()[0]!.childSas()[0]!;
      pair.a.rekey(pair.now, pair.a.ikeSas()[0]!, old.spiIn);
      pair.b.rekey(pair.now, pair.b.ikeSas()[0]!, old.spiOut);
      pair.drive();
      const a = pair.a.ikeSas()[0]!.childSas();
      const b = pair.b.ikeSas()[0]!.childSas();
      expect(a).toHaveLength(1);
      expect(b).toHaveLength(1);
      expect(a[0]!.spiIn).toBe(b[0]!.spiOut);
      expect(a[0]!.spiIn).not.toBe(old.spiIn);
      const responses = pair.wire.filter((w) => exchangeOf(w.message) === ExchangeType.CREATE_CHILD_SA);
      expect(responses).toHaveLength(4); // two requests, two ordinary answers
      const downs = pair.eventsA
        .filter((e) => e.type === "child-down")
        .map((e) => (e.type === "child-down" ? e.reason : ""));
      expect(downs.sort()).toEqual(
        expect.arrayContaining([expect.stringMatching(/rekeyed|deleted by the peer/)]),
      );
      expect(pair.eventsA.some((e) => e.type === "log" && /TEMPORARY_FAILURE|refused/.test(e.message))).toBe(
        false,
      );
    }
  });

  it("rekeys by itself at the soft lifetime and deletes at the hard one if the rekey cannot happen", () => {
    const child = { extra: "" };
    const config = (side: "a" | "b") =>
      pskConfig(side, child).replace(
        "esp_proposals:",
        "rekey_time: 60s\n        life_time: 90s\n        rand_time: 0s\n        esp_proposals:",
      );
    const pair = new IkePair(config("a"), config("b"));
    established(pair);
    const first = pair.a.ikeSas()[0]!.childSas()[0]!.spiIn;
    // Both ends rekey at 60 s exactly (rand_time 0): they collide, refuse each other with
    // TEMPORARY_FAILURE and retry 5–15 s later at random, until one goes first.
    pair.advance(60_000);
    for (let i = 0; i < 20 && pair.a.ikeSas()[0]!.childSas()[0]!.spiIn === first; i++) pair.advance();
    expect(pair.a.ikeSas()[0]!.childSas()[0]!.spiIn).not.toBe(first);
    expect(pair.a.ikeSas()[0]!.childSas()).toHaveLength(1);
    expect(pair.b.ikeSas()[0]!.childSas()).toHaveLength(1);
    expect(pair.now).toBeLessThan(60_000 + 60_000);
    // The peer vanishes: the next rekey fails, and at 90 s of age the Child SA is deleted.
    pair.filter = () => false;
    for (let i = 0; i < 20 && pair.a.ikeSas()[0]?.childSas().length; i++) pair.advance();
    expect(pair.a.ikeSas()[0]?.childSas() ?? []).toEqual([]);
  });
});

describe("CREATE_CHILD_SA: further Child SAs (RFC 7296 §1.3.1)", () => {
  it("the initiator brings up every child of the connection; the second with PFS", () => {
    const twoChildren = (side: "a" | "b") =>
      pskConfig(side).replace(
        "secrets:",
        `      web:
        local_ts: ["dynamic[tcp/80]"]
        remote_ts: ["dynamic[tcp]"]
        esp_proposals: [aes256gcm16-ecp256]
secrets:`,
      );
    const pair = new IkePair(twoChildren("a"), twoChildren("b"));
    established(pair);
    expect(pair.types("a")).toEqual(["ike-up", "child-up", "child-up"]);
    const names = (sa: { childSas(): { name: string; spiIn: number; spiOut: number }[] }) =>
      sa
        .childSas()
        .map((c) => c.name)
        .sort();
    expect(names(pair.a.ikeSas()[0]!)).toEqual(["net", "web"]);
    expect(names(pair.b.ikeSas()[0]!)).toEqual(["net", "web"]);
    const web = pair.a
      .ikeSas()[0]!
      .childSas()
      .find((c) => c.name === "web")!;
    expect(web.localTs[0]).toMatchObject({ protocol: 6, portStart: 80, portEnd: 80 });
    expect(web.encr).toMatchObject({ id: 20, keyLength: 256 });
    const kinds = pair.wire.map((w) => exchangeOf(w.message));
    expect(kinds.filter((k) => k === ExchangeType.CREATE_CHILD_SA)).toHaveLength(2);
  });
});

describe("CREATE_CHILD_SA: IKE SA rekey (RFC 7296 §1.3.2, §2.18)", () => {
  it.each(["a", "b"] as const)(
    "started by %s: new SPIs, the Child SA carries on, the old IKE SA is deleted",
    (side) => {
      const pair = new IkePair(pskConfig("a", { dpd: "10s" }), pskConfig("b"));
      established(pair);
      const endpoint = side === "a" ? pair.a : pair.b;
      const before = endpoint.ikeSas()[0]!;
      const child = before.childSas()[0]!;
      endpoint.rekey(pair.now, before);
      pair.drive();
      for (const e of [pair.a, pair.b]) {
        const sas = e.ikeSas();
        expect(sas).toHaveLength(1);
        expect(sas[0]!.state).toBe("established");
        expect(Buffer.from(sas[0]!.initiatorSpi)).not.toEqual(Buffer.from(before.initiatorSpi));
        expect(
          sas[0]!
            .childSas()
            .map((c) => [c.spiIn, c.spiOut])
            .flat(),
        ).toContain(child.spiIn);
      }
      expect(pair.types("a")).toEqual(
        side === "a" ? ["ike-up", "child-up", "ike-rekeyed"] : ["ike-up", "child-up", "ike-rekeyed"],
      );
      expect(pair.types("b")).toContain("ike-rekeyed");
      expect(pair.types("b")).not.toContain("ike-down");
      // The new IKE SA works: a liveness check 10 s later is answered.
      const wireBefore = pair.wire.length;
      pair.advance();
      expect(pair.wire.length - wireBefore).toBe(2);
      expect(pair.types("a")).not.toContain("ike-down");
      // And it can itself be rekeyed and deleted.
      pair.a.rekey(pair.now, pair.a.ikeSas()[0]!);
      pair.drive();
      pair.a.deleteSa(pair.now, pair.a.ikeSas()[0]!);
      pair.drive();
      expect(pair.a.ikeSas()).toEqual([]);
      expect(pair.b.ikeSas()).toEqual([]);
    },
  );

  it("a rekey request during our own rekey gets TEMPORARY_FAILURE; a random retry rekeys once", () => {
    const pair = new IkePair(pskConfig("a"), pskConfig("b"));
    established(pair);
    const first = Buffer.from(pair.a.ikeSas()[0]!.initiatorSpi).toString("hex");
    pair.a.rekey(pair.now, pair.a.ikeSas()[0]!);
    pair.b.rekey(pair.now, pair.b.ikeSas()[0]!);
    pair.drive();
    expect(Buffer.from(pair.a.ikeSas()[0]!.initiatorSpi).toString("hex")).toBe(first); // both refused
    for (let i = 0; i < 10 && Buffer.from(pair.a.ikeSas()[0]!.initiatorSpi).toString("hex") === first; i++)
      pair.advance();
    expect(Buffer.from(pair.a.ikeSas()[0]!.initiatorSpi).toString("hex")).not.toBe(first);
    expect(pair.a.ikeSas()).toHaveLength(1);
    expect(pair.b.ikeSas()).toHaveLength(1);
    expect(Buffer.from(pair.a.ikeSas()[0]!.initiatorSpi)).toEqual(
      Buffer.from(pair.b.ikeSas()[0]!.initiatorSpi),
    );
    expect(pair.a.ikeSas()[0]!.childSas()).toHaveLength(1);
  });

  it("the IKE SA rekeys itself at rekey_time and is gone at rekey_time + over_time without an answer", () => {
    const config = (side: "a" | "b") =>
      pskConfig(side, { extra: "    rekey_time: 100s\n    over_time: 10s\n    rand_time: 0s" });
    const pair = new IkePair(config("a"), config("b"));
    established(pair);
    const first = Buffer.from(pair.a.ikeSas()[0]!.initiatorSpi).toString("hex");
    pair.advance(100_000);
    for (let i = 0; i < 20 && Buffer.from(pair.a.ikeSas()[0]!.initiatorSpi).toString("hex") === first; i++)
      pair.advance();
    expect(Buffer.from(pair.a.ikeSas()[0]!.initiatorSpi).toString("hex")).not.toBe(first);
    expect(pair.b.ikeSas()).toHaveLength(1);
    pair.filter = () => false;
    const start = pair.now;
    for (let i = 0; i < 30 && pair.a.ikeSas().length > 0; i++) pair.advance();
    expect(pair.a.ikeSas()).toEqual([]);
    expect(pair.now - start).toBeLessThanOrEqual(110_000);
  });
});
