/**
 * Driver for the UDP injection probe (udp-inject-agent.ts): sends datagrams, byte for byte,
 * from inside a lab host, e.g. replayed or forged ESP packets to a daemon's port 4500.
 *
 *   await injectUdp(lab.runtime, "c1", { to: "198.18.1.11", port: 4500, datagrams: [copy, forged] });
 */
import { PaviseError } from "../../util/errors.js";
import { distPath } from "../../util/package-paths.js";
import type { HostRuntime } from "../host-runtime.js";

const AGENT = "lab/probes/udp-inject-agent.js";

/** Start of the line (stderr) the agent prints before it exits with an error. */
export const UDP_INJECT_ERROR_MARKER = "udp-inject: error:";
export const UDP_INJECT_REPORT_KIND = "udp-inject-report";

export interface UdpInjectOptions {
  to: string;
  port: number;
  /** Source address and port; the kernel picks them when absent. */
  bind?: string;
  bindPort?: number;
  datagrams: readonly Uint8Array[];
}

/** Sends the datagrams in order from `host`; returns how many left the socket. */
export async function injectUdp(
  runtime: HostRuntime,
  host: string,
  options: UdpInjectOptions,
): Promise<number> {
  const argv = [process.execPath, distPath(AGENT), "--to", options.to, "--port", String(options.port)];
  if (options.bind !== undefined) argv.push("--bind", options.bind);
  if (options.bindPort !== undefined) argv.push("--bind-port", String(options.bindPort));
  const input = JSON.stringify(options.datagrams.map((d) => Buffer.from(d).toString("hex")));
  const result = await runtime.exec(host, argv, { input, timeoutMs: 20_000, allowFailure: true });
  let sent: number | undefined;
  try {
    const report = JSON.parse(result.stdout.trim()) as { kind?: unknown; sent?: unknown };
    if (report.kind === UDP_INJECT_REPORT_KIND && typeof report.sent === "number") sent = report.sent;
  } catch {
    // reported below
  }
  if (result.code !== 0 || sent === undefined) {
    throw new PaviseError(
      "PROBE_FAILED",
      `udp-inject on ${host} to ${options.to}:${options.port} failed (exit ${result.code}): ${result.stderr.trim()}`,
    );
  }
  return sent;
}
