/**
 * What a traffic run measured, computed from what the sender recorded. Pure: the agent
 * (traffic-agent.ts) records events with its own clock and hands them here; unit tests hand in
 * made-up events. Never throws: odd input (replies to unknown requests, times outside the run)
 * is counted or clamped, not rejected.
 *
 * All times are milliseconds on one clock (the agent uses epoch milliseconds, so a report can be
 * laid next to an address timeline).
 */

export interface SentRequest {
  seq: number;
  sentAt: number;
}

export interface ReceivedReply {
  seq: number;
  receivedAt: number;
}

export interface TrafficEvents {
  startedAt: number;
  stoppedAt: number;
  sent: readonly SentRequest[];
  received: readonly ReceivedReply[];
  /** TCP: connections opened after the first one (attempts: a refused one counts too). */
  reconnects?: number;
}

/** An interval without any successful exchange. */
export interface TrafficGap {
  /** Start of the gap, in ms after the start of the run. */
  startOffsetMs: number;
  durationMs: number;
}

export interface RttSummary {
  p50: number;
  p99: number;
  max: number;
}

export interface TrafficReport {
  startedAt: number;
  stoppedAt: number;
  durationMs: number;
  sent: number;
  /** Requests with at least one reply (a request answered twice counts once). */
  received: number;
  lost: number;
  /** lost / sent; 0 when nothing was sent. */
  lossRatio: number;
  /**
   * Longest interval without a successful exchange, counting from the start of the run to the
   * first reply and from the last reply to the stop. With no reply at all it is the whole run.
   */
  maxGapMs: number;
  /** The longest gaps, longest first (ties: earliest first). */
  gaps: TrafficGap[];
  /** Round-trip times of answered requests; null when nothing was answered. */
  rttMs: RttSummary | null;
  reconnects: number;
  /** Replies beyond the first for the same request. */
  duplicates: number;
  /** Replies whose sequence number was never sent (corrupt or stray). */
  unexpected: number;
}

export const DEFAULT_TOP_GAPS = 5;

/**
 * A successful exchange is the first reply to a request; its instant is the reply's arrival.
 * Reply times are clamped into [startedAt, stoppedAt]: a reply that arrives while the agent
 * drains after the stop closes no gap beyond the stop.
 */
export function computeTrafficReport(
  events: TrafficEvents,
  options: { topGaps?: number } = {},
): TrafficReport {
  const startedAt = events.startedAt;
  const stoppedAt = Math.max(events.stoppedAt, startedAt);
  const topGaps = Math.max(0, Math.floor(options.topGaps ?? DEFAULT_TOP_GAPS));

  const sentAt = new Map<number, number>();
  for (const request of events.sent) {
    if (!sentAt.has(request.seq)) sentAt.set(request.seq, request.sentAt);
  }

  const firstReply = new Map<number, number>();
  let duplicates = 0;
  let unexpected = 0;
  for (const reply of events.received) {
    if (!sentAt.has(reply.seq)) {
      unexpected++;
    } else if (firstReply.has(reply.seq)) {
      duplicates++;
      // Keep the earliest arrival even if the list is not in arrival order.
      const seen = firstReply.get(reply.seq) ?? reply.receivedAt;
      if (reply.receivedAt < seen) firstReply.set(reply.seq, reply.receivedAt);
    } else {
      firstReply.set(reply.seq, reply.receivedAt);
    }
  }

  const rtts: number[] = [];
  const successTimes: number[] = [];
  for (const [seq, receivedAt] of firstReply) {
    rtts.push(receivedAt - (sentAt.get(seq) ?? receivedAt));
    successTimes.push(clamp(receivedAt, startedAt, stoppedAt));
  }
  successTimes.sort((a, b) => a - b);

  const gaps: TrafficGap[] = [];
  let previous = startedAt;
  for (const at of [...successTimes, stoppedAt]) {
    gaps.push({ startOffsetMs: previous - startedAt, durationMs: at - previous });
    previous = at;
  }
  const maxGapMs = gaps.reduce((max, gap) => Math.max(max, gap.durationMs), 0);
  gaps.sort((a, b) => b.durationMs - a.durationMs || a.startOffsetMs - b.startOffsetMs);

  const sent = sentAt.size;
  const received = firstReply.size;
  const lost = sent - received;
  return {
    startedAt,
    stoppedAt,
    durationMs: stoppedAt - startedAt,
    sent,
    received,
    lost,
    lossRatio: sent === 0 ? 0 : lost / sent,
    maxGapMs,
    gaps: gaps.slice(0, topGaps),
    rttMs: summariseRtt(rtts),
    reconnects: events.reconnects ?? 0,
    duplicates,
    unexpected,
  };
}

/** Percentiles by nearest rank: the smallest value with at least p % of values at or below it. */
export function percentile(sortedAscending: readonly number[], p: number): number | undefined {
  if (sortedAscending.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * sortedAscending.length);
  const index = clamp(rank - 1, 0, sortedAscending.length - 1);
  return sortedAscending[index];
}

function summariseRtt(rtts: number[]): RttSummary | null {
  if (rtts.length === 0) return null;
  const sorted = [...rtts].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50) ?? 0,
    p99: percentile(sorted, 99) ?? 0,
    max: sorted[sorted.length - 1] ?? 0,
  };
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high);
}
