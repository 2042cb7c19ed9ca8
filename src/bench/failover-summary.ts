/**
 * bench:failover's figures, pure: per system and scenario the client's longest gap over the
 * runs (median, max), the longest time two nodes held the address at once, and the comparison
 * with DESIGN.md's targets (node crash < 2 s, planned move < 0.5 s, never two owners).
 */

export type FailoverSystem = "pavise" | "keepalived";
export type FailoverScenario = "crash" | "move";

export interface FailoverRun {
  system: FailoverSystem;
  scenario: FailoverScenario;
  /** The client's longest interval without an answer (ms). */
  gapMs: number;
  /** From the fault until another node held the address (ms). */
  takeoverMs: number;
  /** Longest time two live nodes held the address at once (ms); 0 is the only good value. */
  overlapMs: number;
  /** Requests answered / sent by the client during the run. */
  answered: number;
  sent: number;
  /** Pavise only: the crashed node was etcd's leader, so etcd had to elect one first. */
  etcdLeaderCrashed?: boolean;
}

export interface FailoverFigure {
  system: FailoverSystem;
  scenario: FailoverScenario;
  runs: number;
  gapMedianMs: number;
  gapMaxMs: number;
  takeoverMedianMs: number;
  overlapMaxMs: number;
}

export interface FailoverSummary {
  figures: FailoverFigure[];
  /** Pavise crash runs in which the etcd leader went down with the node, and their gaps. */
  etcdLeaderCrashes: { runs: number; gapsMs: number[] };
  /** keepalived's median crash gap over Pavise's (how many times faster Pavise is back). */
  crashSpeedup: number | undefined;
  targets: { name: string; limitMs: number; valueMs: number | undefined; met: boolean | undefined }[];
}

export const CRASH_TARGET_MS = 2000;
export const MOVE_TARGET_MS = 500;

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function summariseFailover(runs: readonly FailoverRun[]): FailoverSummary {
  const figures: FailoverFigure[] = [];
  for (const system of ["pavise", "keepalived"] as const) {
    for (const scenario of ["crash", "move"] as const) {
      const mine = runs.filter((r) => r.system === system && r.scenario === scenario);
      if (mine.length === 0) continue;
      figures.push({
        system,
        scenario,
        runs: mine.length,
        gapMedianMs: median(mine.map((r) => r.gapMs)),
        gapMaxMs: Math.max(...mine.map((r) => r.gapMs)),
        takeoverMedianMs: median(mine.map((r) => r.takeoverMs)),
        overlapMaxMs: Math.max(...mine.map((r) => r.overlapMs)),
      });
    }
  }
  const find = (system: FailoverSystem, scenario: FailoverScenario): FailoverFigure | undefined =>
    figures.find((f) => f.system === system && f.scenario === scenario);
  const paviseCrash = find("pavise", "crash");
  const keepalivedCrash = find("keepalived", "crash");
  const paviseMove = find("pavise", "move");
  const overlap = figures.filter((f) => f.system === "pavise").map((f) => f.overlapMaxMs);
  const target = (name: string, limitMs: number, valueMs: number | undefined, strict = true) => ({
    name,
    limitMs,
    valueMs,
    met: valueMs === undefined ? undefined : strict ? valueMs < limitMs : valueMs <= limitMs,
  });
  const leaderCrashes = runs.filter(
    (r) => r.system === "pavise" && r.scenario === "crash" && r.etcdLeaderCrashed,
  );
  return {
    figures,
    etcdLeaderCrashes: { runs: leaderCrashes.length, gapsMs: leaderCrashes.map((r) => r.gapMs) },
    crashSpeedup:
      paviseCrash && keepalivedCrash && paviseCrash.gapMedianMs > 0
        ? keepalivedCrash.gapMedianMs / paviseCrash.gapMedianMs
        : undefined,
    targets: [
      target("node crash to service (max)", CRASH_TARGET_MS, paviseCrash?.gapMaxMs),
      target("planned move gap (max)", MOVE_TARGET_MS, paviseMove?.gapMaxMs),
      target("two owners at once (max)", 0, overlap.length > 0 ? Math.max(...overlap) : undefined, false),
    ],
  };
}

const SCENARIO_TEXT: Record<FailoverScenario, string> = {
  crash: "owner node crashes",
  move: "planned move",
};

/** The report as text: a table, the ratio, the targets. */
export function renderFailoverSummary(summary: FailoverSummary): string {
  const ms = (v: number) => `${Math.round(v).toLocaleString("en-US")} ms`;
  const rows = summary.figures.map((f) => [
    f.system,
    SCENARIO_TEXT[f.scenario],
    String(f.runs),
    ms(f.gapMedianMs),
    ms(f.gapMaxMs),
    ms(f.takeoverMedianMs),
    ms(f.overlapMaxMs),
  ]);
  const header = [
    "system",
    "scenario",
    "runs",
    "gap median",
    "gap max",
    "takeover median",
    "two owners (max)",
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const out = [line(header), ...rows.map(line), ""];
  const leader = summary.etcdLeaderCrashes;
  const crashRuns = summary.figures.find((f) => f.system === "pavise" && f.scenario === "crash")?.runs ?? 0;
  if (crashRuns > 0) {
    out.push(
      `Pavise crash runs in which etcd's leader went down with n1 (etcd elects first): ${leader.runs} of ${crashRuns}` +
        (leader.runs > 0 ? ` (gaps ${leader.gapsMs.map(ms).join(", ")})` : ""),
    );
  }
  if (summary.crashSpeedup !== undefined) {
    out.push(`node crash, client's gap: keepalived / Pavise = ${summary.crashSpeedup.toFixed(2)}×`);
  }
  for (const t of summary.targets) {
    const verdict = t.met === undefined ? "not measured" : t.met ? "met" : "NOT met";
    const value = t.valueMs === undefined ? "-" : ms(t.valueMs);
    const limit = t.limitMs === 0 ? "0 ms" : `< ${ms(t.limitMs)}`;
    out.push(`target ${t.name} ${limit}: ${value} (${verdict})`);
  }
  return out.join("\n");
}
