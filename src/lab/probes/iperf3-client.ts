import { PaviseError } from "../../util/errors.js";
import type { HostRuntime } from "../host-runtime.js";
import {
  parseIperf3TcpReport,
  parseIperf3UdpReport,
  type Iperf3TcpFigures,
  type Iperf3UdpFigures,
} from "./iperf3-report.js";

/**
 * An iperf3 client bound to a chosen source address (so that a tunnel's traffic selectors
 * match), for TCP or for a UDP flood at an unlimited rate. The server is the one-off server of
 * iperf3.ts (startIperf3Server), which exits after one run.
 */
export interface Iperf3ClientOptions {
  /** The server's address. */
  to: string;
  /** The client's source address. */
  bind: string;
  seconds: number;
  /**
   * TCP only: a cap on the sending rate (iperf3 --bitrate, e.g. "20M"), for a stream that has to
   * last through a fault rather than measure the datapath; unlimited when absent.
   */
  bitrate?: string;
}

export interface Iperf3UdpOptions extends Iperf3ClientOptions {
  /** UDP payload per datagram, in bytes (iperf3 --length). */
  payloadBytes: number;
}

/** iperf3 gives up connecting after this long; a tunnel that carries nothing fails fast. */
const CONNECT_TIMEOUT_MS = 3_000;

async function runClient(
  runtime: HostRuntime,
  from: string,
  options: Iperf3ClientOptions,
  extra: string[],
): Promise<string> {
  const argv = [
    "iperf3",
    "--client",
    options.to,
    "--bind",
    options.bind,
    "--time",
    String(options.seconds),
    "--connect-timeout",
    String(CONNECT_TIMEOUT_MS),
    "--json",
    ...extra,
  ];
  const result = await runtime.exec(from, argv, {
    timeoutMs: options.seconds * 1000 + CONNECT_TIMEOUT_MS + 20_000,
    allowFailure: true,
  });
  if (result.stdout.trim() === "") {
    throw new PaviseError(
      "IPERF3_FAILED",
      `iperf3 on ${from} (${argv.join(" ")}) printed nothing: ${result.stderr.trim() || `exit status ${result.code}`}`,
    );
  }
  return result.stdout;
}

/** One TCP stream from `from` (bound to options.bind) to the server at options.to. */
export async function runIperf3Tcp(
  runtime: HostRuntime,
  from: string,
  options: Iperf3ClientOptions,
): Promise<Iperf3TcpFigures> {
  const text = await runClient(
    runtime,
    from,
    options,
    options.bitrate === undefined ? [] : ["--bitrate", options.bitrate],
  );
  return parseIperf3TcpReport(text, `TCP ${options.bind} → ${options.to}`);
}

/** UDP datagrams of options.payloadBytes as fast as the sender can write them (--bitrate 0). */
export async function runIperf3Udp(
  runtime: HostRuntime,
  from: string,
  options: Iperf3UdpOptions,
): Promise<Iperf3UdpFigures> {
  const text = await runClient(runtime, from, options, [
    "--udp",
    "--bitrate",
    "0",
    "--length",
    String(options.payloadBytes),
  ]);
  return parseIperf3UdpReport(text, `UDP ${options.bind} → ${options.to}`);
}
