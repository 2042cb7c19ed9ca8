import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { PaviseError } from "../../util/errors.js";
import type { HostRuntime, LabProcess } from "../host-runtime.js";

/** Throughput between two lab hosts with iperf3: the yardstick of every datapath benchmark. */
export interface Iperf3Result {
  /** What the receiver got, in Mbit/s. */
  receivedMbitPerSecond: number;
  sentBytes: number;
  seconds: number;
  streams: number;
}

interface Iperf3Json {
  error?: string;
  end?: { sum_sent?: { bytes: number }; sum_received?: { bits_per_second: number } };
}

/** Starts `iperf3 --server --one-off` on a host and waits until it listens. */
export async function startIperf3Server(
  runtime: HostRuntime,
  host: string,
  bind: string,
): Promise<LabProcess> {
  // --forceflush: without it "Server listening" stays in stdio's buffer when the log is a file.
  const server = await runtime.spawn(
    host,
    ["iperf3", "--server", "--one-off", "--forceflush", "--bind", bind],
    {
      role: "iperf3-server",
    },
  );
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    let log = "";
    try {
      log = readFileSync(server.log, "utf8");
    } catch {
      // not written yet
    }
    if (log.includes("Server listening")) return server;
    await sleep(20);
  }
  await runtime.stop(server);
  throw new PaviseError("IPERF3_NOT_READY", `iperf3 server on ${host} did not start within 5 s`, {
    hint: `read ${server.log}`,
  });
}

/** Runs an iperf3 client against a server started with startIperf3Server (which then exits). */
export async function runIperf3(
  runtime: HostRuntime,
  from: string,
  to: string,
  options: { seconds?: number; streams?: number } = {},
): Promise<Iperf3Result> {
  const seconds = options.seconds ?? 2;
  const streams = options.streams ?? 1;
  const result = await runtime.exec(
    from,
    ["iperf3", "--client", to, "--time", String(seconds), "--parallel", String(streams), "--json"],
    { timeoutMs: seconds * 1000 + 20_000, allowFailure: true },
  );
  let report: Iperf3Json;
  try {
    report = JSON.parse(result.stdout) as Iperf3Json;
  } catch {
    throw new PaviseError(
      "IPERF3_FAILED",
      `iperf3 from ${from} to ${to} gave no report: ${result.stderr.trim()}`,
    );
  }
  const received = report.end?.sum_received?.bits_per_second;
  if (report.error || received === undefined) {
    throw new PaviseError(
      "IPERF3_FAILED",
      `iperf3 from ${from} to ${to} failed: ${report.error ?? "no summary"}`,
    );
  }
  return {
    receivedMbitPerSecond: received / 1e6,
    sentBytes: report.end?.sum_sent?.bytes ?? 0,
    seconds,
    streams,
  };
}
