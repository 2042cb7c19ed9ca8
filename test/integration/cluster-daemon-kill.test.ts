import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { LabProcess } from "../../src/lab/host-runtime.js";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import { VIP, echoPids, processGone, untilProcessGone } from "../support/daemon-cluster.js";
import { testLabName } from "../support/fresh-lab.js";
import { until } from "../support/until.js";
import { useDaemonLab } from "../support/daemon-lab.js";
import { arpHosts, sampleArp, startClientTraffic } from "../support/cluster-observe.js";

// Fault test of #5, "daemon SIGKILL while its services keep running": the daemon's guardian
// (src/cluster/guard/) outlives it, removes web's address and kills web's service on n1 before
// n1's lease (member_timeout 1 s) lapses and n2 takes web over — never two owners, by the
// address timeline and by ARP. Then the restarted n1 daemon rejoins with nothing left to clean
// up, and a daemon stopped with SIGTERM takes its guardian along quietly. Needs root and a build.
const root = process.getuid?.() === 0;
const LAB = testLabName("tdkil");
const UDP_PORT = 7403;

describe.skipIf(!root)("pavise daemon SIGKILLed while its services run (the guardian)", () => {
  const t = useDaemonLab(LAB, { echoPort: UDP_PORT, haltFirst: true });
  const startDaemon = (node: string, options?: { json?: boolean }): Promise<LabProcess> =>
    t.cluster.startDaemon(node, options);
  const daemonEvents = (node: string): { event: string; message: string }[] => t.cluster.daemonEvents(node);
  const logged = (node: string, event: string, message?: string): boolean =>
    t.cluster.logged(node, event, message);

  /** The guardian's PID, from its first line in the node's latest daemon log. */
  function guardPid(node: string): number {
    const line = daemonEvents(node).find((e) => e.event === "guard" && e.message.includes("guard pid"));
    const pid = Number(/guard pid (\d+)/.exec(line?.message ?? "")?.[1]);
    expect(pid).toBeGreaterThan(1);
    return pid;
  }

  async function holders(): Promise<string[]> {
    return (await t.lab.holders(VIP)).map((h) => h.host);
  }

  it("n1's guardian drops web's address and kills its service before n2 starts web", async () => {
    await startDaemon("n1");
    await startDaemon("n2");
    await startDaemon("n3");
    await until("web's address on n1 only", holders, (h) => h.length === 1 && h[0] === "n1", 15_000);
    await t.cluster.untilLogged("web started on n1", "n1", "started", "package web started", 15_000);
    const services = await until(
      "web's echo service on n1",
      () => echoPids(t.lab, "n1", UDP_PORT),
      (p) => p.length === 1,
    );
    const guard = guardPid("n1");
    expect(processGone(guard)).toBe(false);
    expect(await arpHosts(t.lab, VIP)).toEqual(["n1"]);

    await t.startWatch();
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    // Who answers ARP for web's address, sampled back to back (each sample waits 1 s).
    const arp = sampleArp(t.lab, [VIP]);
    // When each of n1's service processes is gone, polled every 2 ms.
    const goneAt = new Map<number, number>();
    let polling = true;
    const pollLoop = (async () => {
      while (polling) {
        for (const pid of services) if (!goneAt.has(pid) && processGone(pid)) goneAt.set(pid, Date.now());
        await sleep(2);
      }
    })();
    await sleep(500);

    const killedAt = Date.now();
    await t.lab.runtime.stop(t.cluster.daemons.get("n1")!, "SIGKILL");
    t.cluster.daemons.delete("n1");
    await until("web's address on n2", holders, (h) => h.includes("n2"), 20_000);
    const takenAfter = Date.now() - killedAt;
    await t.cluster.untilLogged("web started on n2", "n2", "started", "package web started", 15_000);
    await sleep(1000);
    const report = await traffic.stop();
    polling = false;
    const arpSamples = (await arp.stop()).get(VIP)!;
    await pollLoop;
    const timeline = await t.stopWatch();

    // Never two holders; n1's removal (by its guardian: n1's daemon was dead) before n2's add.
    expect(overlaps(timeline, VIP)).toEqual([]);
    const dropped = timeline.events.find(
      (e) => e.host === "n1" && e.address === VIP && e.change === "del" && e.at >= killedAt - 50,
    );
    const added = timeline.events.find((e) => e.host === "n2" && e.address === VIP && e.change === "add");
    expect(dropped).toBeDefined();
    expect(added).toBeDefined();
    expect(dropped!.at).toBeLessThan(added!.at);
    // n1's service processes were gone before n2 added the address (and so before web ran there).
    for (const pid of services) {
      expect(goneAt.get(pid), `echo pid ${pid} on n1`).toBeDefined();
      expect(goneAt.get(pid)!).toBeLessThan(added!.at);
    }
    expect(await echoPids(t.lab, "n1", UDP_PORT)).toEqual([]);
    expect(await echoPids(t.lab, "n2", UDP_PORT)).toHaveLength(1);
    expect(logged("n1", "guard", "the daemon is gone")).toBe(true);
    await untilProcessGone("n1's guardian to exit", guard, 5_000);
    // ARP: at most one node answered at every sample, n2 alone at the end.
    expect(arpSamples.length).toBeGreaterThan(1);
    for (const s of arpSamples) expect(s.hosts.length, `ARP answerers at ${s.at}`).toBeLessThanOrEqual(1);
    expect(await arpHosts(t.lab, VIP)).toEqual(["n2"]);
    expect(await holders()).toEqual(["n2"]);
    expect(report.received).toBeGreaterThan(0);
    const servicesGone = Math.max(...services.map((pid) => goneAt.get(pid)!));
    console.log(
      `pavise daemon SIGKILL on n1: guardian removed ${VIP} ${Math.round(dropped!.at - killedAt)} ms and its service was gone ` +
        `${servicesGone - killedAt} ms after the kill; n2 added ${VIP} ${Math.round(added!.at - killedAt)} ms after ` +
        `(${takenAfter} ms seen); client's longest gap ${Math.round(report.maxGapMs)} ms, ${report.received}/${report.sent} answered; ` +
        `ARP samples ${arpSamples.map((s) => s.hosts.join("+") || "-").join(" ")}`,
    );
  });

  it("the restarted n1 daemon rejoins cleanly: nothing left to clean up, web stays on n2", async () => {
    await startDaemon("n1");
    await sleep(1500);
    expect(logged("n1", "cleanup")).toBe(false);
    expect(daemonEvents("n1").filter((e) => e.event === "joined")).toHaveLength(1);
    expect(logged("n1", "fenced")).toBe(false);
    expect(await holders()).toEqual(["n2"]);
    expect(await echoPids(t.lab, "n1", UDP_PORT)).toEqual([]);
    expect(await arpHosts(t.lab, VIP)).toEqual(["n2"]);
    expect(processGone(guardPid("n1"))).toBe(false);
  });

  it("a daemon stopped with SIGTERM takes its guardian along quietly", async () => {
    const n2 = t.cluster.daemons.get("n2")!;
    const guard = guardPid("n2");
    await t.startWatch();
    await t.lab.runtime.stop(n2, "SIGTERM");
    t.cluster.daemons.delete("n2");
    await t.cluster.untilLogged("n2's daemon to leave", "n2", "left", "", 20_000);
    await untilProcessGone("n2's guardian to exit", guard, 5_000);
    await until("web's address on another node", holders, (h) => h.length === 1 && h[0] !== "n2", 20_000);
    const timeline = await t.stopWatch();
    expect(overlaps(timeline, VIP)).toEqual([]);
    expect(logged("n2", "guard", "the daemon is gone")).toBe(false);
    expect(logged("n2", "problem", "guardian")).toBe(false);
  });
});
