/**
 * What a chaos soak reports: one record per fault, and per fault kind how often it came up and
 * how long the cluster took to recover (median, max). Pure.
 */

export interface FaultRecord {
  index: number;
  kind: string;
  description: string;
  /** From the injection until settled with the fault still on (undefined: settled only after the heal). */
  settledMs?: number;
  /** From the heal until settled again. */
  healedMs?: number;
  /** Injection to settled: settledMs, or for a fault that is healed first, its length plus healedMs. */
  recoveryMs?: number;
  /** The client's longest gap per package over the whole fault (inject, settle, heal, settle). */
  gaps: Record<string, number>;
  violations: string[];
}

export interface KindSummary {
  kind: string;
  count: number;
  medianRecoveryMs: number;
  maxRecoveryMs: number;
  maxGapMs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summariseByKind(records: readonly FaultRecord[]): KindSummary[] {
  const kinds = [...new Set(records.map((r) => r.kind))].sort();
  return kinds.map((kind) => {
    const mine = records.filter((r) => r.kind === kind);
    const recoveries = mine.flatMap((r) => (r.recoveryMs === undefined ? [] : [r.recoveryMs]));
    return {
      kind,
      count: mine.length,
      medianRecoveryMs: median(recoveries),
      maxRecoveryMs: recoveries.length > 0 ? Math.max(...recoveries) : Number.NaN,
      maxGapMs: Math.max(0, ...mine.flatMap((r) => Object.values(r.gaps))),
    };
  });
}

const ms = (value: number | undefined): string =>
  value === undefined || Number.isNaN(value) ? "-" : `${Math.round(value)} ms`;

export function renderFaultLine(r: FaultRecord): string {
  const gaps = Object.entries(r.gaps)
    .map(([pkg, gap]) => `${pkg} ${Math.round(gap)}`)
    .join(", ");
  const settle =
    r.settledMs !== undefined
      ? `settled ${ms(r.settledMs)} after the fault, ${ms(r.healedMs)} after the heal`
      : `settled ${ms(r.healedMs)} after the heal (recovery ${ms(r.recoveryMs)})`;
  const bad = r.violations.length > 0 ? `  VIOLATION: ${r.violations.join("; ")}` : "";
  return `#${String(r.index).padStart(2)} ${r.kind.padEnd(18)} ${r.description}: ${settle}; client's longest gap ms: ${gaps}${bad}`;
}

export function renderSummary(summaries: readonly KindSummary[]): string {
  const header = ["fault", "count", "median recovery", "max recovery", "max client gap"];
  const rows = summaries.map((s) => [
    s.kind,
    String(s.count),
    ms(s.medianRecoveryMs),
    ms(s.maxRecoveryMs),
    ms(s.maxGapMs),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}
