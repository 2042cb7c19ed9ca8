/**
 * The text report of `npm run bench:esp`: what was measured, a table of the paths, the ratios
 * and the target. Pure: a summary and the run's settings in, text out.
 */
import {
  PATH_LABELS,
  RATIO_NAMES,
  type CpuSeconds,
  type EspBenchSummary,
  type PathSummary,
} from "./esp-bench-summary.js";

/** What the report's header says about the run (also part of the --json output). */
export interface EspBenchSettings {
  sender: { host: string; outer: string; inner: string };
  receiver: { host: string; outer: string; inner: string };
  ikeProposal: string;
  espProposal: string;
  seconds: number;
  repeat: number;
  udpPayloadBytes: number;
  strongswanVersion: string;
  iperf3Version: string;
  node: string;
  cpus: number;
}

/** A text table: the first `left` columns left-aligned, the others (numbers) right-aligned. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[], left = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i < left ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export const formatNumber = (n: number | undefined, digits = 0): string =>
  n === undefined || Number.isNaN(n)
    ? "-"
    : n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function cpu(seconds: CpuSeconds): string {
  if (seconds.sender === undefined && seconds.receiver === undefined) return "-";
  return `${formatNumber(seconds.sender, 2)}/${formatNumber(seconds.receiver, 2)}`;
}

function pathRow(p: PathSummary): string[] {
  return [
    `(${p.path}) ${PATH_LABELS[p.path]}`,
    formatNumber(p.tcp.mbitPerSecond, 1),
    formatNumber(p.tcp.retransmits),
    cpu(p.tcp.cpuSeconds),
    formatNumber(p.udp.receivedPps),
    formatNumber(p.udp.sentPps),
    `${formatNumber(p.udp.lossPercent, 1)} %`,
    cpu(p.udp.cpuSeconds),
  ];
}

function verdict(value: number | undefined, met: boolean | undefined): string {
  if (value === undefined) return "not measured";
  return `${formatNumber(value, 2)} (${met ? "met" : "NOT met"})`;
}

export function renderEspBenchReport(summary: EspBenchSummary, settings: EspBenchSettings): string {
  const { sender: s, receiver: r } = settings;
  const rounds = settings.repeat === 1 ? "1 round" : `median of ${settings.repeat} rounds taken in turns`;
  const out: string[] = [
    `ESP datapath benchmark: iperf3 from ${s.host} (${s.inner}) to ${r.host} (${r.inner}), ` +
      `inner addresses on lo, outer ${s.outer} ↔ ${r.outer}`,
    `IKE ${settings.ikeProposal}, ESP ${settings.espProposal}, tunnel mode, ESP in UDP/4500; ` +
      `${settings.seconds} s per iperf3 run, ${rounds}`,
    `strongSwan ${settings.strongswanVersion} (kernel-libipsec), Node ${settings.node}, ` +
      `iperf3 ${settings.iperf3Version}, ${settings.cpus} CPUs`,
    "",
    textTable(
      [
        "path",
        "TCP Mbit/s",
        "retr",
        `TCP CPU s ${s.host}/${r.host}`,
        `UDP ${settings.udpPayloadBytes} B pps rcvd`,
        "pps sent",
        "lost",
        `UDP CPU s ${s.host}/${r.host}`,
      ],
      summary.paths.map(pathRow),
    ),
    "",
    textTable(
      ["ratio", "TCP", "UDP pps"],
      RATIO_NAMES.map((name) => {
        const [top, bottom] = name.split("/");
        const ratio = summary.ratios[name];
        return [`(${top})/(${bottom})`, formatNumber(ratio.tcp, 2), formatNumber(ratio.udpPps, 2)];
      }),
    ),
    "",
    `target (${summary.target.ratio.replace("/", ")/(")}) ≥ ${summary.target.atLeast} (DESIGN.md, ESP throughput): ` +
      `TCP ${verdict(summary.target.tcp.value, summary.target.tcp.met)}; ` +
      `UDP pps ${verdict(summary.target.udpPps.value, summary.target.udpPps.met)}`,
  ];
  if (settings.repeat > 1) {
    const numbers = Array.from({ length: settings.repeat }, (_, i) => i + 1);
    out.push(
      "",
      "each round (the table above shows their medians)",
      textTable(
        ["path", ...numbers.map((n) => `TCP #${n}`), ...numbers.map((n) => `pps #${n}`)],
        summary.paths.map((p) => [
          `(${p.path})`,
          ...numbers.map((n) => formatNumber(p.perRound.tcpMbitPerSecond[n - 1], 1)),
          ...numbers.map((n) => formatNumber(p.perRound.udpReceivedPps[n - 1])),
        ]),
      ),
    );
  }
  out.push(
    "",
    "TCP: one stream, Mbit/s the receiver got; retr: segments the sender sent again. UDP: datagrams of",
    `${settings.udpPayloadBytes} bytes sent as fast as iperf3 can (-b 0); pps rcvd reached the receiver, pps sent left`,
    "the sender, lost is the share of those sent that never arrived. CPU s: user+system seconds of the",
    `IPsec daemons (charon, pavise ipsec serve) over the whole iperf3 run, ${s.host} (sender, initiator) / ` +
      `${r.host} (receiver).`,
  );
  return `${out.join("\n")}\n`;
}
