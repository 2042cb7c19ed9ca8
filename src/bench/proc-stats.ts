/**
 * CPU time and resident memory of a process, from /proc (Linux). Lab hosts are network
 * namespaces only, so every process of the lab is visible here by its PID.
 */
import { execFileSync } from "node:child_process";
import { procStatFields } from "../lab/processes.js";
import { readFileSync } from "node:fs";

let ticksPerSecond: number | undefined;

/** USER_HZ, the unit of utime/stime in /proc/PID/stat (100 on every Linux we know). */
function clockTicks(): number {
  if (ticksPerSecond !== undefined) return ticksPerSecond;
  try {
    const value = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    ticksPerSecond = Number.isInteger(value) && value > 0 ? value : 100;
  } catch {
    ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

/** User + system CPU time of a process (all its threads) in ms, or undefined if it is gone. */
export function processCpuMs(pid: number): number | undefined {
  const fields = procStatFields(pid);
  if (!fields) return undefined;
  // fields[0] is field 3, so utime (14) and stime (15) are fields[11] and fields[12].
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return ((utime + stime) * 1000) / clockTicks();
}

/** VmRSS of a process in bytes (resident set: heap, stacks, libraries), or undefined if gone. */
export function processRssBytes(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}
