#!/usr/bin/env node
/**
 * `npm run bench:esp`: ESP throughput and small-packet rate of Pavise's user-space datapath
 * against strongSwan's (kernel-libipsec) and against no IPsec at all, side by side in one run
 * on the same lab hosts (DESIGN.md "Numbers we hold ourselves to", issue #4).
 *
 *   npm run bench:esp -- [--json] [--seconds N] [--repeat N] [--only a,b,c,d]
 *
 * It builds a lab ("besp": the default topology without etcd), puts an inner address on n1's
 * and n2's loopback, then for each round and each path in turn (esp-bench-paths.ts):
 *   (a) plain routes between the inner addresses over the LAN,
 *   (b) charon ↔ charon, (c) charon (n1) ↔ pavise ipsec serve (n2), (d) pavise ↔ pavise,
 * brings the tunnel up (n1 initiates; AES-128-GCM, X25519), and measures from n1 to n2 one TCP
 * stream, then a UDP flood of 64-byte datagrams, each for --seconds, with the CPU time the IPsec
 * daemons used (esp-bench-measure.ts); then stops the daemons. The figures, their medians, the
 * ratios and the target are esp-bench-summary.ts; the table is esp-bench-table.ts. Progress goes
 * to stderr; the table (or JSON with --json) to stdout. The lab is removed at the end, also on
 * failure or Ctrl-C.
 */
import { Lab } from "../lab/lab.js";
import { defaultLabSpec } from "../lab/spec.js";
import { describeError, PaviseError } from "../util/errors.js";
import { run } from "../util/run.js";
import { measurePath, UDP_PAYLOAD_BYTES } from "./esp-bench-measure.js";
import { ESP_BENCH_USAGE, parseEspBenchArgs, type EspBenchOptions } from "./esp-bench-options.js";
import {
  addInnerAddresses,
  ESP_PROPOSAL,
  IKE_PROPOSAL,
  openPath,
  type BenchTopology,
  type OpenPath,
} from "./esp-bench-paths.js";
import { PATH_LABELS, summarise, type PathRound } from "./esp-bench-summary.js";
import { renderEspBenchReport, type EspBenchSettings } from "./esp-bench-table.js";

const LAB_NAME = "besp";
const SENDER = { host: "n1", inner: "198.18.10.11" };
const RECEIVER = { host: "n2", inner: "198.18.20.12" };

const started = Date.now();
function progress(line: string): void {
  process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
}

async function versionOf(argv: string[], pattern: RegExp): Promise<string> {
  const result = await run(argv, { allowFailure: true }).catch(() => undefined);
  const text = result?.code === 0 ? `${result.stdout}\n${result.stderr}` : "";
  return pattern.exec(text)?.[1] ?? "unknown";
}

async function settingsFor(topology: BenchTopology, options: EspBenchOptions): Promise<EspBenchSettings> {
  return {
    sender: { ...topology.sender },
    receiver: { ...topology.receiver },
    ikeProposal: IKE_PROPOSAL,
    espProposal: ESP_PROPOSAL,
    seconds: options.seconds,
    repeat: options.repeat,
    udpPayloadBytes: UDP_PAYLOAD_BYTES,
    strongswanVersion: await versionOf(
      ["dpkg-query", "-W", "-f", "${Version}", "strongswan-charon"],
      /^(\S+)/,
    ),
    iperf3Version: await versionOf(["iperf3", "--version"], /^iperf (\S+)/),
    node: process.versions.node,
    cpus: Number((await run(["nproc"])).stdout.trim()) || 0,
  };
}

async function benchmark(lab: Lab, topology: BenchTopology, options: EspBenchOptions): Promise<PathRound[]> {
  const rounds: PathRound[] = [];
  for (let round = 1; round <= options.repeat; round++) {
    for (const id of options.only) {
      progress(`round ${round}/${options.repeat}, (${id}) ${PATH_LABELS[id]}: opening the path`);
      const path: OpenPath = await openPath(lab, id, topology);
      try {
        const ends = [path.sender, path.receiver].filter((e) => e !== undefined);
        progress(
          `  ready after ${(path.readyMs / 1000).toFixed(1)} s` +
            (ends.length > 0 ? ` (${ends.map((e) => `${e.software} on ${e.host}`).join(", ")})` : ""),
        );
        rounds.push(await measurePath(lab, path, topology, { seconds: options.seconds, round }, progress));
      } finally {
        await path.close();
      }
    }
  }
  return rounds;
}

async function main(): Promise<void> {
  const args = parseEspBenchArgs(process.argv.slice(2));
  if (args.kind === "help") {
    process.stdout.write(`${ESP_BENCH_USAGE}\n`);
    return;
  }
  const { options } = args;
  // One removal, whoever asks first: the end of the run or a signal in the middle of it.
  let removal: Promise<unknown> | undefined;
  const removeLab = (): Promise<unknown> => {
    if (!removal) {
      progress(`removing lab "${LAB_NAME}"`);
      removal = Lab.down(LAB_NAME);
    }
    return removal;
  };
  const interrupted = (signal: NodeJS.Signals): void => {
    progress(`${signal}: stopping`);
    void removeLab().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);

  try {
    // A lab of this name can only be left over from an earlier run of this benchmark.
    const removed = await Lab.down(LAB_NAME);
    if (removed.namespacesRemoved.length > 0) progress(`removed the lab "${LAB_NAME}" an earlier run left`);
    progress(`building lab "${LAB_NAME}" (3 nodes, 2 clients, no etcd)`);
    const lab = await Lab.up(defaultLabSpec({ name: LAB_NAME, etcd: false }));
    const topology: BenchTopology = {
      sender: { ...SENDER, outer: lab.addressOf(SENDER.host, "public") },
      receiver: { ...RECEIVER, outer: lab.addressOf(RECEIVER.host, "public") },
    };
    await addInnerAddresses(lab, topology);
    const settings = await settingsFor(topology, options);
    const rounds = await benchmark(lab, topology, options);
    const summary = summarise(rounds);
    if (options.json) {
      // Figures that were not measured are null, not left out.
      const orNull = (_key: string, value: unknown): unknown => (value === undefined ? null : value);
      process.stdout.write(`${JSON.stringify({ options, settings, ...summary, rounds }, orNull, 2)}\n`);
    } else {
      process.stdout.write(renderEspBenchReport(summary, settings));
    }
  } finally {
    await removeLab();
  }
}

main().catch((err: unknown) => {
  if (err instanceof PaviseError) process.stderr.write(`${describeError(err)}\n`);
  else process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
