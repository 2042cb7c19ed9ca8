/**
 * A small program that drives a {@link TunDevice} inside a network namespace for tests and
 * measurements (a TUN lives in the namespace of the process that opens it, so tests run this with
 * `ip netns exec`). It reads one JSON command a line on stdin and answers one JSON line each:
 *
 * - `{"op":"open","name":"tt0","address":"198.18.0.1/24","mtu":1500}`: opens the TUN, sets
 *   MTU and address, brings it up and starts reading (batches of 64).
 * - `{"op":"echo","src":"198.18.0.2","dst":"198.18.0.1","size":84}`: writes one ICMP echo
 *   request into the TUN (from src, a remote address routed through the TUN, to dst) and answers
 *   with the echo reply the kernel sent back out of the TUN.
 * - `{"op":"reflect","on":true}`: answers every ICMP echo request read from the TUN with an echo
 *   reply written back into it (a fake remote end for `ping`).
 * - `{"op":"routes","ranges":[{"start":"198.19.0.0","end":"198.19.1.255"}]}`: routes the
 *   IPv4 ranges through the TUN (addTunRoutes).
 * - `{"op":"stats"}`: counters, the largest batch and how many batches had more than one packet.
 * - `{"op":"bench","seconds":3,"size":1400,"window":512}`: keeps `window` echo requests of
 *   `size` bytes in flight to the TUN's own address and counts the replies read: read+write
 *   echo rate in packets/s.
 * - `{"op":"close"}`, `{"op":"exit"}`.
 *
 * Run: node dist/esp/driver/tun-agent.js (compiled; see distPath).
 */
import { createInterface } from "node:readline";
import { addTunAddress, addTunRoutes, setTunMtu, splitBatch, TunDevice, tunLinkUp } from "./tun-device.js";

interface Command {
  op: string;
  name?: string;
  address?: string;
  mtu?: number;
  src?: string;
  dst?: string;
  size?: number;
  on?: boolean;
  seconds?: number;
  window?: number;
  /** For "routes": IPv4 ranges, both ends included. */
  ranges?: { start: string; end: string }[];
}

interface EchoReply {
  type: number;
  src: string;
  dst: string;
  id: number;
  seq: number;
  length: number;
}

let tun: TunDevice | undefined;
let reflect = false;
let reflected = 0;
let maxBatch = 0;
let multiBatches = 0;
/** Echo replies read from the TUN are passed here (echo and bench). */
let onReply: ((reply: EchoReply, packet: Buffer) => void) | undefined;
/** Called after each read batch (bench). */
let afterBatch: (() => void) | undefined;

function ipv4(text: string): Buffer {
  const parts = text.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${text}`);
  }
  return Buffer.from(parts);
}

function checksum(data: Buffer, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i + 1 < end; i += 2) sum += data.readUInt16BE(i);
  if ((end - start) % 2 === 1) sum += data[end - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An IPv4 ICMP echo request of `size` bytes in all. */
function echoRequest(src: Buffer, dst: Buffer, id: number, seq: number, size: number): Buffer {
  const packet = Buffer.alloc(Math.max(size, 28));
  packet[0] = 0x45;
  packet.writeUInt16BE(packet.length, 2);
  packet.writeUInt16BE(seq & 0xffff, 4);
  packet[8] = 64;
  packet[9] = 1;
  src.copy(packet, 12);
  dst.copy(packet, 16);
  packet.writeUInt16BE(checksum(packet, 0, 20), 10);
  packet[20] = 8;
  packet.writeUInt16BE(id, 24);
  packet.writeUInt16BE(seq & 0xffff, 26);
  for (let i = 28; i < packet.length; i++) packet[i] = i & 0xff;
  packet.writeUInt16BE(checksum(packet, 20, packet.length), 22);
  return packet;
}

function formatIpv4(packet: Buffer, offset: number): string {
  return [...packet.subarray(offset, offset + 4)].join(".");
}

/** Turns an echo request into its reply in place (addresses swapped, type 0, checksums). */
function toReply(packet: Buffer): void {
  const ihl = (packet[0]! & 0x0f) * 4;
  const src = Buffer.from(packet.subarray(12, 16));
  packet.copy(packet, 12, 16, 20);
  src.copy(packet, 16);
  packet.writeUInt16BE(0, 10);
  packet.writeUInt16BE(checksum(packet, 0, ihl), 10);
  packet[ihl] = 0;
  packet.writeUInt16BE(0, ihl + 2);
  packet.writeUInt16BE(checksum(packet, ihl, packet.length), ihl + 2);
}

function onBatch(buffer: Buffer, lengths: Uint32Array): void {
  if (lengths.length > maxBatch) maxBatch = lengths.length;
  if (lengths.length > 1) multiBatches++;
  const replies: Buffer[] = [];
  for (const packet of splitBatch(buffer, lengths)) {
    if (packet.length < 28 || packet[0]! >> 4 !== 4 || packet[9] !== 1) continue;
    const ihl = (packet[0]! & 0x0f) * 4;
    const type = packet[ihl];
    if (type === 8 && reflect) {
      toReply(packet);
      replies.push(packet);
    } else if (type === 0 && onReply) {
      onReply(
        {
          type,
          src: formatIpv4(packet, 12),
          dst: formatIpv4(packet, 16),
          id: packet.readUInt16BE(ihl + 4),
          seq: packet.readUInt16BE(ihl + 6),
          length: packet.length,
        },
        packet,
      );
    }
  }
  if (replies.length > 0 && tun) {
    reflected += replies.length;
    tun.writeBatch(replies);
  }
  afterBatch?.();
}

function device(): TunDevice {
  if (!tun || tun.closed) throw new Error("no TUN open");
  return tun;
}

async function handle(cmd: Command): Promise<Record<string, unknown>> {
  switch (cmd.op) {
    case "open": {
      tun = TunDevice.open(cmd.name ?? "");
      await setTunMtu(tun.name, cmd.mtu ?? 1500);
      if (cmd.address) await addTunAddress(tun.name, cmd.address);
      await tunLinkUp(tun.name);
      tun.startReading(onBatch, { batch: 64, maxPacket: Math.max(cmd.mtu ?? 1500, 1500) });
      return { name: tun.name, fd: tun.fd };
    }
    case "echo": {
      const dev = device();
      const id = process.pid & 0xffff;
      const seq = 1;
      const reply = new Promise<EchoReply>((resolve, reject) => {
        const timer = setTimeout(() => {
          onReply = undefined;
          reject(new Error("no echo reply within 2 s"));
        }, 2000);
        onReply = (r) => {
          if (r.id !== id || r.seq !== seq) return;
          clearTimeout(timer);
          onReply = undefined;
          resolve(r);
        };
      });
      const written = dev.write(
        echoRequest(ipv4(cmd.src ?? ""), ipv4(cmd.dst ?? ""), id, seq, cmd.size ?? 84),
      );
      return { written, reply: await reply };
    }
    case "routes": {
      const ranges = (cmd.ranges ?? []).map((r) => ({
        family: 4 as const,
        start: ipv4(r.start),
        end: ipv4(r.end),
      }));
      return { routed: await addTunRoutes(device().name, ranges) };
    }
    case "reflect":
      reflect = cmd.on ?? true;
      return {};
    case "stats":
      return { ...device().counters, maxBatch, multiBatches, reflected };
    case "bench":
      return bench(device(), cmd);
    case "close":
      device().close();
      return {};
    case "exit":
      tun?.close();
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

/** Echo requests to the TUN's own address, `window` in flight; replies counted for `seconds`. */
async function bench(dev: TunDevice, cmd: Command): Promise<Record<string, unknown>> {
  const src = ipv4(cmd.src ?? "");
  const dst = ipv4(cmd.dst ?? "");
  const size = cmd.size ?? 1400;
  const window = cmd.window ?? 512;
  const id = (process.pid + 1) & 0xffff;
  // The same request every time (write(2) copies it): the measure is the driver, not packet making.
  const template = echoRequest(src, dst, id, 0, size);
  let sent = 0;
  let replies = 0;
  const before = { ...dev.counters };
  const startCpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const endAt = start + BigInt(Math.round((cmd.seconds ?? 3) * 1e9));
  const send = (n: number): void => {
    sent += n;
    dev.writeBatch(new Array<Buffer>(n).fill(template));
  };
  let finished = false;
  let answered = 0;
  const done = new Promise<void>((resolve) => {
    onReply = (r) => {
      if (r.id !== id) return;
      replies++;
      answered++;
    };
    // One write batch per read batch: as many new requests as replies came in.
    afterBatch = () => {
      if (finished || answered === 0) return;
      if (process.hrtime.bigint() >= endAt) {
        finished = true;
        resolve();
        return;
      }
      const n = answered;
      answered = 0;
      send(n);
    };
  });
  send(window);
  // Replies lost (kernel drops) would shrink the window: top it up every 100 ms.
  const topUp = setInterval(() => {
    const inFlight = sent - replies;
    if (inFlight < window / 2) send(window - inFlight);
  }, 100);
  await done;
  clearInterval(topUp);
  onReply = undefined;
  afterBatch = undefined;
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(startCpu);
  return {
    size,
    window,
    seconds: elapsed,
    replies,
    packetsPerSecond: Math.round(replies / elapsed),
    cpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 100),
    batches: dev.counters.batches - before.batches,
    writeDrops: dev.counters.writeDrops - before.writeDrops,
  };
}

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  if (line.trim() === "") return;
  queue = queue.then(async () => {
    try {
      const result = await handle(JSON.parse(line) as Command);
      process.stdout.write(JSON.stringify({ ok: true, ...result }) + "\n");
    } catch (error) {
      const e = error as { code?: string; message?: string };
      process.stdout.write(
        JSON.stringify({ ok: false, code: e.code, error: e.message ?? String(error) }) + "\n",
      );
    }
  });
});
lines.on("close", () => {
  tun?.close();
  process.exit(0);
});
