import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { fetchDaemonMetrics } from "../../src/cluster/agent/daemon-control.js";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import { distPath } from "../../src/util/package-paths.js";
import {
  arpHosts,
  linkedHolders,
  sampleArp,
  samplePackageKeys,
  startClientTraffic,
  type PackageKeysSample,
} from "../support/cluster-observe.js";
import { NODES, VIP, daemonClusterFile, echoPids } from "../support/daemon-cluster.js";
import { useDaemonLab } from "../support/daemon-lab.js";
import { testLabName } from "../support/fresh-lab.js";
import { parsePrometheusText, sampleSum, type ParsedFamily } from "../support/prometheus-text.js";
import { until } from "../support/until.js";

const execFileAsync = promisify(execFile);

// pavise_failover_duration_seconds{cause} (operator-surfaces design §6, failover-timer.ts) on
// three daemons with real etcd: the leader times an operator's `pavise pkg move`; when the new
// owner's daemon is SIGKILLed (its guardian drops the address, its lease lapses), a node-failed
// failover; when web's service dies where it then runs, a package-failed one. Each adds exactly one sample on the leader, and each duration lies
// within the gap the test measured from outside: from before the cause (the command's start,
// the kill) to the scrape that first showed the sample, on the same machine's monotonic clock.
// Never two holders of web's address (address timeline, ARP samples). Needs root and a build.
const root = process.getuid?.() === 0;
const LAB = testLabName("stfailmx");
const UDP_PORT = 7493;
const HISTOGRAM = "pavise_failover_duration_seconds";
/** The leader's reads and ours are each a watch event plus a read late: their difference, loaded. */
const READ_SKEW_S = 0.15;

/**
 * From etcd samples taken outside: the bounds of the time from the failure (`failed` says when a
 * sample shows it: the owner key gone, a failed report) to another node than `from` holding the
 * key and reporting up. Each change lies between the read that last saw the old state and the
 * one that first saw the new.
 */
function keyGapBounds(
  samples: PackageKeysSample[],
  from: string,
  failed: (s: PackageKeysSample) => boolean,
): { lo: number; hi: number; reads: number } {
  const gone = samples.findIndex(failed);
  const up = samples.findIndex(
    (s, i) => i >= gone && s.owners.some((n) => n !== from && s.reports[n] === "up"),
  );
  if (gone < 1 || up < 1) throw new Error(`etcd samples missed the change: failure at ${gone}, up at ${up}`);
  return {
    // Both changes within one read: faster than the reads can tell, so 0.
    lo: Math.max(0, samples[up - 1]!.sentAt - samples[gone]!.receivedAt) / 1000,
    hi: (samples[up]!.receivedAt - samples[gone - 1]!.sentAt) / 1000,
    reads: samples.length,
  };
}

describe.skipIf(!root)("the leader's failover durations (pavise_failover_duration_seconds)", () => {
  const t = useDaemonLab(LAB, {
    // service_restart 0: web fails at its service's first exit (for the package-failed case).
    clusterFile: (lab) => daemonClusterFile(lab, { name: LAB, service: { echoPort: UDP_PORT, restart: 0 } }),
    watchFromStart: true,
    haltFirst: true,
  });
  let leader = "";
  let owner = "";

  const scrape = async (node: string): Promise<Map<string, ParsedFamily>> =>
    parsePrometheusText(await fetchDaemonMetrics(t.cluster.controlSocket(node), 5000));
  const count = (m: Map<string, ParsedFamily>, cause: string): number =>
    sampleSum(m, `${HISTOGRAM}_count`, { cause });
  const sum = (m: Map<string, ParsedFamily>, cause: string): number =>
    sampleSum(m, `${HISTOGRAM}_sum`, { cause });
  const counts = (m: Map<string, ParsedFamily>): Record<string, number> =>
    Object.fromEntries(["node-failed", "package-failed", "operator"].map((c) => [c, count(m, c)]));

  /** Waits for the leader's scrape to show one more sample of `cause`; when it first did (ms). */
  async function untilSample(
    cause: string,
    before: number,
  ): Promise<{ m: Map<string, ParsedFamily>; at: number }> {
    const m = await until(
      `the leader ${leader} to time one ${cause} failover`,
      () => scrape(leader),
      (s) => count(s, cause) > before,
      20_000,
      20,
    );
    return { m, at: performance.now() };
  }

  it("a pavise pkg move adds one operator sample on the leader, within the command's time", async () => {
    for (const node of NODES) await t.cluster.startDaemon(node);
    await until(
      "web's address on n1 only",
      () => linkedHolders(t.lab, VIP),
      (h) => h.length === 1 && h[0] === "n1",
      20_000,
    );
    await t.cluster.untilLogged("web started on n1", "n1", "started", "package web started", 20_000);
    const all = await Promise.all(NODES.map(scrape));
    const leaders = NODES.filter((_, i) => sampleSum(all[i]!, "pavise_node_leader") === 1);
    expect(leaders).toHaveLength(1);
    leader = leaders[0]!;
    // Moved to a node that does not lead, so that the leader sees its failure later.
    owner = NODES.find((n) => n !== "n1" && n !== leader)!;
    const before = await scrape(leader);
    expect(counts(before)).toEqual({ "node-failed": 0, "package-failed": 0, operator: 0 });

    const startedAt = performance.now();
    const move = await t.lab.exec(
      "n1",
      [
        process.execPath,
        distPath("cli/main.js"),
        "pkg",
        "move",
        "web",
        "--node",
        owner,
        "--config",
        t.configFile,
      ],
      { allowFailure: true },
    );
    const commandMs = performance.now() - startedAt;
    expect(move.code, move.stderr).toBe(0);
    const { m, at } = await untilSample("operator", 0);
    const outside = (at - startedAt) / 1000;
    const timed = sum(m, "operator");
    console.log(
      `pkg move web n1 -> ${owner}: leader ${leader} timed ${timed.toFixed(3)} s (operator); from outside: ` +
        `command ${(commandMs / 1000).toFixed(3)} s, sample seen ${outside.toFixed(3)} s after the command started`,
    );
    expect(counts(m)).toEqual({ "node-failed": 0, "package-failed": 0, operator: 1 });
    expect(timed).toBeGreaterThan(0);
    expect(timed).toBeLessThanOrEqual(outside);
    expect(await linkedHolders(t.lab, VIP)).toEqual([owner]);
    const timeline = await t.stopWatch();
    expect(overlaps(timeline, VIP)).toEqual([]);
  });

  it("the owner's daemon is killed: one node-failed sample on the leader, within the gap seen from outside", async () => {
    await t.startWatch();
    const before = await scrape(leader);
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    const arp = sampleArp(t.lab, [VIP]);
    const keys = samplePackageKeys(t.lab, "n3", LAB, "web");
    await sleep(500);

    const killedAt = performance.now();
    const killedWall = Date.now();
    await t.lab.runtime.stop(t.cluster.daemons.get(owner)!, "SIGKILL");
    t.cluster.daemons.delete(owner);
    const { m, at } = await untilSample("node-failed", count(before, "node-failed"));
    const outside = (at - killedAt) / 1000;
    const timed = sum(m, "node-failed") - sum(before, "node-failed");
    const newOwner = await until(
      "web's address on one other node",
      () => linkedHolders(t.lab, VIP),
      (h) => h.length === 1 && h[0] !== owner,
      10_000,
    );
    await sleep(500);
    const etcdGap = keyGapBounds(await keys.stop(), owner, (sample) => !sample.owners.includes(owner));
    const report = await traffic.stop();
    const arpSamples = (await arp.stop()).get(VIP)!;
    const timeline = await t.stopWatch();
    const added = timeline.events.find(
      (e) => e.address === VIP && e.change === "add" && e.host === newOwner[0] && e.at >= killedWall,
    );
    console.log(
      `SIGKILL of ${owner}'s daemon: leader ${leader} timed ${timed.toFixed(3)} s (node-failed); from outside: ` +
        `${newOwner[0]} added ${VIP} ${added ? added.at - killedWall : "?"} ms after the kill, the sample was seen ` +
        `${outside.toFixed(3)} s after it; in etcd (${etcdGap.reads} reads) the owner key went and the new owner ` +
        `reported up ${etcdGap.lo.toFixed(3)}–${etcdGap.hi.toFixed(3)} s apart; client's longest gap ${Math.round(report.maxGapMs)} ms ` +
        `(${report.received}/${report.sent} answered)`,
    );
    // Exactly one more sample, of this cause only.
    expect(counts(m)).toEqual({ ...counts(before), "node-failed": count(before, "node-failed") + 1 });
    expect(timed).toBeGreaterThan(0);
    // t0 is after the kill (the lease lapses later) and t1 before the scrape that showed it.
    expect(timed).toBeLessThanOrEqual(outside);
    // And it is the time from the key's vanishing to the new owner's up, as etcd shows them.
    expect(timed).toBeGreaterThanOrEqual(etcdGap.lo - READ_SKEW_S);
    expect(timed).toBeLessThanOrEqual(etcdGap.hi + READ_SKEW_S);
    // Never two holders: the timeline and every ARP sample.
    expect(overlaps(timeline, VIP)).toEqual([]);
    for (const s of arpSamples) expect(s.hosts.length, `ARP answerers at ${s.at}`).toBeLessThanOrEqual(1);
    expect(await arpHosts(t.lab, VIP)).toEqual(newOwner);

    // `pavise metrics` prints the same histogram (the leader's control socket).
    const cli = await execFileAsync(process.execPath, [
      distPath("cli/main.js"),
      "metrics",
      "--control",
      t.cluster.controlSocket(leader),
    ]);
    expect(counts(parsePrometheusText(cli.stdout))).toEqual(counts(m));
    // Only the leader times failovers.
    for (const node of NODES.filter((n) => n !== leader && n !== owner))
      expect(Object.values(counts(await scrape(node))).reduce((a, b) => a + b, 0)).toBe(0);
    owner = newOwner[0]!;
  });

  it("web's service dies on its owner (service_restart 0): one package-failed sample, within the gaps seen from outside", async () => {
    await t.startWatch();
    const before = await scrape(leader);
    const [pid] = await until(
      "web's echo service",
      () => echoPids(t.lab, owner, UDP_PORT),
      (p) => p.length === 1,
    );
    const keys = samplePackageKeys(t.lab, leader, LAB, "web");
    const arp = sampleArp(t.lab, [VIP]);
    await sleep(300);

    const killedAt = performance.now();
    process.kill(pid!, "SIGKILL");
    const { m, at } = await untilSample("package-failed", count(before, "package-failed"));
    const outside = (at - killedAt) / 1000;
    const timed = sum(m, "package-failed") - sum(before, "package-failed");
    const newOwner = await until(
      "web's address on one other node",
      () => linkedHolders(t.lab, VIP),
      (h) => h.length === 1 && h[0] !== owner,
      10_000,
    );
    await sleep(300);
    const etcdGap = keyGapBounds(await keys.stop(), owner, (sample) => sample.reports[owner] === "failed");
    const arpSamples = (await arp.stop()).get(VIP)!;
    const timeline = await t.stopWatch();
    console.log(
      `web's service killed on ${owner}: leader ${leader} timed ${timed.toFixed(3)} s (package-failed) to ${newOwner[0]}; ` +
        `from outside: sample seen ${outside.toFixed(3)} s after the kill; in etcd (${etcdGap.reads} reads) the failed ` +
        `report and the new owner's up were ${etcdGap.lo.toFixed(3)}–${etcdGap.hi.toFixed(3)} s apart`,
    );
    expect(counts(m)).toEqual({ ...counts(before), "package-failed": count(before, "package-failed") + 1 });
    expect(timed).toBeGreaterThan(0);
    expect(timed).toBeLessThanOrEqual(outside);
    expect(timed).toBeGreaterThanOrEqual(etcdGap.lo - READ_SKEW_S);
    expect(timed).toBeLessThanOrEqual(etcdGap.hi + READ_SKEW_S);
    expect(overlaps(timeline, VIP)).toEqual([]);
    for (const a of arpSamples) expect(a.hosts.length, `ARP answerers at ${a.at}`).toBeLessThanOrEqual(1);
    expect(await arpHosts(t.lab, VIP)).toEqual(newOwner);
  });
});
