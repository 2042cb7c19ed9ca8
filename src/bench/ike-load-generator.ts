/**
 * IKEv2 load generator: many initiators at once, built on Pavise's own pure IKE core, run as a
 * program inside a lab host's network namespace (the benchmark, ike-bench.ts, starts it):
 *
 *   node dist/bench/ike-load-generator.js --local 198.18.1.101 --remote 198.18.1.11 --psk SECRET
 *        --proposal aes128gcm16-prfsha256-x25519 [--esp aes128gcm16]
 *        [--local-id ID] [--remote-id ID] [--concurrency 32]
 *        --mode rate [--warmup-ms 2000] [--duration-ms 10000] [--keep] [--start-at EPOCH_MS]
 *        [--watch-pid PID]
 *   ... --mode hold --count 2000 [--hold-ms N]
 *
 * One IkeEndpoint with one connection (PSK, the given IKE and ESP proposal, INITIAL_CONTACT
 * off) and one pair of UDP sockets, ports 500 and 4500 on --local: the core moves IKE_AUTH to
 * 4500 (it fakes NAT detection to force ESP in UDP), so both must be bound. Every IKE SA has its
 * own SPIs, so the responder tells them apart although they share one peer address.
 * INITIAL_CONTACT must stay off: with it, each new IKE SA would make the responder (Pavise and
 * strongSwan alike) delete every older one with the same identity.
 *
 * The generator keeps --concurrency handshakes in flight: as soon as one completes (IKE_SA_INIT
 * and IKE_AUTH done, IKE SA and its first Child SA up) or fails, the next IKE_SA_INIT goes out.
 *
 * --mode rate (handshake throughput): runs for warm-up + duration and counts the handshakes that
 *   complete inside the window [start + warm-up, start + warm-up + duration). Each IKE SA is
 *   deleted (INFORMATIONAL DELETE) as soon as it is up, so the responder's table stays small and
 *   the figure is handshakes, not table growth; --keep lets them accumulate instead. With
 *   --start-at several generators (one per address) measure the same window. With --watch-pid
 *   the responder's CPU time over the window is read from /proc, which gives CPU ms per
 *   handshake: on a small machine, where generator and responder share the cores, that is the
 *   figure that compares responders best.
 * --mode hold (memory): brings up --count IKE SAs with their Child SAs and keeps them, prints a
 *   "held" line, and waits (for SIGTERM/SIGINT, or --hold-ms). It then deletes them, paced like
 *   the set-up, and counts the deletes the responder answered: proof that it still held them.
 *
 * Output: JSON lines on stdout (ike-load-output.ts): "ready" once the sockets are bound, "held"
 * (hold mode), and the result last. Bad arguments exit 2, a failure to set up exits 1.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { isIPv4 } from "node:net";
import { ExchangeType } from "../ike/codec/header.js";
import { parseIpsecConfig } from "../ike/config/ipsec-config.js";
import { resolveConnections } from "../ike/core/connection.js";
import type { IkeEvent } from "../ike/core/events.js";
import { IkeEndpoint } from "../ike/core/ike-endpoint.js";
import type { IkePath, IkeSa } from "../ike/core/ike-sa.js";
import { sharedKeyFor } from "../ike/core/shared-keys.js";
import { IKE_PORT } from "../ike/core/udp-demux.js";
import { systemRandom } from "../ike/crypto/random.js";
import { IkeSockets, type UdpPath } from "../ike/driver/ike-sockets.js";
import {
  LOADGEN_ERROR,
  LOADGEN_HELD,
  LOADGEN_READY,
  LOADGEN_RESULT,
  type LoadgenLine,
  type LoadgenMode,
  type LoadgenResult,
  summarizeLatency,
} from "./ike-load-output.js";
import { processCpuMs } from "./proc-stats.js";

class UsageError extends Error {}

const CONNECTION = "bench";
/** How often retransmission deadlines are checked (the core's first retransmission is at 4 s). */
const TIMER_MS = 100;
/** After the window (or in hold mode after SIGTERM): how long outstanding deletes may take. */
const DRAIN_MS = 3_000;
const MAX_FAILURE_REASONS = 5;

interface GeneratorOptions {
  local: string;
  remote: string;
  psk: string;
  proposal: string;
  esp: string;
  localId: string;
  remoteId: string;
  concurrency: number;
  mode: LoadgenMode;
  warmupMs: number;
  durationMs: number;
  keep: boolean;
  startAt: number | undefined;
  watchPid: number | undefined;
  count: number;
  holdMs: number | undefined;
}

function print(line: LoadgenLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function integer(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
  fallback?: number,
): number {
  if (value === undefined && fallback !== undefined) return fallback;
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** The ESP proposal that goes with an IKE proposal when --esp is not given. */
function defaultEsp(proposal: string): string {
  return /gcm|chacha/.test(proposal) ? "aes128gcm16" : "aes128-sha256";
}

function parseOptions(argv: string[]): GeneratorOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      local: { type: "string" },
      remote: { type: "string" },
      psk: { type: "string" },
      proposal: { type: "string" },
      esp: { type: "string" },
      "local-id": { type: "string" },
      "remote-id": { type: "string" },
      concurrency: { type: "string" },
      mode: { type: "string" },
      "warmup-ms": { type: "string" },
      "duration-ms": { type: "string" },
      keep: { type: "boolean" },
      "start-at": { type: "string" },
      "watch-pid": { type: "string" },
      count: { type: "string" },
      "hold-ms": { type: "string" },
    },
  });
  const need = (name: "local" | "remote" | "psk" | "proposal"): string => {
    const value = values[name];
    if (value === undefined || value === "") throw new UsageError(`--${name} is required`);
    return value;
  };
  const local = need("local");
  const remote = need("remote");
  if (!isIPv4(local) || !isIPv4(remote)) throw new UsageError("--local and --remote must be IPv4 addresses");
  const mode = values.mode ?? "rate";
  if (mode !== "rate" && mode !== "hold") throw new UsageError(`--mode must be rate or hold, got ${mode}`);
  const proposal = need("proposal");
  return {
    local,
    remote,
    psk: need("psk"),
    proposal,
    esp: values.esp ?? defaultEsp(proposal),
    localId: values["local-id"] ?? local,
    remoteId: values["remote-id"] ?? remote,
    concurrency: integer("concurrency", values.concurrency, 1, 4096, 32),
    mode,
    warmupMs: integer("warmup-ms", values["warmup-ms"], 0, 3_600_000, 2_000),
    durationMs: integer("duration-ms", values["duration-ms"], 100, 3_600_000, 10_000),
    keep: values.keep === true,
    startAt:
      values["start-at"] === undefined ? undefined : integer("start-at", values["start-at"], 0, 2 ** 52),
    watchPid:
      values["watch-pid"] === undefined ? undefined : integer("watch-pid", values["watch-pid"], 1, 2 ** 31),
    count: integer("count", values.count, 1, 1_000_000, 2_000),
    holdMs:
      values["hold-ms"] === undefined ? undefined : integer("hold-ms", values["hold-ms"], 0, 86_400_000),
  };
}

/** The initiator's configuration, in the same YAML `pavise ipsec serve` reads. */
function initiatorConfig(options: GeneratorOptions): string {
  const quote = (text: string): string => JSON.stringify(text);
  return [
    "connections:",
    `  ${CONNECTION}:`,
    `    local_addrs: [${options.local}]`,
    `    remote_addrs: [${options.remote}]`,
    `    proposals: [${quote(options.proposal)}]`,
    `    local: { auth: psk, id: ${quote(options.localId)} }`,
    `    remote: { auth: psk, id: ${quote(options.remoteId)} }`,
    // Off, or each new IKE SA would make the responder drop all the others (RFC 7296 §2.4).
    "    send_initial_contact: no",
    "    dpd_delay: 0s",
    "    children:",
    "      net:",
    "        local_ts: [dynamic]",
    "        remote_ts: [dynamic]",
    `        esp_proposals: [${quote(options.esp)}]`,
    "secrets:",
    "  ike:",
    `    - id: [${quote(options.localId)}, ${quote(options.remoteId)}]`,
    `      secret: ${quote(options.psk)}`,
    "",
  ].join("\n");
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

interface CpuSample {
  at: number;
  /** This process's CPU time (user + system), ms. */
  own: number;
  /** The watched responder's, ms. */
  responder: number | undefined;
}

interface Attempt {
  sa: IkeSa;
  startedAt: number;
  ikeUp: boolean;
  done: boolean;
}

/** The generator: one endpoint, one socket pair, a window of handshakes in flight. */
class LoadGenerator {
  private readonly endpoint: IkeEndpoint;
  private readonly path: IkePath;
  private sockets: IkeSockets | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly startTime = Date.now();
  /** Handshakes in progress, by initiator SPI (hex). */
  private readonly attempts = new Map<string, Attempt>();
  /** Established IKE SAs we keep (hold mode, or rate mode with --keep). */
  private readonly kept: IkeSa[] = [];
  /** IKE SAs we asked the responder to delete and whose answer has not come yet. */
  private readonly deleting = new Set<string>();
  private inFlight = 0;
  private initiated = 0;
  private completed = 0;
  private failed = 0;
  private readonly failureReasons = new Set<string>();
  private readonly requests = { ikeSaInit: 0, ikeAuth: 0, informational: 0 };
  private readonly sent = new WeakSet<Uint8Array>();
  private retransmissions = 0;
  private deletesSent = 0;
  private deletesAnswered = 0;
  private completedInWindow = 0;
  private readonly windowLatencies: number[] = [];
  private window: { start: number; end: number } | undefined;
  private cpuAtWindowStart: CpuSample | undefined;
  private cpuAtWindowEnd: CpuSample | undefined;
  /** False once the run ends: no new handshakes. */
  private accepting = true;
  /** Hold mode after the hold: deleting the kept SAs. */
  private releasing = false;
  private heldAnnounced = false;
  private finishing = false;

  constructor(private readonly options: GeneratorOptions) {
    const config = parseIpsecConfig(initiatorConfig(options), "ike-load-generator");
    this.endpoint = new IkeEndpoint({
      random: systemRandom,
      connections: resolveConnections(config),
      sharedKey: (local, remote) => sharedKeyFor(config.sharedKeys, local, remote),
    });
    this.path = {
      localAddress: options.local,
      localPort: IKE_PORT,
      remoteAddress: options.remote,
      remotePort: IKE_PORT,
    };
  }

  async run(): Promise<void> {
    this.sockets = await IkeSockets.open([this.options.local], (path, datagram) => {
      // Keepalives and ESP mean nothing to a generator.
      if (datagram.kind === "ike") this.onMessage(path, datagram.message);
    });
    print({ kind: LOADGEN_READY, local: this.options.local, remote: this.options.remote });
    const stop = (): void => void this.stopRequested();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    const startAt = this.options.startAt ?? Date.now();
    if (startAt > Date.now()) await sleep(startAt - Date.now());
    this.timer = setInterval(() => this.tick(), TIMER_MS);
    if (this.options.mode === "rate") {
      const start = startAt + this.options.warmupMs;
      this.window = { start, end: start + this.options.durationMs };
      setTimeout(() => (this.cpuAtWindowStart = this.cpuNow()), Math.max(0, start - Date.now()));
      setTimeout(
        () => {
          this.cpuAtWindowEnd = this.cpuNow();
          void this.finish();
        },
        Math.max(0, this.window.end - Date.now()),
      );
    }
    this.pump();
  }

  private cpuNow(): CpuSample {
    const usage = process.cpuUsage();
    return {
      at: Date.now(),
      own: (usage.user + usage.system) / 1000,
      responder: this.options.watchPid === undefined ? undefined : processCpuMs(this.options.watchPid),
    };
  }

  private async stopRequested(): Promise<void> {
    if (this.window && this.cpuAtWindowStart && !this.cpuAtWindowEnd) {
      // Stopped early: the window ends now.
      this.window.end = Date.now();
      this.cpuAtWindowEnd = this.cpuNow();
    }
    await this.finish();
  }

  private onMessage(path: UdpPath, message: Uint8Array): void {
    this.endpoint.handleDatagram(Date.now(), path, message);
    this.pump();
  }

  private tick(): void {
    this.endpoint.handleTimeout(Date.now());
    this.pump();
  }

  /**
   * Sends what the endpoint produced, acts on its events, starts more handshakes (or deletes),
   * and goes round again until a pass produces nothing.
   */
  private pump(): void {
    for (;;) {
      let moved = 0;
      for (let out = this.endpoint.pollTransmit(); out; out = this.endpoint.pollTransmit()) {
        moved += 1;
        // The core retransmits the very datagram it sent first (the window keeps it).
        if (this.sent.has(out.message)) this.retransmissions += 1;
        else this.sent.add(out.message);
        this.countRequest(out.message);
        this.sockets?.sendIke(out.path, out.message);
      }
      const touched: Attempt[] = [];
      for (let event = this.endpoint.pollEvent(); event; event = this.endpoint.pollEvent()) {
        moved += 1;
        const attempt = this.onEvent(event);
        if (attempt) touched.push(attempt);
      }
      // IKE_AUTH answered with the IKE SA but without a Child SA: not a complete handshake.
      for (const attempt of touched) {
        if (attempt.ikeUp && !attempt.done) {
          this.fail(attempt, "the IKE SA came up without its Child SA");
          this.deleteSa(attempt.sa);
        }
      }
      moved += this.fill();
      if (this.releasing) moved += this.releaseMore();
      if (moved === 0) break;
    }
    if (this.options.mode === "hold" && !this.heldAnnounced && this.completed >= this.options.count) {
      this.announceHeld();
    }
  }

  /** Starts handshakes until the window of in-flight ones is full; returns how many. */
  private fill(): number {
    const { mode, count, concurrency } = this.options;
    let started = 0;
    while (this.accepting && this.inFlight < concurrency) {
      if (mode === "hold" && this.completed + this.inFlight >= count) break;
      const sa = this.endpoint.initiate(Date.now(), CONNECTION, this.path);
      this.attempts.set(hex(sa.initiatorSpi), {
        sa,
        startedAt: performance.now(),
        ikeUp: false,
        done: false,
      });
      this.inFlight += 1;
      this.initiated += 1;
      started += 1;
    }
    return started;
  }

  private countRequest(message: Uint8Array): void {
    // IKE header: exchange type at octet 18, flags at 19 (0x20: response).
    if (((message[19] ?? 0) & 0x20) !== 0) return;
    const exchange = message[18];
    if (exchange === ExchangeType.IKE_SA_INIT) this.requests.ikeSaInit += 1;
    else if (exchange === ExchangeType.IKE_AUTH) this.requests.ikeAuth += 1;
    else if (exchange === ExchangeType.INFORMATIONAL) this.requests.informational += 1;
  }

  private onEvent(event: IkeEvent): Attempt | undefined {
    if (event.type === "log") {
      if (event.level === "warn") process.stderr.write(`ike-loadgen: ${event.message}\n`);
      return undefined;
    }
    if (event.type === "unknown-ike-spi" || event.type === "peer-state-lost-hint") return undefined;
    const key = event.sa.spiI;
    if (event.type === "ike-down") {
      if (this.deleting.delete(key)) {
        // "deleted": the responder answered our DELETE; anything else (no answer) is not.
        if (event.reason === "deleted") this.deletesAnswered += 1;
        return undefined;
      }
      const attempt = this.attempts.get(key);
      if (attempt && !attempt.done) this.fail(attempt, event.reason);
      this.attempts.delete(key);
      return undefined;
    }
    const attempt = this.attempts.get(key);
    if (!attempt || attempt.done) return undefined;
    if (event.type === "ike-up") attempt.ikeUp = true;
    else if (event.type === "child-up") this.complete(attempt);
    else return undefined;
    return attempt;
  }

  private complete(attempt: Attempt): void {
    attempt.done = true;
    this.inFlight -= 1;
    this.completed += 1;
    const now = Date.now();
    if (this.window && this.cpuAtWindowStart && !this.cpuAtWindowEnd && now < this.window.end) {
      this.completedInWindow += 1;
      this.windowLatencies.push(performance.now() - attempt.startedAt);
    }
    this.attempts.delete(hex(attempt.sa.initiatorSpi));
    if (this.options.mode === "rate" && !this.options.keep) this.deleteSa(attempt.sa);
    else this.kept.push(attempt.sa);
  }

  private deleteSa(sa: IkeSa): void {
    this.deleting.add(hex(sa.initiatorSpi));
    this.deletesSent += 1;
    this.endpoint.deleteSa(Date.now(), sa);
  }

  private fail(attempt: Attempt, reason: string): void {
    attempt.done = true;
    this.inFlight -= 1;
    this.failed += 1;
    if (this.failureReasons.size < MAX_FAILURE_REASONS) this.failureReasons.add(reason);
    this.attempts.delete(hex(attempt.sa.initiatorSpi));
    // Hold mode replaces failed handshakes; a responder that refuses them all must not keep it
    // going for ever.
    if (
      this.options.mode === "hold" &&
      !this.heldAnnounced &&
      this.failed > Math.max(100, this.options.count)
    ) {
      const message = `${this.failed} handshakes failed before ${this.options.count} were up: ${[...this.failureReasons].join("; ")}`;
      print({ kind: LOADGEN_ERROR, message });
      process.stderr.write(`ike-loadgen: ${message}\n`);
      process.exit(1);
    }
  }

  private announceHeld(): void {
    this.heldAnnounced = true;
    print({
      kind: LOADGEN_HELD,
      established: this.completed,
      failed: this.failed,
      elapsedMs: Date.now() - (this.options.startAt ?? this.startTime),
    });
    if (this.options.holdMs !== undefined) setTimeout(() => void this.finish(), this.options.holdMs);
  }

  /** Hold mode, at the end: deletes the kept SAs, --concurrency at a time; returns how many. */
  private releaseMore(): number {
    let sent = 0;
    while (this.deleting.size < this.options.concurrency && this.kept.length > 0) {
      const sa = this.kept.pop();
      if (sa && !sa.isClosed) {
        this.deleteSa(sa);
        sent += 1;
      }
    }
    return sent;
  }

  private async finish(): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    this.accepting = false;
    if (this.options.mode === "hold") this.releasing = true;
    this.pump();
    // Let outstanding handshakes and deletes finish, so that the responder is left clean.
    const deadline = Date.now() + DRAIN_MS + (this.releasing ? this.kept.length : 0);
    const busy = (): boolean =>
      this.deleting.size > 0 || this.inFlight > 0 || (this.releasing && this.kept.length > 0);
    while (busy() && Date.now() < deadline) {
      await sleep(10);
    }
    if (this.timer) clearInterval(this.timer);
    this.sockets?.close();
    print(this.result());
    process.exit(0);
  }

  private result(): LoadgenResult {
    const o = this.options;
    const start = this.cpuAtWindowStart;
    const end = this.cpuAtWindowEnd;
    const windowMs = start && end ? end.at - start.at : 0;
    const ownMs = start && end ? end.own - start.own : undefined;
    const responderMs =
      start?.responder !== undefined && end?.responder !== undefined
        ? end.responder - start.responder
        : undefined;
    const round = (n: number, digits: number): number => Math.round(n * 10 ** digits) / 10 ** digits;
    return {
      kind: LOADGEN_RESULT,
      mode: o.mode,
      local: o.local,
      remote: o.remote,
      proposal: o.proposal,
      esp: o.esp,
      concurrency: o.concurrency,
      windowMs,
      completedInWindow: this.completedInWindow,
      handshakesPerSecond: windowMs > 0 ? round((this.completedInWindow * 1000) / windowMs, 1) : 0,
      latencyMs: summarizeLatency(this.windowLatencies),
      initiated: this.initiated,
      completed: this.completed,
      failed: this.failed,
      failureReasons: [...this.failureReasons],
      requestsSent: { ...this.requests },
      retransmissions: this.retransmissions,
      deletesSent: this.deletesSent,
      deletesAnswered: this.deletesAnswered,
      cpu: {
        generatorPercent: ownMs !== undefined && windowMs > 0 ? round((ownMs / windowMs) * 100, 1) : 0,
        responderPercent:
          responderMs !== undefined && windowMs > 0 ? round((responderMs / windowMs) * 100, 1) : undefined,
        responderMsPerHandshake:
          responderMs !== undefined && this.completedInWindow > 0
            ? round(responderMs / this.completedInWindow, 3)
            : undefined,
      },
    };
  }
}

async function main(): Promise<void> {
  let options: GeneratorOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`ike-loadgen: ${(err as Error).message}\n`);
    process.exit(
      err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") ? 2 : 1,
    );
  }
  try {
    await new LoadGenerator(options).run();
  } catch (err) {
    const message = (err as Error).message;
    print({ kind: LOADGEN_ERROR, message });
    process.stderr.write(`ike-loadgen: ${message}\n`);
    process.exit(1);
  }
}

void main();
