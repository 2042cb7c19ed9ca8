import { until } from "../support/until.js";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runIperf3, startIperf3Server } from "../../src/lab/probes/iperf3.js";
import type { Lab } from "../../src/lab/lab.js";
import { freshLab, testLabSpec } from "../support/fresh-lab.js";
import { startCharon, type Charon, type IkeSaInfo } from "../../src/lab/strongswan/charon.js";
import { renderPskTunnel } from "../../src/lab/strongswan/swanctl-config.js";

// The reference peer our own IKE/ESP stack is measured against (DESIGN.md "Numbers we hold
// ourselves to"): two charons with the user-space kernel-libipsec datapath, PSK, AES-128-GCM and
// X25519, a host-to-host tunnel between the clients' own addresses on the public LAN.

const TUNNEL = "tsw";

function theSa(sas: IkeSaInfo[]): IkeSaInfo {
  const found = sas.filter((sa) => sa.name === TUNNEL);
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe("strongSwan ↔ strongSwan tunnel (kernel-libipsec)", () => {
  let lab: Lab;
  let left: Charon;
  let right: Charon;
  let c1: string;
  let c2: string;

  beforeAll(async () => {
    lab = await freshLab(testLabSpec("tsw"));
    c1 = lab.addressOf("c1", "public");
    c2 = lab.addressOf("c2", "public");
    left = await startCharon(lab.runtime, "c1");
    right = await startCharon(lab.runtime, "c2");
  });

  afterAll(async () => {
    // Each step on its own, so that a failed stop still lets the lab go.
    await left?.stop().catch(() => undefined);
    await right?.stop().catch(() => undefined);
    await lab?.down();
  });

  it("comes up ESTABLISHED/INSTALLED with AES-128-GCM and X25519", async () => {
    const psk = "pavise lab secret: not for production";
    await left.loadConfig(renderPskTunnel({ name: TUNNEL, localAddress: c1, remoteAddress: c2, psk }));
    await right.loadConfig(renderPskTunnel({ name: TUNNEL, localAddress: c2, remoteAddress: c1, psk }));

    await left.initiate({ child: TUNNEL, timeoutMs: 10_000 });

    const ike = theSa(await left.listSas());
    expect(ike).toMatchObject({
      state: "ESTABLISHED",
      initiator: true,
      localHost: c1,
      remoteHost: c2,
      // encap = yes: kernel-libipsec only speaks ESP in UDP, so IKE moves to port 4500.
      remotePort: 4500,
      encrAlg: "AES_GCM_16",
      encrKeysize: 128,
      prfAlg: "PRF_HMAC_SHA2_256",
      dhGroup: "CURVE_25519",
    });
    expect(ike.childSas).toHaveLength(1);
    expect(ike.childSas[0]).toMatchObject({
      name: TUNNEL,
      state: "INSTALLED",
      mode: "TUNNEL",
      protocol: "ESP",
      encap: true,
      encrAlg: "AES_GCM_16",
      localTs: [`${c1}/32`],
      remoteTs: [`${c2}/32`],
    });

    const peer = theSa(await right.listSas());
    expect(peer.state).toBe("ESTABLISHED");
    expect(peer.initiator).toBe(false);
    expect(peer.childSas[0]?.state).toBe("INSTALLED");
  });

  it("carries TCP between the two hosts through the tunnel", async () => {
    const before = theSa(await left.listSas()).childSas[0]!;

    const server = await startIperf3Server(lab.runtime, "c2", c2);
    try {
      const report = await runIperf3(lab.runtime, "c1", c2, { seconds: 2 });
      console.log(
        `iperf3 c1 → c2 through strongSwan kernel-libipsec (AES-128-GCM): ` +
          `${report.receivedMbitPerSecond.toFixed(0)} Mbit/s (${(report.sentBytes / 1e6).toFixed(1)} MB in 2 s)`,
      );
      expect(report.receivedMbitPerSecond).toBeGreaterThan(0);

      // The SA counts every IP packet it protects (headers included), so what iperf3 sent must
      // show up in its counters: the traffic went through the tunnel, not around it.
      const after = theSa(await left.listSas()).childSas[0]!;
      expect(after.spiOut).toBe(before.spiOut);
      expect(after.bytesOut - before.bytesOut).toBeGreaterThanOrEqual(report.sentBytes);
      expect(after.packetsIn).toBeGreaterThan(before.packetsIn);
      // iperf3's last bytes may still be in flight when it reports: read until they are counted.
      const peerChild = await until(
        "c2's Child SA to count what iperf3 sent",
        async () => theSa(await right.listSas()).childSas[0]!,
        (child) => child.bytesIn >= report.sentBytes,
        3_000,
      ).catch(async () => theSa(await right.listSas()).childSas[0]!);
      expect(peerChild.bytesIn).toBeGreaterThanOrEqual(report.sentBytes);
    } finally {
      await lab.runtime.stop(server).catch(() => undefined);
    }
  });

  it("terminates the IKE_SA on both sides", async () => {
    await left.terminate({ ike: TUNNEL });
    expect(await left.listSas()).toEqual([]);
    // The responder deletes its SA when the INFORMATIONAL DELETE arrives.
    const deadline = Date.now() + 5_000;
    while ((await right.listSas()).length > 0 && Date.now() < deadline) await sleep(50);
    expect(await right.listSas()).toEqual([]);
  });

  it("shows its log to whoever needs to debug it", async () => {
    const tail = await left.logTail(200);
    expect(tail).toContain("IKE_SA tsw[1] established");
  });
});
