import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { etcdHealth, moveEtcdLeader, waitForEtcd } from "../../src/lab/etcd.js";
import type { LabProcess } from "../../src/lab/host-runtime.js";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import {
  VIP,
  echoPids,
  etcdLeaderAwayFrom,
  liveOverlaps,
  untilProcessGone,
} from "../support/daemon-cluster.js";
import {
  clusterEvents,
  statusView,
  linkedHolders,
  arpHosts,
  startClientTraffic,
} from "../support/cluster-observe.js";
import { testLabName } from "../support/fresh-lab.js";
import { until } from "../support/until.js";
import { useDaemonLab } from "../support/daemon-lab.js";

// `pavise daemon` on the three lab nodes with real etcd (1 s leases, the lab's fast Raft
// timing): web starts on n1, fails over to n2 when n1 crashes, and moves to n3 when n2's daemon
// is told to stop (SIGTERM), and leaves n3 when n3 is cut off from etcd (n3 fences: drops the
// address before the lease it can no longer renew ends). The client's longest gap is printed for
// each; the address is never held by two nodes at once. Needs root and a build (dist/cli/main.js,
// the echo service).
const root = process.getuid?.() === 0;
const LAB = testLabName("tdmn");
const UDP_PORT = 7402;

describe.skipIf(!root)("pavise daemon on three lab nodes", () => {
  const t = useDaemonLab(LAB, { echoPort: UDP_PORT, watchFromStart: true });
  const startDaemon = (node: string, options?: { json?: boolean }): Promise<LabProcess> =>
    t.cluster.startDaemon(node, options);
  const daemonEvents = (node: string): { event: string; message: string }[] => t.cluster.daemonEvents(node);
  const logged = (node: string, event: string, message?: string): boolean =>
    t.cluster.logged(node, event, message);

  const holdersWithLink = (): Promise<string[]> => linkedHolders(t.lab, VIP);

  it("starts web on n1, moves etcd's leadership off n1, fails web over to n2 when n1 crashes, never on two nodes at once", async () => {
    // etcd's leader on n1, where web will run: the cluster leader must move it away
    // (etcd leader_away_from_packages), so that the crash below costs no etcd election.
    await moveEtcdLeader(t.lab.runtime, t.lab.plan.etcd, "n1", "n2");
    await startDaemon("n1");
    await startDaemon("n2");
    await startDaemon("n3", { json: true });
    await until(
      "web's address on n1 only",
      () => t.lab.holders(VIP),
      (h) => h.length === 1 && h[0]?.host === "n1",
      15_000,
    );
    await t.cluster.untilLogged("the echo service on n1", "n1", "started", "package web started", 15_000);
    expect(await arpHosts(t.lab, VIP)).toEqual(["n1"]);

    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    const etcdLeader = await until(
      "etcd's leader off n1",
      async () => (await etcdHealth(t.lab.runtime, t.lab.plan.etcd, "n2")).find((m) => m.leader)?.host,
      (host) => host !== undefined && host !== "n1",
      10_000,
    );
    const events = await clusterEvents(t.lab, "n2", t.configFile);
    const moved = events.find((e) => e.kind === "etcd-leader-moved");
    expect(moved?.message).toMatch(
      /^etcd's leadership moved from n1 to n[23] in \d+ ms: n1 runs a failover package/,
    );
    console.log(`pavise daemon: ${moved?.message}`);
    await sleep(700);
    const crashedAt = Date.now();
    await t.lab.faults.crashHost("n1");
    t.cluster.daemons.delete("n1");
    await until("web's address on n2", holdersWithLink, (h) => h.includes("n2"), 20_000);
    const takenAfter = Date.now() - crashedAt;
    await sleep(1000);
    const report = await traffic.stop();
    expect(await holdersWithLink()).toEqual(["n2"]);
    expect(await arpHosts(t.lab, VIP)).toEqual(["n2"]);
    expect(report.received).toBeGreaterThan(0);
    console.log(
      `pavise daemon, node crash (etcd leader on ${etcdLeader}): n2 holds ${VIP} ${takenAfter} ms after n1 crashed; ` +
        `client's longest gap ${Math.round(report.maxGapMs)} ms, ${report.received}/${report.sent} answered`,
    );

    const timeline = await t.stopWatch();
    expect(liveOverlaps(overlaps(timeline, VIP), "n1", crashedAt)).toEqual([]);
    // n3 runs with --json: one JSON object per line, each with time, node, event and message.
    const lines = t.cluster.daemonLog("n3").trim().split("\n");
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines) {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      expect([typeof parsed.at, parsed.node, typeof parsed.event, typeof parsed.message]).toEqual([
        "number",
        "n3",
        "string",
        "string",
      ]);
    }
    await t.startWatch(["n2", "n3"]);
  });

  it("moves web to n3 when n2's daemon is stopped with SIGTERM (planned move)", async () => {
    const n2 = t.cluster.daemons.get("n2")!;
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await sleep(500);
    const stoppedAt = Date.now();
    await t.lab.runtime.stop(n2, "SIGTERM");
    t.cluster.daemons.delete("n2");
    await until("web's address on n3 only", holdersWithLink, (h) => h.length === 1 && h[0] === "n3", 20_000);
    const movedAfter = Date.now() - stoppedAt;
    await t.cluster.untilLogged("n2's daemon to leave", "n2", "left", "", 20_000);
    await sleep(500);
    const report = await traffic.stop();
    expect(await arpHosts(t.lab, VIP)).toEqual(["n3"]);
    const timeline = await t.stopWatch();
    expect(overlaps(timeline, VIP)).toEqual([]);
    expect(report.received).toBeGreaterThan(0);
    console.log(
      `pavise daemon, planned move (SIGTERM n2): n3 holds ${VIP} ${movedAfter} ms after; ` +
        `client's longest gap ${Math.round(report.maxGapMs)} ms, ${report.received}/${report.sent} answered`,
    );
    await untilProcessGone("n2's daemon process to exit", n2.pid);
    // bug-left-node-shown-failed: a node that left on purpose is halted, not failed.
    const view = await statusView(t.lab, "n3", t.configFile);
    expect(view.nodes.find((n) => n.name === "n2")?.status).toBe("halted");
    const events = await clusterEvents(t.lab, "n3", t.configFile);
    expect(events.filter((e) => e.kind === "node-failed" && e.subject === "n2")).toEqual([]);
  });

  it("a node cut off from etcd fences: it drops web's address before another node adds it", async () => {
    // n1 back (links up, its etcd member started) with a daemon, and n2's daemon again: three
    // etcd members, so cutting n3 off leaves a quorum.
    await t.lab.faults.powerOn("n1");
    await waitForEtcd(t.lab.runtime, t.lab.plan.etcd, 20_000);
    await startDaemon("n1");
    await startDaemon("n2");
    await etcdLeaderAwayFrom(t.lab, "n3");
    await t.startWatch();
    expect(await holdersWithLink()).toEqual(["n3"]);
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await sleep(500);
    const cutAt = Date.now();
    const cut = await t.lab.faults.cutFromLan("n3", { subnet: "heartbeat" });
    const holders = await until(
      "web's address on another node only",
      holdersWithLink,
      (h) => h.length === 1 && h[0] !== "n3",
      20_000,
    );
    const movedAfter = Date.now() - cutAt;
    await sleep(500);
    const report = await traffic.stop();
    expect(logged("n3", "fenced")).toBe(true);
    expect(await arpHosts(t.lab, VIP)).toEqual(holders);
    const timeline = await t.stopWatch();
    // n3's links stay up throughout: every holder counts.
    expect(overlaps(timeline, VIP)).toEqual([]);
    const dropped = timeline.events.find((e) => e.host === "n3" && e.address === VIP && e.change === "del");
    const added = timeline.events.find(
      (e) => e.host === holders[0] && e.address === VIP && e.change === "add",
    );
    expect(dropped && added && dropped.at <= added.at).toBe(true);
    console.log(
      `pavise daemon, n3 cut off from etcd: it dropped ${VIP} ${Math.round(dropped!.at - cutAt)} ms after the cut, ` +
        `${holders[0]} added it ${Math.round(added!.at - cutAt)} ms after (${movedAfter} ms seen); ` +
        `client's longest gap ${Math.round(report.maxGapMs)} ms, ${report.received}/${report.sent} answered`,
    );
    // Healed, n3 joins again (web stays where it is: failback manual).
    await t.lab.faults.heal(cut);
    await until(
      "n3 to join again",
      () => Promise.resolve(daemonEvents("n3").filter((e) => e.event === "joined").length),
      (joins) => joins >= 2,
      20_000,
    );
    expect(await holdersWithLink()).toEqual(holders);
  });

  it("a service out of restarts fails web on its node: reported, halted there, started elsewhere", async () => {
    const [from] = await holdersWithLink();
    expect(from).toBeDefined();
    await t.startWatch();
    // restart: 2 — the third exit is for good.
    let killedAt = 0;
    for (let kill = 1; kill <= 3; kill++) {
      const [pid] = await until(
        "web's echo service on " + from!,
        () => echoPids(t.lab, from!, UDP_PORT),
        (p) => p.length === 1,
      );
      killedAt = Date.now();
      process.kill(pid!, "SIGKILL");
      if (kill < 3) {
        await until(
          "the service to restart",
          () => echoPids(t.lab, from!, UDP_PORT),
          (p) => p.length === 1 && p[0] !== pid,
        );
      }
    }
    const holders = await until(
      "web's address on another node",
      holdersWithLink,
      (h) => h.length === 1 && h[0] !== from,
      20_000,
    );
    const movedAfter = Date.now() - killedAt;
    expect(logged(from!, "package-failed", "package web failed on")).toBe(true);
    expect(await arpHosts(t.lab, VIP)).toEqual(holders);
    const timeline = await t.stopWatch();
    expect(overlaps(timeline, VIP)).toEqual([]);
    console.log(
      `pavise daemon, service out of restarts on ${from}: web runs on ${holders[0]} ${movedAfter} ms after the last exit`,
    );
  });
});
