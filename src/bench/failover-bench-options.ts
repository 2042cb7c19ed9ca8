import { parseArgs } from "node:util";
import type { EtcdPlacement } from "../lab/spec.js";
import { TIMING_KEYS, type TimingKey } from "../cluster/config/read-cluster.js";
import { PaviseError } from "../util/errors.js";
import type { FailoverRunOptions } from "./failover-runs.js";
import type { FailoverScenario, FailoverSystem } from "./failover-summary.js";
import { FAILOVER_IPSEC_CLIENTS, type FailoverIpsecClient } from "./failover-ipsec-summary.js";

/** The lab bench:failover builds for each run unless --lab names another. */
export const FAILOVER_LAB_NAME = "bfail";

export const FAILOVER_BENCH_USAGE = `usage: npm run bench:failover -- [--json] [--runs N] [--only pavise,keepalived] [--etcd …] …
  --runs N              runs per system, etcd placement and scenario (default 3)
  --only …              pavise, keepalived or both (default both)
  --etcd …              where Pavise's etcd runs: colocated (on the package nodes n1–n3),
                        separate (on q1–q3, which run no packages) or both (default)
  --scenarios …         crash, move, etcd-leader (only etcd's leader dies) and/or steady
                        (nothing happens for 30 s); the last two Pavise only (default crash,move)
  --election-timeout MS etcd --election-timeout for the lab (default 500; heartbeat is 50)
  --no-pre-vote         run etcd without --pre-vote (the lab runs it with)
  --etcd-leader …       n1 or other: move etcd's leader there before the fault (etcdctl
                        move-leader; n1 only where n1 runs a member), default: where it was elected
  --ipsec …             none, strongswan, strongswan-dpd and/or pavise: more Pavise rows (crash
                        and move only) with web's ipsec: section and that IPsec client on c1,
                        the probe going through the tunnel (default none: no such rows)
  --timing K=V,…        cluster-file timing, e.g. fence_after=800ms,event_loop_budget=150ms
                        (default member_timeout=1s, the rest derived from it)
  --lab NAME            the lab's name (default ${FAILOVER_LAB_NAME})
  --json                the figures as JSON on stdout`;

/** What `npm run bench:failover -- …` was asked to do. */
export interface FailoverBenchOptions {
  json: boolean;
  runs: number;
  systems: FailoverSystem[];
  placements: EtcdPlacement[];
  scenarios: FailoverScenario[];
  /** IPsec clients to measure besides the plain rows (none: not one; Pavise crash and move only). */
  ipsecClients: FailoverIpsecClient[];
  run: Omit<FailoverRunOptions, "etcd">;
}

const usage = (message: string): PaviseError =>
  new PaviseError("BENCH_USAGE", message, { hint: FAILOVER_BENCH_USAGE });

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
    if (!TIMING_KEYS.includes(key as TimingKey) || !setting) {
      throw usage(`--timing takes KEY=VALUE pairs with keys ${TIMING_KEYS.join(", ")}, not '${pair}'`);
    }
    timing[key as TimingKey] = setting;
  }
  return timing;
}

/** Pure: argv in, options (or "help", or a BENCH_USAGE error) out. */
export function parseFailoverBenchOptions(argv: string[]): FailoverBenchOptions | "help" {
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
        "no-pre-vote": { type: "boolean" },
        "etcd-leader": { type: "string" },
        timing: { type: "string" },
        ipsec: { type: "string" },
        lab: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
    });
  } catch (error) {
    throw usage((error as Error).message);
  }
  const v = parsed.values;
  if (v.help) return "help";
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
  const ipsecClients = listOption(v.ipsec ?? "none", "--ipsec", ["none", ...FAILOVER_IPSEC_CLIENTS] as const)
    .filter((c): c is FailoverIpsecClient => c !== "none")
    .filter((c, i, all) => all.indexOf(c) === i);
  if (ipsecClients.length > 0 && !systems.includes("pavise")) {
    throw usage(`--ipsec ${v.ipsec} measures Pavise packages: --only must include pavise`);
  }
  if (ipsecClients.length > 0 && !scenarios.some((s) => s === "crash" || s === "move")) {
    throw usage(`--ipsec ${v.ipsec} runs the crash and move scenarios: --scenarios must include one`);
  }
  const lab = v.lab ?? FAILOVER_LAB_NAME;
  if (!/^[a-z][a-z0-9]{0,11}$/.test(lab)) {
    throw usage(`--lab must be 1–12 lower-case letters or digits starting with a letter, not '${lab}'`);
  }
  const etcdLeaderOn =
    v["etcd-leader"] === undefined
      ? undefined
      : listOption(v["etcd-leader"], "--etcd-leader", ["n1", "other"] as const)[0];
  const etcdTuning = {
    ...(electionTimeoutMs === undefined ? {} : { electionTimeoutMs }),
    ...(v["no-pre-vote"] ? { preVote: false } : {}),
  };
  return {
    json: v.json === true,
    runs,
    systems,
    placements: placements as EtcdPlacement[],
    scenarios,
    ipsecClients,
    run: {
      labName: lab,
      etcdTuning,
      ...(etcdLeaderOn === undefined ? {} : { etcdLeaderOn }),
      ...(v.timing === undefined ? {} : { timing: timingOption(v.timing) }),
    },
  };
}
