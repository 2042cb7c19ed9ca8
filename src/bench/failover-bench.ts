#!/usr/bin/env node
/**
 * `npm run bench:failover`: how long a client goes unanswered when the node that serves it
 * crashes, and when the service is moved on purpose — Pavise against keepalived (VRRP, its
 * default advert_int 1 s) on the same lab topology, in one run (DESIGN.md: node crash < 2 s,
 * planned move < 0.5 s, never two owners; issue #5).
 *
 *   npm run bench:failover -- [--json] [--runs N] [--only pavise,keepalived]
 *                             [--etcd colocated|separate|both] [--scenarios crash,move,etcd-leader,steady]
 *                             [--election-timeout MS] [--pre-vote] [--etcd-leader n1|other]
 *                             [--timing KEY=VALUE,…] [--lab NAME]
 *
 * Each run builds a fresh lab (failover-runs.ts), so no run inherits another's state; the
 * figures and targets are failover-summary.ts, per etcd placement: on the package nodes, or on
 * hosts of their own (Serviceguard's quorum server on a separate system). Progress on stderr,
 * the table (or JSON) on stdout.
 */
import { parseArgs } from "node:util";
import { Lab } from "../lab/lab.js";
import { describeError, PaviseError } from "../util/errors.js";
import type { EtcdPlacement } from "../lab/spec.js";
import { failoverRun, LAB_NAME, type FailoverRunOptions } from "./failover-runs.js";
import {
  renderFailoverSummary,
  summariseFailover,
  type FailoverRun,
  type FailoverScenario,
  type FailoverSystem,
} from "./failover-summary.js";

const USAGE = `usage: npm run bench:failover -- [--json] [--runs N] [--only pavise,keepalived] [--etcd …] …
  --runs N              runs per system, etcd placement and scenario (default 3)
  --only …              pavise, keepalived or both (default both)
  --etcd …              where Pavise's etcd runs: colocated (on the package nodes n1–n3),
                        separate (on q1–q3, which run no packages) or both (default)
  --scenarios …         crash, move, etcd-leader (only etcd's leader dies) and/or steady
                        (nothing happens for 30 s); the last two Pavise only (default crash,move)
  --election-timeout MS etcd --election-timeout for the lab (default 500; heartbeat is 50)
  --pre-vote            run etcd with --pre-vote
  --etcd-leader …       n1 or other: move etcd's leader there before the fault (etcdctl
                        move-leader; n1 only where n1 runs a member), default: where it was elected
  --timing K=V,…        cluster-file timing, e.g. fence_after=800ms,event_loop_budget=150ms
                        (default member_timeout=1s, the rest derived from it)
  --lab NAME            the lab's name (default ${LAB_NAME})
  --json                the figures as JSON on stdout`;

const TIMING_KEYS = ["member_timeout", "keepalive_interval", "fence_after", "event_loop_budget"] as const;

interface BenchOptions {
  json: boolean;
  runs: number;
  systems: FailoverSystem[];
  placements: EtcdPlacement[];
  scenarios: FailoverScenario[];
  run: Omit<FailoverRunOptions, "etcd">;
}

const usage = (message: string): PaviseError => new PaviseError("BENCH_USAGE", message, { hint: USAGE });

function listOption<T extends string>(value: string, key: string, allowed: readonly T[]): T[] {
  const items = value.split(",").map((s) => s.trim());
  for (const item of items) {
    if (!allowed.includes(item as T)) throw usage(`${key} takes ${allowed.join(", ")}, not '${item}'`);
  }
  return items as T[];
}

function timingOption(value: string): FailoverRunOptions["timing"] {
  const timing: NonNullable<FailoverRunOptions["timing"]> = {};
  for (const pair of value.split(",")) {
    const [key, setting] = pair.split("=").map((s) => s.trim());
    if (!TIMING_KEYS.includes(key as (typeof TIMING_KEYS)[number]) || !setting) {
      throw usage(`--timing takes KEY=VALUE pairs with keys ${TIMING_KEYS.join(", ")}, not '${pair}'`);
    }
    timing[key as (typeof TIMING_KEYS)[number]] = setting;
  }
  return timing;
}

const started = Date.now();
const progress = (line: string): void => {
  process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
};

function options(argv: string[]): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        json: { type: "boolean" },
        runs: { type: "string" },
        only: { type: "string" },
        etcd: { type: "string" },
        scenarios: { type: "string" },
        "election-timeout": { type: "string" },
        "pre-vote": { type: "boolean" },
        "etcd-leader": { type: "string" },
        timing: { type: "string" },
        lab: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
    });
  } catch (error) {
    throw usage((error as Error).message);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const runs = Number(v.runs ?? "3");
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) {
    throw usage(`--runs must be a whole number 1..50, not '${v.runs}'`);
  }
  const systems = listOption(v.only ?? "pavise,keepalived", "--only", ["pavise", "keepalived"] as const);
  const etcd = v.etcd ?? "both";
  const placements = etcd === "both" ? (["colocated", "separate"] as const) : [etcd];
  listOption(placements.join(","), "--etcd", ["colocated", "separate", "both"] as const);
  const scenarios = listOption(v.scenarios ?? "crash,move", "--scenarios", [
    "crash",
    "move",
    "etcd-leader",
    "steady",
  ] as const);
  const electionTimeoutMs = v["election-timeout"] === undefined ? undefined : Number(v["election-timeout"]);
  // etcd refuses an election timeout under 5 heartbeats (the lab's heartbeat is 50 ms).
  if (electionTimeoutMs !== undefined && !(Number.isInteger(electionTimeoutMs) && electionTimeoutMs >= 250)) {
    throw usage(
      `--election-timeout must be a whole number of ms, 250 or more, not '${v["election-timeout"]}'`,
    );
  }
  const lab = v.lab ?? LAB_NAME;
  if (!/^[a-z][a-z0-9]{0,11}$/.test(lab)) {
    throw usage(`--lab must be 1–12 lower-case letters or digits starting with a letter, not '${lab}'`);
  }
  const etcdLeaderOn =
    v["etcd-leader"] === undefined
      ? undefined
      : listOption(v["etcd-leader"], "--etcd-leader", ["n1", "other"] as const)[0];
  const etcdTuning = {
    ...(electionTimeoutMs === undefined ? {} : { electionTimeoutMs }),
    ...(v["pre-vote"] ? { preVote: true } : {}),
  };
  return {
    json: v.json === true,
    runs,
    systems,
    placements: placements as EtcdPlacement[],
    scenarios,
    run: {
      labName: lab,
      etcdTuning,
      ...(etcdLeaderOn === undefined ? {} : { etcdLeaderOn }),
      ...(v.timing === undefined ? {} : { timing: timingOption(v.timing) }),
    },
  };
}

const SCENARIO_PROGRESS: Record<FailoverScenario, string> = {
  crash: "n1 crashes",
  move: "planned move off n1",
  "etcd-leader": "etcd's leader member dies",
  steady: "nothing happens for 30 s",
};

/** Each system and placement a scenario runs on: keepalived has no etcd (and no etcd-leader run). */
function variants(
  scenario: FailoverScenario,
  options: BenchOptions,
): { system: FailoverSystem; etcd: EtcdPlacement }[] {
  return options.systems.flatMap((system): { system: FailoverSystem; etcd: EtcdPlacement }[] => {
    if (system === "pavise") return options.placements.map((etcd) => ({ system, etcd }));
    return scenario === "etcd-leader" || scenario === "steady" ? [] : [{ system, etcd: "colocated" }];
  });
}

function describeRun(result: FailoverRun): string {
  const t = result.timeline;
  const steps = t
    ? [
        t.etcdLeaderElectedMs === undefined ? "" : `; new etcd leader at ${t.etcdLeaderElectedMs} ms`,
        t.nodeFailedMs === undefined ? "" : `; n1's lease seen gone at ${t.nodeFailedMs} ms`,
        t.startedMs === undefined ? "" : `; package started at ${t.startedMs} ms`,
        t.fenced.length === 0 ? "" : `; fenced: ${t.fenced.join(", ")}`,
      ].join("")
    : "";
  return (
    `  client's longest gap ${Math.round(result.gapMs)} ms (address taken over after ${result.takeoverMs} ms; ` +
    `${result.answered}/${result.sent} answered; two owners ${Math.round(result.overlapMs)} ms` +
    `${result.etcdLeaderCrashed ? "; etcd's leader was on n1" : ""}${steps})`
  );
}

/**
 * A run whose system did not come up as asked before the fault (a loaded machine) measured
 * nothing: it is repeated in a fresh lab, twice at most, and counted. A failure after the fault
 * is a result and ends the bench.
 */
async function runWithRetries(
  run: () => Promise<FailoverRun>,
  onRetry: () => void,
  attempts = 3,
): Promise<FailoverRun> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof PaviseError && error.code === "BENCH_SETUP_FAILED") || attempt >= attempts)
        throw error;
      progress(`  could not start (${error.message}); again in a fresh lab`);
      onRetry();
    }
  }
}

async function main(): Promise<number> {
  const opts = options(process.argv.slice(2));
  const labName = opts.run.labName;
  const results: FailoverRun[] = [];
  let setupRetries = 0;
  const cleanUp = (): void => {
    void Lab.down(labName).finally(() => process.exit(130));
  };
  process.once("SIGINT", cleanUp);
  process.once("SIGTERM", cleanUp);
  // Runs alternate between the systems and placements, so that a slow spell of the machine hits all.
  for (let i = 1; i <= opts.runs; i++) {
    for (const scenario of opts.scenarios) {
      for (const { system, etcd } of variants(scenario, opts)) {
        const label = system === "pavise" ? `pavise (etcd ${etcd})` : system;
        progress(`run ${i}/${opts.runs}: ${label}, ${SCENARIO_PROGRESS[scenario]}`);
        const result = await runWithRetries(
          () => failoverRun(system, scenario, { ...opts.run, etcd }),
          () => {
            setupRetries += 1;
          },
        );
        progress(describeRun(result));
        results.push(result);
      }
    }
  }
  const summary = summariseFailover(results);
  process.stdout.write(
    opts.json
      ? `${JSON.stringify({ runs: results, setupRetries, ...summary }, null, 2)}\n`
      : `${renderFailoverSummary(summary)}\n${setupRetries > 0 ? `(${setupRetries} run(s) could not start and were repeated in a fresh lab)\n` : ""}`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    await Lab.down(labNameOf(process.argv.slice(2))).catch(() => undefined);
    process.stderr.write(`${error instanceof PaviseError ? describeError(error) : String(error)}\n`);
    process.exit(error instanceof PaviseError && error.code === "BENCH_USAGE" ? 2 : 1);
  },
);

/** The lab to clean up after a failure, also when the options could not be read. */
function labNameOf(argv: string[]): string {
  const at = argv.indexOf("--lab");
  const given = at >= 0 ? argv[at + 1] : argv.find((a) => a.startsWith("--lab="))?.slice("--lab=".length);
  return given !== undefined && /^[a-z][a-z0-9]{0,11}$/.test(given) ? given : LAB_NAME;
}
