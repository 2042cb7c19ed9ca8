/**
 * How many IKE exchanges (RFC 7296 §1.2–§1.5) ended, and how, by connection × exchange type ×
 * role × result: the source of `pavise_ike_exchanges_total` (operator-surfaces design §6).
 * Pure: the IKE SA notes each exchange as it ends ({@link ExchangeOutcome}), the endpoint adds
 * them up here; nothing here reads a clock or a socket.
 *
 * Results:
 * - ok: the exchange got its (authenticated) answer, and did not end the IKE SA it was meant to
 *   set up (IKE_SA_INIT, IKE_AUTH).
 * - failed: the answer was a refusal that ended the IKE SA during set-up (NO_PROPOSAL_CHOSEN,
 *   AUTHENTICATION_FAILED…), or, as responder, we refused the request.
 * - timeout: our request went unanswered through every retransmission (§2.1, §2.4).
 */
import { ExchangeType } from "../codec/header.js";

export type ExchangeName = "IKE_SA_INIT" | "IKE_AUTH" | "CREATE_CHILD_SA" | "INFORMATIONAL" | "other";
export type ExchangeRole = "initiator" | "responder";
export type ExchangeResult = "ok" | "failed" | "timeout";

/** One exchange that ended, as the IKE SA notes it (the type is the header's number). */
export interface ExchangeOutcome {
  exchangeType: number;
  role: ExchangeRole;
  result: ExchangeResult;
}

export interface ExchangeCount {
  connection: string;
  exchange: ExchangeName;
  role: ExchangeRole;
  result: ExchangeResult;
  count: number;
}

/** The exchange's name (RFC 7296 §3.1); anything else (RFC 7383 IKE_INTERMEDIATE…) is "other". */
export function exchangeName(exchangeType: number): ExchangeName {
  switch (exchangeType) {
    case ExchangeType.IKE_SA_INIT:
      return "IKE_SA_INIT";
    case ExchangeType.IKE_AUTH:
      return "IKE_AUTH";
    case ExchangeType.CREATE_CHILD_SA:
      return "CREATE_CHILD_SA";
    case ExchangeType.INFORMATIONAL:
      return "INFORMATIONAL";
    default:
      return "other";
  }
}

/**
 * Counts by connection. Connection names come from configuration, so the label sets are
 * bounded by it; `connection` is "" for an IKE_SA_INIT refused before any connection matched.
 */
export class ExchangeCounters {
  private readonly counts = new Map<string, ExchangeCount>();

  record(connection: string, outcome: ExchangeOutcome): void {
    const exchange = exchangeName(outcome.exchangeType);
    const key = `${connection}\0${exchange}\0${outcome.role}\0${outcome.result}`;
    const found = this.counts.get(key);
    if (found) found.count += 1;
    else this.counts.set(key, { connection, exchange, role: outcome.role, result: outcome.result, count: 1 });
  }

  /** Every count so far (copies), in the order first seen. */
  entries(): ExchangeCount[] {
    return [...this.counts.values()].map((c) => ({ ...c }));
  }
}
