import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.js";
import { overlaps, ownershipHistory } from "../../src/lab/probes/address-timeline.js";
import { AddressWatch } from "../../src/lab/probes/address-watch.js";
import {
  type EchoServer,
  type TrafficRun,
  startEchoServer,
  startTraffic,
} from "../../src/lab/probes/traffic.js";
import { defaultLabSpec } from "../../src/lab/spec.js";

// Needs root and a build (the traffic agent runs compiled): npm run build first.
const LAB = "tpr";
const VIP = "198.18.1.50";
const UDP_PORT = 7101;
const TCP_PORT = 7102;

let lab: Lab;
const servers: EchoServer[] = [];

beforeAll(async () => {
  await Lab.down(LAB); // leftovers of an interrupted run
  // The probes need no etcd; leaving it out keeps the lab quick to build.
  lab = await Lab.up(defaultLabSpec({ name: LAB, etcd: false }));
  servers.push(await startEchoServer(lab.runtime, "n1", { proto: "udp", port: UDP_PORT }));
  servers.push(await startEchoServer(lab.runtime, "n1", { proto: "tcp", port: TCP_PORT }));
});

afterAll(async () => {
  for (const server of servers) await server.stop().catch(() => undefined);
  await Lab.down(LAB);
});

async function until(what: string, condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A UDP and a TCP stream from c1 to n1, one request every 10 ms each. */
async function startBothStreams(): Promise<{ udp: TrafficRun; tcp: TrafficRun }> {
  const to = lab.addressOf("n1", "public");
  const stream = (proto: "udp" | "tcp", port: number) =>
    startTraffic(lab.runtime, { from: "c1", to, proto, port, intervalMs: 10 });
  return { udp: await stream("udp", UDP_PORT), tcp: await stream("tcp", TCP_PORT) };
}

describe("traffic probe", () => {
  it("measures no loss and only small gaps on a healthy path", async () => {
    const { udp, tcp } = await startBothStreams();
    await sleep(1_500);
    const [u, t] = [await udp.stop(), await tcp.stop()];
    console.log("healthy udp", summary(u), "\nhealthy tcp", summary(t));

    for (const report of [u, t]) {
      expect(report.sent).toBeGreaterThan(100);
      expect(report.lost).toBeLessThanOrEqual(1);
      expect(report.maxGapMs).toBeLessThan(250);
      expect(report.rttMs?.p50).toBeLessThan(20);
    }
    expect(t.lost).toBe(0);
    expect(t.reconnects).toBe(0);
  });

  it("sees a 1 s interruption of the path as a gap of about a second, and TCP recovers", async () => {
    const { udp, tcp } = await startBothStreams();
    await sleep(500);
    await lab.runtime.exec("n1", ["ip", "link", "set", "lan0", "down"]);
    await sleep(1_000);
    await lab.runtime.exec("n1", ["ip", "link", "set", "lan0", "up"]);
    // TCP retransmits with a doubling timeout (0.2, 0.4, 0.8, 1.6 s …): give it time to get through.
    await sleep(3_000);
    const [u, t] = [await udp.stop(), await tcp.stop()];
    console.log("interrupted udp", summary(u), "\ninterrupted tcp", summary(t));

    expect(u.maxGapMs).toBeGreaterThanOrEqual(900);
    expect(u.maxGapMs).toBeLessThan(2_500);
    expect(u.lost).toBeGreaterThan(50); // ~100 requests fell into the second without a path
    expect(t.maxGapMs).toBeGreaterThanOrEqual(900);
    // Recovered: the longest gap ends before the stop (replies came after it), on the same
    // connection (retransmission) or on a new one.
    const longest = t.gaps[0];
    expect(longest).toBeDefined();
    expect((longest?.startOffsetMs ?? 0) + (longest?.durationMs ?? 0)).toBeLessThan(t.durationMs - 1_000);
    expect(t.received).toBeGreaterThan(t.sent * 0.5);
  });
});

describe("address watch", () => {
  const add = (host: string) => lab.runtime.exec(host, ["ip", "addr", "add", `${VIP}/24`, "dev", "lan0"]);
  const del = (host: string) => lab.runtime.exec(host, ["ip", "addr", "del", `${VIP}/24`, "dev", "lan0"]);
  const hosts = ["n1", "n2", "n3", "c1", "c2"];

  it("starts from the addresses the hosts hold", async () => {
    const watch = await AddressWatch.forHosts(lab.runtime, hosts);
    try {
      expect(watch.holders(lab.addressOf("n1", "public"))).toEqual([{ host: "n1", interface: "lan0" }]);
      expect(watch.holders(lab.addressOf("c2", "public"))).toEqual([{ host: "c2", interface: "eth0" }]);
      expect(watch.holders(VIP)).toEqual([]);
    } finally {
      const timeline = await watch.stop();
      expect(overlaps(timeline)).toEqual([]);
      expect(timeline.unparsableLines).toBe(0);
    }
  });

  it("reports the interval in which two hosts held the same address", async () => {
    const watch = await AddressWatch.forHosts(lab.runtime, hosts);
    try {
      await add("n1");
      await until("n1 to hold the address", () => watch.holders(VIP).length === 1);
      await add("n2");
      await until("both to hold the address", () => watch.holders(VIP).length === 2);
      expect(watch.holders(VIP).map((h) => h.host)).toEqual(["n1", "n2"]);
      await del("n1");
      await until("n2 alone to hold the address", () => watch.holders(VIP).length === 1);
    } finally {
      await del("n1").catch(() => undefined);
      await del("n2").catch(() => undefined);
    }
    const timeline = await watch.stop();
    const found = overlaps(timeline, VIP);
    console.log("overlap", found, "\nhistory", ownershipHistory(timeline, VIP));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ address: VIP, hosts: ["n1", "n2"], ongoing: false });
    expect(found[0]?.durationMs).toBeGreaterThan(0);
    expect(overlaps(timeline)).toEqual(found); // no other address was ever held twice
    expect(ownershipHistory(timeline, VIP).map((h) => [h.host, h.stillHeld])).toEqual([
      ["n1", false],
      ["n2", false],
    ]);
  });

  it("reports no overlap for a move that releases before it adds", async () => {
    const watch = await AddressWatch.forHosts(lab.runtime, hosts);
    try {
      await add("n1");
      await del("n1");
      await add("n2");
      await until("n2 to hold the address", () => watch.holders(VIP).some((h) => h.host === "n2"));
    } finally {
      await del("n1").catch(() => undefined);
      await del("n2").catch(() => undefined);
    }
    const timeline = await watch.stop();
    expect(overlaps(timeline, VIP)).toEqual([]);
    const history = ownershipHistory(timeline, VIP);
    expect(history.map((h) => h.host)).toEqual(["n1", "n2"]);
    expect(history[0]?.to).toBeLessThanOrEqual(history[1]?.from ?? 0);
  });

  it("a link going down keeps the address held", async () => {
    const watch = await AddressWatch.forHosts(lab.runtime, hosts);
    try {
      await add("n3");
      await until("n3 to hold the address", () => watch.holders(VIP).length === 1);
      await lab.runtime.exec("n3", ["ip", "link", "set", "lan0", "down"]);
      await sleep(200);
      expect(watch.holders(VIP)).toEqual([{ host: "n3", interface: "lan0" }]);
    } finally {
      await lab.runtime.exec("n3", ["ip", "link", "set", "lan0", "up"]);
      await del("n3").catch(() => undefined);
    }
    const history = ownershipHistory(await watch.stop(), VIP);
    expect(history).toHaveLength(1);
  });
});

function summary(r: {
  sent: number;
  lost: number;
  maxGapMs: number;
  reconnects: number;
  rttMs: { p50: number; p99: number; max: number } | null;
}): string {
  const rtt = r.rttMs ? `rtt p50 ${r.rttMs.p50.toFixed(2)} p99 ${r.rttMs.p99.toFixed(2)} ms` : "no rtt";
  return `sent ${r.sent} lost ${r.lost} maxGap ${r.maxGapMs.toFixed(1)} ms reconnects ${r.reconnects} ${rtt}`;
}
