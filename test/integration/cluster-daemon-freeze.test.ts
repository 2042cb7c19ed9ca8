import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { LabProcess } from "../../src/lab/host-runtime.js";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import { VIP, echoPids, processGone, untilProcessGone } from "../support/daemon-cluster.js";
import { testLabName } from "../support/fresh-lab.js";
import { until } from "../support/until.js";
import { useDaemonLab } from "../support/daemon-lab.js";
import { arpHosts, sampleArp, startClientTraffic } from "../support/cluster-observe.js";

// Fault test of #5, "daemon frozen past the lease TTL then thawed (it must have dropped its
// addresses before anyone else took them)": n1's daemon is stopped with SIGSTOP; its pipe to
// the guardian (src/cluster/guard/) stays open, but its heartbeats stop, and after fence_after
// (600 ms) the guardian removes web's address and kills web's service — before n1's lease
// (member_timeout 1 s) lapses and n2 takes web over: never two owners, by the address timeline
// and by ARP. Thawed with SIGCONT, n1's daemon finds itself fenced, leaves web on n2, starts a
// fresh guardian and rejoins. Needs root and a build.
const root = process.getuid?.() === 0;
const LAB = testLabName("tdfrz");
const UDP_PORT = 7404;

describe.skipIf(!root)("pavise daemon frozen past its lease, then thawed (the guardian's deadline)", () => {
  const t = useDaemonLab(LAB, {
    echoPort: UDP_PORT,
    haltFirst: true,
    // A daemon still frozen (a failed test) cannot act on SIGTERM.
    cleanup: (t) => {
      if (!frozen) return;
      try {
        t.lab.faults.thaw(frozen);
      } catch {
        // gone already
      }
    },
  });
  const startDaemon = (node: string, options?: { json?: boolean }): Promise<LabProcess> =>
    t.cluster.startDaemon(node, options);
  const daemonEvents = (node: string): { event: string; message: string }[] => t.cluster.daemonEvents(node);
  const logged = (node: string, event: string, message?: string): boolean =>
    t.cluster.logged(node, event, message);
  let frozen: LabProcess | undefined;

  /** Every guardian's PID, in the order they started, from the node's daemon log. */
  function guardPids(node: string): number[] {
    return daemonEvents(node)
      .filter((e) => e.event === "guard" && e.message.includes("guard pid"))
      .map((e) => Number(/guard pid (\d+)/.exec(e.message)?.[1]));
  }

  async function holders(): Promise<string[]> {
    return (await t.lab.holders(VIP)).map((h) => h.host);
  }

  it("n1's guardian drops web's address and kills its service on the frozen daemon's silence, before n2 starts web", async () => {
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
    const [guard] = guardPids("n1");
    expect(guard).toBeGreaterThan(1);
    expect(processGone(guard!)).toBe(false);
    expect(logged("n1", "guard", "acting after 600 ms of silence")).toBe(true);
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

    const frozenAt = Date.now();
    frozen = t.cluster.daemons.get("n1")!;
    t.lab.faults.freeze(frozen);
    await until("web's address on n2", holders, (h) => h.includes("n2"), 20_000);
    const takenAfter = Date.now() - frozenAt;
    await t.cluster.untilLogged("web started on n2", "n2", "started", "package web started", 15_000);
    await sleep(1000);
    const report = await traffic.stop();
    polling = false;
    const arpSamples = (await arp.stop()).get(VIP)!;
    await pollLoop;
    const timeline = await t.stopWatch();

    // Never two holders; n1's removal (by its guardian: n1's daemon was frozen) before n2's add.
    expect(overlaps(timeline, VIP)).toEqual([]);
    const dropped = timeline.events.find(
      (e) => e.host === "n1" && e.address === VIP && e.change === "del" && e.at >= frozenAt - 50,
    );
    const added = timeline.events.find((e) => e.host === "n2" && e.address === VIP && e.change === "add");
    expect(dropped).toBeDefined();
    expect(added).toBeDefined();
    expect(dropped!.at).toBeLessThan(added!.at);
    for (const pid of services) {
      expect(goneAt.get(pid), `echo pid ${pid} on n1`).toBeDefined();
      expect(goneAt.get(pid)!).toBeLessThan(added!.at);
    }
    expect(await echoPids(t.lab, "n1", UDP_PORT)).toEqual([]);
    expect(await echoPids(t.lab, "n2", UDP_PORT)).toHaveLength(1);
    expect(logged("n1", "guard", "the daemon has been silent for")).toBe(true);
    // The guardian killed the services, not the daemon, and waits for it.
    expect(processGone(frozen.pid)).toBe(false);
    expect(processGone(guard!)).toBe(false);
    expect(arpSamples.length).toBeGreaterThan(1);
    for (const s of arpSamples) expect(s.hosts.length, `ARP answerers at ${s.at}`).toBeLessThanOrEqual(1);
    expect(await arpHosts(t.lab, VIP)).toEqual(["n2"]);
    expect(await holders()).toEqual(["n2"]);
    expect(report.received).toBeGreaterThan(0);
    const servicesGone = Math.max(...services.map((pid) => goneAt.get(pid)!));
    console.log(
      `pavise daemon SIGSTOP on n1: guardian removed ${VIP} ${Math.round(dropped!.at - frozenAt)} ms and its service was gone ` +
        `${servicesGone - frozenAt} ms after the freeze; n2 added ${VIP} ${Math.round(added!.at - frozenAt)} ms after ` +
        `(${takenAfter} ms seen); client's longest gap ${Math.round(report.maxGapMs)} ms, ${report.received}/${report.sent} answered; ` +
        `ARP samples ${arpSamples.map((s) => s.hosts.join("+") || "-").join(" ")}`,
    );
  });

  it("thawed, n1's daemon learns it was fenced, leaves web on n2, and rejoins with a fresh guardian", async () => {
    const [oldGuard] = guardPids("n1");
    await t.startWatch();
    const thawedAt = Date.now();
    t.lab.faults.thaw(frozen!);
    frozen = undefined;
    await t.cluster.untilLogged("n1 to see it was fenced", "n1", "fenced", "", 10_000);
    await until(
      "n1 to rejoin",
      () => Promise.resolve(daemonEvents("n1").filter((e) => e.event === "joined").length),
      (n) => n === 2,
      15_000,
    );
    const rejoinedAfter = Date.now() - thawedAt;
    await untilProcessGone("n1's old guardian to exit", oldGuard!, 5_000);
    await sleep(1500);
    const timeline = await t.stopWatch();
    expect(overlaps(timeline, VIP)).toEqual([]);
    // n1 never put web's address back.
    expect(timeline.events.filter((e) => e.host === "n1" && e.change === "add")).toEqual([]);
    expect(logged("n1", "guard", "spoke again")).toBe(true);
    expect(logged("n1", "problem", "guardian")).toBe(false);
    // Whether the daemon saw the old guardian end ("guard-ended") or released it first is a race;
    // either way no problem is reported and a fresh guardian watches.
    const guards = guardPids("n1");
    expect(guards).toHaveLength(2);
    expect(processGone(guards[1]!)).toBe(false);
    expect(logged("n1", "started")).toBe(true); // the first start only
    expect(daemonEvents("n1").filter((e) => e.event === "started")).toHaveLength(1);
    expect(await holders()).toEqual(["n2"]);
    expect(await echoPids(t.lab, "n1", UDP_PORT)).toEqual([]);
    expect(await echoPids(t.lab, "n2", UDP_PORT)).toHaveLength(1);
    expect(await arpHosts(t.lab, VIP)).toEqual(["n2"]);
    const fence = daemonEvents("n1").find((e) => e.event === "fenced");
    console.log(
      `pavise daemon SIGCONT on n1: ${fence?.message ?? "?"}; rejoined ${rejoinedAfter} ms after the thaw`,
    );
  });
});
