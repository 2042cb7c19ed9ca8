import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { distPath } from "../util/package-paths.js";
import { PaviseError } from "../util/errors.js";
import { isSameProcessAlive, signalProcess, waitForExit } from "./processes.js";

// `pavise lab console` starts the relay (console-relay.ts) as a detached process in the root
// namespace, so it outlives the command, and `pavise lab down` ends it: each relay has a pid
// file `console-<node>.pid` in the lab's directory, written by the relay once it listens.

/** What a relay's pid file holds. */
export interface ConsoleRelayRecord {
  pid: number;
  /** From /proc/PID/stat: the pid names this process only while the start time matches. */
  startTime: number;
  node: string;
  port: number;
  url: string;
  /** The node's API unix socket it relays to. */
  socket: string;
}

export interface StartRelayOptions {
  labDir: string;
  node: string;
  socketPath: string;
  /** Default: 7443, or a free port when 7443 is taken. An explicit port that is taken fails. */
  port?: number;
}

export function relayPidFile(labDir: string, node: string): string {
  return join(labDir, `console-${node}.pid`);
}

export function relayLogFile(labDir: string, node: string): string {
  return join(labDir, `console-${node}.log`);
}

export function readRelayRecord(file: string): ConsoleRelayRecord | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as ConsoleRelayRecord;
  } catch {
    return undefined;
  }
}

/** Starts a node's relay (ending the one it had), and waits until it listens. */
export async function startRelayProcess(options: StartRelayOptions): Promise<ConsoleRelayRecord> {
  const pidFile = relayPidFile(options.labDir, options.node);
  const log = relayLogFile(options.labDir, options.node);
  await stopRelay(pidFile);
  const args = [
    distPath("lab/console-relay-main.js"),
    "--socket",
    options.socketPath,
    "--pid-file",
    pidFile,
    "--node",
    options.node,
    ...(options.port === undefined ? ["--any-port"] : ["--port", String(options.port)]),
  ];
  const fd = openSync(log, "a");
  let exited: number | null | undefined;
  let pid: number | undefined;
  try {
    const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", fd, fd] });
    child.once("exit", (code) => {
      exited = code;
    });
    pid = child.pid;
    child.unref();
  } finally {
    closeSync(fd);
  }
  const deadline = Date.now() + 5_000;
  for (;;) {
    const record = readRelayRecord(pidFile);
    if (record && record.pid === pid) return record;
    if (exited !== undefined || Date.now() > deadline) {
      const said = readLogTail(log);
      throw new PaviseError(
        "LAB_CONSOLE_RELAY_FAILED",
        `the console relay for ${options.node} did not start${said ? `: ${said}` : ""}`,
        { where: { file: log }, hint: `read ${log}` },
      );
    }
    await sleep(20);
  }
}

/** Ends the relay of a pid file (SIGTERM, then SIGKILL), if it still runs; its pid or undefined. */
export async function stopRelay(pidFile: string): Promise<number | undefined> {
  const record = readRelayRecord(pidFile);
  rmSync(pidFile, { force: true });
  if (!record || !isSameProcessAlive(record)) return undefined;
  signalProcess(record, "SIGTERM");
  if (!(await waitForExit(record, 2_000))) {
    signalProcess(record, "SIGKILL");
    await waitForExit(record, 2_000);
  }
  return record.pid;
}

/** Ends every relay of a lab (pavise lab down); the pids it ended. */
export async function stopLabRelays(labDir: string): Promise<number[]> {
  let names: string[];
  try {
    names = readdirSync(labDir).filter((name) => /^console-.+\.pid$/.test(name));
  } catch {
    return [];
  }
  const ended: number[] = [];
  for (const name of names) {
    const pid = await stopRelay(join(labDir, name));
    if (pid !== undefined) ended.push(pid);
  }
  return ended;
}

function readLogTail(file: string): string {
  try {
    const lines = readFileSync(file, "utf8").trim().split("\n");
    return (lines[lines.length - 1] ?? "").replace(/^\S+ /, "");
  } catch {
    return "";
  }
}
