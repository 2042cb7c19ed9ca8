/**
 * One chaos soak: a fresh cluster (chaos-cluster.ts), then K faults drawn from a seeded
 * generator, each injected, waited out until the cluster settles, healed, and waited out again,
 * while a client sends requests to every package address and ownership is sampled fast — the
 * addresses on every node (AddressWatch, one per fault: a crash kills the host's monitor) and
 * the owner keys in etcd (owner-sampler.ts). DESIGN.md principle 3, "never two owners": an
 * address on two live nodes at once, two owner keys of a failover package, or a cluster that
 * does not settle within the bound is a violation; the soak stops at the first one, so that
 * its seed replays the way there.
 */
import { rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { overlapsOfLiveHosts, type HostDown } from "../lab/daemon-cluster.js";
import { overlaps } from "../lab/probes/address-timeline.js";
import { AddressWatch } from "../lab/probes/address-watch.js";
import { startTraffic, type TrafficRun } from "../lab/probes/traffic.js";
import { seededRandom } from "../util/seeded-random.js";
import {
  CHAOS_CLIENT,
  CHAOS_NODES,
  CHAOS_PACKAGES,
  type ChaosCluster,
  startChaosCluster,
  stopChaosCluster,
} from "./chaos-cluster.js";
import { injectFault, pickFaultKind, type FaultKind, type InjectedFault } from "./chaos-faults.js";
import type { FaultRecord } from "./chaos-summary.js";
import { keepLabLogs, logsAround } from "./daemon-log-excerpt.js";
import { OwnerSampler } from "./owner-sampler.js";
import { NO_EXPECTATION } from "./settle-check.js";
import { waitSettled } from "./settle-wait.js";

export interface ChaosOptions {
  labName: string;
  seed: number;
  faults: number;
  /** A fault must settle within this (ms). */
  boundMs: number;
  /** Draw only these kinds (default: all). */
  kinds?: readonly FaultKind[];
  progress?: (line: string) => void;
  /** Called with each fault's record as soon as it is done. */
  onFault?: (record: FaultRecord) => void;
}

export interface ChaosResult {
  seed: number;
  records: FaultRecord[];
  ownerSamples: number;
  /** The first violation, with the daemons' logs around it and where the lab's logs (etcd's) were kept. */
  violation?: { at: number; what: string; logs: string; labLogs: string };
}

/** What one fault's round left behind for the next. */
interface Round {
  placement: Map<string, string>;
  /** When the first violation began, if any. */
  violationAt?: number;
}

class Soak {
  private traffic: TrafficRun[] = [];
  private watch: AddressWatch | undefined;
  private unhealed: InjectedFault | undefined;

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly sampler: OwnerSampler,
    private readonly random: () => number,
    private readonly options: ChaosOptions,
  ) {}

  async round(kind: FaultKind, record: FaultRecord, placement: Map<string, string>): Promise<Round> {
    const { cluster, options } = this;
    const violations = record.violations;
    let violationAt: number | undefined;
    this.watch = await AddressWatch.forHosts(cluster.lab.runtime, [...CHAOS_NODES]);
    this.traffic = await Promise.all(
      CHAOS_PACKAGES.map((p) =>
        startTraffic(cluster.lab.runtime, {
          from: CHAOS_CLIENT,
          to: p.address,
          proto: "udp",
          port: p.port,
          intervalMs: 10,
        }),
      ),
    );
    const injectedAt = Date.now();
    const fault = await injectFault(kind, { cluster, random: this.random, placement });
    this.unhealed = fault;
    record.description = fault.description;
    options.progress?.(`#${record.index} ${kind}: ${fault.description}`);
    this.sampler.avoid = [fault.target];
    if (fault.settleBeforeHeal) {
      const during = await waitSettled(cluster, {
        expectation: fault.expectation,
        avoid: [fault.target],
        since: injectedAt,
        boundMs: options.boundMs,
        ...(fault.check ? { check: fault.check } : {}),
      });
      if (during.settled) record.settledMs = during.afterMs;
      else {
        violationAt ??= Date.now();
        violations.push(`not settled ${options.boundMs} ms after the fault: ${during.problems.join("; ")}`);
      }
    }
    const holdLeft = injectedAt + fault.holdMs - Date.now();
    if (holdLeft > 0) await sleep(holdLeft);
    const healAt = Date.now();
    await fault.heal();
    this.unhealed = undefined;
    this.sampler.avoid = [];
    const after = await waitSettled(cluster, {
      expectation: { ...NO_EXPECTATION, present: [...CHAOS_NODES] },
      avoid: [],
      since: healAt,
      boundMs: options.boundMs,
    });
    if (after.settled) record.healedMs = after.afterMs;
    else {
      violationAt ??= Date.now();
      violations.push(`not settled ${options.boundMs} ms after the heal: ${after.problems.join("; ")}`);
    }
    record.recoveryMs = fault.settleBeforeHeal
      ? record.settledMs
      : after.settled
        ? healAt - injectedAt + after.afterMs
        : undefined;

    const reports = await Promise.all(this.traffic.map((t) => t.stop()));
    this.traffic = [];
    CHAOS_PACKAGES.forEach((p, i) => (record.gaps[p.name] = reports[i]!.maxGapMs));
    const timeline = await this.watch.stop();
    this.watch = undefined;
    const down: HostDown[] =
      fault.crashedAt !== undefined
        ? [{ host: fault.target, from: fault.crashedAt, to: Number.POSITIVE_INFINITY }]
        : [];
    const lost = (timeline.monitorsLost ?? []).filter((h) => !down.some((d) => d.host === h));
    if (lost.length > 0) violations.push(`address monitor lost on ${lost.join(", ")}: overlaps unknown`);
    for (const o of overlapsOfLiveHosts(overlaps(timeline), down)) {
      violationAt = Math.min(violationAt ?? o.from, o.from);
      violations.push(
        `${o.address} on ${o.hosts.join(" and ")} at once for ${Math.round(o.durationMs)} ms from ${new Date(o.from).toISOString()}`,
      );
    }
    for (const v of this.sampler.violations.splice(0)) {
      violationAt = Math.min(violationAt ?? v.at, v.at);
      violations.push(
        `${v.package} had owner keys on ${v.owners.join(" and ")} at ${new Date(v.at).toISOString()}`,
      );
    }
    return {
      placement: after.settled ? after.placement : placement,
      ...(violationAt !== undefined ? { violationAt } : {}),
    };
  }

  /** Heals what a failed round left and stops its probes. */
  async cleanUp(): Promise<void> {
    await this.unhealed?.heal().catch(() => undefined);
    this.unhealed = undefined;
    this.sampler.avoid = [];
    await Promise.all(this.traffic.map((t) => t.stop().catch(() => undefined)));
    this.traffic = [];
    await this.watch?.stop().catch(() => undefined);
    this.watch = undefined;
  }
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const random = seededRandom(options.seed);
  options.progress?.(`seed ${options.seed}: bringing up lab ${options.labName} and three daemons`);
  const cluster = await startChaosCluster(options.labName);
  const sampler = new OwnerSampler(cluster);
  const soak = new Soak(cluster, sampler, random, options);
  const records: FaultRecord[] = [];
  let violation: ChaosResult["violation"];
  try {
    const first = await waitSettled(cluster, {
      expectation: { ...NO_EXPECTATION, present: [...CHAOS_NODES] },
      avoid: [],
      since: Date.now(),
      boundMs: 30_000,
    });
    if (!first.settled) throw new Error(`the cluster did not settle at start: ${first.problems.join("; ")}`);
    let placement = first.placement;
    for (let index = 1; index <= options.faults && !violation; index++) {
      const kind = pickFaultKind(random, options.kinds);
      const record: FaultRecord = { index, kind, description: kind, gaps: {}, violations: [] };
      let violationAt: number | undefined;
      try {
        const round = await soak.round(kind, record, placement);
        placement = round.placement;
        violationAt = round.violationAt;
      } catch (error) {
        record.violations.push(`the soak failed at this fault: ${(error as Error).message}`);
        await soak.cleanUp();
      }
      records.push(record);
      options.onFault?.(record);
      if (record.violations.length > 0) {
        const at = violationAt ?? Date.now();
        violation = {
          at,
          what: record.violations.join("; "),
          logs: logsAround(cluster, at),
          labLogs: keepLabLogs(cluster),
        };
      }
    }
  } finally {
    await soak.cleanUp();
    await sampler.stop();
    await stopChaosCluster(cluster);
    // The daemons' logs are of use only to explain a violation (which quotes them already).
    if (!violation) rmSync(cluster.dir, { recursive: true, force: true });
  }
  return { seed: options.seed, records, ownerSamples: sampler.samples, ...(violation ? { violation } : {}) };
}
