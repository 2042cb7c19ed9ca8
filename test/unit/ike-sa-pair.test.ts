import { describe, expect, it } from "vitest";
import { decodeMessage } from "../../src/ike/codec/message.js";
import { ExchangeType } from "../../src/ike/codec/header.js";
import type { ChildSaKeys, IkeEvent } from "../../src/ike/core/events.js";
import { IkePair, PATH_A_TO_B, pskConfig } from "../support/ike-pair.js";
import { seededRandom } from "../support/seeded-random.js";

function child(events: IkeEvent[]): ChildSaKeys {
  const up = events.find((e) => e.type === "child-up");
  if (!up || up.type !== "child-up") throw new Error("no child-up event");
  return up.child;
}

function exchangeOf(message: Uint8Array): number | undefined {
  const decoded = decodeMessage(message);
  return decoded.ok ? decoded.value.header.exchangeType : undefined;
}

function established(pair: IkePair): void {
  pair.a.initiate(pair.now, "test", PATH_A_TO_B);
  pair.drive();
}

describe("IKE SA between two Pavise endpoints (virtual clock)", () => {
  it("IKE_SA_INIT + IKE_AUTH with PSK bring up the IKE SA and a Child SA with matching keys", () => {
    const pair = new IkePair(pskConfig("a"), pskConfig("b"));
    established(pair);
    expect(pair.types("a")).toEqual(["ike-up", "child-up"]);
    expect(pair.types("b")).toEqual(["ike-up", "initial-contact", "child-up"]);
    const a = child(pair.eventsA);
    const b = child(pair.eventsB);
    expect(a.spiOut).toBe(b.spiIn);
    expect(a.spiIn).toBe(b.spiOut);
    expect(Buffer.from(a.keyOut.encKey)).toEqual(Buffer.from(b.keyIn.encKey));
    expect(Buffer.from(a.keyIn.encKey)).toEqual(Buffer.from(b.keyOut.encKey));
    expect(a.keyOut.encKey).toHaveLength(20); // AES-128 key + 4 bytes of salt
    expect(a).toMatchObject({
      mode: "tunnel",
      encr: { id: 20, keyLength: 128 },
      encap: { localPort: 4500, remotePort: 4500 },
    });
    // IKE_AUTH moved to port 4500 (forced NAT traversal, RFC 7296 §2.23).
    const auth = pair.wire.filter((w) => exchangeOf(w.message) === ExchangeType.IKE_AUTH);
    expect(auth.map((w) => [w.path.localPort, w.path.remotePort])).toEqual([
      [4500, 4500],
      [4500, 4500],
    ]);
  });

  it("negotiates transport mode when both ask for it (USE_TRANSPORT_MODE), tunnel otherwise", () => {
    const transport = (side: "a" | "b") =>
      pskConfig(side).replace("esp_proposals:", "mode: transport\n        esp_proposals:");
    const both = new IkePair(transport("a"), transport("b"));
    established(both);
    expect(child(both.eventsA).mode).toBe("transport");
    expect(child(both.eventsB).mode).toBe("transport");
    const onlyA = new IkePair(transport("a"), pskConfig("b"));
    established(onlyA);
    expect(child(onlyA.eventsA).mode).toBe("tunnel");
    expect(child(onlyA.eventsB).mode).toBe("tunnel");
  });

  it("retries IKE_SA_INIT with the group the responder asks for (INVALID_KE_PAYLOAD)", () => {
    const pair = new IkePair(
      pskConfig("a", { proposals: "aes128gcm16-prfsha256-x25519-ecp256" }),
      pskConfig("b", { proposals: "aes128gcm16-prfsha256-ecp256" }),
    );
    established(pair);
    expect(pair.types("a")).toEqual(["ike-up", "child-up"]);
    const inits = pair.wire.filter((w) => exchangeOf(w.message) === ExchangeType.IKE_SA_INIT);
    expect(inits.map((w) => w.from)).toEqual(["a", "b", "a", "b"]);
  });

  it("under load the responder asks for a cookie first and keeps no state until it comes back (§2.6)", () => {
    const pair = new IkePair(pskConfig("a"), pskConfig("b"), { cookieThresholdB: 0 });
    established(pair);
    expect(pair.types("a")).toEqual(["ike-up", "child-up"]);
    const inits = pair.wire.filter((w) => exchangeOf(w.message) === ExchangeType.IKE_SA_INIT);
    expect(inits.map((w) => w.from)).toEqual(["a", "b", "a", "b"]);
    const challenge = decodeMessage(inits[1]!.message);
    const retry = decodeMessage(inits[2]!.message);
    expect(challenge.ok && challenge.value.payloads.map((p) => p.type)).toEqual([41]); // only N(COOKIE)
    expect(retry.ok && retry.value.payloads[0]).toMatchObject({ notifyType: 16390 }); // COOKIE first
    // All other payloads of the retry are the first request's, unchanged.
    const first = decodeMessage(inits[0]!.message);
    expect(
      retry.ok &&
        first.ok &&
        Buffer.from(inits[2]!.message).includes(Buffer.from(inits[0]!.message.subarray(28))),
    ).toBe(true);
    void first;
  });

  it("a forged or stale cookie is answered with a fresh one, never with state", () => {
    const pair = new IkePair(pskConfig("a"), pskConfig("b"), { cookieThresholdB: 0 });
    pair.filter = (from, message, index) => {
      if (from === "a" && index === 2) message[message.length - 1] = (message[message.length - 1] ?? 0) ^ 1; // not the cookie
      return true;
    };
    pair.a.initiate(pair.now, "test", PATH_A_TO_B);
    pair.drive();
    expect(pair.b.ikeSas().length).toBeLessThanOrEqual(1);
  });

  it("a wrong pre-shared key fails on both sides and installs nothing", () => {
    const pair = new IkePair(pskConfig("a", { psk: "one" }), pskConfig("b", { psk: "two" }));
    established(pair);
    expect(pair.types("b")).toEqual(["ike-down"]);
    expect(pair.types("a")).toEqual(["ike-down"]);
    const down = pair.eventsA.find((e) => e.type === "ike-down");
    expect(down?.type === "ike-down" && down.reason).toMatch(/notify 24/); // AUTHENTICATION_FAILED
    expect(pair.a.ikeSas()).toEqual([]);
    expect(pair.b.ikeSas()).toEqual([]);
  });

  it("no common proposal: NO_PROPOSAL_CHOSEN and nothing kept by the responder", () => {
    const pair = new IkePair(
      pskConfig("a", { proposals: "aes256-sha512-modp3072" }),
      pskConfig("b", { proposals: "aes128gcm16-prfsha256-x25519" }),
    );
    established(pair);
    expect(pair.types("a")).toEqual(["ike-down"]);
    expect(pair.b.ikeSas()).toEqual([]);
  });

  it("a lost IKE_AUTH request is retransmitted after 4 s, a lost response answered from the cache", () => {
    const pair = new IkePair(pskConfig("a"), pskConfig("b"));
    const dropped = { a: 0, b: 0 };
    pair.filter = (from, message) => {
      if (exchangeOf(message) === ExchangeType.IKE_AUTH && dropped[from] === 0) {
        dropped[from]++;
        return false; // the first request, then the first response
      }
      return true;
    };
    established(pair);
    expect(pair.types("a")).toEqual([]);
    pair.advance(); // 4 s: retransmission, the responder answers it
    expect(pair.now).toBe(4000);
    expect(pair.types("b")).toEqual(["ike-up", "initial-contact", "child-up"]);
    expect(pair.types("a")).toEqual([]); // its response was the second drop
    pair.advance(); // 7.2 s later: again; the responder resends the cached response
    expect(pair.types("a")).toEqual(["ike-up", "child-up"]);
    const responses = pair.wire.filter(
      (w) => w.from === "b" && exchangeOf(w.message) === ExchangeType.IKE_AUTH,
    );
    expect(responses).toHaveLength(2);
    expect(Buffer.from(responses[1]!.message)).toEqual(Buffer.from(responses[0]!.message));
    expect(pair.types("b")).toEqual(["ike-up", "initial-contact", "child-up"]); // processed once
  });

  it("liveness checks every 2 s keep a live peer; a silent one is declared dead after 165 s of retries", () => {
    const pair = new IkePair(pskConfig("a", { dpd: "2s" }), pskConfig("b"));
    established(pair);
    pair.advance();
    expect(pair.now).toBe(2000);
    const informational = () =>
      pair.wire.filter((w) => exchangeOf(w.message) === ExchangeType.INFORMATIONAL).length;
    expect(informational()).toBe(2); // request and response
    pair.filter = () => false; // the peer vanishes
    const start = pair.now;
    while (pair.a.ikeSas().length > 0 && pair.now - start < 400_000) pair.advance();
    expect(pair.types("a")).toEqual(["ike-up", "child-up", "child-down", "ike-down"]);
    expect(pair.now - start).toBe(2000 + 165_061);
  });

  it("deleting the IKE SA removes it and its Child SA on both sides", () => {
    const pair = new IkePair(pskConfig("a"), pskConfig("b"));
    established(pair);
    pair.a.deleteSa(pair.now, pair.a.ikeSas()[0]!);
    pair.drive();
    expect(pair.types("a")).toEqual(["ike-up", "child-up", "child-down", "ike-down"]);
    expect(pair.types("b")).toEqual(["ike-up", "initial-contact", "child-up", "child-down", "ike-down"]);
    expect(pair.a.ikeSas()).toEqual([]);
    expect(pair.b.ikeSas()).toEqual([]);
  });

  it("INITIAL_CONTACT from a restarted peer replaces its stale IKE SA", () => {
    const pair = new IkePair(pskConfig("a"), pskConfig("b"));
    established(pair);
    pair.restart("a"); // a crashes: b keeps its SA, a knows of none
    established(pair); // so a sets up again with INITIAL_CONTACT
    expect(pair.b.ikeSas()).toHaveLength(1);
    const downs = pair.eventsB.filter((e) => e.type === "ike-down");
    expect(downs).toHaveLength(1);
    expect(downs[0]?.type === "ike-down" && downs[0].reason).toMatch(/INITIAL_CONTACT/);
  });

  it("answers a request for an unknown IKE SA with INVALID_IKE_SPI, unprotected, and keeps no state", () => {
    const pair = new IkePair(pskConfig("a"), pskConfig("b"));
    established(pair);
    const authRequest = pair.wire.find(
      (w) => w.from === "a" && exchangeOf(w.message) === ExchangeType.IKE_AUTH,
    )!;
    const fresh = new IkePair(pskConfig("a"), pskConfig("b"));
    fresh.b.handleDatagram(
      0,
      { localAddress: "198.18.1.11", localPort: 4500, remoteAddress: "198.18.1.101", remotePort: 4500 },
      authRequest.message,
    );
    const reply = fresh.b.pollTransmit();
    const decoded = decodeMessage(reply!.message);
    expect(decoded.ok && decoded.value.payloads).toMatchObject([{ notifyType: 4 }]);
    expect(fresh.b.ikeSas()).toEqual([]);
    // The driver hears of it, with where it came from (issue #6: contact that peer).
    const events = [];
    for (let e = fresh.b.pollEvent(); e; e = fresh.b.pollEvent()) events.push(e);
    expect(events).toEqual([
      {
        type: "unknown-ike-spi",
        path: {
          localAddress: "198.18.1.11",
          localPort: 4500,
          remoteAddress: "198.18.1.101",
          remotePort: 4500,
        },
      },
    ]);
  });

  it("answers at most 10 requests for unknown SPIs per second (§2.21.4), and never a response", () => {
    const pair = new IkePair(pskConfig("a"), pskConfig("b"));
    established(pair);
    const request = pair.wire.find((w) => w.from === "a" && exchangeOf(w.message) === ExchangeType.IKE_AUTH)!;
    const response = pair.wire.find(
      (w) => w.from === "b" && exchangeOf(w.message) === ExchangeType.IKE_AUTH,
    )!;
    const fresh = new IkePair(pskConfig("a"), pskConfig("b"));
    const path = {
      localAddress: "198.18.1.11",
      localPort: 4500,
      remoteAddress: "198.18.1.101",
      remotePort: 4500,
    };
    const answers = (t: number, message: Uint8Array, n: number) => {
      for (let i = 0; i < n; i++) fresh.b.handleDatagram(t, path, message);
      let count = 0;
      while (fresh.b.pollTransmit()) count++;
      return count;
    };
    expect(answers(0, request.message, 25)).toBe(10);
    expect(answers(500, request.message, 5)).toBe(0); // same second
    expect(answers(1000, request.message, 5)).toBe(5); // a new second
    expect(answers(2000, response.message, 5)).toBe(0); // responses are never answered
  });

  it("survives 5,000 mutated copies of real messages without throwing or changing state", () => {
    const pair = new IkePair(pskConfig("a"), pskConfig("b"));
    established(pair);
    const messages = pair.wire.map((w) => w);
    const next = seededRandom(7296);
    const before = pair.b.ikeSas().map((sa) => sa.state);
    for (let i = 0; i < 5000; i++) {
      const original = messages[Math.floor(next() * messages.length)]!;
      const bytes = Uint8Array.from(original.message);
      const flips = 1 + Math.floor(next() * 4);
      for (let f = 0; f < flips; f++) {
        const at = Math.floor(next() * bytes.length);
        bytes[at] = (bytes[at] ?? 0) ^ (1 << Math.floor(next() * 8));
      }
      const cut = next() < 0.2 ? bytes.subarray(0, Math.floor(next() * bytes.length)) : bytes;
      const path = {
        localAddress: "198.18.1.11",
        localPort: 4500,
        remoteAddress: "198.18.1.101",
        remotePort: 4500,
      };
      pair.b.handleDatagram(pair.now, path, cut);
      pair.a.handleDatagram(
        pair.now,
        { ...path, localAddress: "198.18.1.101", remoteAddress: "198.18.1.11" },
        cut,
      );
    }
    pair.collect();
    expect(pair.b.ikeSas().filter((sa) => sa.state === "established")).toHaveLength(before.length);
    expect(pair.types("b").filter((t) => t === "ike-down")).toEqual([]);
  });
});
