/**
 * One round on one open path of `npm run bench:esp`: a TCP run, then a UDP flood, each with a
 * fresh one-off iperf3 server on the receiver, and the CPU time the IPsec daemons spent meanwhile.
 */
import type { Lab } from "../lab/lab.js";
import { startIperf3Server } from "../lab/probes/iperf3.js";
import { runIperf3Tcp, runIperf3Udp } from "../lab/probes/iperf3-client.js";
import { PaviseError } from "../util/errors.js";
import type { BenchTopology, IpsecEnd, OpenPath } from "./esp-bench-paths.js";
import type { CpuSeconds, PathRound } from "./esp-bench-summary.js";
import { processCpuMs } from "./proc-stats.js";

/** Small datagrams: what packets per second are measured with (iperf3 --length). */
export const UDP_PAYLOAD_BYTES = 64;

type Progress = (line: string) => void;

function cpuMs(end: IpsecEnd | undefined): number | undefined {
  return end === undefined ? undefined : processCpuMs(end.pid);
}

/** Runs `work` and reads the daemons' CPU time (/proc/PID/stat) before and after it. */
async function withCpu<T>(path: OpenPath, work: () => Promise<T>): Promise<[T, CpuSeconds]> {
  const before = [cpuMs(path.sender), cpuMs(path.receiver)];
  const result = await work();
  const after = [cpuMs(path.sender), cpuMs(path.receiver)];
  const used = (i: number): number | undefined => {
    const [b, a] = [before[i], after[i]];
    return b === undefined || a === undefined ? undefined : (a - b) / 1000;
  };
  return [result, { sender: used(0), receiver: used(1) }];
}

/** Each iperf3 run gets its own server, which exits after the run. */
async function withServer<T>(lab: Lab, topology: BenchTopology, work: () => Promise<T>): Promise<T> {
  const { host, inner } = topology.receiver;
  const server = await startIperf3Server(lab.runtime, host, inner);
  try {
    return await work();
  } finally {
    await lab.runtime.stop(server);
  }
}

function describeCpu(path: OpenPath, cpu: CpuSeconds, topology: BenchTopology): string {
  const part = (end: IpsecEnd | undefined, seconds: number | undefined, host: string): string[] =>
    end === undefined ? [] : [`${end.software} on ${host} ${seconds?.toFixed(2) ?? "?"} s`];
  const parts = [
    ...part(path.sender, cpu.sender, topology.sender.host),
    ...part(path.receiver, cpu.receiver, topology.receiver.host),
  ];
  return parts.length === 0 ? "" : ` (CPU: ${parts.join(", ")})`;
}

export async function measurePath(
  lab: Lab,
  path: OpenPath,
  topology: BenchTopology,
  options: { seconds: number; round: number },
  progress: Progress,
): Promise<PathRound> {
  const client = { to: topology.receiver.inner, bind: topology.sender.inner, seconds: options.seconds };
  const from = topology.sender.host;

  const bytesBefore = await path.receiver?.bytesIn();
  const [tcp, tcpCpu] = await withServer(lab, topology, () =>
    withCpu(path, () => runIperf3Tcp(lab.runtime, from, client)),
  );
  progress(
    `  TCP: ${tcp.receivedMbitPerSecond.toFixed(1)} Mbit/s, ${tcp.retransmits ?? "?"} retransmits` +
      describeCpu(path, tcpCpu, topology),
  );
  if (path.receiver && bytesBefore !== undefined) {
    // The tunnel must have carried at least what iperf3 received (its SA counts headers too).
    const carried = (await path.receiver.bytesIn()) - bytesBefore;
    if (carried < tcp.receivedBytes) {
      throw new PaviseError(
        "BENCH_TUNNEL_BYPASSED",
        `path (${path.id}): iperf3 received ${tcp.receivedBytes} bytes but the ${path.receiver.software} ` +
          `SA on ${path.receiver.host} carried only ${carried}: the traffic did not go through the tunnel`,
        { hint: "look for stale routes in the lab hosts (ip route; ip rule) left by an earlier path" },
      );
    }
  }

  const [udp, udpCpu] = await withServer(lab, topology, () =>
    withCpu(path, () => runIperf3Udp(lab.runtime, from, { ...client, payloadBytes: UDP_PAYLOAD_BYTES })),
  );
  progress(
    `  UDP ${UDP_PAYLOAD_BYTES} B: ${Math.round(udp.receivedPacketsPerSecond).toLocaleString("en-US")} packets/s ` +
      `received, ${Math.round(udp.sentPacketsPerSecond).toLocaleString("en-US")}/s sent, ` +
      `${udp.lossPercent.toFixed(1)} % lost` +
      describeCpu(path, udpCpu, topology),
  );

  return {
    path: path.id,
    round: options.round,
    tcp: {
      mbitPerSecond: Math.round(tcp.receivedMbitPerSecond * 10) / 10,
      retransmits: tcp.retransmits,
      cpuSeconds: tcpCpu,
    },
    udp: {
      receivedPps: Math.round(udp.receivedPacketsPerSecond),
      sentPps: Math.round(udp.sentPacketsPerSecond),
      lossPercent: Math.round(udp.lossPercent * 100) / 100,
      cpuSeconds: udpCpu,
    },
  };
}
