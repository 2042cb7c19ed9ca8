import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import {
  type ArpSample,
  clusterEvents,
  neighbourMac,
  ownerKeys,
  sampleArp,
  statusView,
  arpHosts,
  startClientTraffic,
} from "../support/cluster-observe.js";
import { VIP, echoPids, NODES } from "../support/daemon-cluster.js";
import { testLabName } from "../support/fresh-lab.js";
import { until } from "../support/until.js";
import { useDaemonLab } from "../support/daemon-lab.js";

// Fault tests of #5 with `pavise daemon` on the three lab nodes, for the public LAN's NICs
// (Serviceguard's local switch, then a subnet failure): n1 runs web; its primary NIC lan0 loses
// carrier (the cable pulled at the switch) and web's address moves to the standby lan1 on n1
// with a gratuitous ARP, the package untouched. Then lan1 loses carrier too: no NIC of the
// subnet is left on n1, so web fails over to n2 — n1 drops the address first. With the cables
// back n1 may host web again, but web stays on n2 (failback_policy manual). Needs root and a
// build (dist/cli/main.js, the echo service).
const root = process.getuid?.() === 0;
const LAB = testLabName("fblan");
const UDP_PORT = 7511;

function atMostOneAnswer(samples: Map<string, ArpSample[]>): void {
  const all = samples.get(VIP) ?? [];
  expect(all.length).toBeGreaterThan(1);
  for (const s of all)
    expect(s.hosts.length, `ARP answerers at ${s.at}: ${s.hosts.join(", ")}`).toBeLessThanOrEqual(1);
}

describe.skipIf(!root)("pavise daemon: NICs of the public LAN fail on the owner", () => {
  const t = useDaemonLab(LAB, { echoPort: UDP_PORT, start: NODES });

  it("primary NIC down on the owner: web's address moves to lan1 on n1, c1 learns lan1's MAC, the package stays", async () => {
    await t.cluster.untilLogged("web started on n1", "n1", "started", "package web started", 20_000);
    expect(await t.lab.holders(VIP)).toEqual([{ host: "n1", nic: "lan0", up: true }]);
    const [servicePid] = await until(
      "web's echo service on n1",
      () => echoPids(t.lab, "n1", UDP_PORT),
      (p) => p.length === 1,
    );
    const keyBefore = await ownerKeys(t.lab, "n2", LAB, "web");
    expect(keyBefore.map((k) => k.node)).toEqual(["n1"]);
    const eventsBefore = (await clusterEvents(t.lab, "n2", t.configFile)).length;

    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await until(
      "c1 to have n1's lan0 MAC for web's address",
      () => neighbourMac(t.lab, "c1", VIP),
      (mac) => mac === t.lab.nic("n1", "lan0").mac,
    );
    await t.startWatch();
    const arp = sampleArp(t.lab, [VIP]);
    await sleep(1_100); // one full ARP round before the fault

    const pulledAt = Date.now();
    await t.lab.faults.carrierDown("n1", "lan0");
    await until(
      "web's address on n1's lan1",
      () => t.lab.holders(VIP),
      (h) => h.length === 1 && h[0]?.nic === "lan1",
      5_000,
      5,
    );
    const seenAfter = Date.now() - pulledAt;
    await until(
      "c1 to have n1's lan1 MAC for web's address (the gratuitous ARP)",
      () => neighbourMac(t.lab, "c1", VIP),
      (mac) => mac === t.lab.nic("n1", "lan1").mac,
      5_000,
      5,
    );
    const learntAfter = Date.now() - pulledAt;
    await sleep(1_500);
    const report = await traffic.stop();
    const samples = await arp.stop();
    const timeline = await t.stopWatch();
    // When n1 added it on lan1, as its address monitor saw it.
    const onLan1 = timeline.events.find(
      (e) => e.host === "n1" && e.address === VIP && e.change === "add" && e.interface === "lan1",
    );
    expect(onLan1).toBeDefined();
    console.log(
      `pavise daemon, n1 lan0 carrier lost: ${VIP} on n1 lan1 ${Math.round(onLan1!.at - pulledAt)} ms after ` +
        `(${seenAfter} ms seen), c1's neighbour entry on ` +
        `lan1's MAC within ${learntAfter} ms; client's longest gap ${Math.round(report.maxGapMs)} ms, ` +
        `${report.received}/${report.sent} answered`,
    );

    // Only n1 ever held the address or answered ARP for it.
    expect(overlaps(timeline, VIP)).toEqual([]);
    const holders = new Set([
      ...timeline.initial.filter((h) => h.address === VIP).map((h) => h.host),
      ...timeline.events.filter((e) => e.address === VIP).map((e) => e.host),
    ]);
    expect([...holders]).toEqual(["n1"]);
    for (const s of samples.get(VIP)!) expect(s.hosts.every((h) => h === "n1")).toBe(true);
    expect(await t.lab.arpAnswerers("public", VIP)).toMatchObject([{ host: "n1", nic: "lan1" }]);
    expect(report.received).toBeGreaterThan(0);
    expect(report.maxGapMs).toBeLessThan(2_000);

    // The package was left alone: same owner key, same service process, no move in the event log.
    expect(await echoPids(t.lab, "n1", UDP_PORT)).toEqual([servicePid]);
    const keyAfter = await ownerKeys(t.lab, "n2", LAB, "web");
    expect(keyAfter).toEqual(keyBefore);
    const since = (await clusterEvents(t.lab, "n2", t.configFile)).slice(eventsBefore);
    expect(since.filter((e) => e.package === "web" || e.kind.startsWith("plan-"))).toEqual([]);
    expect(t.cluster.logged("n1", "address-moved", `${VIP} lan0 -> lan1`)).toBe(true);
    expect(t.cluster.logged("n1", "package-failed")).toBe(false);
  });

  // The daemon did not report its addresses' NICs, so status showed "lan0 (primary)" from the
  // configuration while the address was on lan1.
  it("bug-status-nic-after-local-switch: pavise status reports the address on lan1, as n1 reported it", async () => {
    const view = await until(
      "status to report web's address on lan1",
      () => statusView(t.lab, "n2", t.configFile),
      (v) => v.packages[0]?.addresses[0]?.nic === "lan1",
      5_000,
      200,
    );
    expect(view.packages[0]).toMatchObject({ name: "web", status: "up", nodes: ["n1"] });
    expect(view.packages[0]!.addresses[0]).toMatchObject({
      address: VIP,
      node: "n1",
      nic: "lan1",
      nicFrom: "reported",
    });
  });

  it("network_auto_failback (default yes): lan0 back for 2 s, web's address returns to it; the package stays", async () => {
    const [servicePid] = await echoPids(t.lab, "n1", UDP_PORT);
    const backAt = Date.now();
    await t.lab.faults.carrierUp("n1", "lan0");
    await until(
      "web's address back on n1 lan0",
      () => t.lab.holders(VIP),
      (h) => h.length === 1 && h[0]?.host === "n1" && h[0].nic === "lan0",
      10_000,
    );
    const returnedAfter = Date.now() - backAt;
    // Not before the primary's link has been up for the return delay (2 s), and not long after.
    expect(returnedAfter).toBeGreaterThanOrEqual(2_000);
    expect(returnedAfter).toBeLessThan(6_000);
    expect(await echoPids(t.lab, "n1", UDP_PORT)).toEqual([servicePid]);
    await t.cluster.untilLogged("the move back logged", "n1", "address-moved", `${VIP} lan1 -> lan0`, 5_000);
    console.log(`pavise daemon, n1 lan0 back: ${VIP} on lan0 again ${returnedAfter} ms after`);
    // lan0 pulled again: the next test starts with the address on lan1.
    await t.lab.faults.carrierDown("n1", "lan0");
    await until(
      "web's address on n1 lan1",
      () => t.lab.holders(VIP),
      (h) => h.length === 1 && h[0]?.host === "n1" && h[0].nic === "lan1",
      5_000,
    );
  });

  it("both NICs down on the owner: web fails over to n2, n1 drops the address first; never on two nodes", async () => {
    await t.startWatch();
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    const arp = sampleArp(t.lab, [VIP]);
    await sleep(1_100);

    const pulledAt = Date.now();
    await t.lab.faults.carrierDown("n1", "lan1");
    await until(
      "web's address on n2 only",
      () => t.lab.holders(VIP),
      (h) => h.length === 1 && h[0]?.host === "n2",
      20_000,
      5,
    );
    const movedAfter = Date.now() - pulledAt;
    await t.cluster.untilLogged("web started on n2", "n2", "started", "package web started", 10_000);
    await sleep(1_000);
    const report = await traffic.stop();
    const samples = await arp.stop();
    const timeline = await t.stopWatch();

    // n1's links are down but its addresses would answer the moment a cable is back: every
    // holder counts, and n1's removal came before n2's add.
    expect(overlaps(timeline, VIP)).toEqual([]);
    const dropped = timeline.events.find((e) => e.host === "n1" && e.address === VIP && e.change === "del");
    const added = timeline.events.find((e) => e.host === "n2" && e.address === VIP && e.change === "add");
    expect(dropped).toBeDefined();
    expect(added).toBeDefined();
    expect(dropped!.at).toBeLessThanOrEqual(added!.at);
    atMostOneAnswer(samples);
    expect(await arpHosts(t.lab, VIP)).toEqual(["n2"]);
    expect(await echoPids(t.lab, "n1", UDP_PORT)).toEqual([]);
    expect(await echoPids(t.lab, "n2", UDP_PORT)).toHaveLength(1);
    expect(t.cluster.logged("n1", "subnet-down", "subnet public")).toBe(true);
    expect(t.cluster.logged("n1", "package-failed", "subnet public is down on node n1")).toBe(true);
    expect(report.received).toBeGreaterThan(0);
    const view = await statusView(t.lab, "n2", t.configFile);
    expect(view.nodes.find((n) => n.name === "n1")?.subnetsUp).toEqual(["heartbeat"]);
    console.log(
      `pavise daemon, n1 lan0 and lan1 carrier lost: n1 dropped ${VIP} ${Math.round(dropped!.at - pulledAt)} ms ` +
        `after lan1's cable was pulled, n2 added it ${Math.round(added!.at - pulledAt)} ms after ` +
        `(${movedAfter} ms seen); client's longest gap ${Math.round(report.maxGapMs)} ms, ` +
        `${report.received}/${report.sent} answered`,
    );
  });

  // n1 kept its "failed" report for web after the subnet recovered, so the leader never placed web
  // on n1 again until its daemon restarted.
  it("bug-failed-after-subnet-recovered: the cables back, n1 may host web again, but web stays on n2 (failback manual)", async () => {
    const backAt = Date.now();
    await t.lab.faults.carrierUp("n1", "lan0");
    await t.lab.faults.carrierUp("n1", "lan1");
    const view = await until(
      "status to show public up on n1 and web no longer failed there",
      () => statusView(t.lab, "n2", t.configFile),
      (v) =>
        (v.nodes.find((n) => n.name === "n1")?.subnetsUp ?? []).includes("public") &&
        v.packages[0]?.failedOn.length === 0,
      10_000,
      200,
    );
    console.log(
      `pavise daemon, n1's cables back: status shows n1 eligible for web ${Date.now() - backAt} ms after`,
    );
    expect(view.packages[0]).toMatchObject({ name: "web", status: "up", nodes: ["n2"] });
    await sleep(2_000);
    expect(await t.lab.holders(VIP)).toEqual([{ host: "n2", nic: "lan0", up: true }]);
    expect(await echoPids(t.lab, "n1", UDP_PORT)).toEqual([]);

    // Eligible indeed: when n2 leaves, web goes to n1, the first of its node list, not to n3.
    await t.startWatch();
    const stoppedAt = Date.now();
    await t.lab.runtime.stop(t.cluster.daemons.get("n2")!, "SIGTERM");
    t.cluster.daemons.delete("n2");
    const holders = await until(
      "web's address on another node",
      () => t.lab.holders(VIP),
      (h) => h.length === 1 && h[0]?.host !== "n2",
      20_000,
    );
    const timeline = await t.stopWatch();
    expect(overlaps(timeline, VIP)).toEqual([]);
    expect(holders).toEqual([{ host: "n1", nic: "lan0", up: true }]);
    console.log(`pavise daemon, n2 stopped (SIGTERM): web on n1 ${Date.now() - stoppedAt} ms after`);
  });
});
