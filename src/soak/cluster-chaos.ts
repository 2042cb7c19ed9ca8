#!/usr/bin/env node
/**
 * `npm run soak:cluster`: a seeded chaos run of the whole cluster (issue #5, DESIGN.md "never
 * two owners") — the kind of test that finds the races single-fault tests miss. Not part of
 * `npm test`; needs root and a build.
 *
 *   npm run soak:cluster -- [--seed N] [--faults K] [--bound-ms MS] [--lab NAME] [--kinds A,B] [--json]
 *
 * Prints one line per fault (what, time to settle, the client's longest gap per package) on
 * stderr as it goes, then the summary per fault kind (or everything as JSON) on stdout. Exits 1
 * on a violation (two owners, or a cluster that did not settle within the bound), after
 * printing the seed and the daemons' logs around it: `--seed N` replays the same faults.
 */
import { parseArgs } from "node:util";
import { Lab } from "../lab/lab.js";
import { describeError, PaviseError } from "../util/errors.js";
import { FAULT_KINDS, type FaultKind } from "./chaos-faults.js";
import { runChaos } from "./chaos-run.js";
import { renderFaultLine, renderSummary, summariseByKind } from "./chaos-summary.js";

const USAGE = `usage: npm run soak:cluster -- [--seed N] [--faults K] [--bound-ms MS] [--lab NAME] [--kinds A,B] [--json]
  --seed N       seed of the fault sequence (default: drawn from the clock, printed)
  --faults K     faults to inject (default 30)
  --bound-ms MS  a fault must settle within this (default 15000)
  --lab NAME     lab name (default chsoak)
  --kinds A,B    draw only these fault kinds (default all: ${FAULT_KINDS.join(", ")})
  --json         the records and the summary as JSON on stdout`;

interface Options {
  kinds: FaultKind[];
  seed: number;
  faults: number;
  boundMs: number;
  lab: string;
  json: boolean;
}

function wholeNumber(name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new PaviseError("SOAK_USAGE", `--${name} must be a whole number 0..${max}, not '${value}'`, {
      hint: USAGE,
    });
  }
  return n;
}

function options(argv: string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        seed: { type: "string" },
        faults: { type: "string" },
        "bound-ms": { type: "string" },
        lab: { type: "string" },
        kinds: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean" },
      },
      strict: true,
    });
  } catch (error) {
    throw new PaviseError("SOAK_USAGE", (error as Error).message, { hint: USAGE });
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const lab = parsed.values.lab ?? "chsoak";
  if (!/^[a-z][a-z0-9]{0,11}$/.test(lab)) {
    throw new PaviseError("SOAK_USAGE", `--lab '${lab}' is not a lab name`, {
      hint: "a lowercase letter, then up to 11 lowercase letters or digits",
    });
  }
  const kinds = (parsed.values.kinds ?? FAULT_KINDS.join(",")).split(",").map((k) => k.trim());
  for (const kind of kinds) {
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
      throw new PaviseError("SOAK_USAGE", `--kinds: unknown fault kind '${kind}'`, {
        hint: `use some of: ${FAULT_KINDS.join(", ")}`,
      });
    }
  }
  return {
    kinds: kinds as FaultKind[],
    seed: wholeNumber("seed", parsed.values.seed, Date.now() % 1_000_000, 2 ** 32 - 1),
    faults: wholeNumber("faults", parsed.values.faults, 30, 10_000),
    boundMs: wholeNumber("bound-ms", parsed.values["bound-ms"], 15_000, 600_000),
    lab,
    json: parsed.values.json === true,
  };
}

async function main(): Promise<number> {
  const opts = options(process.argv.slice(2));
  const started = Date.now();
  const progress = (line: string): void => {
    process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  };
  const cleanUp = (): void => {
    void Lab.down(opts.lab).finally(() => process.exit(130));
  };
  process.once("SIGINT", cleanUp);
  process.once("SIGTERM", cleanUp);
  const result = await runChaos({
    labName: opts.lab,
    seed: opts.seed,
    faults: opts.faults,
    boundMs: opts.boundMs,
    kinds: opts.kinds,
    progress,
    onFault: (record) => progress(renderFaultLine(record)),
  });
  const summary = summariseByKind(result.records);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ...result, summary }, null, 2)}\n`);
  } else {
    process.stdout.write(
      `seed ${result.seed}: ${result.records.length} faults, ${result.ownerSamples} owner-key samples\n` +
        `${renderSummary(summary)}\n`,
    );
  }
  if (result.violation) {
    process.stderr.write(
      `\nVIOLATION (seed ${result.seed}; replay: npm run soak:cluster -- --seed ${result.seed} --faults ${result.records.length}):\n` +
        `${result.violation.what}\n\ndaemon and package logs around ${new Date(result.violation.at).toISOString()}:\n` +
        `${result.violation.logs}\n\netcd's and the probes' logs: ${result.violation.labLogs}\n`,
    );
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof PaviseError ? describeError(error) : String(error)}\n`);
    process.exit(error instanceof PaviseError && error.code === "SOAK_USAGE" ? 2 : 1);
  },
);
