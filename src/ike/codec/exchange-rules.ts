import { ExchangeType, exchangeTypeName } from "./header.js";
import { NotifyType, isErrorNotify } from "./notify.js";
import type { Payload } from "./payload.js";
import { type KnownPayloadType, PayloadType, isKnownPayloadType, payloadTypeName } from "./payload-type.js";

/**
 * Which payloads each exchange allows and requires, in each direction: ONE table, read by the
 * core to answer a malformed request with INVALID_SYNTAX (§3.10.1), as strongSwan's
 * encoding/message.c does with its payload rules. From RFC 7296 §1.2 (IKE_SA_INIT, IKE_AUTH),
 * §1.3 (CREATE_CHILD_SA), §1.4 (INFORMATIONAL), §1.5 (error notifies), §2.6 (COOKIE), §2.16
 * (EAP), §3.15 (CP), RFC 4555 (MOBIKE notifies ride in INFORMATIONAL) and RFC 7383 (SKF).
 *
 * The counts apply to the content of a message: the payloads of IKE_SA_INIT as they are, and for
 * the protected exchanges the payloads inside SK (after decryption and, for SKF, reassembly).
 * `checkEnvelope` checks the outside: protected exchanges carry one SK or SKF payload, IKE_SA_INIT
 * carries none. Payload types we do not know are never "unexpected": a non-critical unknown
 * payload is skipped (§2.5), a critical one was already refused by the decoder.
 *
 * A response that carries an error notify (type < 16384) needs nothing else (§1.5, §2.21): e.g.
 * IKE_SA_INIT answered with NO_PROPOSAL_CHOSEN or INVALID_KE_PAYLOAD, CREATE_CHILD_SA answered with
 * NO_ADDITIONAL_SAS. So does an IKE_SA_INIT response with COOKIE (§2.6).
 */

type Count = readonly [min: number, max: number];
const ONE: Count = [1, 1];
const OPTIONAL: Count = [0, 1];
const ANY: Count = [0, Infinity];

interface DirectionRule {
  payloads: Readonly<Partial<Record<KnownPayloadType, Count>>>;
  /** At least one of these must be present. */
  oneOf?: readonly KnownPayloadType[];
  /** All present or none: a Child SA is negotiated by SA, TSi and TSr together (§1.2, §1.3). */
  together?: readonly (readonly KnownPayloadType[])[];
}

export interface ExchangeRule {
  /** Content travels inside SK/SKF (everything after IKE_SA_INIT, §3.14). */
  encrypted: boolean;
  request: DirectionRule;
  response: DirectionRule;
}

const P = PayloadType;

export const EXCHANGE_RULES: Readonly<Partial<Record<number, ExchangeRule>>> = {
  // §1.2: HDR, SAi1, KEi, Ni  /  HDR, SAr1, KEr, Nr, [CERTREQ]; notifies and vendor IDs in both.
  [ExchangeType.IKE_SA_INIT]: {
    encrypted: false,
    request: {
      payloads: { [P.SA]: ONE, [P.KE]: ONE, [P.NONCE]: ONE, [P.NOTIFY]: ANY, [P.VENDOR_ID]: ANY },
    },
    response: {
      payloads: {
        [P.SA]: ONE,
        [P.KE]: ONE,
        [P.NONCE]: ONE,
        [P.CERTREQ]: ANY,
        [P.NOTIFY]: ANY,
        [P.VENDOR_ID]: ANY,
      },
    },
  },
  // §1.2, §2.16: SK {IDi, [CERT+], [CERTREQ+], [IDr], AUTH, [CP], SAi2, TSi, TSr}; with EAP the
  // first request has no AUTH, later requests carry EAP alone and the last AUTH alone. A childless
  // IKE SA (RFC 6023) or a failed Child SA leaves SA, TSi and TSr out.
  [ExchangeType.IKE_AUTH]: {
    encrypted: true,
    request: {
      payloads: {
        [P.IDi]: OPTIONAL,
        [P.CERT]: ANY,
        [P.CERTREQ]: ANY,
        [P.IDr]: OPTIONAL,
        [P.AUTH]: OPTIONAL,
        [P.EAP]: OPTIONAL,
        [P.CP]: OPTIONAL,
        [P.SA]: OPTIONAL,
        [P.TSi]: OPTIONAL,
        [P.TSr]: OPTIONAL,
        [P.NOTIFY]: ANY,
        [P.VENDOR_ID]: ANY,
      },
      oneOf: [P.IDi, P.AUTH, P.EAP],
      together: [[P.SA, P.TSi, P.TSr]],
    },
    response: {
      payloads: {
        [P.IDr]: OPTIONAL,
        [P.CERT]: ANY,
        [P.AUTH]: OPTIONAL,
        [P.EAP]: OPTIONAL,
        [P.CP]: OPTIONAL,
        [P.SA]: OPTIONAL,
        [P.TSi]: OPTIONAL,
        [P.TSr]: OPTIONAL,
        [P.NOTIFY]: ANY,
        [P.VENDOR_ID]: ANY,
      },
      oneOf: [P.IDr, P.AUTH, P.EAP],
      together: [[P.SA, P.TSi, P.TSr]],
    },
  },
  // §1.3: SK {[N(REKEY_SA)], SA, Ni, [KEi], [TSi, TSr]}; TS are absent when rekeying the IKE SA.
  // CP and vendor IDs are accepted as strongSwan sends and accepts them.
  [ExchangeType.CREATE_CHILD_SA]: {
    encrypted: true,
    request: {
      payloads: {
        [P.SA]: ONE,
        [P.NONCE]: ONE,
        [P.KE]: OPTIONAL,
        [P.TSi]: OPTIONAL,
        [P.TSr]: OPTIONAL,
        [P.CP]: OPTIONAL,
        [P.NOTIFY]: ANY,
        [P.VENDOR_ID]: ANY,
      },
      together: [[P.TSi, P.TSr]],
    },
    response: {
      payloads: {
        [P.SA]: ONE,
        [P.NONCE]: ONE,
        [P.KE]: OPTIONAL,
        [P.TSi]: OPTIONAL,
        [P.TSr]: OPTIONAL,
        [P.CP]: OPTIONAL,
        [P.NOTIFY]: ANY,
        [P.VENDOR_ID]: ANY,
      },
      together: [[P.TSi, P.TSr]],
    },
  },
  // §1.4: SK {[N,] [D,] [CP,] ...}; an empty one is a liveness check (§2.4).
  [ExchangeType.INFORMATIONAL]: {
    encrypted: true,
    request: { payloads: { [P.NOTIFY]: ANY, [P.DELETE]: ANY, [P.CP]: OPTIONAL, [P.VENDOR_ID]: ANY } },
    response: { payloads: { [P.NOTIFY]: ANY, [P.DELETE]: ANY, [P.CP]: OPTIONAL, [P.VENDOR_ID]: ANY } },
  },
};

export type PayloadCheck =
  | { ok: true }
  | {
      ok: false;
      /** Required payload types that are absent (for oneOf: all of the alternatives). */
      missing: number[];
      /** Known payload types this exchange and direction does not allow. */
      unexpected: number[];
      /** Payload types that occur more often than allowed. */
      tooMany: number[];
      /** No rule for this exchange type: the core does not take part in it. */
      unknownExchange?: true;
      message: string;
    };

function failure(
  parts: { missing?: number[]; unexpected?: number[]; tooMany?: number[]; unknownExchange?: true },
  message: string,
): PayloadCheck {
  return {
    ok: false,
    missing: parts.missing ?? [],
    unexpected: parts.unexpected ?? [],
    tooMany: parts.tooMany ?? [],
    ...(parts.unknownExchange ? { unknownExchange: true } : {}),
    message,
  };
}

function names(types: readonly number[]): string {
  return types.map(payloadTypeName).join(", ");
}

/** Does an error notify (or COOKIE, for IKE_SA_INIT) stand in for the usual payloads? */
function errorAnswer(exchangeType: number, isResponse: boolean, notifyTypes: readonly number[]): boolean {
  if (!isResponse) return false;
  return notifyTypes.some(
    (n) => isErrorNotify(n) || (exchangeType === ExchangeType.IKE_SA_INIT && n === NotifyType.COOKIE),
  );
}

/**
 * Checks the content payloads of one message. `payloadTypes` lists every payload's type in any
 * order; `notifyTypes` the Notify Message Types of its Notify payloads (needed to recognise an
 * error response). Use `checkMessagePayloads` to pass payload objects instead.
 */
export function checkPayloads(
  exchangeType: number,
  isResponse: boolean,
  payloadTypes: readonly number[],
  notifyTypes: readonly number[] = [],
): PayloadCheck {
  const exchange = exchangeTypeName(exchangeType);
  const rule = EXCHANGE_RULES[exchangeType];
  if (!rule) return failure({ unknownExchange: true }, `no payload rules for ${exchange}`);
  const direction = isResponse ? rule.response : rule.request;
  const what = `${exchange} ${isResponse ? "response" : "request"}`;

  const counts = new Map<number, number>();
  for (const type of payloadTypes) counts.set(type, (counts.get(type) ?? 0) + 1);
  const allowed = direction.payloads as Partial<Record<number, Count>>;

  const unexpected: number[] = [];
  const tooMany: number[] = [];
  for (const [type, count] of counts) {
    if (!isKnownPayloadType(type)) continue;
    const limit = allowed[type];
    if (limit === undefined) unexpected.push(type);
    else if (count > limit[1]) tooMany.push(type);
  }

  const missing: number[] = [];
  if (!errorAnswer(exchangeType, isResponse, notifyTypes)) {
    for (const [type, limit] of Object.entries(allowed)) {
      if (limit !== undefined && (counts.get(Number(type)) ?? 0) < limit[0]) missing.push(Number(type));
    }
    const oneOf = direction.oneOf;
    if (oneOf && !oneOf.some((type) => counts.has(type))) missing.push(...oneOf);
    for (const group of direction.together ?? []) {
      const present = group.filter((type) => counts.has(type));
      if (present.length > 0 && present.length < group.length) {
        missing.push(...group.filter((type) => !counts.has(type)));
      }
    }
  }

  if (missing.length === 0 && unexpected.length === 0 && tooMany.length === 0) return { ok: true };
  const problems = [
    missing.length > 0 ? `missing ${names(missing)}` : "",
    unexpected.length > 0 ? `unexpected ${names(unexpected)}` : "",
    tooMany.length > 0 ? `too many ${names(tooMany)}` : "",
  ].filter(Boolean);
  return failure({ missing, unexpected, tooMany }, `${what}: ${problems.join("; ")}`);
}

/** `checkPayloads` for decoded payload objects. */
export function checkMessagePayloads(
  exchangeType: number,
  isResponse: boolean,
  payloads: readonly Payload[],
): PayloadCheck {
  const types: number[] = [];
  const notifyTypes: number[] = [];
  for (const payload of payloads) {
    if (payload.type === "unknown") continue;
    types.push(payload.type);
    if (payload.type === PayloadType.NOTIFY) notifyTypes.push(payload.notifyType);
  }
  return checkPayloads(exchangeType, isResponse, types, notifyTypes);
}

/**
 * Checks the outside of a message: the protected exchanges carry exactly one SK or SKF payload
 * and nothing else unprotected (strongSwan likewise refuses unencrypted payloads there);
 * IKE_SA_INIT carries neither.
 */
export function checkEnvelope(exchangeType: number, outerPayloadTypes: readonly number[]): PayloadCheck {
  const exchange = exchangeTypeName(exchangeType);
  const rule = EXCHANGE_RULES[exchangeType];
  if (!rule) return failure({ unknownExchange: true }, `no payload rules for ${exchange}`);
  const encrypted = outerPayloadTypes.filter((t) => t === PayloadType.SK || t === PayloadType.SKF);
  if (!rule.encrypted) {
    return encrypted.length === 0
      ? { ok: true }
      : failure({ unexpected: encrypted }, `${exchange} is not encrypted but carries ${names(encrypted)}`);
  }
  const others = outerPayloadTypes.filter(
    (t) => t !== PayloadType.SK && t !== PayloadType.SKF && isKnownPayloadType(t),
  );
  if (encrypted.length === 0) {
    return failure({ missing: [PayloadType.SK], unexpected: others }, `${exchange} without an SK payload`);
  }
  if (others.length > 0 || encrypted.length > 1) {
    return failure(
      { unexpected: others, tooMany: encrypted.length > 1 ? [encrypted[0] ?? PayloadType.SK] : [] },
      `${exchange} carries ${names(others)} outside its SK payload`,
    );
  }
  return { ok: true };
}
