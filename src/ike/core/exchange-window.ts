/**
 * Message IDs, retransmission and the response cache of one IKE SA (RFC 7296 §2.1–§2.3), with
 * a window of one: at most one request of ours in flight, and the peer's requests answered in
 * order. Plain data, so the whole IKE SA can be exported and restored (RFC 6311 continuity).
 */
export interface ExchangeWindow {
  /** Message ID of our next request. */
  nextRequestId: number;
  inFlight: RequestInFlight | undefined;
  /** Message ID the peer's next new request must carry. */
  expectedPeerRequestId: number;
  /** Our answer to the peer's last request, sent again when the request is repeated (§2.1). */
  lastResponse: CachedResponse | undefined;
}

export interface RequestInFlight {
  messageId: number;
  exchangeType: number;
  /** The datagrams of the request (several when fragmented), sent again as they are. */
  datagrams: Uint8Array[];
  /** Transmissions so far, the first included. */
  transmissions: number;
  /** When to retransmit or, after the last try, give up. */
  deadline: number;
}

export interface CachedResponse {
  messageId: number;
  datagrams: Uint8Array[];
}

/** strongSwan's retransmission settings (charon.retransmit_*): 4 s, ×1.8, 5 retransmissions. */
export interface RetransmitPolicy {
  timeoutMs: number;
  base: number;
  tries: number;
}

export function newExchangeWindow(): ExchangeWindow {
  return { nextRequestId: 0, inFlight: undefined, expectedPeerRequestId: 0, lastResponse: undefined };
}

/** How long after transmission number `transmissions` (1 = the first) to wait. */
export function retransmitDelay(policy: RetransmitPolicy, transmissions: number): number {
  return Math.round(policy.timeoutMs * policy.base ** (transmissions - 1));
}

/** Records a new request as sent; the caller must have checked that nothing is in flight. */
export function sendRequest(
  window: ExchangeWindow,
  now: number,
  exchangeType: number,
  datagrams: Uint8Array[],
  policy: RetransmitPolicy,
): RequestInFlight {
  if (window.inFlight) throw new Error("sendRequest: a request is already in flight (window size 1)");
  const request: RequestInFlight = {
    messageId: window.nextRequestId,
    exchangeType,
    datagrams,
    transmissions: 1,
    deadline: now + retransmitDelay(policy, 1),
  };
  window.inFlight = request;
  window.nextRequestId = (window.nextRequestId + 1) >>> 0;
  return request;
}

export type TimeoutOutcome =
  | { kind: "idle" }
  | { kind: "retransmit"; datagrams: Uint8Array[]; transmission: number }
  | { kind: "give-up"; messageId: number; exchangeType: number };

/** At a deadline: send the request again, or — after the last retransmission — give up (§2.4). */
export function onRequestTimeout(
  window: ExchangeWindow,
  now: number,
  policy: RetransmitPolicy,
): TimeoutOutcome {
  const request = window.inFlight;
  if (!request || now < request.deadline) return { kind: "idle" };
  if (request.transmissions > policy.tries) {
    window.inFlight = undefined;
    return { kind: "give-up", messageId: request.messageId, exchangeType: request.exchangeType };
  }
  request.transmissions += 1;
  request.deadline = now + retransmitDelay(policy, request.transmissions);
  return { kind: "retransmit", datagrams: request.datagrams, transmission: request.transmissions };
}

/**
 * Whether a response belongs to our request in flight. Only call `completeRequest` after the
 * response proved authentic (it decrypted), so a forged response cannot end an exchange.
 */
export function matchesInFlight(window: ExchangeWindow, messageId: number, exchangeType: number): boolean {
  return window.inFlight?.messageId === messageId && window.inFlight.exchangeType === exchangeType;
}

export function completeRequest(window: ExchangeWindow): void {
  window.inFlight = undefined;
}

export type RequestClass =
  /** The next request: process it. */
  | { kind: "new" }
  /** The last request again: send the cached response, do nothing else (§2.1). */
  | { kind: "repeat"; datagrams: Uint8Array[] }
  /** Older, or beyond the window: drop it silently (§2.3). */
  | { kind: "drop"; reason: string };

export function classifyRequest(window: ExchangeWindow, messageId: number): RequestClass {
  if (messageId === window.expectedPeerRequestId) return { kind: "new" };
  const last = window.lastResponse;
  if (last && messageId === last.messageId) return { kind: "repeat", datagrams: last.datagrams };
  return messageId < window.expectedPeerRequestId
    ? { kind: "drop", reason: `message ID ${messageId} is older than the last request` }
    : {
        kind: "drop",
        reason: `message ID ${messageId} is outside the window (expected ${window.expectedPeerRequestId})`,
      };
}

/** Records our response to the peer's request, which moves the window on. */
export function recordResponse(window: ExchangeWindow, messageId: number, datagrams: Uint8Array[]): void {
  window.lastResponse = { messageId, datagrams };
  window.expectedPeerRequestId = (messageId + 1) >>> 0;
}
