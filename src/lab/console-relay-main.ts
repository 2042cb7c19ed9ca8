import { renameSync, rmSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { CONSOLE_PORT, consoleUrl, startConsoleRelay } from "./console-relay.js";
import { PaviseError } from "../util/errors.js";
import { processStartTime } from "./processes.js";
import type { ConsoleRelayRecord } from "./console-relay-process.js";

// The detached relay process that `pavise lab console` starts (console-relay-process.ts): it
// relays until SIGTERM, and announces itself by writing its pid file once it listens.

const { values } = parseArgs({
  options: {
    socket: { type: "string" },
    port: { type: "string" },
    "any-port": { type: "boolean" },
    "pid-file": { type: "string" },
    node: { type: "string" },
  },
  strict: true,
});
const socketPath = values.socket;
const pidFile = values["pid-file"];
if (!socketPath || !pidFile) {
  process.stderr.write("usage: console-relay-main --socket PATH --pid-file FILE [--port P] [--any-port]\n");
  process.exit(2);
}

const say = (line: string): void => {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
};

try {
  const relay = await startConsoleRelay({
    socketPath,
    port: values.port === undefined ? CONSOLE_PORT : Number(values.port),
    anyPortIfTaken: values["any-port"] === true,
    log: say,
  });
  const record: ConsoleRelayRecord = {
    pid: process.pid,
    startTime: processStartTime(process.pid) ?? 0,
    node: values.node ?? "",
    port: relay.port,
    url: consoleUrl(relay.port),
    socket: socketPath,
  };
  const temporary = `${pidFile}.tmp`;
  writeFileSync(temporary, JSON.stringify(record) + "\n");
  renameSync(temporary, pidFile);
  const stop = (): void => {
    say(`stopping after ${relay.stats.connections} connections`);
    rmSync(pidFile, { force: true });
    void relay.close().then(() => process.exit(0));
    // Connections that never close must not keep a stopped relay alive.
    setTimeout(() => process.exit(0), 1_000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} catch (err) {
  const hint = err instanceof PaviseError && err.hint ? `; ${err.hint}` : "";
  say(`cannot start: ${(err as Error).message}${hint}`);
  process.exit(1);
}
