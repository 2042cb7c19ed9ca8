import { describe, expect, it } from "vitest";
import { ExchangeType } from "../../src/ike/codec/header.js";
import { decodeMessage, encodeMessage } from "../../src/ike/codec/message.js";
import { NotifyType, notify } from "../../src/ike/codec/notify.js";
import type { IkeEvent } from "../../src/ike/core/events.js";
import { HINT_INTERVAL_MS } from "../../src/ike/core/state-lost-hint.js";
import { IkePair, PATH_A_TO_B, pskConfig } from "../support/ike-pair.js";

/**
 * RFC 7296 §1.5 / §2.21.4 hints on a virtual clock: an unprotected INVALID_SPI or
 * INVALID_IKE_SPI never changes an SA; it starts a liveness check at once (rate-limited), so
 * a client whose responder lost its state (the package address moved, issue #6 kind 1)
 * notices within one retransmission sequence.
 */

/** a's short liveness settings (issue #6 kind 1): a dead peer is declared 2.375 s after the check. */
const SHORT = `    retransmit: { timeout: 500ms, base: 1.5, tries: 2 }`;
const DEAD_AFTER_MS = 500 + 750 + 1125;

function established(options: { dpd?: string } = {}): IkePair {
  const pair = new IkePair(pskConfig("a", { dpd: options.dpd ?? "30s", extra: SHORT }), pskConfig("b"));
  pair.a.initiate(pair.now, "test", PATH_A_TO_B);
  pair.drive();
  expect(pair.a.ikeSas().map((sa) => sa.state)).toEqual(["established"]);
  return pair;
}

/** An unprotected INVALID_SPI (§1.5: random IKE SPIs, I and R flags set) from b's address about `spi`. */
function invalidSpiHint(spi: number): Uint8Array {
  const data = Buffer.alloc(4);
  data.writeUInt32BE(spi);
  return encodeMessage(
    {
      initiatorSpi: Buffer.from("0102030405060708", "hex"),
      responderSpi: Buffer.from("1112131415161718", "hex"),
      exchangeType: ExchangeType.INFORMATIONAL,
      initiator: true,
      response: true,
      messageId: 0,
    },
    [notify(NotifyType.INVALID_SPI, data)],
  );
}

const FROM_B = {
  localAddress: "198.18.1.101",
  localPort: 4500,
  remoteAddress: "198.18.1.11",
  remotePort: 4500,
};

function informationalRequestsFromA(pair: IkePair): number {
  return pair.wire.filter((w) => {
    const m = decodeMessage(w.message);
    return (
      w.from === "a" &&
      m.ok &&
      m.value.header.exchangeType === ExchangeType.INFORMATIONAL &&
      !m.value.header.response
    );
  }).length;
}

function hints(events: IkeEvent[]): Extract<IkeEvent, { type: "peer-state-lost-hint" }>[] {
  return events.filter(
    (e): e is Extract<IkeEvent, { type: "peer-state-lost-hint" }> => e.type === "peer-state-lost-hint",
  );
}

describe("unknown-SPI hints (RFC 7296 §2.21.4) on a client whose responder lost its state", () => {
  it("an INVALID_SPI hint starts a liveness check at once: the dead peer is noticed 2.375 s later, not after dpd_delay", () => {
    const pair = established({ dpd: "30s" });
    const spiOut = pair.a.ikeSas()[0]!.childSas()[0]!.spiOut; // what b's successor receives
    pair.restart("b"); // the address moved to a node without our SAs
    pair.now = 1_000;
    pair.a.handleDatagram(pair.now, FROM_B, invalidSpiHint(spiOut));
    pair.drive();
    expect(hints(pair.eventsA)).toEqual([
      { type: "peer-state-lost-hint", path: FROM_B, notify: "INVALID_SPI", checked: 1 },
    ]);
    // The hint itself changed nothing: the SA is still up, one liveness check is in flight.
    expect(pair.a.ikeSas().map((sa) => sa.state)).toEqual(["established"]);
    expect(informationalRequestsFromA(pair)).toBe(1);
    // The new b answers the check with INVALID_IKE_SPI (another hint, rate-limited: no event).
    expect(hints(pair.eventsA)).toHaveLength(1);
    while (pair.a.ikeSas().length > 0) pair.advance();
    const down = pair.eventsA.find((e) => e.type === "ike-down");
    expect(down).toMatchObject({ cause: "dead-peer" });
    expect(pair.now - 1_000).toBe(DEAD_AFTER_MS);
  });

  it("a forged hint about a live peer costs one answered liveness check and changes nothing; more within 2 s cost nothing", () => {
    const pair = established({ dpd: "30s" });
    const before = pair.a.ikeSas()[0]!;
    const spiOut = before.childSas()[0]!.spiOut;
    for (let i = 0; i < 50; i++) pair.a.handleDatagram(pair.now, FROM_B, invalidSpiHint(spiOut));
    pair.drive();
    expect(informationalRequestsFromA(pair)).toBe(1);
    expect(hints(pair.eventsA)).toHaveLength(1);
    expect(pair.a.ikeSas()).toEqual([before]);
    expect(before.state).toBe("established");
    expect(pair.types("a")).toEqual(["ike-up", "child-up", "peer-state-lost-hint"]);
    pair.now += HINT_INTERVAL_MS - 1;
    pair.a.handleDatagram(pair.now, FROM_B, invalidSpiHint(spiOut));
    pair.drive();
    expect(informationalRequestsFromA(pair)).toBe(1);
    pair.now += 1;
    pair.a.handleDatagram(pair.now, FROM_B, invalidSpiHint(spiOut));
    pair.drive();
    expect(informationalRequestsFromA(pair)).toBe(2);
    expect(pair.a.ikeSas()).toEqual([before]);
  });

  it("a hint that names none of our SAs (a blind forgery, another address, an SA we dropped) does nothing", () => {
    const pair = established();
    const spiOut = pair.a.ikeSas()[0]!.childSas()[0]!.spiOut;
    pair.a.handleDatagram(pair.now, { ...FROM_B, remoteAddress: "198.18.1.99" }, invalidSpiHint(spiOut));
    pair.a.handleDatagram(pair.now, FROM_B, invalidSpiHint((spiOut + 1) >>> 0));
    pair.drive();
    expect(hints(pair.eventsA)).toEqual([]);
    expect(informationalRequestsFromA(pair)).toBe(0);
    const ignored = pair.eventsA.filter(
      (e) => e.type === "log" && /ignored an unprotected INVALID_SPI/.test(e.message),
    );
    expect(ignored).toHaveLength(2);
  });

  it("an unprotected INVALID_IKE_SPI answer to our liveness check is reported and changes nothing by itself", () => {
    const pair = established({ dpd: "1s" });
    pair.restart("b");
    pair.advance(); // t = 1 s: the check goes out; the new b answers INVALID_IKE_SPI
    expect(pair.now).toBe(1_000);
    expect(hints(pair.eventsA)).toEqual([
      {
        type: "peer-state-lost-hint",
        path: {
          localAddress: "198.18.1.101",
          localPort: 4500,
          remoteAddress: "198.18.1.11",
          remotePort: 4500,
        },
        notify: "INVALID_IKE_SPI",
        checked: 0, // the check that drew it is still running
      },
    ]);
    expect(pair.a.ikeSas().map((sa) => sa.state)).toEqual(["established"]);
    while (pair.a.ikeSas().length > 0) pair.advance();
    expect(pair.now).toBe(1_000 + DEAD_AFTER_MS);
  });
});

describe("short liveness (dpd_delay 1s, retransmit 500ms × 1.5, 2 tries)", () => {
  it("a client notices a vanished responder 2.4–3.4 s after its last answer", () => {
    const pair = established({ dpd: "1s" });
    pair.advance(500); // an answered check would move this; a quiet half second
    pair.filter = () => false; // the responder vanishes at t = 0.5 s
    const vanished = pair.now;
    while (pair.a.ikeSas().length > 0) pair.advance();
    const noticed = pair.now - vanished;
    expect(noticed).toBeGreaterThanOrEqual(DEAD_AFTER_MS);
    expect(noticed).toBeLessThanOrEqual(1_000 + DEAD_AFTER_MS);
    expect(pair.eventsA.find((e) => e.type === "ike-down")).toMatchObject({
      cause: "dead-peer",
      reason: "peer did not answer (retransmissions exhausted)",
    });
  });
});

describe("INITIAL_CONTACT from the adoptive node (RFC 7296 §2.4), the client as responder", () => {
  it("the client drops its stale IKE SA at once, without a DELETE, as 'replaced'", () => {
    const pair = established({ dpd: "1s" });
    const stale = pair.a.ikeSas()[0]!;
    pair.restart("b"); // the adoptive node: same config, none of the SAs
    pair.now = 300; // before a's next liveness check
    const reverse = {
      localAddress: PATH_A_TO_B.remoteAddress,
      localPort: 500,
      remoteAddress: PATH_A_TO_B.localAddress,
      remotePort: 500,
    };
    pair.b.initiate(pair.now, "test", reverse, { contact: true });
    const wireBefore = pair.wire.length;
    pair.drive();
    expect(stale.isClosed).toBe(true);
    expect(pair.a.ikeSas()).toHaveLength(1);
    expect(pair.a.ikeSas()[0]!.isInitiator).toBe(false);
    expect(pair.a.ikeSas()[0]!.childSas()).toHaveLength(1);
    const down = pair.eventsA.find((e) => e.type === "ike-down");
    expect(down).toMatchObject({ cause: "replaced", reason: "replaced: the peer sent INITIAL_CONTACT" });
    // No DELETE for the stale SA: only IKE_SA_INIT and IKE_AUTH crossed the wire.
    const exchanges = pair.wire.slice(wireBefore).map((w) => {
      const m = decodeMessage(w.message);
      return m.ok ? m.value.header.exchangeType : -1;
    });
    expect(new Set(exchanges)).toEqual(new Set([ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH]));
    expect(pair.now).toBe(300);
  });
});
