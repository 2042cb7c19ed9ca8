import { describe, expect, it } from "vitest";
import {
  EXCHANGE_RULES,
  ExchangeType,
  NotifyType,
  PayloadType,
  checkEnvelope,
  checkPayloads,
} from "../../src/ike/codec/index.js";

const {
  SA,
  KE,
  NONCE,
  NOTIFY,
  VENDOR_ID,
  CERTREQ,
  IDi,
  IDr,
  AUTH,
  CERT,
  TSi,
  TSr,
  CP,
  EAP,
  DELETE,
  SK,
  SKF,
} = PayloadType;
const { IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL } = ExchangeType;

describe("exchange payload rules (RFC 7296 §1.2–§1.5)", () => {
  it("has one rule for each exchange the core takes part in", () => {
    expect(Object.keys(EXCHANGE_RULES).map(Number).sort()).toEqual([34, 35, 36, 37]);
    expect(EXCHANGE_RULES[IKE_SA_INIT]?.encrypted).toBe(false);
    expect([IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL].map((e) => EXCHANGE_RULES[e]?.encrypted)).toEqual([
      true,
      true,
      true,
    ]);
  });

  const good: [string, number, boolean, number[], number[]?][] = [
    ["IKE_SA_INIT request", IKE_SA_INIT, false, [SA, KE, NONCE, NOTIFY, NOTIFY, VENDOR_ID]],
    [
      "IKE_SA_INIT request retried with a COOKIE",
      IKE_SA_INIT,
      false,
      [NOTIFY, SA, KE, NONCE],
      [NotifyType.COOKIE],
    ],
    ["IKE_SA_INIT response with CERTREQ", IKE_SA_INIT, true, [SA, KE, NONCE, CERTREQ, CERTREQ, NOTIFY]],
    ["IKE_SA_INIT response asking for a cookie", IKE_SA_INIT, true, [NOTIFY], [NotifyType.COOKIE]],
    ["IKE_SA_INIT response INVALID_KE_PAYLOAD", IKE_SA_INIT, true, [NOTIFY], [NotifyType.INVALID_KE_PAYLOAD]],
    ["IKE_SA_INIT response NO_PROPOSAL_CHOSEN", IKE_SA_INIT, true, [NOTIFY], [NotifyType.NO_PROPOSAL_CHOSEN]],
    ["IKE_AUTH request", IKE_AUTH, false, [IDi, CERT, NOTIFY, CERTREQ, IDr, AUTH, SA, TSi, TSr, NOTIFY]],
    ["IKE_AUTH request starting EAP (no AUTH)", IKE_AUTH, false, [IDi, SA, TSi, TSr]],
    ["IKE_AUTH request carrying EAP", IKE_AUTH, false, [EAP]],
    ["IKE_AUTH request finishing EAP", IKE_AUTH, false, [AUTH]],
    ["childless IKE_AUTH request (RFC 6023)", IKE_AUTH, false, [IDi, AUTH, NOTIFY]],
    ["IKE_AUTH request with CP", IKE_AUTH, false, [IDi, AUTH, CP, SA, TSi, TSr]],
    ["IKE_AUTH response", IKE_AUTH, true, [IDr, CERT, AUTH, SA, TSi, TSr, NOTIFY]],
    [
      "IKE_AUTH response refusing the Child SA",
      IKE_AUTH,
      true,
      [IDr, AUTH, NOTIFY],
      [NotifyType.TS_UNACCEPTABLE],
    ],
    ["IKE_AUTH response AUTHENTICATION_FAILED", IKE_AUTH, true, [NOTIFY], [NotifyType.AUTHENTICATION_FAILED]],
    ["CREATE_CHILD_SA Child SA request", CREATE_CHILD_SA, false, [NOTIFY, SA, NONCE, KE, TSi, TSr]],
    ["CREATE_CHILD_SA IKE SA rekey request", CREATE_CHILD_SA, false, [SA, NONCE, KE]],
    ["CREATE_CHILD_SA response", CREATE_CHILD_SA, true, [SA, NONCE, TSi, TSr]],
    [
      "CREATE_CHILD_SA response NO_ADDITIONAL_SAS",
      CREATE_CHILD_SA,
      true,
      [NOTIFY],
      [NotifyType.NO_ADDITIONAL_SAS],
    ],
    ["INFORMATIONAL liveness check", INFORMATIONAL, false, []],
    ["INFORMATIONAL delete", INFORMATIONAL, false, [DELETE, DELETE]],
    ["INFORMATIONAL empty response", INFORMATIONAL, true, []],
    ["INFORMATIONAL MOBIKE update", INFORMATIONAL, false, [NOTIFY, NOTIFY, NOTIFY], [16400, 16388, 16389]],
    ["unknown payload types are skipped, not unexpected", INFORMATIONAL, false, [49, 200]],
  ];
  for (const [what, exchange, response, types, notifies] of good) {
    it(`accepts: ${what}`, () => {
      expect(checkPayloads(exchange, response, types, notifies)).toEqual({ ok: true });
    });
  }

  const bad: [
    string,
    number,
    boolean,
    number[],
    number[],
    Partial<Record<"missing" | "unexpected" | "tooMany", number[]>>,
  ][] = [
    ["IKE_SA_INIT request without KE", IKE_SA_INIT, false, [SA, NONCE], [], { missing: [KE] }],
    [
      "IKE_SA_INIT request with a COOKIE alone",
      IKE_SA_INIT,
      false,
      [NOTIFY],
      [NotifyType.COOKIE],
      { missing: [SA, KE, NONCE] },
    ],
    ["IKE_SA_INIT request with two SA", IKE_SA_INIT, false, [SA, SA, KE, NONCE], [], { tooMany: [SA] }],
    ["IKE_SA_INIT request with TSi", IKE_SA_INIT, false, [SA, KE, NONCE, TSi], [], { unexpected: [TSi] }],
    [
      "IKE_SA_INIT request with CERTREQ",
      IKE_SA_INIT,
      false,
      [SA, KE, NONCE, CERTREQ],
      [],
      { unexpected: [CERTREQ] },
    ],
    [
      "IKE_SA_INIT response with a status notify only",
      IKE_SA_INIT,
      true,
      [NOTIFY],
      [NotifyType.NAT_DETECTION_SOURCE_IP],
      { missing: [SA, KE, NONCE] },
    ],
    [
      "IKE_AUTH request with nothing to authenticate",
      IKE_AUTH,
      false,
      [SA, TSi, TSr],
      [],
      { missing: [IDi, AUTH, EAP] },
    ],
    ["IKE_AUTH request with SA but no TS", IKE_AUTH, false, [IDi, AUTH, SA], [], { missing: [TSi, TSr] }],
    ["IKE_AUTH request with KE", IKE_AUTH, false, [IDi, AUTH, KE], [], { unexpected: [KE] }],
    ["IKE_AUTH request with two IDi", IKE_AUTH, false, [IDi, IDi, AUTH], [], { tooMany: [IDi] }],
    ["IKE_AUTH response with IDi", IKE_AUTH, true, [IDi, IDr, AUTH], [], { unexpected: [IDi] }],
    ["IKE_AUTH response with TSi only", IKE_AUTH, true, [IDr, AUTH, TSi], [], { missing: [SA, TSr] }],
    ["CREATE_CHILD_SA request without nonce", CREATE_CHILD_SA, false, [SA, KE], [], { missing: [NONCE] }],
    [
      "CREATE_CHILD_SA request with only TSi",
      CREATE_CHILD_SA,
      false,
      [SA, NONCE, TSi],
      [],
      { missing: [TSr] },
    ],
    [
      "CREATE_CHILD_SA request with AUTH",
      CREATE_CHILD_SA,
      false,
      [SA, NONCE, AUTH],
      [],
      { unexpected: [AUTH] },
    ],
    ["INFORMATIONAL with SA", INFORMATIONAL, false, [SA], [], { unexpected: [SA] }],
    ["SK among the decrypted payloads", INFORMATIONAL, false, [SK], [], { unexpected: [SK] }],
  ];
  for (const [what, exchange, response, types, notifies, expected] of bad) {
    it(`refuses: ${what}`, () => {
      const result = checkPayloads(exchange, response, types, notifies);
      expect(result).toMatchObject({ ok: false, missing: [], unexpected: [], tooMany: [], ...expected });
      expect(!result.ok && result.message).toMatch(/request|response/);
    });
  }

  it("has no rules for an exchange it does not know", () => {
    const result = checkPayloads(ExchangeType.IKE_SESSION_RESUME, false, [NONCE]);
    expect(result).toMatchObject({ ok: false, unknownExchange: true });
  });
});

describe("envelope: what travels outside SK", () => {
  it("protected exchanges carry exactly one SK or SKF", () => {
    expect(checkEnvelope(IKE_AUTH, [SK])).toEqual({ ok: true });
    expect(checkEnvelope(CREATE_CHILD_SA, [SKF])).toEqual({ ok: true });
    expect(checkEnvelope(INFORMATIONAL, [])).toMatchObject({ ok: false, missing: [SK] });
    expect(checkEnvelope(IKE_AUTH, [IDi, AUTH])).toMatchObject({
      ok: false,
      missing: [SK],
      unexpected: [IDi, AUTH],
    });
    expect(checkEnvelope(IKE_AUTH, [NOTIFY, SK])).toMatchObject({ ok: false, unexpected: [NOTIFY] });
    expect(checkEnvelope(INFORMATIONAL, [200, SK])).toEqual({ ok: true });
  });

  it("IKE_SA_INIT carries no SK", () => {
    expect(checkEnvelope(IKE_SA_INIT, [SA, KE, NONCE])).toEqual({ ok: true });
    expect(checkEnvelope(IKE_SA_INIT, [SA, KE, NONCE, SK])).toMatchObject({ ok: false, unexpected: [SK] });
  });
});
