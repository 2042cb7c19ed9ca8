import { describe, expect, it } from "vitest";
import { ExchangeType } from "../../src/ike/codec/header.js";
import { decodeMessage } from "../../src/ike/codec/message.js";
import type { IkeSaSnapshot } from "../../src/ike/core/ike-sa-snapshot.js";
import { IkePair, PATH_A_TO_B, pskConfig } from "../support/ike-pair.js";

function exchangeOf(message: Uint8Array): number | undefined {
  const decoded = decodeMessage(message);
  return decoded.ok ? decoded.value.header.exchangeType : undefined;
}

/** b's IKE SA, exported as JSON and taken over by a fresh endpoint that replaces b. */
function takeOver(pair: IkePair): { snapshot: IkeSaSnapshot; successor: IkePair } {
  const snapshot = JSON.parse(JSON.stringify(pair.b.ikeSas()[0]!.snapshot())) as IkeSaSnapshot;
  const successor = new IkePair(pskConfig("a"), pskConfig("b"), { seed: 99 });
  // Keep a's endpoint (the client) and swap b for the new node.
  Object.assign(successor, { a: pair.a, now: pair.now });
  successor.b.restoreSa(snapshot);
  successor.collect();
  return { snapshot, successor };
}

describe("exporting and restoring an IKE SA (state replication, RFC 6311 continuity)", () => {
  it("the adopting node answers the client's next requests with the right keys and message IDs", () => {
    const pair = new IkePair(pskConfig("a", { dpd: "5s" }), pskConfig("b"));
    pair.a.initiate(pair.now, "test", PATH_A_TO_B);
    pair.drive();
    pair.advance(); // one liveness check, so the message IDs are not at their start values
    const { snapshot, successor } = takeOver(pair);
    expect(snapshot.window).toMatchObject({ nextRequestId: 0, expectedPeerRequestId: 3 });
    expect(successor.types("b")).toEqual(["ike-up", "child-up"]);
    expect(successor.b.ikeSas()[0]!.childSas()[0]!.spiIn).toBe(pair.b.ikeSas()[0]!.childSas()[0]!.spiIn);

    successor.advance(); // the client's next liveness check reaches only the new node
    const dpd = successor.wire.filter((w) => exchangeOf(w.message) === ExchangeType.INFORMATIONAL);
    expect(dpd.map((w) => w.from)).toEqual(["a", "b"]);
    expect(successor.types("a")).not.toContain("ike-down");

    // The new node's own requests continue the sequence: a Child SA rekey and an IKE SA delete.
    const sa = successor.b.ikeSas()[0]!;
    successor.b.rekey(successor.now, sa, sa.childSas()[0]!.spiIn);
    successor.drive();
    successor.b.deleteSa(successor.now, successor.b.ikeSas()[0]!);
    successor.drive();
    expect(successor.a.ikeSas()).toEqual([]);
    expect(successor.b.ikeSas()).toEqual([]);
  });

  it("a request repeated after the take-over gets the very response the old node sent", () => {
    const pair = new IkePair(pskConfig("a", { dpd: "5s" }), pskConfig("b"));
    pair.a.initiate(pair.now, "test", PATH_A_TO_B);
    pair.drive();
    // The old node answers the liveness check, but the answer is lost, then the node dies.
    pair.filter = (from, message) => !(from === "b" && exchangeOf(message) === ExchangeType.INFORMATIONAL);
    pair.advance();
    const lost = pair.wire
      .filter((w) => w.from === "b" && exchangeOf(w.message) === ExchangeType.INFORMATIONAL)
      .at(-1)!;
    const { successor } = takeOver(pair);
    successor.advance(); // the client retransmits; the new node answers from the replicated cache
    const answer = successor.wire
      .filter((w) => w.from === "b" && exchangeOf(w.message) === ExchangeType.INFORMATIONAL)
      .at(-1)!;
    expect(Buffer.from(answer.message)).toEqual(Buffer.from(lost.message));
    expect(successor.types("a")).not.toContain("ike-down");
  });

  it("only an established IKE SA can be exported", () => {
    const pair = new IkePair(pskConfig("a"), pskConfig("b"));
    pair.a.initiate(pair.now, "test", PATH_A_TO_B);
    expect(() => pair.a.ikeSas()[0]!.snapshot()).toThrow(/established/);
  });
});
