/**
 * Driver for the bulk transfer probe: one TCP connection carries N bytes of random data from a
 * sender to a receiver, each side hashing what it handled (SHA-256), so that a test proves the
 * bytes arrived intact, not just that "some" arrived. The agent (bulk-transfer-agent.ts) runs
 * compiled inside lab hosts:
 *
 *   const receiver = await startBulkReceiver(lab.runtime, "n1", { bind: "198.18.20.11", port: 5201 });
 *   const sent = await sendBulk(lab.runtime, "c1", { to: "198.18.20.11", port: 5201, bytes: 100e6 });
 *   const received = await receiver.report(10_000);
 *   // sent.sha256 === received.sha256 && received.bytes === sent.bytes
 *
 * Or, for a flow that lasts as long as a test needs it (e.g. across a rekey):
 *
 *   const sender = await startBulkSender(lab.runtime, "c1", { to: "198.18.20.11", port: 5201 });
 *   ... // the flow runs
 *   const sent = await sender.stop(); // then receiver.report(): same bytes, same SHA-256
 *
 * The data is drawn from node:crypto's random source, so no layer on the way can compress it
 * and no stale buffer could pass for it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PaviseError } from "../../util/errors.js";
import { distPath } from "../../util/package-paths.js";
import type { HostRuntime, LabProcess } from "../host-runtime.js";
import { isSameProcessAlive } from "../processes.js";

const AGENT = "lab/probes/bulk-transfer-agent.js";

/** Start of the line (stderr) the receiver prints once it listens. */
export const BULK_READY_MARKER = "bulk-transfer: ready";
/** Start of the line (stderr) the agent prints before it exits with an error. */
export const BULK_ERROR_MARKER = "bulk-transfer: error:";
export const BULK_REPORT_KIND = "bulk-transfer-report";

/** The one JSON line each side prints on stdout when its part is done. */
export interface BulkTransferReport {
  kind: typeof BULK_REPORT_KIND;
  role: "send" | "receive";
  /** Bytes written (sender) or read until the end of the stream (receiver). */
  bytes: number;
  /** SHA-256 of those bytes, hex. */
  sha256: string;
  /** From connect (sender) or accept (receiver) to the end of the stream. */
  seconds: number;
}

/** The last report line in an agent's output, if there is one yet. */
export function findBulkReport(output: string): BulkTransferReport | undefined {
  const lines = output.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]?.trim() ?? "";
    if (!line.startsWith("{")) continue;
    try {
      const parsed = JSON.parse(line) as { kind?: unknown };
      if (parsed.kind === BULK_REPORT_KIND) return parsed as BulkTransferReport;
    } catch {
      // partly written
    }
  }
  return undefined;
}

export interface BulkReceiver {
  readonly process: LabProcess;
  /** Waits until the sender's stream ended and returns what arrived. */
  report(timeoutMs: number): Promise<BulkTransferReport>;
  stop(): Promise<void>;
}

export interface BulkSender {
  readonly process: LabProcess;
  /** Stops writing (SIGTERM), lets the receiver read the rest, and returns what was sent. */
  stop(timeoutMs?: number): Promise<BulkTransferReport>;
}

export interface BulkSendOptions {
  to: string;
  port: number;
  /** Source address, e.g. an inner address so that the flow takes a tunnel. */
  bind?: string;
}

let logCounter = 0;

function agentLog(runtime: HostRuntime, host: string, role: string): string {
  logCounter++;
  return join(runtime.labDir, "logs", `${host}-${role}-${process.pid}-${Date.now()}-${logCounter}.log`);
}

function readLog(proc: LabProcess): string {
  try {
    return readFileSync(proc.log, "utf8");
  } catch {
    return "";
  }
}

async function waitUntilReady(runtime: HostRuntime, proc: LabProcess): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!readLog(proc).includes(BULK_READY_MARKER)) {
    if (!isSameProcessAlive(proc) || Date.now() > deadline) {
      await runtime.stop(proc);
      throw new PaviseError(
        "PROBE_NOT_READY",
        `${proc.role} on ${proc.host} did not start: ${readLog(proc).trim()}`,
        { where: { file: proc.log } },
      );
    }
    await sleep(20);
  }
}

async function waitForReport(proc: LabProcess, timeoutMs: number): Promise<BulkTransferReport> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const report = findBulkReport(readLog(proc));
    if (report) return report;
    // The process may have written its report and exited between the two reads.
    if (!isSameProcessAlive(proc) && !findBulkReport(readLog(proc))) {
      throw new PaviseError(
        "PROBE_NO_REPORT",
        `${proc.role} on ${proc.host} exited without a report: ${readLog(proc).trim()}`,
        { where: { file: proc.log } },
      );
    }
    if (Date.now() > deadline) {
      throw new PaviseError(
        "PROBE_NO_REPORT",
        `${proc.role} on ${proc.host} gave no report within ${timeoutMs} ms`,
        { where: { file: proc.log } },
      );
    }
    await sleep(20);
  }
}

/** Starts a receiver that accepts one connection, then reports and exits. */
export async function startBulkReceiver(
  runtime: HostRuntime,
  host: string,
  options: { bind: string; port: number },
): Promise<BulkReceiver> {
  const proc = await runtime.spawn(
    host,
    [process.execPath, distPath(AGENT), "receive", "--bind", options.bind, "--port", String(options.port)],
    { role: "bulk-receive", log: agentLog(runtime, host, "bulk-receive") },
  );
  await waitUntilReady(runtime, proc);
  return {
    process: proc,
    report: (timeoutMs) => waitForReport(proc, timeoutMs),
    stop: () => runtime.stop(proc),
  };
}

function senderArgv(options: BulkSendOptions, amount: string[]): string[] {
  const argv = [
    process.execPath,
    distPath(AGENT),
    "send",
    "--to",
    options.to,
    "--port",
    String(options.port),
  ];
  if (options.bind !== undefined) argv.push("--bind", options.bind);
  return [...argv, ...amount];
}

/** Sends `bytes` random bytes to a receiver and returns once the receiver has read them all. */
export async function sendBulk(
  runtime: HostRuntime,
  from: string,
  options: BulkSendOptions & { bytes: number; timeoutMs?: number },
): Promise<BulkTransferReport> {
  const result = await runtime.exec(from, senderArgv(options, ["--bytes", String(options.bytes)]), {
    timeoutMs: options.timeoutMs ?? 60_000,
    allowFailure: true,
  });
  const report = findBulkReport(result.stdout);
  if (result.code !== 0 || !report) {
    throw new PaviseError(
      "PROBE_FAILED",
      `bulk sender on ${from} to ${options.to}:${options.port} failed (exit ${result.code}): ${result.stderr.trim()}`,
    );
  }
  return report;
}

/** Starts sending random bytes to a receiver, as fast as TCP takes them, until `stop()`. */
export async function startBulkSender(
  runtime: HostRuntime,
  from: string,
  options: BulkSendOptions,
): Promise<BulkSender> {
  const proc = await runtime.spawn(from, senderArgv(options, ["--until-stopped"]), {
    role: "bulk-send",
    log: agentLog(runtime, from, "bulk-send"),
  });
  await waitUntilReady(runtime, proc);
  let stopped: Promise<BulkTransferReport> | undefined;
  return {
    process: proc,
    stop(timeoutMs = 10_000) {
      stopped ??= (async () => {
        await runtime.stop(proc, "SIGTERM");
        return waitForReport(proc, timeoutMs);
      })();
      return stopped;
    },
  };
}
