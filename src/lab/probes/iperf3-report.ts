import { PaviseError } from "../../util/errors.js";

/**
 * What an iperf3 client's `--json` report says, reduced to the figures the datapath benchmarks
 * compare. Pure: it reads the report text, nothing else.
 */

/** One TCP stream (or several), as the receiver saw it. */
export interface Iperf3TcpFigures {
  /** What the receiver got, in Mbit/s. */
  receivedMbitPerSecond: number;
  receivedBytes: number;
  /** Segments the sender sent again (absent when the kernel does not say). */
  retransmits: number | undefined;
  seconds: number;
}

/** A UDP flood of fixed-size datagrams: what was sent, what arrived. */
export interface Iperf3UdpFigures {
  sentPackets: number;
  /** Packets the sender wrote per second of its run. */
  sentPacketsPerSecond: number;
  receivedPackets: number;
  /** Packets the receiver got per second of the test. */
  receivedPacketsPerSecond: number;
  /** 100 · (sent − received) / sent: counts the tail the receiver never saw, unlike iperf3's own figure. */
  lossPercent: number;
  seconds: number;
}

interface Sum {
  seconds?: number;
  bytes?: number;
  bits_per_second?: number;
  retransmits?: number;
  packets?: number;
  lost_packets?: number;
}

interface Report {
  error?: string;
  end?: { sum_sent?: Sum; sum_received?: Sum };
}

function parse(text: string, what: string): Report {
  let report: unknown;
  try {
    report = JSON.parse(text);
  } catch {
    const first = text.trim().split("\n")[0] ?? "";
    throw new PaviseError(
      "IPERF3_FAILED",
      `iperf3 ${what} gave no JSON report${first ? `: ${first.slice(0, 200)}` : ""}`,
    );
  }
  if (typeof report !== "object" || report === null) {
    throw new PaviseError("IPERF3_FAILED", `iperf3 ${what} gave a report that is not an object`);
  }
  const r = report as Report;
  if (r.error) throw new PaviseError("IPERF3_FAILED", `iperf3 ${what} failed: ${r.error}`);
  return r;
}

function need(value: number | undefined, field: string, what: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new PaviseError("IPERF3_FAILED", `iperf3 ${what}: the report has no ${field}`);
  }
  return value;
}

/** Reads a TCP report (`iperf3 --client … --json`). `what` names the run in errors. */
export function parseIperf3TcpReport(text: string, what: string): Iperf3TcpFigures {
  const { end } = parse(text, what);
  const received = end?.sum_received;
  return {
    receivedMbitPerSecond: need(received?.bits_per_second, "end.sum_received.bits_per_second", what) / 1e6,
    receivedBytes: need(received?.bytes, "end.sum_received.bytes", what),
    retransmits: end?.sum_sent?.retransmits,
    seconds: need(received?.seconds, "end.sum_received.seconds", what),
  };
}

/**
 * Reads a UDP report (`iperf3 --client … --udp --json`, iperf3 ≥ 3.12, which gives the
 * receiver's side as end.sum_received). Received packets are the receiver's count (its packets
 * minus those it found missing); loss is taken against what the sender sent.
 */
export function parseIperf3UdpReport(text: string, what: string): Iperf3UdpFigures {
  const { end } = parse(text, what);
  const sent = need(end?.sum_sent?.packets, "end.sum_sent.packets", what);
  const sentSeconds = need(end?.sum_sent?.seconds, "end.sum_sent.seconds", what);
  const received = end?.sum_received;
  const counted = need(received?.packets, "end.sum_received.packets", what);
  const lost = need(received?.lost_packets, "end.sum_received.lost_packets", what);
  const seconds = need(received?.seconds, "end.sum_received.seconds", what);
  const receivedPackets = Math.max(0, counted - lost);
  return {
    sentPackets: sent,
    sentPacketsPerSecond: sentSeconds > 0 ? sent / sentSeconds : 0,
    receivedPackets,
    receivedPacketsPerSecond: seconds > 0 ? receivedPackets / seconds : 0,
    lossPercent: sent > 0 ? (100 * Math.max(0, sent - receivedPackets)) / sent : 0,
    seconds,
  };
}
