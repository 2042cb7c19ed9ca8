/**
 * Traffic probe, run as its own program inside a lab host's network namespace:
 *
 *   node dist/lab/probes/traffic-agent.js serve --proto udp|tcp --port P [--bind ADDR]
 *   node dist/lab/probes/traffic-agent.js send --proto udp|tcp --to ADDR --port P --interval-ms N
 *        [--duration-ms N] [--drain-ms N] [--bind ADDR]
 *
 * `serve` echoes whatever it receives (UDP: each datagram back to its sender; TCP: each
 * connection's bytes back on that connection, any number of connections). `send` sends one
 * numbered request per interval and records when each reply came back. On SIGTERM, SIGINT or at
 * the end of --duration-ms it stops sending, waits up to --drain-ms for replies still in flight,
 * prints one JSON line (the report, see traffic-report.ts) on stdout and exits 0.
 *
 * Both modes print "traffic-agent: ready ..." on stderr once their socket is set up; the driver
 * (traffic.ts) waits for that line in the process's log. Bad arguments exit 2, a socket that
 * cannot be set up exits 1, each with a message on stderr.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, createServer, type Socket as TcpSocket } from "node:net";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import {
  type AgentReport,
  ERROR_MARKER,
  READY_MARKER,
  REPORT_KIND,
  type TrafficProto,
} from "./traffic-agent-output.js";
import { computeTrafficReport, type ReceivedReply, type SentRequest } from "./traffic-report.js";

type Proto = TrafficProto;

// A request and its echo: magic, sequence number, send time (float64 ms). Fixed size, so that a
// TCP stream splits into frames without any length field.
const FRAME_SIZE = 16;
const FRAME_MAGIC = 0x50565452; // "PVTR"
const DEFAULT_DRAIN_MS = 250;

class UsageError extends Error {}

function now(): number {
  // Epoch milliseconds with sub-millisecond resolution, monotonic within this process.
  return performance.timeOrigin + performance.now();
}

function encodeFrame(seq: number, sentAt: number): Buffer {
  const frame = Buffer.alloc(FRAME_SIZE);
  frame.writeUInt32BE(FRAME_MAGIC, 0);
  frame.writeUInt32BE(seq >>> 0, 4);
  frame.writeDoubleBE(sentAt, 8);
  return frame;
}

function decodeSeq(frame: Buffer): number | undefined {
  if (frame.length < FRAME_SIZE || frame.readUInt32BE(0) !== FRAME_MAGIC) return undefined;
  return frame.readUInt32BE(4);
}

function fail(code: number, message: string): never {
  process.stderr.write(`${ERROR_MARKER} ${message}\n`);
  process.exit(code);
}

function parseProto(value: string | undefined): Proto {
  if (value === "udp" || value === "tcp") return value;
  throw new UsageError(`--proto must be udp or tcp, got ${JSON.stringify(value)}`);
}

function parseInteger(name: string, value: string | undefined, min: number, max: number): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

// ---------------------------------------------------------------- serve

function serve(proto: Proto, port: number, bind: string): void {
  const ready = (): void => {
    process.stderr.write(`${READY_MARKER} serve ${proto} ${bind}:${port}\n`);
  };
  const onSetupError = (err: Error): never =>
    fail(1, `cannot listen on ${proto} ${bind}:${port}: ${err.message}`);
  let close: () => void;
  if (proto === "udp") {
    const socket = createSocket("udp4");
    socket.once("error", onSetupError);
    socket.on("message", (msg, rinfo) => {
      // A reply that cannot leave (no route while a link is down) is just a lost reply.
      socket.send(msg, rinfo.port, rinfo.address, () => undefined);
    });
    socket.bind(port, bind, () => {
      socket.off("error", onSetupError);
      socket.on("error", () => undefined);
      ready();
    });
    close = () => socket.close();
  } else {
    const connections = new Set<TcpSocket>();
    const server = createServer((socket) => {
      connections.add(socket);
      socket.setNoDelay(true);
      socket.on("error", () => socket.destroy());
      socket.on("close", () => connections.delete(socket));
      socket.pipe(socket);
    });
    server.once("error", onSetupError);
    server.listen({ port, host: bind }, () => {
      server.off("error", onSetupError);
      server.on("error", () => undefined);
      ready();
    });
    close = () => {
      server.close();
      for (const socket of connections) socket.destroy();
    };
  }
  const shutdown = (): void => {
    close();
    process.exit(0);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

// ---------------------------------------------------------------- send

interface SendOptions {
  proto: Proto;
  to: string;
  port: number;
  intervalMs: number;
  durationMs: number | undefined;
  drainMs: number;
  bind: string | undefined;
}

/** Carries requests to the echo server and reports replies; one per protocol. */
interface Transport {
  /** Sends one request; false when the socket refused it at once. */
  send(frame: Buffer): boolean;
  connections(): number;
  close(): void;
}

function udpTransport(options: SendOptions, onReply: (seq: number) => void, onError: () => void): Transport {
  const socket: UdpSocket = createSocket("udp4");
  // Not connected: replies from any source address count (a node answers from its primary
  // address even when asked on a relocatable one); requests are matched by sequence number.
  socket.on("message", (msg) => {
    const seq = decodeSeq(msg);
    if (seq !== undefined) onReply(seq);
  });
  socket.on("error", () => undefined);
  if (options.bind !== undefined) socket.bind(0, options.bind);
  return {
    send(frame) {
      socket.send(frame, options.port, options.to, (err) => {
        if (err) onError();
      });
      return true;
    },
    connections: () => 1,
    close: () => socket.close(),
  };
}

/**
 * One long-lived connection. When it fails or closes, the next request opens a new one; every
 * connection after the first counts as a reconnect. Requests written while a connection is still
 * being set up wait in its buffer; those on a connection that then fails are lost.
 */
function tcpTransport(options: SendOptions, onReply: (seq: number) => void): Transport {
  let current: TcpSocket | undefined;
  let opened = 0;
  let closing = false;
  const open = (): TcpSocket => {
    opened++;
    const socket = connect({
      host: options.to,
      port: options.port,
      ...(options.bind !== undefined ? { localAddress: options.bind } : {}),
    });
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let offset = 0;
      for (; offset + FRAME_SIZE <= pending.length; offset += FRAME_SIZE) {
        const seq = decodeSeq(pending.subarray(offset, offset + FRAME_SIZE));
        if (seq !== undefined) onReply(seq);
      }
      pending = pending.subarray(offset);
    });
    socket.on("error", () => undefined); // "close" follows
    socket.on("close", () => {
      if (current === socket) current = undefined;
    });
    return socket;
  };
  return {
    send(frame) {
      if (closing) return false;
      if (current === undefined || current.destroyed) current = open();
      current.write(frame);
      return true;
    },
    connections: () => opened,
    close() {
      closing = true;
      current?.destroy();
    },
  };
}

async function send(options: SendOptions): Promise<void> {
  const sent: SentRequest[] = [];
  const received: ReceivedReply[] = [];
  const answered = new Set<number>();
  let sendErrors = 0;
  const onReply = (seq: number): void => {
    received.push({ seq, receivedAt: now() });
    answered.add(seq);
  };
  const transport =
    options.proto === "udp"
      ? udpTransport(options, onReply, () => sendErrors++)
      : tcpTransport(options, onReply);

  const startedAt = now();
  let seq = 0;
  let slot = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;
  // Ticks are scheduled against the start time, not the previous tick, so they do not drift.
  // Ticks missed while this process was not running (a stalled machine) are skipped rather
  // than sent as a burst: the request rate stays what was asked for.
  const tick = (): void => {
    if (stopping) return;
    const sentAt = now();
    const frame = encodeFrame(seq, sentAt);
    sent.push({ seq, sentAt });
    if (!transport.send(frame)) sendErrors++;
    seq++;
    slot = Math.max(slot + 1, Math.floor((now() - startedAt) / options.intervalMs) + 1);
    const next = startedAt + slot * options.intervalMs;
    timer = setTimeout(tick, Math.max(0, next - now()));
  };

  const stopped = new Promise<number>((resolve) => {
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      if (timer) clearTimeout(timer);
      resolve(now());
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    if (options.durationMs !== undefined) setTimeout(stop, options.durationMs);
  });

  process.stderr.write(
    `${READY_MARKER} send ${options.proto} ${options.to}:${options.port} every ${options.intervalMs} ms\n`,
  );
  tick();
  const stoppedAt = await stopped;

  // Replies to requests sent just before the stop are still on their way.
  const drainUntil = now() + options.drainMs;
  while (answered.size < sent.length && now() < drainUntil) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  transport.close();

  const report = computeTrafficReport({
    startedAt,
    stoppedAt,
    sent,
    received,
    reconnects: Math.max(0, transport.connections() - 1),
  });
  const line: AgentReport = {
    kind: REPORT_KIND,
    proto: options.proto,
    to: options.to,
    port: options.port,
    intervalMs: options.intervalMs,
    sendErrors,
    ...report,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`, () => process.exit(0));
}

// ---------------------------------------------------------------- main

function main(argv: string[]): void {
  const [mode, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      proto: { type: "string" },
      port: { type: "string" },
      bind: { type: "string" },
      to: { type: "string" },
      "interval-ms": { type: "string" },
      "duration-ms": { type: "string" },
      "drain-ms": { type: "string" },
    },
    strict: true,
  });
  const proto = parseProto(values.proto);
  const port = parseInteger("port", values.port, 1, 65535);
  if (mode === "serve") {
    serve(proto, port, values.bind ?? "0.0.0.0");
  } else if (mode === "send") {
    if (values.to === undefined) throw new UsageError("send needs --to ADDR");
    send({
      proto,
      to: values.to,
      port,
      intervalMs: parseInteger("interval-ms", values["interval-ms"], 1, 3_600_000),
      durationMs:
        values["duration-ms"] === undefined
          ? undefined
          : parseInteger("duration-ms", values["duration-ms"], 1, 2_147_483_647),
      drainMs:
        values["drain-ms"] === undefined
          ? DEFAULT_DRAIN_MS
          : parseInteger("drain-ms", values["drain-ms"], 0, 60_000),
      bind: values.bind,
    }).catch((err: unknown) => fail(1, err instanceof Error ? err.message : String(err)));
  } else {
    throw new UsageError(`mode must be serve or send, got ${JSON.stringify(mode)}`);
  }
}

try {
  main(process.argv.slice(2));
} catch (err) {
  fail(2, err instanceof Error ? err.message : String(err));
}
