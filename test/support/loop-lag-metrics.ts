import { apiCall, type ApiTarget } from "./api-client.js";
import { parsePrometheusText, sampleValue } from "./prometheus-text.js";

// A daemon's event-loop lag as its /metrics reports it (src/metrics/daemon-metrics.ts): the
// fence's tick lag histogram `pavise_event_loop_lag_seconds` (cumulative buckets since the
// daemon started) and `pavise_event_loop_lag_max_seconds` (the largest since then). Two readings
// bound what happened between them: how many ticks, which bucket holds the p50/p99, and the
// largest lag — exactly when the max grew in the window, otherwise only bounded.

export interface LoopLagReading {
  /** Cumulative tick counts by upper bound in seconds (+Inf as Infinity), ascending. */
  buckets: [number, number][];
  maxSeconds: number;
  /** Live event streams open on the node (pavise_api_sse_clients). */
  sseClients: number;
}

/** Reads a node's /metrics with a monitor's bearer token. */
export async function readLoopLag(target: ApiTarget, ca: Buffer, token: string): Promise<LoopLagReading> {
  const answer = await apiCall(target, "GET", "/metrics", {
    ca,
    headers: { authorization: `Bearer ${token}` },
  });
  if (answer.status !== 200)
    throw new Error(`GET /metrics answered ${answer.status}: ${answer.text.slice(0, 200)}`);
  return loopLagOf(answer.text);
}

/** The lag figures of one /metrics answer. */
export function loopLagOf(metricsText: string): LoopLagReading {
  const families = parsePrometheusText(metricsText);
  const buckets: [number, number][] = [];
  for (const s of families.get("pavise_event_loop_lag_seconds")?.samples ?? [])
    if (s.name.endsWith("_bucket"))
      buckets.push([s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), s.value]);
  buckets.sort((a, b) => a[0] - b[0]);
  return {
    buckets,
    maxSeconds: sampleValue(families, "pavise_event_loop_lag_max_seconds", {}),
    sseClients: sampleValue(families, "pavise_api_sse_clients", {}),
  };
}

/** The lag between two readings, in ms; quantiles are the upper bound of their bucket. */
export interface LagWindow {
  ticks: number;
  p50Ms: number;
  p99Ms: number;
  /** The largest lag in the window, or a bound on it when not `maxExact`. */
  maxMs: number;
  /** The max gauge grew in the window, so its value is the window's largest lag. */
  maxExact: boolean;
}

export function lagBetween(before: LoopLagReading, after: LoopLagReading): LagWindow {
  const counts = after.buckets.map(([le, n]): [number, number] => [
    le,
    n - (before.buckets.find(([b]) => b === le)?.[1] ?? 0),
  ]);
  const ticks = counts.at(-1)?.[1] ?? 0;
  const quantile = (q: number): number => (counts.find(([, n]) => n >= q * ticks)?.[0] ?? Infinity) * 1000;
  if (after.maxSeconds > before.maxSeconds) {
    return {
      ticks,
      p50Ms: quantile(0.5),
      p99Ms: quantile(0.99),
      maxMs: after.maxSeconds * 1000,
      maxExact: true,
    };
  }
  // The largest lag is in the highest bucket that grew, and no larger than the max before.
  const highest = counts.findIndex(([, n]) => n === ticks);
  const bound = highest === -1 ? Infinity : counts[highest]![0];
  return {
    ticks,
    p50Ms: quantile(0.5),
    p99Ms: quantile(0.99),
    maxMs: Math.min(bound, before.maxSeconds) * 1000,
    maxExact: false,
  };
}

/** "p99 ≤ 5 ms" style text for a window. */
export function lagText(w: LagWindow): string {
  const ms = (v: number): string => (v === Infinity ? "+Inf" : `${+v.toFixed(1)}`);
  return `${w.ticks} ticks, p50 ≤ ${ms(w.p50Ms)} ms, p99 ≤ ${ms(w.p99Ms)} ms, max ${w.maxExact ? "" : "≤ "}${ms(w.maxMs)} ms`;
}

/** Ticks between two readings that ran later than `seconds` (a bucket bound: 0.01, 0.025, …). */
export function ticksLaterThan(before: LoopLagReading, after: LoopLagReading, seconds: number): number {
  const at = (r: LoopLagReading, le: number): number => r.buckets.find(([b]) => b === le)?.[1] ?? 0;
  const ticks = at(after, Infinity) - at(before, Infinity);
  return ticks - (at(after, seconds) - at(before, seconds));
}
