import { describe, expect, it } from "vitest";
import { ExchangeType } from "../../src/ike/codec/header.js";
import { ExchangeCounters, exchangeName, type ExchangeCount } from "../../src/ike/core/exchange-counters.js";
import type { IkeEndpoint } from "../../src/ike/core/ike-endpoint.js";
import { IkePair, PATH_A_TO_B, pskConfig } from "../support/ike-pair.js";

/** The counts as "exchange role result" → count, for one endpoint. */
function counts(endpoint: IkeEndpoint): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of endpoint.exchangeCounts())
    out[`${c.connection} ${c.exchange} ${c.role} ${c.result}`] = c.count;
  return out;
}

describe("IKE exchange counters (design §6 pavise_ike_exchanges_total)", () => {
  it("adds up by connection, exchange, role and result", () => {
    const counters = new ExchangeCounters();
    counters.record("web-c", { exchangeType: ExchangeType.IKE_AUTH, role: "initiator", result: "ok" });
    counters.record("web-c", { exchangeType: ExchangeType.IKE_AUTH, role: "initiator", result: "ok" });
    counters.record("web-c", { exchangeType: 43, role: "responder", result: "failed" });
    expect(counters.entries()).toEqual<ExchangeCount[]>([
      { connection: "web-c", exchange: "IKE_AUTH", role: "initiator", result: "ok", count: 2 },
      { connection: "web-c", exchange: "other", role: "responder", result: "failed", count: 1 },
    ]);
    expect(exchangeName(ExchangeType.CREATE_CHILD_SA)).toBe("CREATE_CHILD_SA");
  });

  it("a set-up, a Child SA rekey and a delete are counted on both sides", () => {
    const pair = new IkePair(pskConfig("a"), pskConfig("b"));
    pair.a.initiate(pair.now, "test", PATH_A_TO_B);
    pair.drive();
    const sa = pair.a.ikeSas()[0]!;
    pair.a.rekey(pair.now, sa, sa.childSas()[0]!.spiIn);
    pair.drive();
    pair.a.deleteSa(pair.now, sa);
    pair.drive();
    expect(counts(pair.a)).toEqual({
      "test IKE_SA_INIT initiator ok": 1,
      "test IKE_AUTH initiator ok": 1,
      "test CREATE_CHILD_SA initiator ok": 1,
      // The rekey's delete of the old Child SA, then the IKE SA's delete.
      "test INFORMATIONAL initiator ok": 2,
    });
    expect(counts(pair.b)).toEqual({
      "test IKE_SA_INIT responder ok": 1,
      "test IKE_AUTH responder ok": 1,
      "test CREATE_CHILD_SA responder ok": 1,
      "test INFORMATIONAL responder ok": 2,
    });
  });

  it("a wrong pre-shared key is a failed IKE_AUTH on both sides", () => {
    const pair = new IkePair(pskConfig("a", { psk: "one" }), pskConfig("b", { psk: "two" }));
    pair.a.initiate(pair.now, "test", PATH_A_TO_B);
    pair.drive();
    expect(counts(pair.a)).toMatchObject({
      "test IKE_AUTH initiator failed": 1,
      "test IKE_SA_INIT initiator ok": 1,
    });
    expect(counts(pair.b)).toMatchObject({ "test IKE_AUTH responder failed": 1 });
  });

  it("no common proposal is a failed IKE_SA_INIT on both sides", () => {
    const pair = new IkePair(
      pskConfig("a", { proposals: "aes256-sha512-modp3072" }),
      pskConfig("b", { proposals: "aes128gcm16-prfsha256-x25519" }),
    );
    pair.a.initiate(pair.now, "test", PATH_A_TO_B);
    pair.drive();
    expect(counts(pair.a)).toEqual({ "test IKE_SA_INIT initiator failed": 1 });
    expect(counts(pair.b)).toEqual({ "test IKE_SA_INIT responder failed": 1 });
  });

  it("a peer that never answers is a timeout once the retransmissions are spent", () => {
    const pair = new IkePair(pskConfig("a"), pskConfig("b"));
    pair.filter = () => false;
    pair.a.initiate(pair.now, "test", PATH_A_TO_B);
    pair.drive();
    for (let i = 0; i < 20 && pair.a.ikeSas().length > 0; i++) pair.advance();
    expect(pair.a.ikeSas()).toEqual([]);
    expect(counts(pair.a)).toEqual({ "test IKE_SA_INIT initiator timeout": 1 });
    expect(counts(pair.b)).toEqual({});
  });
});
