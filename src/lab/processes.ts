import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { PaviseError } from "../util/errors.js";
import type { LabProcess } from "./host-runtime.js";

/**
 * Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or undefined
 * when no such process exists. Together with the PID it names one process for good: a PID that
 * was reused by another program has another start time.
 */
export function processStartTime(pid: number): number | undefined {
  const fields = procStatFields(pid);
  // fields[0] is field 3 (state), so field 22 is fields[19].
  if (!fields || fields[0] === "Z") return undefined;
  const start = Number(fields[19]);
  return Number.isFinite(start) ? start : undefined;
}

/**
 * The fields of /proc/PID/stat from field 3 (state) on, or undefined when there is no such
 * process. The command name (field 2) is in parentheses and may itself contain spaces or
 * parentheses, so the split starts after the last ")".
 */
export function procStatFields(pid: number): string[] | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

export function isSameProcessAlive(process: Pick<LabProcess, "pid" | "startTime">): boolean {
  return processStartTime(process.pid) === process.startTime;
}

/**
 * Starts a command inside a network namespace, detached from the caller (it outlives a CLI
 * call such as `pavise lab up`), with stdout and stderr appended to a log file.
 * `ip netns exec` execs the command itself, so the PID we get is the command's.
 */
export async function spawnInNamespace(
  namespace: string,
  argv: readonly string[],
  options: { log: string; env?: Record<string, string> },
): Promise<{ pid: number; startTime: number }> {
  const fd = openSync(options.log, "a");
  try {
    const child = spawn("ip", ["netns", "exec", namespace, ...argv], {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: { ...process.env, ...options.env },
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once("error", (err) =>
        reject(new PaviseError("LAB_SPAWN_FAILED", `cannot start ${argv.join(" ")}: ${err.message}`)),
      );
      child.once("spawn", () => resolve(child.pid ?? -1));
    });
    child.unref();
    // The start time is readable as soon as the process exists.
    const startTime = processStartTime(pid);
    if (startTime === undefined) {
      throw new PaviseError("LAB_SPAWN_FAILED", `${argv.join(" ")} exited at once; see ${options.log}`, {
        hint: `read ${options.log}`,
      });
    }
    return { pid, startTime };
  } finally {
    closeSync(fd);
  }
}

/** Sends a signal to a tracked process if it is still the same process; returns whether it was. */
export function signalProcess(
  process: Pick<LabProcess, "pid" | "startTime">,
  signal: NodeJS.Signals,
): boolean {
  if (!isSameProcessAlive(process)) return false;
  try {
    globalThis.process.kill(process.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Waits until a process has gone (or is a zombie), up to timeoutMs. */
export async function waitForExit(
  process: Pick<LabProcess, "pid" | "startTime">,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isSameProcessAlive(process)) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/** Kills a tracked process with SIGKILL (which also ends a frozen one) and waits for it to go. */
export async function killProcess(process: Pick<LabProcess, "pid" | "startTime">): Promise<void> {
  signalProcess(process, "SIGKILL");
  await waitForExit(process, 5_000);
}
