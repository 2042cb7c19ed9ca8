/**
 * Waits until the cluster has settled (settle-check.ts) and stays settled — same placement,
 * every package answering the client — for longer than a lease, so that a state that merely
 * has not reacted to the fault yet (a frozen daemon still holds its address for up to a lease)
 * is not taken for the settled one. The settle time is when that stable stretch began.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { findAgentReport } from "../lab/probes/traffic-agent-output.js";
import { addressHoldersOf } from "../lab/probes/holders.js";
import { distPath } from "../util/package-paths.js";
import { CHAOS_CLIENT, CHAOS_PACKAGES, type ChaosCluster } from "./chaos-cluster.js";
import { readClusterKeys } from "./cluster-keys-reader.js";
import { type FaultExpectation, judgeSettled } from "./settle-check.js";

/** Settled for this long in a row counts (the lease is 1 s). */
export const STABLE_MS = 1_500;

export type SettleResult =
  { settled: true; afterMs: number; placement: Map<string, string> } | { settled: false; problems: string[] };

export interface SettleOptions {
  expectation: FaultExpectation;
  /** Hosts whose namespace must not run the observer's etcdctl (crashed, cut off). */
  avoid: readonly string[];
  /** Counted from here. */
  since: number;
  boundMs: number;
  check?: () => Promise<string | undefined>;
}

export async function waitSettled(cluster: ChaosCluster, options: SettleOptions): Promise<SettleResult> {
  const observer = observerHost(cluster, options.avoid);
  let stableSince: number | undefined;
  let stablePlacement = "";
  let problems: string[] = ["not checked yet"];
  while (Date.now() - options.since < options.boundMs + STABLE_MS) {
    const checkedAt = Date.now();
    const [keys, holders, extra] = await Promise.all([
      readClusterKeys(cluster.lab, observer, cluster.name),
      addressHoldersOf(
        cluster.lab.plan,
        CHAOS_PACKAGES.map((p) => p.address),
      ),
      options.check?.(),
    ]);
    problems = keys ? [] : [`etcd did not answer (read through ${observer})`];
    let placement = new Map<string, string>();
    if (keys) {
      const judged = judgeSettled(CHAOS_PACKAGES, keys, holders, options.expectation);
      problems.push(...judged.problems);
      placement = judged.running;
    }
    if (extra !== undefined) problems.push(extra);
    if (problems.length === 0) {
      const silent = await silentPackages(cluster, [...placement.keys()]);
      for (const name of silent) problems.push(`${name} does not answer the client`);
    }
    const key = JSON.stringify([...placement].sort());
    if (problems.length > 0) {
      stableSince = undefined;
    } else if (stableSince === undefined || key !== stablePlacement) {
      stableSince = checkedAt;
      stablePlacement = key;
    } else if (Date.now() - stableSince >= STABLE_MS && stableSince - options.since <= options.boundMs) {
      return { settled: true, afterMs: stableSince - options.since, placement };
    }
    await sleep(100);
  }
  return { settled: false, problems };
}

/** A node whose namespace can run etcdctl now: not crashed, not cut off. */
export function observerHost(cluster: ChaosCluster, avoid: readonly string[]): string {
  const members = cluster.lab.plan.etcd.members.map((m) => m.host);
  return members.find((h) => !avoid.includes(h)) ?? members[0]!;
}

/** The packages whose address does not answer a short burst of requests from the client. */
async function silentPackages(cluster: ChaosCluster, names: string[]): Promise<string[]> {
  const answered = await Promise.all(
    names.map(async (name) => {
      const pkg = CHAOS_PACKAGES.find((p) => p.name === name)!;
      const result = await cluster.lab.exec(
        CHAOS_CLIENT,
        [
          process.execPath,
          distPath("lab/probes/traffic-agent.js"),
          "send",
          "--proto",
          "udp",
          "--to",
          pkg.address,
          "--port",
          `${pkg.port}`,
          "--interval-ms",
          "20",
          "--duration-ms",
          "300",
          "--drain-ms",
          "100",
        ],
        { allowFailure: true, timeoutMs: 10_000 },
      );
      const report = findAgentReport(result.stdout);
      // Answered, and still answering at the end of the burst.
      return report !== undefined && report.received > 0 && report.maxGapMs < 250;
    }),
  );
  return names.filter((_, i) => !answered[i]);
}
