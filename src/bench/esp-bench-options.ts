import { parseArgs } from "node:util";
import { PaviseError } from "../util/errors.js";
import { PATH_IDS, type PathId } from "./esp-bench-summary.js";

/** What `npm run bench:esp -- …` was asked to do. Pure: argv in, options (or an error) out. */
export interface EspBenchOptions {
  json: boolean;
  /** Length of each iperf3 run (TCP, then UDP), in seconds. */
  seconds: number;
  /** Rounds: every path is measured once per round, in turns; the median round counts. */
  repeat: number;
  /** The paths to measure, in a-b-c-d order. */
  only: PathId[];
}

export const ESP_BENCH_DEFAULTS = { seconds: 5, repeat: 1 } as const;

export const ESP_BENCH_USAGE = `usage: npm run bench:esp -- [--json] [--seconds N] [--repeat N] [--only a,b,c,d]

iperf3 between lab hosts n1 and n2, inner address to inner address, through
  (a) the bare path (no IPsec)         (b) strongSwan ↔ strongSwan (kernel-libipsec)
  (c) strongSwan ↔ Pavise              (d) Pavise ↔ Pavise
all with AES-128-GCM in tunnel mode, ESP in UDP/4500: one TCP stream (Mbit/s) and a UDP
flood of 64-byte datagrams (packets per second received), with the CPU time of charon/pavise.

  --json        figures as JSON on stdout (progress stays on stderr)
  --seconds N   length of each iperf3 run (default ${ESP_BENCH_DEFAULTS.seconds})
  --repeat N    measure every path N times, in turns, and report the median (default ${ESP_BENCH_DEFAULTS.repeat})
  --only LIST   measure only these paths, e.g. --only b,d (default a,b,c,d)
  --help        this text`;

export type EspBenchArgs = { kind: "help" } | { kind: "run"; options: EspBenchOptions };

function usageError(message: string): PaviseError {
  return new PaviseError("BENCH_USAGE", message, { hint: "see npm run bench:esp -- --help" });
}

function integer(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    throw usageError(`--${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  }
  return n;
}

function paths(value: string | undefined): PathId[] {
  if (value === undefined) return [...PATH_IDS];
  const asked = value.split(",").map((p) => p.trim().toLowerCase());
  const unknown = asked.filter((p) => !(PATH_IDS as readonly string[]).includes(p));
  if (unknown.length > 0 || asked.length === 0) {
    throw usageError(
      `--only: unknown path ${unknown.map((u) => JSON.stringify(u)).join(", ")}; the paths are ${PATH_IDS.join(", ")}`,
    );
  }
  return PATH_IDS.filter((id) => asked.includes(id));
}

/** Reads the command line; unknown options and bad values are BENCH_USAGE errors. */
export function parseEspBenchArgs(argv: readonly string[]): EspBenchArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        json: { type: "boolean" },
        seconds: { type: "string" },
        repeat: { type: "string" },
        only: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    throw usageError((err as Error).message);
  }
  if (values.help) return { kind: "help" };
  return {
    kind: "run",
    options: {
      json: values.json === true,
      seconds: integer("seconds", values.seconds, ESP_BENCH_DEFAULTS.seconds, 1, 600),
      repeat: integer("repeat", values.repeat, ESP_BENCH_DEFAULTS.repeat, 1, 20),
      only: paths(values.only),
    },
  };
}
