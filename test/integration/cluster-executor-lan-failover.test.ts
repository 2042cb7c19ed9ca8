import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterConfig } from "../../src/cluster/config/model.js";
import { type ExecutorEvent, NodeExecutor } from "../../src/cluster/executor/node-executor.js";
import { namedNamespace } from "../../src/cluster/executor/node-namespace.js";
import type { Lab } from "../../src/lab/lab.js";
import type { ArpAnswer } from "../../src/lab/probes/arp.js";
import { AddressWatch } from "../../src/lab/probes/address-watch.js";
import { startTraffic } from "../../src/lab/probes/traffic.js";
import { distPath } from "../../src/util/package-paths.js";
import { run } from "../../src/util/run.js";
import { neighbourMac, startClientTraffic } from "../support/cluster-observe.js";
import { freshLab, testLabName, testLabSpec } from "../support/fresh-lab.js";
import { EXECUTOR_TEST_TIMING } from "../support/cluster-fixtures.js";
import { until } from "../support/until.js";

// Local LAN failover (Serviceguard's local switch): n1's primary NIC on the public LAN loses
// link, the package's address (and n1's own) move to the standby NIC on n1, and the package
// itself is not touched. Needs root and a build (the echo service is the compiled traffic agent).
const LAB = testLabName("tlanf");
const VIP = "198.18.1.50";
const NODE_ADDRESS = "198.18.1.11";
const UDP_PORT = 7301;

let lab: Lab;
let executor: NodeExecutor;
let logDir: string;
const events: ExecutorEvent[] = [];

function config(): ClusterConfig {
  return {
    name: LAB,
    etcd: { endpoints: [], tls: undefined, prefix: `/pavise/${LAB}/` },
    timing: EXECUTOR_TEST_TIMING,
    arp: { count: 3, intervalMs: 100 },
    subnets: [
      { name: "public", cidr: "198.18.1.0/24", heartbeat: false },
      { name: "heartbeat", cidr: "198.18.2.0/24", heartbeat: true },
    ],
    nodes: ["n1", "n2", "n3"].map((name) => ({
      name,
      interfaces: [
        { subnet: "public", primary: "lan0", standby: ["lan1"] },
        { subnet: "heartbeat", primary: "hb0", standby: [] },
      ],
    })),
    packages: [
      {
        name: "web",
        type: "failover",
        nodes: ["n1", "n2"],
        autoRun: true,
        failoverPolicy: "configured_node",
        failbackPolicy: "manual",
        priority: undefined,
        dependencies: [],
        addresses: [{ address: VIP, subnet: "public" }],
        monitoredSubnets: ["public"],
        services: [
          {
            name: "echo",
            command: `exec ${process.execPath} ${distPath("lab/probes/traffic-agent.js")} serve --proto udp --port ${UDP_PORT}`,
            restarts: 0,
            restartDelayMs: 100,
            haltTimeoutMs: 2_000,
            failFast: false,
          },
        ],
        resources: [],
        startScript: undefined,
        haltScript: undefined,
        nodeFailFast: false,
        logFile: undefined,
      },
    ],
  };
}

/** What the daemon's membership would answer (NodeAddressesOptions.mayHoldPackageAddresses). */
let mayHold = true;

beforeAll(async () => {
  logDir = mkdtempSync(join(tmpdir(), `pavise-${LAB}-`));
  lab = await freshLab(testLabSpec(LAB));
  executor = await NodeExecutor.start({
    config: config(),
    nodeName: "n1",
    ns: namedNamespace(lab.host("n1").namespace),
    logDirectory: logDir,
    onEvent: (event) => events.push(event),
    mayHoldPackageAddresses: () => mayHold,
  });
  expect(await executor.startPackage("web")).toMatchObject({ ok: true });
  await until(
    "the echo service",
    () => Promise.resolve(readLog()),
    (t) => t.includes("traffic-agent: ready"),
  );
});

afterAll(async () => {
  await executor?.stop();
  await lab?.down();
  rmSync(logDir, { recursive: true, force: true });
});

function readLog(): string {
  try {
    return readFileSync(join(logDir, "web.log"), "utf8");
  } catch {
    return "";
  }
}

/** Asks who answers ARP for the address, over and over, until stopped; every answer set is kept. */
function sampleArp(address: string): { stop(): Promise<ArpAnswer[][]> } {
  const samples: ArpAnswer[][] = [];
  let running = true;
  const loop = (async () => {
    while (running) samples.push(await lab.arpAnswerers("public", address, 1));
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}

describe("local LAN failover in the lab", () => {
  it("moves the address to lan1 on the same node when lan0 goes down; c1 learns lan1's MAC; the package is untouched", async () => {
    const lan0Mac = lab.nic("n1", "lan0").mac;
    const lan1Mac = lab.nic("n1", "lan1").mac;
    const servicePid = executor.supervisors("web")[0]?.pid;
    expect(servicePid).toBeDefined();

    const traffic = await startClientTraffic(lab, VIP, UDP_PORT);
    await until(
      "c1 to have n1's lan0 MAC for the address",
      () => neighbourMac(lab, "c1", VIP),
      (mac) => mac === lan0Mac,
    );
    const watch = await AddressWatch.forHosts(lab.runtime, ["n1", "n2", "n3", "c1", "c2"]);
    const arp = sampleArp(VIP);
    await sleep(1_100); // one full ARP sample before the fault

    const before = events.length;
    const downAt = Date.now();
    await lab.faults.nicDown("n1", "lan0");
    const moved = await until(
      "the address to move",
      () =>
        Promise.resolve(events.slice(before).find((e) => e.kind === "address-moved" && e.address === VIP)),
      (e) => e !== undefined,
      5_000,
      2,
    );
    const move = moved?.kind === "address-moved" ? moved : undefined;
    const movedAfterMs = (move?.at ?? 0) - downAt;
    await until(
      "c1 to have n1's lan1 MAC for the address",
      () => neighbourMac(lab, "c1", VIP),
      (mac) => mac === lan1Mac,
      3_000,
      5,
    );
    const learntAfterMs = Date.now() - downAt;
    await sleep(1_500);
    const report = await traffic.stop();
    const samples = await arp.stop();
    const timeline = await watch.stop();

    console.log(
      `lan0 down → ${VIP} on lan1 after ${movedAfterMs} ms (executor: ${move?.tookMs} ms after it saw the link change); ` +
        `c1's neighbour entry on lan1's MAC within ${learntAfterMs} ms; ` +
        `UDP every 10 ms: ${report.received}/${report.sent} answered, longest gap ${report.maxGapMs.toFixed(1)} ms`,
    );
    expect(move).toMatchObject({ from: "lan0", to: "lan1", reason: "link-down", owner: "web" });
    expect(movedAfterMs).toBeLessThan(1_000);
    expect(report.maxGapMs).toBeLessThan(1_000);

    // Only n1 ever answered ARP for the address, and only n1 ever held it.
    expect(samples.length).toBeGreaterThanOrEqual(2);
    for (const answers of samples) for (const a of answers) expect(a.host).toBe("n1");
    const holders = new Set([
      ...timeline.initial.filter((h) => h.address === VIP).map((h) => h.host),
      ...timeline.events.filter((e) => e.address === VIP).map((e) => e.host),
    ]);
    expect([...holders]).toEqual(["n1"]);
    expect(await lab.holders(VIP)).toEqual([{ host: "n1", nic: "lan1", up: true }]);
    expect(await lab.arpAnswerers("public", VIP)).toMatchObject([{ host: "n1", nic: "lan1" }]);

    // n1's own address went along, first, and is reachable.
    expect(await lab.holders(NODE_ADDRESS)).toEqual([{ host: "n1", nic: "lan1", up: true }]);
    await lab.exec("c1", ["ping", "-c", "1", "-W", "1", NODE_ADDRESS]);

    // The package was not touched: same service process, still up.
    expect(executor.runner("web").state.kind).toBe("up");
    expect(executor.supervisors("web")[0]?.pid).toBe(servicePid);
    expect(events.slice(before).some((e) => e.kind === "package-failed" || e.kind === "subnet-down")).toBe(
      false,
    );
    expect(readLog()).toMatch(
      /lan0 lost link\n.*moving 198\.18\.1\.50\/24 from lan0 to lan1 \(local LAN failover: its NIC lost link\)/,
    );
  });

  it("stays on the standby when lan0 comes back (no automatic return configured)", async () => {
    await lab.faults.nicUp("n1", "lan0");
    await until(
      "lan0 to have link",
      () => Promise.resolve(executor.addresses.links().get("lan0")?.up),
      (up) => up === true,
    );
    await sleep(300);
    expect(executor.addresses.nicOf(VIP)).toBe("lan1");
    expect(await lab.holders(VIP)).toEqual([{ host: "n1", nic: "lan1", up: true }]);
  });

  it("moves back to lan0 when lan1 loses carrier (its cable pulled at the switch), and c1 is served", async () => {
    const port = lab.nic("n1", "lan1").switchPort;
    // No lab fault does this: the switch's end of the cable goes down, so n1 sees NO-CARRIER.
    const switchPort = (state: "up" | "down") =>
      run(["ip", "-n", lab.plan.switchNamespace, "link", "set", port, state]);
    const before = events.length;
    const pulledAt = Date.now();
    await switchPort("down");
    try {
      const moved = await until(
        "the address to move back to lan0",
        () =>
          Promise.resolve(events.slice(before).find((e) => e.kind === "address-moved" && e.address === VIP)),
        (e) => e !== undefined,
        3_000,
        2,
      );
      console.log(
        `lan1 carrier lost → ${VIP} on lan0 after ${(moved?.kind === "address-moved" ? moved.at : 0) - pulledAt} ms`,
      );
      expect(moved).toMatchObject({ from: "lan1", to: "lan0", reason: "link-down" });
      const traffic = await startTraffic(lab.runtime, {
        from: "c1",
        to: VIP,
        proto: "udp",
        port: UDP_PORT,
        intervalMs: 10,
        durationMs: 300,
      });
      expect((await traffic.waitForReport(5_000)).received).toBeGreaterThan(10);
      expect(await neighbourMac(lab, "c1", VIP)).toBe(lab.nic("n1", "lan0").mac);
    } finally {
      await switchPort("up");
    }
    await until(
      "lan1 to have link",
      () => Promise.resolve(executor.addresses.links().get("lan1")?.up),
      (up) => up === true,
    );
  });

  it("a node that may not act as an owner (fenced) moves no package address and adds none; its own address still moves", async () => {
    expect(executor.addresses.nicOf(VIP)).toBe("lan0");
    mayHold = false;
    try {
      await lab.faults.nicDown("n1", "lan0");
      await until(
        "the move to be refused",
        () => Promise.resolve(readLog()),
        (t) => t.includes(`not moving ${VIP}: this node may not act as an owner now (fenced)`),
      );
      expect((await lab.holders(VIP)).map((h) => `${h.host}/${h.nic}`)).toEqual(["n1/lan0"]);
      await until(
        "n1's own address on lan1",
        async () => (await lab.holders("198.18.1.11")).map((h) => h.nic),
        (nics) => nics.length === 1 && nics[0] === "lan1",
      );
      await expect(executor.addresses.add("web", "198.18.1.59", "public")).rejects.toMatchObject({
        code: "EXECUTOR_NOT_OWNER",
      });
      expect(await lab.holders("198.18.1.59")).toEqual([]);
    } finally {
      mayHold = true;
      await lab.faults.nicUp("n1", "lan0");
    }
    await until(
      "lan0 to have link",
      () => Promise.resolve(executor.addresses.links().get("lan0")?.up),
      (up) => up === true,
    );
  });

  it("reports the subnet down and the package failed when neither NIC has link", async () => {
    const before = events.length;
    await lab.faults.nicDown("n1", "lan0");
    await lab.faults.nicDown("n1", "lan1");
    const failed = await until(
      "package-failed",
      () => Promise.resolve(events.slice(before).find((e) => e.kind === "package-failed")),
      (e) => e !== undefined,
      3_000,
      5,
    );
    expect(events.slice(before).find((e) => e.kind === "subnet-down")).toMatchObject({
      subnet: "public",
      owners: ["web"],
    });
    expect(failed).toMatchObject({ package: "web", reason: "subnet public is down on node n1" });
    expect(executor.addresses.subnetsUp()).toEqual(["heartbeat"]);
    expect(readLog()).toContain("subnet public is down: no NIC of it has link; the package must fail over");

    // The cluster's answer: halt it here. Its address goes from the down NIC too.
    expect((await executor.haltPackage("web")).ok).toBe(true);
    expect(await lab.holders(VIP)).toEqual([]);
  });
});
