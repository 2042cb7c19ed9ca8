/**
 * A command run by `/bin/sh -c` as the leader of its own session and process group (setsid), so
 * that one signal reaches everything it started (`kill -- -PGID`), and so that it does not die
 * with the daemon's terminal or process group. Services and package scripts both run this way.
 */

import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { PassThrough, type Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { NodeNamespace } from "./node-namespace.js";
import type { ProcessExit } from "./service-supervision.js";

export interface GroupProcess {
  /** PID of the shell, which is also the process group ID. */
  readonly pid: number;
  /** Resolves when the leader has exited. */
  readonly exited: Promise<ProcessExit>;
  /** Its standard output and error, when they were asked for as a pipe. */
  readonly output: Readable | undefined;
  /** Signals every process in the group; false when none is left. */
  signalGroup(signal: NodeJS.Signals): boolean;
  /** Whether any process of the group is still there (also after the leader exited). */
  groupAlive(): boolean;
}

export interface GroupSpawnOptions {
  ns: NodeNamespace;
  env: Record<string, string>;
  /** A file descriptor to append stdout and stderr to, or "pipe" to read them (merged) from `output`. */
  output: number | "pipe";
}

export function startInGroup(command: string, options: GroupSpawnOptions): Promise<GroupProcess> {
  const [file, ...args] = options.ns.command(["/bin/sh", "-c", command]);
  const child = spawn(file ?? "/bin/sh", args, {
    detached: true,
    stdio: ["ignore", options.output, options.output === "pipe" ? "pipe" : options.output],
    env: { ...process.env, ...options.env },
  });
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  let output: Readable | undefined;
  if (options.output === "pipe" && child.stdout && child.stderr) {
    // Both streams into one, in the order they arrive.
    const merged = new PassThrough();
    let open = 2;
    for (const stream of [child.stdout, child.stderr]) {
      stream.pipe(merged, { end: false });
      stream.once("end", () => {
        if (--open === 0) merged.end();
      });
    }
    output = merged;
  }
  return new Promise<GroupProcess>((resolve, reject) => {
    child.once("error", reject);
    child.once("spawn", () => {
      const pid = child.pid ?? -1;
      resolve({
        pid,
        exited,
        output,
        signalGroup: (signal) => signalGroup(pid, signal),
        groupAlive: () => signalGroup(pid, 0) && hasLiveMember(pid),
      });
    });
  });
}

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  if (pgid <= 1) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a process of the group is still running. A signal 0 to the group also succeeds when
 * only zombies are left, and how soon those are reaped depends on the machine's init (here it
 * took about a second), so the members' states are read from /proc.
 */
function hasLiveMember(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // Fields after the command name (which may hold spaces and parentheses): state, ppid, pgrp, …
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[2] === String(pgid) && fields[0] !== "Z" && fields[0] !== "X") return true;
  }
  return false;
}

/** Waits until no process of the group is left, or the deadline passes; returns whether it emptied. */
export async function waitForGroupGone(group: GroupProcess, deadline: number): Promise<boolean> {
  while (group.groupAlive()) {
    if (Date.now() >= deadline) return false;
    await sleep(10);
  }
  return true;
}
