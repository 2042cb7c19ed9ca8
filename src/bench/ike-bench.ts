#!/usr/bin/env node
/**
 * `npm run bench:ike`: IKEv2 handshakes per second and memory per IKE SA of Pavise's responder
 * against strongSwan's charon, side by side in one run, with the same load generator
 * (ike-load-generator.ts, Pavise's own IKE core as many initiators at once).
 *
 *   npm run bench:ike -- [--quick] [--json] [--concurrency N] [--count N] [--rounds N]
 *                        [--duration-ms N] [--warmup-ms N] [--suites x25519,modp2048]
 *                        [--responders strongswan,pavise] [--generators N] [--profile DIR]
 *
 * It builds a lab ("bike": three nodes, two clients, no etcd), then for each suite (PSK with
 * X25519, PSK with MODP-2048; one Child SA per IKE SA):
 *   1. starts both responders afresh: strongSwan's charon on n1, `pavise ipsec serve` on n2;
 *   2. rate, --rounds times, the responders in turns: the generator on c1 keeps --concurrency
 *      handshakes in flight, deletes each IKE SA once it is up, and counts the handshakes
 *      completed in a window after a warm-up; it also reads the responder's CPU time over the
 *      window (/proc/PID/stat). The median round counts;
 *   3. memory, each responder in turn: once the rate phase's SAs are gone, reads the
 *      responder's VmRSS, has the generator bring up --count IKE SAs (each with its Child SA)
 *      and keep them, reads VmRSS again after a pause, and reports the difference per IKE SA;
 *      the generator then deletes them and counts the answers (the responder held them all).
 *      Pavise's readings follow a full garbage collection (gc-hook.ts);
 *   4. stops both.
 * Then prints a table (or JSON with --json) with Pavise/strongSwan ratios. The lab is removed at
 * the end, also on failure or Ctrl-C.
 *
 * charon runs as one would set it up for load (CHARON_BENCH_SETTINGS below): DoS protection
 * off, as in strongSwan's own load-test example, since all initiators share one address here;
 * no IKE_SA_INIT dropping limits; a hashed IKE_SA table; the default 16 worker threads;
 * logging at level 0 (a line or two per SA event, like Pavise's log). Pavise has no such limits
 * yet, so it needs no settings.
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import type { LabProcess } from "../lab/host-runtime.js";
import { Lab } from "../lab/lab.js";
import { startPaviseIpsec, type PaviseIpsec } from "../lab/pavise-ipsec.js";
import { isSameProcessAlive, signalProcess, waitForExit } from "../lab/processes.js";
import { defaultLabSpec } from "../lab/spec.js";
import { startCharon } from "../lab/strongswan/charon.js";
import { renderPskTunnel } from "../lab/strongswan/swanctl-config.js";
import { describeError, PaviseError } from "../util/errors.js";
import { distPath } from "../util/package-paths.js";
import { run } from "../util/run.js";
import {
  LOADGEN_ERROR,
  LOADGEN_HELD,
  LOADGEN_READY,
  LOADGEN_RESULT,
  type LoadgenHeld,
  type LoadgenLine,
  type LoadgenResult,
  parseLoadgenLines,
} from "./ike-load-output.js";
import { processRssBytes } from "./proc-stats.js";

const LAB_NAME = "bike";
const PSK = "pavise-bench-psk-7296";
/** The generator's IKE identity (FQDN); responders accept it from any address of the LAN. */
const LOADGEN_ID = "loadgen.bench.pavise";

interface Suite {
  name: string;
  ike: string;
  esp: string;
}

const SUITES: Suite[] = [
  {
    name: "x25519",
    ike: "aes128gcm16-prfsha256-x25519",
    esp: "aes128gcm16",
  },
  {
    name: "modp2048",
    ike: "aes128-sha256-modp2048",
    esp: "aes128-sha256",
  },
];

type ResponderName = "strongswan" | "pavise";

/**
 * charon settings for this benchmark (strongswan.conf(5)); everything else is the lab default.
 * - dos_protection = no: otherwise cookies from 30 half-open SAs (3 per address) and, worse,
 *   at most 5 half-open SAs per peer address (block_threshold): every initiator here shares one
 *   address, so charon would silently drop most IKE_SA_INITs. strongSwan's load-test example
 *   turns it off the same way.
 * - init_limit_half_open / init_limit_job_load = 0: no IKE_SA_INIT dropping (their defaults).
 * - ikesa_table_size / segments: the default is a single bucket and a single lock, a linked list
 *   of every IKE_SA; thousands of SAs want a real hash table.
 * - dh_exponent_ansi_x9_42 = no: MODP private exponents sized to the group's strength (384 bits
 *   for MODP-2048) rather than to the prime (ANSI X9.42, the default), as Pavise's are (320
 *   bits, src/ike/crypto/dh.ts), so that exponent sizes are not what is compared. With 5.9.8
 *   on OpenSSL 3.0 it made no measurable difference.
 * - threads: the default (16).
 */
const CHARON_BENCH_SETTINGS = [
  "dos_protection = no",
  "init_limit_half_open = 0",
  "init_limit_job_load = 0",
  "ikesa_table_size = 4096",
  "ikesa_table_segments = 16",
  "dh_exponent_ansi_x9_42 = no",
];

interface BenchOptions {
  quick: boolean;
  json: boolean;
  concurrency: number;
  count: number;
  warmupMs: number;
  durationMs: number;
  suites: Suite[];
  responders: ResponderName[];
  generators: number;
  rounds: number;
  /** Directory for CPU profiles of the Pavise responder and the generators. */
  profile: string | undefined;
}

const USAGE = `usage: npm run bench:ike -- [--quick] [--json] [--concurrency N] [--count N]
         [--duration-ms N] [--warmup-ms N] [--suites x25519,modp2048]
         [--responders strongswan,pavise] [--generators N] [--rounds N] [--profile DIR]`;

function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: "boolean" },
      json: { type: "boolean" },
      concurrency: { type: "string" },
      count: { type: "string" },
      "warmup-ms": { type: "string" },
      "duration-ms": { type: "string" },
      suites: { type: "string" },
      responders: { type: "string" },
      generators: { type: "string" },
      rounds: { type: "string" },
      profile: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const quick = values.quick === true;
  const int = (
    name: string,
    value: string | undefined,
    fallback: number,
    min: number,
    max: number,
  ): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new PaviseError("BENCH_USAGE", `--${name} must be an integer from ${min} to ${max}`, {
        hint: USAGE,
      });
    }
    return n;
  };
  const suites = (values.suites ?? SUITES.map((s) => s.name).join(",")).split(",").map((name) => {
    const suite = SUITES.find((s) => s.name === name.trim());
    if (!suite) {
      throw new PaviseError("BENCH_USAGE", `unknown suite ${name}`, {
        hint: `suites are: ${SUITES.map((s) => s.name).join(", ")}`,
      });
    }
    return suite;
  });
  const responders = (values.responders ?? "strongswan,pavise").split(",").map((name) => {
    const trimmed = name.trim();
    if (trimmed !== "strongswan" && trimmed !== "pavise") {
      throw new PaviseError("BENCH_USAGE", `unknown responder ${name}`, { hint: "use strongswan, pavise" });
    }
    return trimmed;
  });
  return {
    quick,
    json: values.json === true,
    concurrency: int("concurrency", values.concurrency, 32, 1, 4096),
    count: int("count", values.count, quick ? 1000 : 2000, 10, 200_000),
    warmupMs: int("warmup-ms", values["warmup-ms"], quick ? 1000 : 3000, 0, 600_000),
    durationMs: int("duration-ms", values["duration-ms"], quick ? 3000 : 10_000, 500, 3_600_000),
    suites,
    responders,
    generators: int("generators", values.generators, 1, 1, 8),
    rounds: int("rounds", values.rounds, quick ? 1 : 3, 1, 20),
    profile: values.profile === undefined ? undefined : resolve(values.profile),
  };
}

// ---------------------------------------------------------------------------------------------
// Progress on stderr (stdout carries the table or the JSON)

const started = Date.now();
function progress(line: string): void {
  process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// Responders

interface Responder {
  name: ResponderName;
  host: string;
  address: string;
  pid: number;
  /** How many IKE SAs the responder holds (asked through its own interface). */
  countSas(): Promise<number>;
  /** Its memory now: VmRSS, after a full garbage collection where there is a collector. */
  memory(): Promise<MemorySample>;
  stop(): Promise<void>;
}

interface MemorySample {
  /** VmRSS; for Pavise without the young generation's semi-spaces (empty after the collection). */
  rssBytes: number;
  /** Pavise: VmRSS as it is, young generation included. */
  rawRssBytes?: number;
  youngGenerationBytes?: number;
  /** Pavise: V8 heap in use after the collection (plus memory outside the heap, e.g. buffers). */
  heapUsedBytes?: number;
  externalBytes?: number;
}

function rss(name: string, pid: number): number {
  const bytes = processRssBytes(pid);
  if (bytes === undefined) {
    throw new PaviseError("BENCH_RESPONDER_GONE", `the ${name} responder (PID ${pid}) is gone`);
  }
  return bytes;
}

/** charon as the benchmark's responder: quiet logs and the load-test settings above. */
async function startBenchCharon(
  lab: Lab,
  host: string,
  address: string,
  lanCidr: string,
): Promise<Responder> {
  const charon = await startCharon(lab.runtime, host, {
    logLevels: { default: 0, ike: 0, cfg: 0, chd: 0 },
    settings: [...CHARON_BENCH_SETTINGS],
  });
  const labProcess = charon.labProcess;
  await charon.loadConfig(
    renderPskTunnel({
      name: "bench",
      localAddress: address,
      remoteAddress: lanCidr,
      localId: address,
      remoteId: LOADGEN_ID,
      psk: PSK,
      proposals: SUITES.map((s) => s.ike).join(","),
      espProposals: SUITES.map((s) => s.esp).join(","),
      localTs: [`${address}/32`],
      remoteTs: ["dynamic"],
    }),
  );
  return {
    name: "strongswan",
    host,
    address,
    pid: labProcess.pid,
    countSas: async () => (await charon.listSas()).length,
    memory: () => Promise.resolve({ rssBytes: rss("strongswan", labProcess.pid) }),
    stop: () => charon.stop(),
  };
}

function paviseConfig(address: string, lanCidr: string): string {
  return [
    "connections:",
    "  bench:",
    `    local_addrs: [${address}]`,
    `    remote_addrs: [${lanCidr}]`,
    `    proposals: [${SUITES.map((s) => s.ike).join(", ")}]`,
    `    local: { auth: psk, id: ${address} }`,
    `    remote: { auth: psk, id: ${LOADGEN_ID} }`,
    "    dpd_delay: 0s",
    "    children:",
    "      net:",
    "        local_ts: [dynamic]",
    "        remote_ts: [dynamic]",
    `        esp_proposals: [${SUITES.map((s) => s.esp).join(", ")}]`,
    "secrets:",
    "  ike:",
    `    - id: [${address}, ${LOADGEN_ID}]`,
    `      secret: ${JSON.stringify(PSK)}`,
    "",
  ].join("\n");
}

/**
 * `pavise ipsec serve` with the benchmark's garbage-collection hook (gc-hook.ts) preloaded:
 * startPaviseIpsec passes this process's environment on, so NODE_OPTIONS is set around the call.
 */
async function startPavise(
  lab: Lab,
  host: string,
  address: string,
  lanCidr: string,
  profile: string | undefined,
): Promise<Responder> {
  const memoryFile = join(lab.runtime.labDir, "hosts", host, `bench-memory-${process.pid}.json`);
  mkdirSync(join(lab.runtime.labDir, "hosts", host), { recursive: true });
  const saved = {
    options: process.env.NODE_OPTIONS,
    file: process.env.PAVISE_BENCH_MEMORY_FILE,
    profile: process.env.PAVISE_BENCH_CPU_PROFILE,
  };
  // Added to whatever NODE_OPTIONS the caller set.
  const hook = `--expose-gc --import ${pathToFileURL(distPath("bench/gc-hook.js")).href}`;
  process.env.NODE_OPTIONS = saved.options ? `${saved.options} ${hook}` : hook;
  process.env.PAVISE_BENCH_MEMORY_FILE = memoryFile;
  if (profile) process.env.PAVISE_BENCH_CPU_PROFILE = profile;
  let pavise: PaviseIpsec;
  try {
    pavise = await startPaviseIpsec(lab.runtime, host, paviseConfig(address, lanCidr));
  } finally {
    restoreEnv("NODE_OPTIONS", saved.options);
    restoreEnv("PAVISE_BENCH_MEMORY_FILE", saved.file);
    restoreEnv("PAVISE_BENCH_CPU_PROFILE", saved.profile);
  }
  const pid = pavise.process.pid;
  return {
    name: "pavise",
    host,
    address,
    pid,
    countSas: async () => (await pavise.sas()).length,
    memory: async () => {
      rmSync(memoryFile, { force: true });
      signalProcess(pavise.process, "SIGUSR2");
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          const usage = JSON.parse(readFileSync(memoryFile, "utf8")) as {
            collected: boolean;
            heapUsed: number;
            external: number;
            youngGeneration: number;
          };
          if (!usage.collected) {
            throw new PaviseError("BENCH_NO_GC", "the Pavise responder has no gc() (--expose-gc)");
          }
          // The RSS right after the collection (the process may have run a moment since).
          const raw = rss("pavise", pid);
          return {
            rssBytes: raw - usage.youngGeneration,
            rawRssBytes: raw,
            youngGenerationBytes: usage.youngGeneration,
            heapUsedBytes: usage.heapUsed,
            externalBytes: usage.external,
          };
        } catch (err) {
          if (err instanceof PaviseError) throw err;
          if (Date.now() > deadline) {
            throw new PaviseError("BENCH_GC_HOOK", "the Pavise responder did not answer the memory request", {
              hint: `the hook dist/bench/gc-hook.js was not loaded; read ${pavise.process.log}`,
            });
          }
          await sleep(20);
        }
      }
    },
    stop: () => pavise.stop(),
  };
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

// ---------------------------------------------------------------------------------------------
// The load generator, as lab processes on c1

let generatorRuns = 0;

interface GeneratorRun {
  process: LabProcess;
  lines(): LoadgenLine[];
}

async function spawnGenerator(
  lab: Lab,
  local: string,
  args: string[],
  profileDir: string | undefined,
): Promise<GeneratorRun> {
  generatorRuns += 1;
  const log = join(lab.runtime.labDir, "logs", `c1-ike-loadgen-${process.pid}-${generatorRuns}.log`);
  const profiling = profileDir ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : [];
  const proc = await lab.runtime.spawn(
    "c1",
    [process.execPath, ...profiling, distPath("bench/ike-load-generator.js"), "--local", local, ...args],
    { role: "ike-loadgen", log },
  );
  const lines = (): LoadgenLine[] => {
    try {
      return parseLoadgenLines(readFileSync(log, "utf8"));
    } catch {
      return [];
    }
  };
  return { process: proc, lines };
}

/** Waits for a line of the given kind; a generator error or exit without it is an error. */
async function waitForLine<K extends LoadgenLine["kind"]>(
  run: GeneratorRun,
  kind: K,
  timeoutMs: number,
): Promise<Extract<LoadgenLine, { kind: K }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = run.lines();
    const found = lines.find((line) => line.kind === kind);
    if (found) return found as Extract<LoadgenLine, { kind: K }>;
    const error = lines.find((line) => line.kind === LOADGEN_ERROR);
    const exited = !isSameProcessAlive(run.process);
    if (error || exited || Date.now() > deadline) {
      let tail = "";
      try {
        tail = readFileSync(run.process.log, "utf8").split("\n").slice(-10).join("\n");
      } catch {
        // no log
      }
      throw new PaviseError(
        "BENCH_GENERATOR_FAILED",
        `the load generator ${error ? "failed" : exited ? "exited" : "did not answer"} before "${kind}"` +
          (tail ? `:\n${tail}` : ""),
        { hint: `read ${run.process.log}` },
      );
    }
    await sleep(20);
  }
}

function commonArgs(responder: Responder, suite: Suite, options: BenchOptions): string[] {
  return [
    "--remote",
    responder.address,
    "--psk",
    PSK,
    "--proposal",
    suite.ike,
    "--esp",
    suite.esp,
    "--local-id",
    LOADGEN_ID,
    "--remote-id",
    responder.address,
    "--concurrency",
    String(Math.max(1, Math.round(options.concurrency / options.generators))),
    "--watch-pid",
    String(responder.pid),
  ];
}

export interface RateFigures {
  handshakesPerSecond: number;
  completedInWindow: number;
  windowMs: number;
  latencyMs: LoadgenResult["latencyMs"];
  failed: number;
  failureReasons: string[];
  /** Requests the generator had to send again (no answer within the core's 4 s timeout). */
  retransmissions: number;
  responderCpuPercent: number | undefined;
  responderCpuMsPerHandshake: number | undefined;
  generatorCpuPercent: number[];
  generators: LoadgenResult[];
}

async function ratePhase(
  lab: Lab,
  responder: Responder,
  suite: Suite,
  options: BenchOptions,
  addresses: string[],
): Promise<RateFigures> {
  const startAt = Date.now() + 1_500;
  const runs = await Promise.all(
    addresses.map((local) =>
      spawnGenerator(
        lab,
        local,
        [
          ...commonArgs(responder, suite, options),
          "--mode",
          "rate",
          "--warmup-ms",
          String(options.warmupMs),
          "--duration-ms",
          String(options.durationMs),
          "--start-at",
          String(startAt),
        ],
        options.profile,
      ),
    ),
  );
  await Promise.all(runs.map((r) => waitForLine(r, LOADGEN_READY, 10_000)));
  if (Date.now() > startAt) progress("  warning: the generators were ready only after the start time");
  const timeout = startAt - Date.now() + options.warmupMs + options.durationMs + 30_000;
  const results = await Promise.all(runs.map((r) => waitForLine(r, LOADGEN_RESULT, timeout)));
  await Promise.all(runs.map((r) => waitForExit(r.process, 5_000)));
  const completed = results.reduce((n, r) => n + r.completedInWindow, 0);
  const windowMs = Math.max(...results.map((r) => r.windowMs));
  const first = results[0];
  const responderCpuMs =
    first?.cpu.responderPercent !== undefined
      ? (first.cpu.responderPercent / 100) * first.windowMs
      : undefined;
  return {
    handshakesPerSecond: windowMs > 0 ? Math.round((completed * 10_000) / windowMs) / 10 : 0,
    completedInWindow: completed,
    windowMs,
    // With several generators, the slowest one's latencies (they share the responder).
    latencyMs: results.map((r) => r.latencyMs).sort((a, b) => (b?.p50 ?? 0) - (a?.p50 ?? 0))[0],
    failed: results.reduce((n, r) => n + r.failed, 0),
    failureReasons: [...new Set(results.flatMap((r) => r.failureReasons))],
    retransmissions: results.reduce((n, r) => n + r.retransmissions, 0),
    responderCpuPercent: first?.cpu.responderPercent,
    responderCpuMsPerHandshake:
      responderCpuMs !== undefined && completed > 0
        ? Math.round((responderCpuMs / completed) * 1000) / 1000
        : undefined,
    generatorCpuPercent: results.map((r) => r.cpu.generatorPercent),
    generators: results,
  };
}

export interface MemoryFigures {
  count: number;
  established: number;
  /** What the responder itself said it held, asked after the second reading. */
  heldByResponder: number;
  before: MemorySample;
  after: MemorySample;
  /** (VmRSS after - VmRSS before) / IKE SAs held. */
  bytesPerSa: number;
  /** Pavise: the same for the V8 heap in use plus memory outside it (buffers). */
  heapBytesPerSa: number | undefined;
  setupMs: number;
  /** established / setup time: handshakes per second while the responder's table fills up. */
  setupPerSecond: number;
  /** Deletes the responder answered when the generator let go of the SAs. */
  deletesAnswered: number;
}

async function waitUntilEmpty(responder: Responder, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await responder.countSas();
    if (n === 0 || Date.now() > deadline) return n;
    await sleep(200);
  }
}

async function memoryPhase(
  lab: Lab,
  responder: Responder,
  suite: Suite,
  options: BenchOptions,
  local: string,
): Promise<MemoryFigures> {
  const left = await waitUntilEmpty(responder, 10_000);
  if (left > 0) progress(`  warning: ${responder.name} still holds ${left} IKE SAs from the rate phase`);
  await sleep(1_000);
  const before = await responder.memory();
  const run = await spawnGenerator(
    lab,
    local,
    [
      ...commonArgs(responder, suite, { ...options, generators: 1 }),
      "--mode",
      "hold",
      "--count",
      String(options.count),
    ],
    options.profile,
  );
  const held: LoadgenHeld = await waitForLine(run, LOADGEN_HELD, 60_000 + options.count * 20);
  // Let the responder finish what it does after the last handshake (log lines, timers).
  await sleep(options.quick ? 1_000 : 3_000);
  const after = await responder.memory();
  const heldByResponder = await responder.countSas();
  signalProcess(run.process, "SIGTERM");
  const result = await waitForLine(run, LOADGEN_RESULT, 30_000 + options.count * 10);
  await waitForExit(run.process, 5_000);
  const heap = (m: MemorySample): number | undefined =>
    m.heapUsedBytes === undefined ? undefined : m.heapUsedBytes + (m.externalBytes ?? 0);
  const heapBefore = heap(before);
  const heapAfter = heap(after);
  return {
    count: options.count,
    established: held.established,
    heldByResponder,
    before,
    after,
    bytesPerSa: Math.round((after.rssBytes - before.rssBytes) / held.established),
    heapBytesPerSa:
      heapBefore === undefined || heapAfter === undefined
        ? undefined
        : Math.round((heapAfter - heapBefore) / held.established),
    setupMs: held.elapsedMs,
    setupPerSecond: held.elapsedMs > 0 ? Math.round((held.established * 10_000) / held.elapsedMs) / 10 : 0,
    deletesAnswered: result.deletesAnswered,
  };
}

// ---------------------------------------------------------------------------------------------
// Report

export interface BenchRow {
  responder: ResponderName;
  suite: string;
  proposal: string;
  /** The median round (by handshakes per second). */
  rate: RateFigures;
  /** Handshakes per second of every round. */
  rounds: number[];
  memory: MemoryFigures;
}

function ratio(pavise: number | undefined, strongswan: number | undefined): number | undefined {
  if (pavise === undefined || strongswan === undefined || strongswan === 0) return undefined;
  return Math.round((pavise / strongswan) * 100) / 100;
}

function summary(rows: BenchRow[], suites: Suite[]) {
  return suites.map((suite) => {
    const s = rows.find((r) => r.suite === suite.name && r.responder === "strongswan");
    const p = rows.find((r) => r.suite === suite.name && r.responder === "pavise");
    return {
      suite: suite.name,
      proposal: suite.ike,
      handshakesPerSecond: { strongswan: s?.rate.handshakesPerSecond, pavise: p?.rate.handshakesPerSecond },
      responderCpuMsPerHandshake: {
        strongswan: s?.rate.responderCpuMsPerHandshake,
        pavise: p?.rate.responderCpuMsPerHandshake,
      },
      bytesPerSa: { strongswan: s?.memory.bytesPerSa, pavise: p?.memory.bytesPerSa },
      setupPerSecond: { strongswan: s?.memory.setupPerSecond, pavise: p?.memory.setupPerSecond },
      ratio: {
        handshakesPerSecond: ratio(p?.rate.handshakesPerSecond, s?.rate.handshakesPerSecond),
        setupPerSecond: ratio(p?.memory.setupPerSecond, s?.memory.setupPerSecond),
        responderCpuMsPerHandshake: ratio(
          p?.rate.responderCpuMsPerHandshake,
          s?.rate.responderCpuMsPerHandshake,
        ),
        bytesPerSa: ratio(p?.memory.bytesPerSa, s?.memory.bytesPerSa),
      },
    };
  });
}

/** A text table: the first `left` columns left-aligned, the others (numbers) right-aligned. */
function table(header: string[], rows: string[][], left = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i < left ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined
    ? "-"
    : n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function renderReport(rows: BenchRow[], options: BenchOptions, settings: Record<string, unknown>): string {
  const out: string[] = [];
  out.push(
    `IKEv2 responder benchmark: PSK, one Child SA per IKE SA; load generator on c1 (Pavise's IKE core, ` +
      `${options.generators} process${options.generators === 1 ? "" : "es"}, ${options.concurrency} handshakes in flight)`,
    `strongSwan ${String(settings.strongswanVersion)} charon on n1 (${String(settings.charonThreads)} threads); ` +
      `Pavise \`pavise ipsec serve\` on n2 (Node ${process.versions.node}, one thread)`,
    `rate: ${options.warmupMs / 1000} s warm-up, ${options.durationMs / 1000} s measured, each IKE SA deleted once up, ` +
      `median of ${options.rounds} round${options.rounds === 1 ? "" : "s"} taken in turns; ` +
      `memory: VmRSS before and after ${options.count} IKE SAs held`,
    "",
  );
  const sum = summary(rows, options.suites);
  const mainRows: string[][] = [];
  for (const x of sum) {
    mainRows.push(
      [
        x.suite,
        "handshakes/s",
        fmt(x.handshakesPerSecond.strongswan),
        fmt(x.handshakesPerSecond.pavise),
        fmt(x.ratio.handshakesPerSecond, 2),
        ">= 1",
      ],
      [
        "",
        "responder CPU ms per handshake",
        fmt(x.responderCpuMsPerHandshake.strongswan, 3),
        fmt(x.responderCpuMsPerHandshake.pavise, 3),
        fmt(x.ratio.responderCpuMsPerHandshake, 2),
        "",
      ],
      [
        "",
        `handshakes/s filling up to ${options.count} SAs`,
        fmt(x.setupPerSecond.strongswan),
        fmt(x.setupPerSecond.pavise),
        fmt(x.ratio.setupPerSecond, 2),
        "",
      ],
      [
        "",
        "bytes per IKE SA (VmRSS)",
        fmt(x.bytesPerSa.strongswan),
        fmt(x.bytesPerSa.pavise),
        fmt(x.ratio.bytesPerSa, 2),
        "<= 1",
      ],
    );
  }
  out.push(table(["suite", "", "strongSwan", "Pavise", "Pavise/strongSwan", "target"], mainRows, 2));
  out.push(
    "",
    "Details",
    table(
      [
        "responder",
        "suite",
        "hs/s (rounds)",
        "resp CPU %",
        "resp CPU ms/hs",
        "gen CPU %",
        "p50 ms",
        "p99 ms",
        "failed",
        "retx",
        "RSS before",
        "RSS after",
        "young gen b/a",
        "heap B/SA",
        "held",
        "deletes ok",
      ],
      rows.map((r) => [
        r.responder,
        r.suite,
        r.rounds.map((n) => fmt(n)).join(" "),
        fmt(r.rate.responderCpuPercent),
        fmt(r.rate.responderCpuMsPerHandshake, 3),
        r.rate.generatorCpuPercent.map((n) => fmt(n)).join("+"),
        fmt(r.rate.latencyMs?.p50, 1),
        fmt(r.rate.latencyMs?.p99, 1),
        fmt(r.rate.failed),
        fmt(r.rate.retransmissions),
        `${fmt((r.memory.before.rawRssBytes ?? r.memory.before.rssBytes) / 1048576, 1)} MB`,
        `${fmt((r.memory.after.rawRssBytes ?? r.memory.after.rssBytes) / 1048576, 1)} MB`,
        r.memory.after.youngGenerationBytes === undefined
          ? "-"
          : `${fmt((r.memory.before.youngGenerationBytes ?? 0) / 1048576, 1)}/${fmt(r.memory.after.youngGenerationBytes / 1048576, 1)} MB`,
        fmt(r.memory.heapBytesPerSa),
        `${r.memory.heldByResponder}/${r.memory.count}`,
        fmt(r.memory.deletesAnswered),
      ]),
      2,
    ),
  );
  const reasons = rows.flatMap((r) =>
    r.rate.failureReasons.map((reason) => `${r.responder}/${r.suite}: ${reason}`),
  );
  out.push(
    "",
    "bytes per IKE SA = (VmRSS with the SAs - VmRSS before) / SAs. Pavise's readings follow a full",
    "garbage collection and leave out V8's young generation (empty then, sized by the allocation",
    "rate); heap B/SA is V8 heap + buffers per SA. resp CPU: the responder's user+system time over",
    "the window (/proc/PID/stat); gen: the generator's. retx: requests the generator sent again.",
  );
  if (reasons.length > 0) out.push("", "Failures:", ...reasons.map((r) => `  ${r}`));
  return `${out.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------

async function startResponder(
  lab: Lab,
  name: ResponderName,
  suite: Suite,
  options: BenchOptions,
  lanCidr: string,
): Promise<Responder> {
  const host = name === "strongswan" ? "n1" : "n2";
  const address = lab.addressOf(host, "public");
  progress(`${name} on ${host}, ${suite.name}: starting the responder`);
  return name === "strongswan"
    ? startBenchCharon(lab, host, address, lanCidr)
    : startPavise(
        lab,
        host,
        address,
        lanCidr,
        options.profile ? join(options.profile, `pavise-${suite.name}-${Date.now()}.cpuprofile`) : undefined,
      );
}

/**
 * One suite: both responders (on their own hosts) are started afresh; the rate rounds alternate
 * between them (A B A B ...) so that whatever else the machine does falls on both alike; then
 * each one's memory phase; then both are stopped.
 */
async function benchSuite(
  lab: Lab,
  suite: Suite,
  options: BenchOptions,
  where: { lanCidr: string; client: string; generatorAddresses: string[] },
): Promise<BenchRow[]> {
  const responders: Responder[] = [];
  try {
    for (const name of options.responders) {
      responders.push(await startResponder(lab, name, suite, options, where.lanCidr));
    }
    const rounds = new Map<Responder, RateFigures[]>(responders.map((r) => [r, []]));
    for (let round = 1; round <= options.rounds; round++) {
      for (const responder of responders) {
        const rate = await ratePhase(lab, responder, suite, options, where.generatorAddresses);
        progress(
          `${responder.name}, ${suite.name}, rate ${round}/${options.rounds}: ${rate.handshakesPerSecond} handshakes/s, ` +
            `responder CPU ${rate.responderCpuPercent ?? "-"} % (${rate.responderCpuMsPerHandshake ?? "-"} ms/handshake), ` +
            `generator CPU ${rate.generatorCpuPercent.join("+")} %, p50 ${rate.latencyMs?.p50 ?? "-"} ms, ` +
            `${rate.failed} failed, ${rate.retransmissions} retransmitted`,
        );
        rounds.get(responder)?.push(rate);
      }
    }
    const rows: BenchRow[] = [];
    for (const responder of responders) {
      const all = rounds.get(responder) ?? [];
      // The median round by handshakes per second (the middle one of an odd number).
      const sorted = [...all].sort((a, b) => a.handshakesPerSecond - b.handshakesPerSecond);
      const rate = sorted[Math.floor((sorted.length - 1) / 2)];
      if (!rate) throw new Error("no rate round ran");
      progress(`${responder.name}, ${suite.name}: memory, ${options.count} IKE SAs held`);
      const memory = await memoryPhase(lab, responder, suite, options, where.client);
      progress(
        `  RSS ${(memory.before.rssBytes / 1048576).toFixed(1)} -> ${(memory.after.rssBytes / 1048576).toFixed(1)} MB ` +
          `with ${memory.established} IKE SAs: ${memory.bytesPerSa} bytes per IKE SA` +
          (memory.heapBytesPerSa === undefined ? "" : ` (V8 heap + buffers: ${memory.heapBytesPerSa})`) +
          `; set up at ${memory.setupPerSecond}/s; responder held ${memory.heldByResponder}, ` +
          `answered ${memory.deletesAnswered} deletes`,
      );
      rows.push({
        responder: responder.name,
        suite: suite.name,
        proposal: suite.ike,
        rate,
        rounds: all.map((r) => r.handshakesPerSecond),
        memory,
      });
    }
    return rows;
  } finally {
    for (const responder of responders) await responder.stop();
  }
}

async function strongswanVersion(): Promise<string> {
  const result = await run(["dpkg-query", "-W", "-f", "${Version}", "strongswan-charon"], {
    allowFailure: true,
  });
  return result.code === 0 ? result.stdout.trim() : "unknown";
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.profile) mkdirSync(options.profile, { recursive: true });
  let lab: Lab | undefined;
  const interrupted = async (): Promise<void> => {
    progress("interrupted: removing the lab");
    await Lab.down(LAB_NAME);
    process.exit(130);
  };
  process.once("SIGINT", () => void interrupted());
  process.once("SIGTERM", () => void interrupted());
  try {
    // A lab of this name can only be left over from an earlier run of this benchmark.
    const removed = await Lab.down(LAB_NAME);
    if (removed.namespacesRemoved.length > 0) progress(`removed the lab "${LAB_NAME}" an earlier run left`);
    progress(`building lab "${LAB_NAME}" (3 nodes, 2 clients, no etcd)`);
    lab = await Lab.up(defaultLabSpec({ name: LAB_NAME, etcd: false }));
    const lanCidr = lab.plan.bridges.find((b) => b.subnet === "public")?.cidr ?? "198.18.1.0/24";
    const client = lab.addressOf("c1", "public");
    const generatorAddresses = [client];
    for (let i = 1; i < options.generators; i++) {
      // More generators get more addresses on c1, each with its own ports 500 and 4500.
      const address = `198.18.1.${200 + i}`;
      await lab.exec("c1", ["ip", "addr", "add", `${address}/24`, "dev", "eth0"]);
      generatorAddresses.push(address);
    }
    const settings = {
      strongswanVersion: await strongswanVersion(),
      charonThreads: 16,
      charonSettings: CHARON_BENCH_SETTINGS,
      node: process.versions.node,
      cpus: (await run(["nproc"])).stdout.trim(),
    };
    const rows: BenchRow[] = [];
    for (const suite of options.suites) {
      rows.push(...(await benchSuite(lab, suite, options, { lanCidr, client, generatorAddresses })));
    }
    if (options.json) {
      process.stdout.write(
        `${JSON.stringify({ options: { ...options, suites: options.suites.map((s) => s.name) }, settings, summary: summary(rows, options.suites), rows }, null, 2)}\n`,
      );
    } else {
      process.stdout.write(renderReport(rows, options, settings));
    }
  } finally {
    progress(`removing lab "${LAB_NAME}"`);
    if (lab) await lab.down();
    else await Lab.down(LAB_NAME);
  }
}

main().catch((err: unknown) => {
  if (err instanceof PaviseError) process.stderr.write(`${describeError(err)}\n`);
  else process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
