import { describe, expect, it } from "vitest";
import { lagBetween, lagText, loopLagOf, ticksLaterThan } from "../support/loop-lag-metrics.js";

// The load test's reading of a daemon's event-loop lag from /metrics (test/support/
// loop-lag-metrics.ts): bucket deltas between two scrapes, quantiles as bucket bounds, and the
// window's largest lag exact only when the since-start max grew in it.

function scrape(buckets: Record<string, number>, max: number, streams = 0): string {
  const lines = [
    "# HELP pavise_event_loop_lag_seconds How late the fence's event-loop tick ran.",
    "# TYPE pavise_event_loop_lag_seconds histogram",
    ...Object.entries(buckets).map(([le, n]) => `pavise_event_loop_lag_seconds_bucket{le="${le}"} ${n}`),
    `pavise_event_loop_lag_seconds_sum 0.5`,
    `pavise_event_loop_lag_seconds_count ${buckets["+Inf"]}`,
    "# HELP pavise_event_loop_lag_max_seconds The largest event-loop lag since the daemon started.",
    "# TYPE pavise_event_loop_lag_max_seconds gauge",
    `pavise_event_loop_lag_max_seconds ${max}`,
    "# HELP pavise_api_sse_clients Live event streams (SSE) open now.",
    "# TYPE pavise_api_sse_clients gauge",
    `pavise_api_sse_clients ${streams}`,
  ];
  return `${lines.join("\n")}\n`;
}

const before = loopLagOf(scrape({ "0.001": 90, "0.01": 99, "0.1": 100, "+Inf": 100 }, 0.08));

describe("event-loop lag between two /metrics readings", () => {
  it("counts the ticks in between, with p50/p99 as bucket bounds and an exact max when the gauge grew", () => {
    // 200 more ticks: 150 ≤ 1 ms, 47 in (1, 10] ms, 3 in (10, 100] ms; the max grew to 95 ms.
    const after = loopLagOf(scrape({ "0.001": 240, "0.01": 296, "0.1": 300, "+Inf": 300 }, 0.095, 10));
    const w = lagBetween(before, after);
    expect(w).toEqual({ ticks: 200, p50Ms: 1, p99Ms: 100, maxMs: 95, maxExact: true });
    expect(ticksLaterThan(before, after, 0.01)).toBe(3);
    expect(after.sseClients).toBe(10);
    expect(lagText(w)).toBe("200 ticks, p50 ≤ 1 ms, p99 ≤ 100 ms, max 95 ms");
  });

  it("bounds the max by the highest bucket that grew and the max before, when the gauge did not grow", () => {
    // 100 more ticks, none later than 10 ms: the max (80 ms, from before) is not theirs.
    const after = loopLagOf(scrape({ "0.001": 180, "0.01": 199, "0.1": 200, "+Inf": 200 }, 0.08));
    const w = lagBetween(before, after);
    expect(w).toMatchObject({ ticks: 100, p99Ms: 10, maxMs: 10, maxExact: false });
    expect(lagText(w)).toContain("max ≤ 10 ms");
    // A tick over the highest finite bound: only the max before bounds it.
    const late = loopLagOf(scrape({ "0.001": 95, "0.01": 104, "0.1": 105, "+Inf": 106 }, 0.08));
    expect(lagBetween(before, late)).toMatchObject({
      ticks: 6,
      p99Ms: Infinity,
      maxMs: 80,
      maxExact: false,
    });
  });
});
