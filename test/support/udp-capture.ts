import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { HostRuntime, LabProcess } from "../../src/lab/host-runtime.js";
import { isSameProcessAlive } from "../../src/lab/processes.js";
import { until } from "./until.js";

/** One captured IPv4/UDP datagram: its addresses, ports and payload. */
export interface CapturedUdp {
  source: string;
  sourcePort: number;
  destination: string;
  destinationPort: number;
  payload: Buffer;
}

/**
 * The IPv4/UDP datagrams in a classic pcap file (what `tcpdump -w` writes): Ethernet
 * (LINKTYPE_ETHERNET) or Linux cooked (LINKTYPE_LINUX_SLL) frames; anything else is skipped.
 */
export function udpDatagramsInPcap(file: Buffer): CapturedUdp[] {
  const magic = file.readUInt32LE(0);
  const littleEndian = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!littleEndian && file.readUInt32BE(0) !== 0xa1b2c3d4 && file.readUInt32BE(0) !== 0xa1b23c4d) {
    throw new Error(`not a pcap file (magic 0x${magic.toString(16)})`);
  }
  const u32 = (offset: number): number =>
    littleEndian ? file.readUInt32LE(offset) : file.readUInt32BE(offset);
  const linkType = u32(20);
  const linkHeader = linkType === 1 ? 14 : linkType === 113 ? 16 : undefined;
  if (linkHeader === undefined) throw new Error(`unsupported pcap link type ${linkType}`);
  const datagrams: CapturedUdp[] = [];
  for (let offset = 24; offset + 16 <= file.length;) {
    const captured = u32(offset + 8);
    const frame = file.subarray(offset + 16, offset + 16 + captured);
    offset += 16 + captured;
    const etherType = frame.readUInt16BE(linkHeader - 2);
    const ip = frame.subarray(linkHeader);
    if (etherType !== 0x0800 || ip.length < 20 || ip[0]! >> 4 !== 4 || ip[9] !== 17) continue;
    const headerLength = (ip[0]! & 0x0f) * 4;
    const udp = ip.subarray(headerLength, ip.readUInt16BE(2));
    if (udp.length < 8) continue;
    datagrams.push({
      source: [...ip.subarray(12, 16)].join("."),
      destination: [...ip.subarray(16, 20)].join("."),
      sourcePort: udp.readUInt16BE(0),
      destinationPort: udp.readUInt16BE(2),
      payload: Buffer.from(udp.subarray(8, udp.readUInt16BE(4))),
    });
  }
  return datagrams;
}

/**
 * tcpdump inside a lab host, on one NIC, writing the first `count` packets that match a
 * filter to a pcap file. `datagrams()` waits until it has them all (tcpdump then exits).
 */
export interface UdpCapture {
  readonly process: LabProcess;
  readonly file: string;
  datagrams(timeoutMs?: number): Promise<CapturedUdp[]>;
  stop(): Promise<void>;
}

let captures = 0;

export async function startUdpCapture(
  runtime: HostRuntime,
  host: string,
  options: { nic: string; filter: string; count: number },
): Promise<UdpCapture> {
  captures++;
  const file = join(runtime.labDir, "logs", `${host}-capture-${process.pid}-${captures}.pcap`);
  // -U: write each packet as it comes; -Z root: keep the rights to write in the lab directory.
  const proc = await runtime.spawn(
    host,
    [
      "tcpdump",
      "-i",
      options.nic,
      "-n",
      "-U",
      "-Z",
      "root",
      "-c",
      String(options.count),
      "-w",
      file,
      options.filter,
    ],
    { role: "tcpdump" },
  );
  const log = (): string => {
    try {
      return readFileSync(proc.log, "utf8");
    } catch {
      return "";
    }
  };
  await until(
    `tcpdump on ${host}/${options.nic} to listen`,
    () => Promise.resolve(log()),
    (text) => text.includes("listening on") || !isSameProcessAlive(proc),
    5_000,
    20,
  );
  if (!log().includes("listening on")) throw new Error(`tcpdump on ${host} did not start: ${log()}`);
  return {
    process: proc,
    file,
    async datagrams(timeoutMs = 10_000) {
      await until(
        `tcpdump to capture ${options.count} packets`,
        () => Promise.resolve(isSameProcessAlive(proc)),
        (alive) => !alive,
        timeoutMs,
      );
      await runtime.stop(proc);
      return udpDatagramsInPcap(readFileSync(file));
    },
    stop: () => runtime.stop(proc),
  };
}
