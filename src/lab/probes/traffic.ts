/**
 * Driver for the traffic probe: starts the compiled agent (traffic-agent.ts) inside lab hosts as
 * tracked lab processes and reads its readiness and its report from the process's log file.
 *
 *   const server = await startEchoServer(lab.runtime, "n1", { proto: "udp", port: 7000 });
 *   const run = await startTraffic(lab.runtime, { from: "c1", to: "198.18.1.11", proto: "udp",
 *     port: 7000, intervalMs: 10 });
 *   ... fault ...
 *   const report = await run.stop(); // report.maxGapMs, report.lossRatio, ...
 *   await server.stop();
 *
 * The agent always runs compiled (dist/), also when the caller runs from the sources under
 * vitest, so `npm run build` must have run (BUILD_MISSING otherwise).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PaviseError } from "../../util/errors.js";
import { distPath } from "../../util/package-paths.js";
import type { HostRuntime, LabProcess } from "../host-runtime.js";
import { isSameProcessAlive } from "../processes.js";
import {
  type AgentReport,
  findAgentError,
  findAgentReport,
  hasReadyLine,
  type TrafficProto,
} from "./traffic-agent-output.js";

export type { AgentReport, TrafficProto } from "./traffic-agent-output.js";

const AGENT = "lab/probes/traffic-agent.js";
const DEFAULT_READY_TIMEOUT_MS = 5_000;
const DEFAULT_DRAIN_MS = 250;
const POLL_MS = 20;

let runCounter = 0;

/**
 * A log file of its own for each agent: the driver reads readiness and the report from it, so a
 * log shared with an earlier run (same host and role) would hand back that run's report.
 */
function agentLog(runtime: HostRuntime, host: string, role: string): string {
  runCounter++;
  return join(runtime.labDir, "logs", `${host}-${role}-${process.pid}-${Date.now()}-${runCounter}.log`);
}

export interface EchoServerOptions {
  proto: TrafficProto;
  port: number;
  /** Address to listen on; all of the host's addresses by default. */
  bind?: string;
  readyTimeoutMs?: number;
}

export interface EchoServer {
  readonly host: string;
  readonly proto: TrafficProto;
  readonly port: number;
  readonly process: LabProcess;
  stop(): Promise<void>;
}

export interface TrafficOptions {
  /** Lab host the requests leave from. */
  from: string;
  /** Address of the echo server. */
  to: string;
  proto: TrafficProto;
  port: number;
  intervalMs: number;
  /** Stop by itself after this long (then use waitForReport); runs until stop() otherwise. */
  durationMs?: number;
  /** After the stop, how long the agent waits for replies still in flight (default 250 ms). */
  drainMs?: number;
  /** Source address for the requests. */
  bind?: string;
  readyTimeoutMs?: number;
}

export interface TrafficRun {
  readonly from: string;
  readonly to: string;
  readonly proto: TrafficProto;
  readonly port: number;
  readonly process: LabProcess;
  /** Ends the run (SIGTERM) and returns its report. */
  stop(): Promise<AgentReport>;
  /** Waits for a run started with durationMs to end by itself and returns its report. */
  waitForReport(timeoutMs: number): Promise<AgentReport>;
}

export async function startEchoServer(
  runtime: HostRuntime,
  host: string,
  options: EchoServerOptions,
): Promise<EchoServer> {
  const argv = [
    process.execPath,
    distPath(AGENT),
    "serve",
    "--proto",
    options.proto,
    "--port",
    `${options.port}`,
  ];
  if (options.bind !== undefined) argv.push("--bind", options.bind);
  const role = `traffic-server-${options.proto}-${options.port}`;
  const proc = await runtime.spawn(host, argv, { role, log: agentLog(runtime, host, role) });
  await waitUntilReady(runtime, proc, options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
  return {
    host,
    proto: options.proto,
    port: options.port,
    process: proc,
    stop: () => runtime.stop(proc, "SIGKILL"),
  };
}

export async function startTraffic(runtime: HostRuntime, options: TrafficOptions): Promise<TrafficRun> {
  const drainMs = options.drainMs ?? DEFAULT_DRAIN_MS;
  const argv = [
    process.execPath,
    distPath(AGENT),
    "send",
    "--proto",
    options.proto,
    "--to",
    options.to,
    "--port",
    `${options.port}`,
    "--interval-ms",
    `${options.intervalMs}`,
    "--drain-ms",
    `${drainMs}`,
  ];
  if (options.durationMs !== undefined) argv.push("--duration-ms", `${options.durationMs}`);
  if (options.bind !== undefined) argv.push("--bind", options.bind);
  const role = `traffic-sender-${options.proto}-${options.port}`;
  const proc = await runtime.spawn(options.from, argv, { role, log: agentLog(runtime, options.from, role) });
  await waitUntilReady(runtime, proc, options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);

  let stopped: Promise<AgentReport> | undefined;
  // Stopping takes the drain time plus the report; the rest is room for a loaded machine.
  const reportTimeoutMs = drainMs + 5_000;
  return {
    from: options.from,
    to: options.to,
    proto: options.proto,
    port: options.port,
    process: proc,
    stop() {
      stopped ??= (async () => {
        // Also when the run already ended by itself: the lab then just forgets the process.
        await runtime.stop(proc, "SIGTERM");
        return waitForReport(runtime, proc, reportTimeoutMs);
      })();
      return stopped;
    },
    waitForReport: (timeoutMs) => waitForReport(runtime, proc, timeoutMs),
  };
}

async function waitUntilReady(runtime: HostRuntime, proc: LabProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = readLog(proc);
    if (hasReadyLine(log)) return;
    if (!isSameProcessAlive(proc)) {
      throw new PaviseError(
        "PROBE_FAILED",
        `${proc.role} on ${proc.host} exited before it was ready: ${findAgentError(log) ?? lastLines(log)}`,
        { where: { file: proc.log }, hint: `read ${proc.log}` },
      );
    }
    if (Date.now() > deadline) {
      await runtime.stop(proc, "SIGKILL");
      throw new PaviseError(
        "PROBE_NOT_READY",
        `${proc.role} on ${proc.host} was not ready within ${timeoutMs} ms`,
        {
          where: { file: proc.log },
          hint: `read ${proc.log}; is the host's namespace usable and the port free?`,
        },
      );
    }
    await sleep(POLL_MS);
  }
}

async function waitForReport(
  runtime: HostRuntime,
  proc: LabProcess,
  timeoutMs: number,
): Promise<AgentReport> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = readLog(proc);
    const report = findAgentReport(log);
    if (report !== undefined) return report;
    // The process may have written its report and exited between the two reads.
    const alive = isSameProcessAlive(proc);
    if (!alive && findAgentReport(readLog(proc)) === undefined) {
      throw new PaviseError(
        "PROBE_NO_REPORT",
        `${proc.role} on ${proc.host} exited without a report: ${lastLines(log)}`,
        {
          where: { file: proc.log },
          hint: `read ${proc.log}`,
        },
      );
    }
    if (alive && Date.now() > deadline) {
      await runtime.stop(proc, "SIGKILL");
      throw new PaviseError(
        "PROBE_NO_REPORT",
        `${proc.role} on ${proc.host} gave no report within ${timeoutMs} ms`,
        {
          where: { file: proc.log },
          hint: `read ${proc.log}`,
        },
      );
    }
    await sleep(POLL_MS);
  }
}

function readLog(proc: LabProcess): string {
  try {
    return readFileSync(proc.log, "utf8");
  } catch {
    return "";
  }
}

function lastLines(log: string, count = 5): string {
  const lines = log.trimEnd().split("\n");
  return lines.slice(-count).join(" | ") || "(empty log)";
}
