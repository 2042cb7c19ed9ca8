/**
 * The daemons' logs around an instant, for a soak's violation report: every line stamped
 * within a window around it, from every daemon start's log and every package log, each
 * prefixed with its file. Lines start with an ISO time (daemon-command.ts, package-log.ts).
 */
import { cpSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { readLog } from "../lab/daemon-cluster.js";
import type { ChaosCluster } from "./chaos-cluster.js";

export function logsAround(cluster: ChaosCluster, at: number, beforeMs = 15_000, afterMs = 5_000): string {
  const files = [...cluster.daemons.allLogs];
  for (const entry of readdirSync(cluster.dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || !entry.name.startsWith("logs-")) continue;
    for (const file of readdirSync(join(cluster.dir, entry.name)))
      files.push(join(cluster.dir, entry.name, file));
  }
  const out: string[] = [];
  for (const file of files) {
    const lines = readLog(file)
      .split("\n")
      .filter((line) => {
        const stamp = Date.parse(line.split(" ")[0] ?? "");
        return !Number.isNaN(stamp) && stamp >= at - beforeMs && stamp <= at + afterMs;
      });
    if (lines.length > 0) out.push(`--- ${file.slice(cluster.dir.length + 1)}`, ...lines);
  }
  return out.join("\n");
}

/**
 * Copies the lab's own logs (etcd members, probes) next to the daemons' before the lab goes
 * down with them, and returns where they are.
 */
export function keepLabLogs(cluster: ChaosCluster): string {
  const target = join(cluster.dir, "lab-logs");
  cpSync(join(cluster.lab.runtime.labDir, "logs"), target, { recursive: true });
  return target;
}
