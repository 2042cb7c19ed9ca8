/**
 * Sends given UDP datagrams, byte for byte, from inside a lab host: how tests inject replayed,
 * forged and malformed packets into a daemon's socket.
 *
 *   node dist/lab/probes/udp-inject-agent.js --to ADDR --port P [--bind ADDR] [--bind-port P]
 *
 * Reads a JSON array of hex strings (one datagram each, "" for an empty one) on stdin, sends
 * them in order, each after the previous one left the socket, and prints
 * {"kind":"udp-inject-report","sent":N} on stdout. Errors: a message on stderr, exit 1 (2 for
 * bad arguments or input).
 */
import { createSocket } from "node:dgram";
import { parseArgs } from "node:util";
import { UDP_INJECT_ERROR_MARKER, UDP_INJECT_REPORT_KIND } from "./udp-inject.js";

class UsageError extends Error {}

function fail(code: number, message: string): never {
  process.stderr.write(`${UDP_INJECT_ERROR_MARKER} ${message}\n`);
  process.exit(code);
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (chunk: string) => (text += chunk));
    process.stdin.on("end", () => resolve(text));
    process.stdin.on("error", reject);
  });
}

function parseDatagrams(text: string): Buffer[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError("stdin must be a JSON array of hex strings");
  }
  if (!Array.isArray(parsed) || !parsed.every((d) => typeof d === "string" && /^([0-9a-f]{2})*$/i.test(d))) {
    throw new UsageError("stdin must be a JSON array of hex strings (an even number of hex digits each)");
  }
  return (parsed as string[]).map((hex) => Buffer.from(hex, "hex"));
}

function port(name: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < min || n > 65535) {
    throw new UsageError(`--${name} must be an integer from ${min} to 65535, got ${JSON.stringify(value)}`);
  }
  return n;
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      to: { type: "string" },
      port: { type: "string" },
      bind: { type: "string" },
      "bind-port": { type: "string" },
    },
    strict: true,
  });
  if (values.to === undefined) throw new UsageError("needs --to ADDR");
  const to = values.to;
  const toPort = port("port", values.port, 1);
  const bindPort = values["bind-port"] === undefined ? 0 : port("bind-port", values["bind-port"], 0);
  const datagrams = parseDatagrams(await readStdin());
  const socket = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind({ port: bindPort, ...(values.bind === undefined ? {} : { address: values.bind }) }, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  for (const datagram of datagrams) {
    await new Promise<void>((resolve, reject) =>
      socket.send(datagram, toPort, to, (err) => (err ? reject(err) : resolve())),
    );
  }
  socket.close();
  process.stdout.write(`${JSON.stringify({ kind: UDP_INJECT_REPORT_KIND, sent: datagrams.length })}\n`);
}

main(process.argv.slice(2)).catch((err: unknown) =>
  fail(err instanceof UsageError ? 2 : 1, err instanceof Error ? err.message : String(err)),
);
