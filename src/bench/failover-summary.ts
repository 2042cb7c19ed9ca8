/**
 * bench:failover's figures, pure: per system, etcd placement and scenario the client's longest
 * gap over the runs (median, max), the longest time two nodes held the address at once, and, per
 * etcd placement, the comparison with DESIGN.md's targets (node crash < 2 s, planned move
 * < 0.5 s, never two owners) and with keepalived.
 */
import type { EtcdPlacement } from "../lab/spec.js";
import type { FailoverTimeline } from "./failover-timeline.js";
import type { FailoverIpsecRun } from "./failover-ipsec-summary.js";

export type FailoverSystem = "pavise" | "keepalived";
/**
 * "etcd-leader": only etcd's leader member dies; no package should move. "steady": nothing
 * happens for a while; nothing should move either. Both Pavise only.
 */
export type FailoverScenario = "crash" | "move" | "etcd-leader" | "steady";

export interface FailoverRun {
  system: FailoverSystem;
  scenario: FailoverScenario;
  /** Pavise only: where etcd ran (colocated when not said). */
  etcd?: EtcdPlacement;
  /** The client's longest interval without an answer (ms). */
  gapMs: number;
  /** From the fault until another node held the address (ms); 0 when nothing was to move. */
  takeoverMs: number;
  /** Longest time two live nodes held the address at once (ms); 0 is the only good value. */
  overlapMs: number;
  /** Requests answered / sent by the client during the run. */
  answered: number;
  sent: number;
  /** Pavise crash runs: the crashed node was etcd's leader, so etcd had to elect one first. */
  etcdLeaderCrashed?: boolean;
  /** Pavise crash and etcd-leader runs: where the time went, from etcd's and the daemons' logs. */
  timeline?: FailoverTimeline;
  /** Pavise crash and move runs with an IPsec client (--ipsec): what the tunnel added. */
  ipsec?: FailoverIpsecRun;
}

export interface FailoverFigure {
  system: FailoverSystem;
  /** Pavise only. */
  etcd?: EtcdPlacement;
  scenario: FailoverScenario;
  runs: number;
  gapMedianMs: number;
  gapMaxMs: number;
  takeoverMedianMs: number;
  overlapMaxMs: number;
}

export interface FailoverTarget {
  name: string;
  limitMs: number;
  valueMs: number | undefined;
  met: boolean | undefined;
}

/** One etcd placement's verdict. */
export interface PlacementSummary {
  etcd: EtcdPlacement;
  /** Pavise crash runs in which the etcd leader went down with the node, and their gaps. */
  etcdLeaderCrashes: { runs: number; gapsMs: number[] };
  /** Medians over the crash runs (split by whether etcd's leader died too), from the logs. */
  crashTimeline: { etcdLeaderCrashed: boolean; runs: number; medians: TimelineMedians }[];
  /** etcd-leader runs: how many made a package node fence itself, and the client's gaps. */
  leaderChange: { runs: number; fencedRuns: number; gapsMs: number[] } | undefined;
  /**
   * Before any fault, over the runs that read the logs: etcd leader changes and runs in which a
   * daemon fenced itself anyway (the machine's load alone; each would have been an outage).
   */
  beforeFault: { runs: number; etcdLeaderChanges: number; runsWithFence: number; etcdLeaderMoves: number };
  /** keepalived's median crash gap over Pavise's (how many times faster Pavise is back). */
  crashSpeedup: number | undefined;
  targets: FailoverTarget[];
}

export interface TimelineMedians {
  etcdLeaderElectedMs?: number;
  nodeFailedMs?: number;
  startedMs?: number;
  gapMs: number;
}

export interface FailoverSummary {
  figures: FailoverFigure[];
  placements: PlacementSummary[];
}

export const CRASH_TARGET_MS = 2000;
export const MOVE_TARGET_MS = 500;
const PLACEMENTS: EtcdPlacement[] = ["colocated", "separate"];
const SCENARIOS: FailoverScenario[] = ["crash", "move", "etcd-leader", "steady"];

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const placementOf = (run: FailoverRun): EtcdPlacement | undefined =>
  run.system === "pavise" ? (run.etcd ?? "colocated") : undefined;

function figureOf(
  system: FailoverSystem,
  etcd: EtcdPlacement | undefined,
  scenario: FailoverScenario,
  mine: readonly FailoverRun[],
): FailoverFigure {
  return {
    system,
    ...(etcd ? { etcd } : {}),
    scenario,
    runs: mine.length,
    gapMedianMs: median(mine.map((r) => r.gapMs)),
    gapMaxMs: Math.max(...mine.map((r) => r.gapMs)),
    takeoverMedianMs: median(mine.map((r) => r.takeoverMs)),
    overlapMaxMs: Math.max(...mine.map((r) => r.overlapMs)),
  };
}

function timelineMedians(runs: readonly FailoverRun[]): TimelineMedians {
  const of = (key: "etcdLeaderElectedMs" | "nodeFailedMs" | "startedMs"): number | undefined => {
    const values = runs.map((r) => r.timeline?.[key]).filter((v): v is number => v !== undefined);
    return values.length === 0 ? undefined : median(values);
  };
  const medians: TimelineMedians = { gapMs: median(runs.map((r) => r.gapMs)) };
  for (const key of ["etcdLeaderElectedMs", "nodeFailedMs", "startedMs"] as const) {
    const value = of(key);
    if (value !== undefined) medians[key] = value;
  }
  return medians;
}

/** A target line: met when the value is below the limit (or at most the limit, not strict). */
export const target = (
  name: string,
  limitMs: number,
  valueMs: number | undefined,
  strict = true,
): FailoverTarget => ({
  name,
  limitMs,
  valueMs,
  met: valueMs === undefined ? undefined : strict ? valueMs < limitMs : valueMs <= limitMs,
});

/** The plain rows: runs without an IPsec client (those are failover-ipsec-summary.ts's). */
export function summariseFailover(all: readonly FailoverRun[]): FailoverSummary {
  const runs = all.filter((r) => r.ipsec === undefined);
  const figures: FailoverFigure[] = [];
  for (const scenario of SCENARIOS) {
    for (const etcd of PLACEMENTS) {
      const mine = runs.filter((r) => placementOf(r) === etcd && r.scenario === scenario);
      if (mine.length > 0) figures.push(figureOf("pavise", etcd, scenario, mine));
    }
    const keepalived = runs.filter((r) => r.system === "keepalived" && r.scenario === scenario);
    if (keepalived.length > 0) figures.push(figureOf("keepalived", undefined, scenario, keepalived));
  }
  const find = (system: FailoverSystem, etcd: EtcdPlacement | undefined, scenario: FailoverScenario) =>
    figures.find((f) => f.system === system && f.etcd === etcd && f.scenario === scenario);
  const keepalivedCrash = find("keepalived", undefined, "crash");
  const placements: PlacementSummary[] = [];
  for (const etcd of PLACEMENTS) {
    const mine = runs.filter((r) => placementOf(r) === etcd);
    if (mine.length === 0) continue;
    const crash = find("pavise", etcd, "crash");
    const move = find("pavise", etcd, "move");
    const crashRuns = mine.filter((r) => r.scenario === "crash");
    const leaderCrashes = crashRuns.filter((r) => r.etcdLeaderCrashed);
    const leaderRuns = mine.filter((r) => r.scenario === "etcd-leader");
    const overlap = figures.filter((f) => f.etcd === etcd).map((f) => f.overlapMaxMs);
    const logged = mine.flatMap((r) => (r.timeline ? [r.timeline] : []));
    placements.push({
      etcd,
      etcdLeaderCrashes: { runs: leaderCrashes.length, gapsMs: leaderCrashes.map((r) => r.gapMs) },
      crashTimeline: [true, false]
        .map((crashed) => crashRuns.filter((r) => (r.etcdLeaderCrashed ?? false) === crashed))
        .filter((group) => group.length > 0)
        .map((group) => ({
          etcdLeaderCrashed: group[0]!.etcdLeaderCrashed ?? false,
          runs: group.length,
          medians: timelineMedians(group),
        })),
      leaderChange:
        leaderRuns.length === 0
          ? undefined
          : {
              runs: leaderRuns.length,
              fencedRuns: leaderRuns.filter((r) => (r.timeline?.fenced.length ?? 0) > 0).length,
              gapsMs: leaderRuns.map((r) => r.gapMs),
            },
      beforeFault: {
        runs: logged.length,
        etcdLeaderChanges: logged.reduce((sum, t) => sum + (t.etcdLeaderChangesBeforeFault ?? 0), 0),
        runsWithFence: logged.filter((t) => (t.fencedBeforeFault?.length ?? 0) > 0).length,
        etcdLeaderMoves: logged.reduce((sum, t) => sum + (t.etcdLeaderMovesBeforeFault ?? 0), 0),
      },
      crashSpeedup:
        crash && keepalivedCrash && crash.gapMedianMs > 0
          ? keepalivedCrash.gapMedianMs / crash.gapMedianMs
          : undefined,
      targets: [
        target("node crash to service (max)", CRASH_TARGET_MS, crash?.gapMaxMs),
        target("planned move gap (max)", MOVE_TARGET_MS, move?.gapMaxMs),
        target("two owners at once (max)", 0, overlap.length > 0 ? Math.max(...overlap) : undefined, false),
      ],
    });
  }
  return { figures, placements };
}

const SCENARIO_TEXT: Record<FailoverScenario, string> = {
  crash: "owner node crashes",
  move: "planned move",
  "etcd-leader": "etcd leader dies",
  steady: "nothing (30 s)",
};

const PLACEMENT_TEXT: Record<EtcdPlacement, string> = {
  colocated: "etcd on the package nodes n1–n3 (co-located)",
  separate: "etcd on q1–q3, hosts without packages (separate)",
};

const ms = (v: number): string => `${Math.round(v).toLocaleString("en-US")} ms`;

function renderPlacement(p: PlacementSummary, crashRuns: number): string[] {
  const out = [`${PLACEMENT_TEXT[p.etcd]}:`];
  const leader = p.etcdLeaderCrashes;
  if (crashRuns > 0) {
    out.push(
      `  crash runs in which etcd's leader went down with n1 (etcd elects first): ${leader.runs} of ${crashRuns}` +
        (leader.runs > 0 ? ` (gaps ${leader.gapsMs.map(ms).join(", ")})` : ""),
    );
  }
  for (const group of p.crashTimeline) {
    const m = group.medians;
    const steps = [
      m.etcdLeaderElectedMs === undefined ? undefined : `new etcd leader ${ms(m.etcdLeaderElectedMs)}`,
      m.nodeFailedMs === undefined ? undefined : `n1's lease seen gone ${ms(m.nodeFailedMs)}`,
      m.startedMs === undefined ? undefined : `package started on another node ${ms(m.startedMs)}`,
      `client answered again ${ms(m.gapMs)}`,
    ].filter((s): s is string => s !== undefined);
    out.push(
      `  after the crash, ${group.etcdLeaderCrashed ? "etcd's leader on n1" : "etcd's leader elsewhere"} ` +
        `(median of ${group.runs}): ${steps.join(", ")}`,
    );
  }
  if (p.leaderChange) {
    const c = p.leaderChange;
    out.push(
      `  etcd's leader alone dies: a package node fenced itself in ${c.fencedRuns} of ${c.runs} runs; ` +
        `client's longest gap ${c.gapsMs.map(ms).join(", ")}`,
    );
  }
  if (p.beforeFault.runs > 0) {
    const b = p.beforeFault;
    out.push(
      `  before the fault (${b.runs} runs): ${b.etcdLeaderChanges} etcd leader change(s) from load alone; ` +
        `a daemon fenced itself in ${b.runsWithFence} run(s); ` +
        `etcd's leadership handed off a package node by Pavise ${b.etcdLeaderMoves} time(s)`,
    );
  }
  if (p.crashSpeedup !== undefined) {
    out.push(`  node crash, client's gap: keepalived / Pavise = ${p.crashSpeedup.toFixed(2)}×`);
  }
  for (const t of p.targets) {
    const verdict = t.met === undefined ? "not measured" : t.met ? "met" : "NOT met";
    const value = t.valueMs === undefined ? "-" : ms(t.valueMs);
    const limit = t.limitMs === 0 ? "0 ms" : `< ${ms(t.limitMs)}`;
    out.push(`  target ${t.name} ${limit}: ${value} (${verdict})`);
  }
  return out;
}

/** The report as text: a table, then per etcd placement the breakdown, the ratio, the targets. */
export function renderFailoverSummary(summary: FailoverSummary): string {
  const rows = summary.figures.map((f) => [
    f.system,
    f.etcd ?? "-",
    SCENARIO_TEXT[f.scenario],
    String(f.runs),
    ms(f.gapMedianMs),
    ms(f.gapMaxMs),
    ms(f.takeoverMedianMs),
    ms(f.overlapMaxMs),
  ]);
  const header = [
    "system",
    "etcd",
    "scenario",
    "runs",
    "gap median",
    "gap max",
    "takeover median",
    "two owners (max)",
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const out = [line(header), ...rows.map(line)];
  for (const p of summary.placements) {
    const crashRuns = summary.figures.find((f) => f.etcd === p.etcd && f.scenario === "crash")?.runs ?? 0;
    out.push("", ...renderPlacement(p, crashRuns));
  }
  return out.join("\n");
}
