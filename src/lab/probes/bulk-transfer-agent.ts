/**
 * Bulk transfer probe, run as its own program inside a lab host's network namespace:
 *
 *   node dist/lab/probes/bulk-transfer-agent.js receive --bind ADDR --port P
 *   node dist/lab/probes/bulk-transfer-agent.js send --to ADDR --port P [--bind ADDR]
 *        (--bytes N | --until-stopped)
 *
 * `receive` accepts one TCP connection, hashes everything until the sender's FIN, prints its
 * report, closes the connection and exits. `send` writes N random bytes, or random bytes until
 * SIGTERM or SIGINT (hashing them as it goes), half-closes, waits until the receiver closes too
 * (so it has read everything), prints its report and exits. Reports are one JSON line on stdout
 * (BulkTransferReport); each side prints "bulk-transfer: ready" on stderr once it listens or is
 * connected. Errors: a message on stderr, exit 1 (2 for bad arguments).
 */
import { createHash, randomFillSync } from "node:crypto";
import { connect, createServer, type Socket } from "node:net";
import { parseArgs } from "node:util";
import {
  BULK_ERROR_MARKER,
  BULK_READY_MARKER,
  BULK_REPORT_KIND,
  type BulkTransferReport,
} from "./bulk-transfer.js";

const CHUNK = 1 << 20;

class UsageError extends Error {}

function fail(code: number, message: string): never {
  process.stderr.write(`${BULK_ERROR_MARKER} ${message}\n`);
  process.exit(code);
}

function report(role: BulkTransferReport["role"], bytes: number, sha256: string, startedAt: number): void {
  const line: BulkTransferReport = {
    kind: BULK_REPORT_KIND,
    role,
    bytes,
    sha256,
    seconds: (performance.now() - startedAt) / 1000,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`, () => process.exit(0));
}

function receive(bind: string, port: number): void {
  const server = createServer((socket) => {
    server.close(); // one connection only
    const startedAt = performance.now();
    const hash = createHash("sha256");
    let bytes = 0;
    socket.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    socket.on("end", () => {
      const digest = hash.digest("hex");
      socket.end(() => report("receive", bytes, digest, startedAt));
    });
    socket.on("error", (err) => fail(1, `connection broke after ${bytes} bytes: ${err.message}`));
  });
  server.once("error", (err) => fail(1, `cannot listen on ${bind}:${port}: ${err.message}`));
  server.listen({ host: bind, port }, () => process.stderr.write(`${BULK_READY_MARKER} ${bind}:${port}\n`));
}

function send(to: string, port: number, total: number, bind: string | undefined): void {
  const hash = createHash("sha256");
  let written = 0;
  let startedAt = 0;
  let stopRequested = false;
  const socket: Socket = connect({ host: to, port, ...(bind === undefined ? {} : { localAddress: bind }) });
  const pump = (): void => {
    while (written < total && !stopRequested) {
      const chunk = randomFillSync(Buffer.allocUnsafe(Math.min(CHUNK, total - written)));
      hash.update(chunk);
      written += chunk.length;
      if (!socket.write(chunk)) {
        socket.once("drain", pump);
        return;
      }
    }
    socket.end();
  };
  socket.on("connect", () => {
    startedAt = performance.now();
    process.stderr.write(`${BULK_READY_MARKER} sending to ${to}:${port}\n`);
    pump();
  });
  const stop = (): void => {
    if (stopRequested) return;
    stopRequested = true;
    // Waiting for "drain": pump ends the stream then. Otherwise pump is not running: end it here.
    if (!socket.writableNeedDrain && socket.writable) socket.end();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // The receiver closes its side only after it read our FIN: then every byte has arrived.
  socket.on("data", () => undefined);
  socket.on("end", () => report("send", written, hash.digest("hex"), startedAt));
  socket.on("error", (err) =>
    fail(1, `connection to ${to}:${port} broke after ${written} bytes: ${err.message}`),
  );
}

function integer(name: string, value: string | undefined, min: number, max: number): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function main(argv: string[]): void {
  const [mode, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      bind: { type: "string" },
      to: { type: "string" },
      port: { type: "string" },
      bytes: { type: "string" },
      "until-stopped": { type: "boolean" },
    },
    strict: true,
  });
  const port = integer("port", values.port, 1, 65535);
  if (mode === "receive") {
    if (values.bind === undefined) throw new UsageError("receive needs --bind ADDR");
    receive(values.bind, port);
  } else if (mode === "send") {
    if (values.to === undefined) throw new UsageError("send needs --to ADDR");
    if ((values.bytes === undefined) === (values["until-stopped"] !== true)) {
      throw new UsageError("send needs either --bytes N or --until-stopped");
    }
    const total =
      values.bytes === undefined ? Infinity : integer("bytes", values.bytes, 0, Number.MAX_SAFE_INTEGER);
    send(values.to, port, total, values.bind);
  } else {
    throw new UsageError(`mode must be receive or send, got ${JSON.stringify(mode)}`);
  }
}

try {
  main(process.argv.slice(2));
} catch (err) {
  fail(2, err instanceof Error ? err.message : String(err));
}
