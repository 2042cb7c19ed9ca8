import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKeepalived } from "../../src/lab/keepalived.js";
import type { Lab } from "../../src/lab/lab.js";
import { arpAnswerers } from "../../src/lab/probes/arp.js";
import { addressHolders } from "../../src/lab/probes/holders.js";
import { startEchoServer, startTraffic } from "../../src/lab/probes/traffic.js";
import { freshLab, testLabSpec } from "../support/fresh-lab.js";
import { until } from "../support/until.js";

// keepalived (VRRP, default advert_int 1 s) moving an address between n1 and n2 when n1
// crashes: the reference bench:failover compares Pavise with, checked to work in the lab.

const VIP = "198.18.1.60";
const N1 = "198.18.1.11";
const N2 = "198.18.1.12";

describe("keepalived in the lab (the failover reference)", () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await freshLab(testLabSpec("tkeep"));
  });

  afterAll(async () => {
    await lab?.down();
  });

  it("moves its virtual address to the backup when the master crashes; clients see the gap", async () => {
    for (const host of ["n1", "n2"]) await startEchoServer(lab.runtime, host, { proto: "udp", port: 7100 });
    await startKeepalived(lab.runtime, {
      host: "n1",
      nic: "lan0",
      address: N1,
      peers: [N2],
      virtualAddress: `${VIP}/24`,
      priority: 150,
    });
    await startKeepalived(lab.runtime, {
      host: "n2",
      nic: "lan0",
      address: N2,
      peers: [N1],
      virtualAddress: `${VIP}/24`,
      priority: 100,
    });
    await until(
      "n1 to hold the virtual address",
      () => addressHolders(lab.plan, VIP),
      (holders) => holders.length === 1 && holders[0]?.host === "n1",
      10_000,
      100,
    );
    expect((await arpAnswerers(lab.plan, "public", VIP)).map((a) => a.host)).toEqual(["n1"]);

    const traffic = await startTraffic(lab.runtime, {
      from: "c1",
      to: VIP,
      proto: "udp",
      port: 7100,
      intervalMs: 10,
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const crashedAt = Date.now();
    await lab.faults.crashHost("n1");
    await until(
      "n2 to take the virtual address",
      () => addressHolders(lab.plan, VIP),
      (holders) => holders.some((h) => h.host === "n2"),
      10_000,
      50,
    );
    const takenAfter = Date.now() - crashedAt;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const report = await traffic.stop();
    // Only n2 answers for the address now (n1's links are down).
    expect((await arpAnswerers(lab.plan, "public", VIP)).map((a) => a.host)).toEqual(["n2"]);
    expect(report.received).toBeGreaterThan(0);
    expect(report.maxGapMs).toBeGreaterThan(500); // VRRP needs ~3 adverts to notice
    console.log(
      `keepalived (advert_int 1 s): n2 took ${VIP} ${takenAfter} ms after n1 crashed; ` +
        `client's longest gap ${Math.round(report.maxGapMs)} ms, ${report.received}/${report.sent} answered`,
    );
  });
});
