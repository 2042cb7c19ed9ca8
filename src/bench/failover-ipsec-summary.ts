/**
 * bench:failover's IPsec rows, pure (issue #6, docs/ipsec-packages-design.md §16): the package
 * carries IPsec and the client's probe goes through the tunnel, so its gap is the failover plus
 * whatever the client needs to get a working SA with the adoptive node. Per client kind, etcd
 * placement and scenario: the gap (median, max), the takeover, the contact (package's IPsec up →
 * client's new IKE SA, from the daemon's `ipsec-peer-contacted` lines), the longest time two
 * nodes held the address, and the overhead against the plain Pavise row of the same bench run.
 */
import type { EtcdPlacement } from "../lab/spec.js";
import {
  CRASH_TARGET_MS,
  MOVE_TARGET_MS,
  median,
  target,
  type FailoverRun,
  type FailoverScenario,
  type FailoverTarget,
} from "./failover-summary.js";

/**
 * The clients on c1: strongSwan that the adoptive node contacts (no DPD, strongSwan's
 * default); strongSwan it may not contact (the package's connection has `initiate: no`), which
 * comes back through its own DPD (design §1: dpd_delay 1s, dpd_action restart, fast
 * retransmits); `pavise ipsec serve` as a client (dpd_delay 1s, dpd_action restart).
 */
export const FAILOVER_IPSEC_CLIENTS = ["strongswan", "strongswan-dpd", "pavise"] as const;
export type FailoverIpsecClient = (typeof FAILOVER_IPSEC_CLIENTS)[number];

/** Clients with the gap targets (design §16); strongswan-dpd is reported without one. */
const WITH_TARGETS: readonly FailoverIpsecClient[] = ["strongswan", "pavise"];

/** What an IPsec run adds to its FailoverRun. */
export interface FailoverIpsecRun {
  client: FailoverIpsecClient;
  /** The adoptive node's package IPsec listened (its `IPsec of web listens on` line), ms after the fault. */
  ipsecUpMs?: number;
  /** Package's IPsec up → client's new IKE SA, as the adoptive node logged it (`ipsec-peer-contacted`). */
  contactMs?: number;
  /** The adoptive node recorded the client's new IKE SA (`ipsec-peer-recorded`), ms after the fault. */
  peerBackMs?: number;
  /** The client's IKE SA at the end of the run is not the one it had before the fault. */
  newSa: boolean;
  /** Packets the client received through that SA's Child SA: 0 means the probe bypassed the tunnel. */
  tunnelPacketsIn: number;
}

export interface IpsecFigure {
  client: FailoverIpsecClient;
  etcd: EtcdPlacement;
  scenario: FailoverScenario;
  runs: number;
  gapMedianMs: number;
  gapMaxMs: number;
  takeoverMedianMs: number;
  /** Over the runs whose daemon logs had an `ipsec-peer-contacted` line (none for strongswan-dpd). */
  contactMedianMs?: number;
  contactMaxMs?: number;
  contactRuns: number;
  /** Fault → the adoptive node recorded the client's new SA (all kinds). */
  peerBackMedianMs?: number;
  overlapMaxMs: number;
  /** Crash runs in which etcd's leader went down with n1 (etcd elects first), and their gaps. */
  etcdLeaderCrashes: { runs: number; gapsMs: number[] };
  /** Runs that ended without a new SA, or whose SA carried none of the probe's answers. */
  runsNotThroughNewSa: number;
  /** The plain (no IPsec) Pavise row of the same placement and scenario, for the overhead. */
  plainGapMedianMs?: number;
  overheadMs?: number;
  overheadRatio?: number;
}

export interface IpsecTargets {
  client: FailoverIpsecClient;
  etcd: EtcdPlacement;
  targets: FailoverTarget[];
}

export interface FailoverIpsecSummary {
  figures: IpsecFigure[];
  targets: IpsecTargets[];
}

const PLACEMENTS: EtcdPlacement[] = ["colocated", "separate"];
const SCENARIOS: FailoverScenario[] = ["crash", "move"];

const placementOf = (run: FailoverRun): EtcdPlacement => run.etcd ?? "colocated";

function optionalMedian(values: readonly (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : median(known);
}

function figureOf(
  client: FailoverIpsecClient,
  etcd: EtcdPlacement,
  scenario: FailoverScenario,
  mine: readonly FailoverRun[],
  plain: readonly FailoverRun[],
): IpsecFigure {
  const gapMedianMs = median(mine.map((r) => r.gapMs));
  const contacts = mine.map((r) => r.ipsec?.contactMs).filter((v): v is number => v !== undefined);
  const plainGapMedianMs = plain.length === 0 ? undefined : median(plain.map((r) => r.gapMs));
  const contactMedianMs = optionalMedian(contacts);
  const peerBackMedianMs = optionalMedian(mine.map((r) => r.ipsec?.peerBackMs));
  return {
    client,
    etcd,
    scenario,
    runs: mine.length,
    gapMedianMs,
    gapMaxMs: Math.max(...mine.map((r) => r.gapMs)),
    takeoverMedianMs: median(mine.map((r) => r.takeoverMs)),
    ...(contactMedianMs === undefined ? {} : { contactMedianMs, contactMaxMs: Math.max(...contacts) }),
    contactRuns: contacts.length,
    ...(peerBackMedianMs === undefined ? {} : { peerBackMedianMs }),
    overlapMaxMs: Math.max(...mine.map((r) => r.overlapMs)),
    etcdLeaderCrashes: {
      runs: mine.filter((r) => r.etcdLeaderCrashed).length,
      gapsMs: mine.filter((r) => r.etcdLeaderCrashed).map((r) => r.gapMs),
    },
    runsNotThroughNewSa: mine.filter((r) => !r.ipsec?.newSa || (r.ipsec?.tunnelPacketsIn ?? 0) === 0).length,
    ...(plainGapMedianMs === undefined
      ? {}
      : {
          plainGapMedianMs,
          overheadMs: gapMedianMs - plainGapMedianMs,
          ...(plainGapMedianMs > 0 ? { overheadRatio: gapMedianMs / plainGapMedianMs } : {}),
        }),
  };
}

/** The IPsec rows of a bench run; the plain Pavise runs (no `ipsec`) give the overhead's base. */
export function summariseFailoverIpsec(runs: readonly FailoverRun[]): FailoverIpsecSummary {
  const figures: IpsecFigure[] = [];
  const targets: IpsecTargets[] = [];
  const plainOf = (etcd: EtcdPlacement, scenario: FailoverScenario): FailoverRun[] =>
    runs.filter(
      (r) => r.system === "pavise" && !r.ipsec && placementOf(r) === etcd && r.scenario === scenario,
    );
  for (const client of FAILOVER_IPSEC_CLIENTS) {
    for (const etcd of PLACEMENTS) {
      const mine = runs.filter((r) => r.ipsec?.client === client && placementOf(r) === etcd);
      if (mine.length === 0) continue;
      const byScenario = new Map<FailoverScenario, IpsecFigure>();
      for (const scenario of SCENARIOS) {
        const these = mine.filter((r) => r.scenario === scenario);
        if (these.length === 0) continue;
        const figure = figureOf(client, etcd, scenario, these, plainOf(etcd, scenario));
        byScenario.set(scenario, figure);
        figures.push(figure);
      }
      const overlap = [...byScenario.values()].map((f) => f.overlapMaxMs);
      targets.push({
        client,
        etcd,
        targets: [
          ...(WITH_TARGETS.includes(client)
            ? [
                target(
                  "node crash to service through IPsec (max)",
                  CRASH_TARGET_MS,
                  byScenario.get("crash")?.gapMaxMs,
                ),
                target(
                  "planned move gap through IPsec (max)",
                  MOVE_TARGET_MS,
                  byScenario.get("move")?.gapMaxMs,
                ),
              ]
            : []),
          target("two owners at once (max)", 0, overlap.length > 0 ? Math.max(...overlap) : undefined, false),
        ],
      });
    }
  }
  // Rows grouped like the plain table: by scenario, then client, then placement.
  figures.sort((a, b) => SCENARIOS.indexOf(a.scenario) - SCENARIOS.indexOf(b.scenario));
  return { figures, targets };
}

const SCENARIO_TEXT: Partial<Record<FailoverScenario, string>> = {
  crash: "owner node crashes",
  move: "planned move",
};

const ms = (v: number): string => `${Math.round(v).toLocaleString("en-US")} ms`;
const optionalMs = (v: number | undefined): string => (v === undefined ? "-" : ms(v));

function overhead(f: IpsecFigure): string {
  if (f.overheadMs === undefined) return "-";
  const sign = f.overheadMs >= 0 ? "+" : "−";
  const ratio = f.overheadRatio === undefined ? "" : ` (${f.overheadRatio.toFixed(2)}×)`;
  return `${sign}${ms(Math.abs(f.overheadMs))}${ratio}`;
}

/** The IPsec table and its targets, as text (empty when the bench ran no IPsec client). */
export function renderFailoverIpsecSummary(summary: FailoverIpsecSummary): string {
  if (summary.figures.length === 0) return "";
  const header = [
    "ipsec client",
    "etcd",
    "scenario",
    "runs",
    "gap median",
    "gap max",
    "takeover median",
    "contact median",
    "contact max",
    "client SA back",
    "two owners (max)",
    "IPsec overhead",
  ];
  const rows = summary.figures.map((f) => [
    f.client,
    f.etcd,
    SCENARIO_TEXT[f.scenario] ?? f.scenario,
    String(f.runs),
    ms(f.gapMedianMs),
    ms(f.gapMaxMs),
    ms(f.takeoverMedianMs),
    optionalMs(f.contactMedianMs),
    optionalMs(f.contactMaxMs),
    optionalMs(f.peerBackMedianMs),
    ms(f.overlapMaxMs),
    overhead(f),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const out = [
    "Through IPsec (web with ipsec:, the client on c1, the probe's requests and answers in the tunnel):",
    line(header),
    ...rows.map(line),
    "  contact: package's IPsec up on the adoptive node → client's new IKE SA (ipsec-peer-contacted, median/max);",
    "  client SA back: fault → the adoptive node recorded the client's new SA (median);",
    "  IPsec overhead: gap median against the plain Pavise row (same etcd placement and scenario) of this bench run",
  ];
  for (const f of summary.figures.filter((f) => f.etcdLeaderCrashes.runs > 0)) {
    out.push(
      `  ${f.client}, etcd ${f.etcd}, ${SCENARIO_TEXT[f.scenario] ?? f.scenario}: etcd's leader went down with n1 (etcd elects first) in ${f.etcdLeaderCrashes.runs} of ${f.runs} run(s) (gaps ${f.etcdLeaderCrashes.gapsMs.map(ms).join(", ")})`,
    );
  }
  const astray = summary.figures.filter((f) => f.runsNotThroughNewSa > 0);
  for (const f of astray) {
    out.push(
      `  WARNING ${f.client}, etcd ${f.etcd}, ${SCENARIO_TEXT[f.scenario] ?? f.scenario}: ${f.runsNotThroughNewSa} of ${f.runs} run(s) ended without a new SA carrying the probe's answers`,
    );
  }
  for (const t of summary.targets) {
    for (const one of t.targets) {
      const verdict = one.met === undefined ? "not measured" : one.met ? "met" : "NOT met";
      const limit = one.limitMs === 0 ? "0 ms" : `< ${ms(one.limitMs)}`;
      out.push(
        `  target ${t.client}, etcd ${t.etcd}: ${one.name} ${limit}: ${optionalMs(one.valueMs)} (${verdict})`,
      );
    }
    if (!WITH_TARGETS.includes(t.client)) {
      out.push(`  ${t.client}, etcd ${t.etcd}: no gap target (the client comes back through its own DPD)`);
    }
  }
  return out.join("\n");
}
