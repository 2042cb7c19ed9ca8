#!/usr/bin/env node
/**
 * `npm run bench:failover`: how long a client goes unanswered when the node that serves it
 * crashes, and when the service is moved on purpose — Pavise against keepalived (VRRP, its
 * default advert_int 1 s) on the same lab topology, in one run (DESIGN.md: node crash < 2 s,
 * planned move < 0.5 s, never two owners; issue #5).
 *
 *   npm run bench:failover -- [--json] [--runs N] [--only pavise,keepalived]
 *                             [--etcd colocated|separate|both] [--scenarios crash,move,etcd-leader,steady]
 *                             [--election-timeout MS] [--no-pre-vote] [--etcd-leader n1|other]
 *                             [--timing KEY=VALUE,…] [--ipsec none,strongswan,strongswan-dpd,pavise]
 *                             [--lab NAME]
 *
 * Each run builds a fresh lab (failover-runs.ts), so no run inherits another's state; the
 * figures and targets are failover-summary.ts, per etcd placement: on the package nodes, or on
 * hosts of their own (Serviceguard's quorum server on a separate system). Progress on stderr,
 * the table (or JSON) on stdout.
 */
import { Lab } from "../lab/lab.js";
import { describeError, PaviseError } from "../util/errors.js";
import type { EtcdPlacement } from "../lab/spec.js";
import {
  FAILOVER_BENCH_USAGE,
  FAILOVER_LAB_NAME,
  parseFailoverBenchOptions,
  type FailoverBenchOptions,
} from "./failover-bench-options.js";
import { failoverRun } from "./failover-runs.js";
import {
  renderFailoverSummary,
  summariseFailover,
  type FailoverRun,
  type FailoverScenario,
  type FailoverSystem,
} from "./failover-summary.js";
import {
  renderFailoverIpsecSummary,
  summariseFailoverIpsec,
  type FailoverIpsecClient,
} from "./failover-ipsec-summary.js";

const started = Date.now();
const progress = (line: string): void => {
  process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
};

const SCENARIO_PROGRESS: Record<FailoverScenario, string> = {
  crash: "n1 crashes",
  move: "planned move off n1",
  "etcd-leader": "etcd's leader member dies",
  steady: "nothing happens for 30 s",
};

interface Variant {
  system: FailoverSystem;
  etcd: EtcdPlacement;
  ipsecClient?: FailoverIpsecClient;
}

/**
 * Each system, placement and IPsec client a scenario runs with: keepalived has no etcd (and no
 * etcd-leader run); the IPsec clients follow the plain Pavise run of each placement (crash and
 * move only), so a slow spell of the machine hits the row their overhead is measured against too.
 */
function variants(scenario: FailoverScenario, options: FailoverBenchOptions): Variant[] {
  const withIpsec = scenario === "crash" || scenario === "move";
  return options.systems.flatMap((system): Variant[] => {
    if (system === "pavise") {
      return options.placements.flatMap((etcd) => [
        { system, etcd },
        ...(withIpsec ? options.ipsecClients.map((ipsecClient) => ({ system, etcd, ipsecClient })) : []),
      ]);
    }
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
  const i = result.ipsec;
  const tunnel = i
    ? [
        i.ipsecUpMs === undefined ? "" : `; IPsec up at ${i.ipsecUpMs} ms`,
        i.contactMs === undefined ? "" : `; client contacted ${i.contactMs} ms after IPsec up`,
        i.peerBackMs === undefined ? "" : `; client's new SA recorded at ${i.peerBackMs} ms`,
        `; ${i.newSa ? "new SA" : "NO new SA"}, ${i.tunnelPacketsIn} packets in through it`,
      ].join("")
    : "";
  return (
    `  client's longest gap ${Math.round(result.gapMs)} ms (address taken over after ${result.takeoverMs} ms; ` +
    `${result.answered}/${result.sent} answered; two owners ${Math.round(result.overlapMs)} ms` +
    `${result.etcdLeaderCrashed ? "; etcd's leader was on n1" : ""}${steps}${tunnel})`
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
  const opts = parseFailoverBenchOptions(process.argv.slice(2));
  if (opts === "help") {
    process.stdout.write(`${FAILOVER_BENCH_USAGE}\n`);
    return 0;
  }
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
      for (const { system, etcd, ipsecClient } of variants(scenario, opts)) {
        const label =
          system === "pavise"
            ? `pavise (etcd ${etcd}${ipsecClient ? `, IPsec client ${ipsecClient}` : ""})`
            : system;
        progress(`run ${i}/${opts.runs}: ${label}, ${SCENARIO_PROGRESS[scenario]}`);
        const result = await runWithRetries(
          () => failoverRun(system, scenario, { ...opts.run, etcd, ...(ipsecClient ? { ipsecClient } : {}) }),
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
  // Without --ipsec the output is what it was before the IPsec rows existed.
  const ipsec = opts.ipsecClients.length > 0 ? summariseFailoverIpsec(results) : undefined;
  const ipsecText = ipsec ? `\n${renderFailoverIpsecSummary(ipsec)}\n` : "";
  process.stdout.write(
    opts.json
      ? `${JSON.stringify({ runs: results, setupRetries, ...summary, ...(ipsec ? { ipsec } : {}) }, null, 2)}\n`
      : `${renderFailoverSummary(summary)}\n${ipsecText}${setupRetries > 0 ? `(${setupRetries} run(s) could not start and were repeated in a fresh lab)\n` : ""}`,
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
  return given !== undefined && /^[a-z][a-z0-9]{0,11}$/.test(given) ? given : FAILOVER_LAB_NAME;
}
