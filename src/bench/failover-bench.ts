#!/usr/bin/env node
/**
 * `npm run bench:failover`: how long a client goes unanswered when the node that serves it
 * crashes, and when the service is moved on purpose — Pavise against keepalived (VRRP, its
 * default advert_int 1 s) on the same lab topology, in one run (DESIGN.md: node crash < 2 s,
 * planned move < 0.5 s, never two owners; issue #5).
 *
 *   npm run bench:failover -- [--json] [--runs N] [--only pavise,keepalived]
 *
 * Each run builds a fresh lab (failover-runs.ts), so no run inherits another's state; the
 * figures and targets are failover-summary.ts. Progress on stderr, the table (or JSON) on stdout.
 */
import { parseArgs } from "node:util";
import { Lab } from "../lab/lab.js";
import { describeError, PaviseError } from "../util/errors.js";
import { failoverRun, LAB_NAME } from "./failover-runs.js";
import {
  renderFailoverSummary,
  summariseFailover,
  type FailoverRun,
  type FailoverSystem,
} from "./failover-summary.js";

const USAGE = `usage: npm run bench:failover -- [--json] [--runs N] [--only pavise,keepalived]
  --runs N    runs per system and scenario (default 3)
  --only …    pavise, keepalived or both (default both)
  --json      the figures as JSON on stdout`;

const started = Date.now();
const progress = (line: string): void => {
  process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
};

function options(argv: string[]): { json: boolean; runs: number; systems: FailoverSystem[] } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        json: { type: "boolean" },
        runs: { type: "string" },
        only: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
    });
  } catch (error) {
    throw new PaviseError("BENCH_USAGE", (error as Error).message, { hint: USAGE });
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const runs = Number(parsed.values.runs ?? "3");
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) {
    throw new PaviseError("BENCH_USAGE", `--runs must be a whole number 1..50, not '${parsed.values.runs}'`, {
      hint: USAGE,
    });
  }
  const systems = (parsed.values.only ?? "pavise,keepalived").split(",").map((s) => s.trim());
  for (const s of systems) {
    if (s !== "pavise" && s !== "keepalived") {
      throw new PaviseError("BENCH_USAGE", `--only takes pavise and/or keepalived, not '${s}'`, {
        hint: USAGE,
      });
    }
  }
  return { json: parsed.values.json === true, runs, systems: systems as FailoverSystem[] };
}

async function main(): Promise<number> {
  const { json, runs, systems } = options(process.argv.slice(2));
  const results: FailoverRun[] = [];
  const cleanUp = (): void => {
    void Lab.down(LAB_NAME).finally(() => process.exit(130));
  };
  process.once("SIGINT", cleanUp);
  process.once("SIGTERM", cleanUp);
  // Runs alternate between the systems, so that a slow spell of the machine hits both.
  for (let i = 1; i <= runs; i++) {
    for (const scenario of ["crash", "move"] as const) {
      for (const system of systems) {
        progress(
          `run ${i}/${runs}: ${system}, ${scenario === "crash" ? "n1 crashes" : "planned move off n1"}`,
        );
        const result = await failoverRun(system, scenario);
        progress(
          `  client's longest gap ${Math.round(result.gapMs)} ms (address taken over after ${result.takeoverMs} ms; ` +
            `${result.answered}/${result.sent} answered; two owners ${Math.round(result.overlapMs)} ms` +
            `${result.etcdLeaderCrashed ? "; etcd's leader was on n1" : ""})`,
        );
        results.push(result);
      }
    }
  }
  const summary = summariseFailover(results);
  process.stdout.write(
    json
      ? `${JSON.stringify({ runs: results, ...summary }, null, 2)}\n`
      : `${renderFailoverSummary(summary)}\n`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    await Lab.down(LAB_NAME).catch(() => undefined);
    process.stderr.write(`${error instanceof PaviseError ? describeError(error) : String(error)}\n`);
    process.exit(error instanceof PaviseError && error.code === "BENCH_USAGE" ? 2 : 1);
  },
);
