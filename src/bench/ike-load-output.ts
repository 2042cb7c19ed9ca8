/**
 * What the IKE load generator (ike-load-generator.ts) prints, one JSON object per line on
 * stdout, and how the benchmark driver (ike-bench.ts) reads it back from the process's log.
 * Kept apart from the generator, whose module runs the program when it is imported.
 */

export const LOADGEN_READY = "ike-loadgen-ready";
export const LOADGEN_HELD = "ike-loadgen-held";
export const LOADGEN_RESULT = "ike-loadgen-result";
export const LOADGEN_ERROR = "ike-loadgen-error";

export type LoadgenMode = "rate" | "hold";

/** Printed once the UDP sockets are bound (before the first IKE_SA_INIT). */
export interface LoadgenReady {
  kind: typeof LOADGEN_READY;
  local: string;
  remote: string;
}

/** Hold mode: printed once `count` IKE SAs (each with its Child SA) are up and kept. */
export interface LoadgenHeld {
  kind: typeof LOADGEN_HELD;
  established: number;
  failed: number;
  elapsedMs: number;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** The last line, printed before the generator exits (rate mode at the end of its window). */
export interface LoadgenResult {
  kind: typeof LOADGEN_RESULT;
  mode: LoadgenMode;
  local: string;
  remote: string;
  proposal: string;
  esp: string;
  concurrency: number;
  /** Rate mode: the measured window, after the warm-up. */
  windowMs: number;
  /** Handshakes (IKE_SA_INIT + IKE_AUTH with the first Child SA) completed inside the window. */
  completedInWindow: number;
  /** completedInWindow per second of the window. */
  handshakesPerSecond: number;
  /** Latency from the first IKE_SA_INIT to the Child SA, of the handshakes in the window (ms). */
  latencyMs: LatencySummary | undefined;
  /** Whole run: initiated, completed, failed (IKE SA down before its Child SA was up). */
  initiated: number;
  completed: number;
  failed: number;
  /** A few distinct failure reasons, for the report. */
  failureReasons: string[];
  /** Requests sent by exchange type; more than one IKE_SA_INIT per SA means retransmissions. */
  requestsSent: { ikeSaInit: number; ikeAuth: number; informational: number };
  /** Datagrams sent again because no answer came in time (the core's retransmission timer). */
  retransmissions: number;
  /** Rate mode with deletes: IKE SAs deleted after they were up, and deletes the peer answered. */
  deletesSent: number;
  deletesAnswered: number;
  /** CPU over the window: this process, and the responder's (when --watch-pid was given). */
  cpu: {
    generatorPercent: number;
    responderPercent: number | undefined;
    /** Responder CPU time (user + system) per completed handshake, in ms. */
    responderMsPerHandshake: number | undefined;
  };
}

/** Printed (besides a message on stderr) when the generator cannot go on; it then exits 1. */
export interface LoadgenError {
  kind: typeof LOADGEN_ERROR;
  message: string;
}

export type LoadgenLine = LoadgenReady | LoadgenHeld | LoadgenResult | LoadgenError;

/** Every generator line in a log, in order; other lines (warnings on stderr) are skipped. */
export function parseLoadgenLines(log: string): LoadgenLine[] {
  const lines: LoadgenLine[] = [];
  for (const raw of log.split("\n")) {
    const line = raw.trim();
    if (!line.startsWith("{")) continue;
    try {
      const parsed = JSON.parse(line) as { kind?: unknown };
      if (
        parsed.kind === LOADGEN_READY ||
        parsed.kind === LOADGEN_HELD ||
        parsed.kind === LOADGEN_RESULT ||
        parsed.kind === LOADGEN_ERROR
      ) {
        lines.push(parsed as LoadgenLine);
      }
    } catch {
      // a partly written line: read again later
    }
  }
  return lines;
}

/** Nearest-rank percentiles of a list of samples (undefined for none). */
export function summarizeLatency(samples: readonly number[]): LatencySummary | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => {
    const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
    return Math.round((sorted[index] ?? 0) * 100) / 100;
  };
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}
