import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SaCounters } from "../../src/ipsec/datapath.js";
import type { Lab } from "../../src/lab/lab.js";
import type { PaviseIpsec } from "../../src/lab/pavise-ipsec.js";
import { sendBulk, startBulkReceiver } from "../../src/lab/probes/bulk-transfer.js";
import { startIperf3Server } from "../../src/lab/probes/iperf3.js";
import { startEchoServer, startTraffic } from "../../src/lab/probes/traffic.js";
import type { Charon, ChildSaInfo } from "../../src/lab/strongswan/charon.js";
import {
  C1_INNER,
  N1,
  N1_INNER,
  establishEspTunnel,
  mbits,
  pingThrough,
  startEspLab,
  type ChildSaPair,
} from "../support/esp-tunnel.js";
import { startUdpCapture, type CapturedUdp } from "../support/udp-capture.js";

// Traffic through Pavise's own ESP datapath (TUN + ESP in UDP/4500) to and from strongSwan
// (kernel-libipsec), AES-128-GCM, tunnel mode: ICMP, TCP (iperf3, and 100 MiB each way checked
// by SHA-256 and by both sides' SA byte counters), UDP both ways.

const BULK_BYTES = 100 * 1024 * 1024;

interface Iperf3Sum {
  bytes: number;
  packets?: number;
  bits_per_second: number;
}
interface Iperf3Report {
  error?: string;
  end: { sum_sent: Iperf3Sum; sum_received: Iperf3Sum };
}

describe("ESP traffic between Pavise and strongSwan", () => {
  let lab: Lab;
  let charon: Charon;
  let pavise: PaviseIpsec;
  let pair: ChildSaPair;

  beforeAll(async () => {
    ({ lab, charon } = await startEspLab("tesp"));
    ({ pavise, pair } = await establishEspTunnel(lab, charon));
  });

  afterAll(async () => {
    await pavise?.stop().catch(() => undefined);
    await charon?.stop().catch(() => undefined);
    await lab?.down();
  });

  /** Both sides' counters of the Child SA set up in beforeAll (failing if it was replaced). */
  async function counters(): Promise<{ ours: SaCounters; theirs: ChildSaInfo }> {
    const ours = (await pavise.sas())[0]?.children.find((c) => c.spiIn === pair.ours.spiIn)?.counters;
    const theirs = (await charon.listSas())[0]?.childSas.find((c) => c.spiIn === pair.theirs.spiIn);
    expect(ours, "Pavise's Child SA").toBeDefined();
    expect(theirs, "strongSwan's Child SA").toBeDefined();
    return { ours: ours!, theirs: theirs! };
  }

  it("carries ICMP both ways, counted on both sides", async () => {
    const before = await counters();
    expect(await pingThrough(lab, 3)).toBe(3);
    const after = await counters();
    expect(after.ours.packetsIn - before.ours.packetsIn).toBeGreaterThanOrEqual(3);
    expect(after.ours.packetsOut - before.ours.packetsOut).toBeGreaterThanOrEqual(3);
    expect(after.theirs.packetsOut - before.theirs.packetsOut).toBeGreaterThanOrEqual(3);
    expect(after.theirs.packetsIn - before.theirs.packetsIn).toBeGreaterThanOrEqual(3);
    expect(pair.ours.spiIn).toBe(pair.theirs.spiOut);
  });

  it("carries TCP (iperf3) through the tunnel", async () => {
    const server = await startIperf3Server(lab.runtime, "n1", N1_INNER);
    try {
      const before = await counters();
      const result = await lab.exec(
        "c1",
        ["iperf3", "--client", N1_INNER, "--bind", C1_INNER, "--time", "2", "--json"],
        { timeoutMs: 30_000 },
      );
      const report = JSON.parse(result.stdout) as Iperf3Report;
      const mbit = report.end.sum_received.bits_per_second / 1e6;
      console.log(
        `iperf3 strongSwan (c1) → Pavise (n1) through Pavise's ESP datapath: ${mbit.toFixed(0)} Mbit/s`,
      );
      expect(report.end.sum_received.bytes).toBeGreaterThan(1_000_000);
      const after = await counters();
      expect(after.ours.bytesIn - before.ours.bytesIn).toBeGreaterThan(report.end.sum_received.bytes);
    } finally {
      await lab.runtime.stop(server);
    }
  });

  // 100 MiB of random bytes each way on one TCP connection; SHA-256 of what was written equals
  // SHA-256 of what was read. The inner addresses can reach each other only through the
  // tunnel, and both sides' counters of this one Child SA must have grown by at least as much.
  for (const [from, to, bind, target] of [
    ["c1", "n1", C1_INNER, N1_INNER],
    ["n1", "c1", N1_INNER, C1_INNER],
  ] as const) {
    it(`carries 100 MiB of TCP ${from} → ${to} intact (SHA-256), counted by both sides`, async () => {
      const before = await counters();
      const receiver = await startBulkReceiver(lab.runtime, to, { bind: target, port: 5302 });
      try {
        const sent = await sendBulk(lab.runtime, from, { to: target, port: 5302, bind, bytes: BULK_BYTES });
        const received = await receiver.report(30_000);
        expect(sent.bytes).toBe(BULK_BYTES);
        expect(received.bytes).toBe(BULK_BYTES);
        expect(received.sha256).toBe(sent.sha256);
        const after = await counters();
        const grew = {
          paviseIn: after.ours.bytesIn - before.ours.bytesIn,
          paviseOut: after.ours.bytesOut - before.ours.bytesOut,
          strongSwanIn: after.theirs.bytesIn - before.theirs.bytesIn,
          strongSwanOut: after.theirs.bytesOut - before.theirs.bytesOut,
        };
        if (from === "c1") {
          expect(grew.strongSwanOut).toBeGreaterThanOrEqual(BULK_BYTES);
          expect(grew.paviseIn).toBeGreaterThanOrEqual(BULK_BYTES);
        } else {
          expect(grew.paviseOut).toBeGreaterThanOrEqual(BULK_BYTES);
          expect(grew.strongSwanIn).toBeGreaterThanOrEqual(BULK_BYTES);
        }
        expect(after.ours.integrityFailures).toBe(0);
        console.log(
          `100 MiB TCP ${from} → ${to}: sha256 ${sent.sha256.slice(0, 16)}… on both ends, ` +
            `${mbits(sent.bytes, sent.seconds)} Mbit/s; SA bytes grew: Pavise in ${grew.paviseIn} out ${grew.paviseOut}, ` +
            `strongSwan in ${grew.strongSwanIn} out ${grew.strongSwanOut}`,
        );
      } finally {
        await receiver.stop();
      }
    });
  }

  it("carries UDP both ways: request/echo from each side, every request answered", async () => {
    const servers = [
      await startEchoServer(lab.runtime, "n1", { proto: "udp", port: 7101, bind: N1_INNER }),
      await startEchoServer(lab.runtime, "c1", { proto: "udp", port: 7101, bind: C1_INNER }),
    ];
    try {
      const before = await counters();
      const runs = await Promise.all(
        [
          { from: "c1", to: N1_INNER, bind: C1_INNER },
          { from: "n1", to: C1_INNER, bind: N1_INNER },
        ].map((flow) =>
          startTraffic(lab.runtime, { ...flow, proto: "udp", port: 7101, intervalMs: 2, durationMs: 1000 }),
        ),
      );
      const reports = await Promise.all(runs.map((run) => run.waitForReport(10_000)));
      for (const [i, report] of reports.entries()) {
        console.log(
          `UDP request/echo from ${runs[i]!.from}: ${report.received}/${report.sent} answered, ` +
            `longest gap ${report.maxGapMs.toFixed(0)} ms, round trip p50 ${report.rttMs?.p50.toFixed(2)} ms`,
        );
        expect(report.sent).toBeGreaterThanOrEqual(200);
        expect(report.received).toBe(report.sent);
      }
      const after = await counters();
      const exchanged = reports.reduce((sum, r) => sum + r.sent + r.received, 0);
      expect(
        after.ours.packetsIn - before.ours.packetsIn + (after.ours.packetsOut - before.ours.packetsOut),
      ).toBe(exchanged);
    } finally {
      for (const server of servers) await server.stop();
    }
  });

  it("carries a UDP flow of 1300-byte datagrams (iperf3 -u, 50 Mbit/s) each way", async () => {
    for (const reverse of [false, true]) {
      const server = await startIperf3Server(lab.runtime, "n1", N1_INNER);
      try {
        const before = await counters();
        const argv = ["iperf3", "--client", N1_INNER, "--bind", C1_INNER, "--udp", "--bitrate", "50M"];
        argv.push("--length", "1300", "--time", "1", "--json", ...(reverse ? ["--reverse"] : []));
        const result = await lab.exec("c1", argv, { timeoutMs: 30_000, allowFailure: true });
        const report = JSON.parse(result.stdout) as Iperf3Report;
        expect(report.error).toBeUndefined();
        const { sum_sent: sent, sum_received: received } = report.end;
        const after = await counters();
        const direction = reverse ? "Pavise (n1) → strongSwan (c1)" : "strongSwan (c1) → Pavise (n1)";
        console.log(
          `iperf3 UDP ${direction}: ${received.packets}/${sent.packets} datagrams arrived, ` +
            `${(received.bits_per_second / 1e6).toFixed(0)} Mbit/s`,
        );
        expect(received.packets).toBeGreaterThan(0);
        // Every datagram that arrived crossed this Child SA.
        const crossed = reverse
          ? after.ours.packetsOut - before.ours.packetsOut
          : after.ours.packetsIn - before.ours.packetsIn;
        expect(crossed).toBeGreaterThanOrEqual(received.packets!);
      } finally {
        await lab.runtime.stop(server);
      }
    }
  });

  it("sends NAT keepalives (one 0xFF octet, RFC 3948 §2.3) on a quiet path, and none while ESP flows", async () => {
    await pavise.stop();
    ({ pavise } = await establishEspTunnel(lab, charon, { serveArgs: ["--nat-keepalive", "1s"] }));
    // tcpdump on c1: UDP from Pavise's port 4500 with a one-octet payload (UDP length 9).
    const capture = await startUdpCapture(lab.runtime, "c1", {
      nic: "eth0",
      filter: `udp src port 4500 and src host ${N1} and udp[4:2] = 9`,
      count: 2,
    });
    let keepalives: CapturedUdp[];
    try {
      keepalives = await capture.datagrams(10_000);
    } finally {
      await capture.stop();
    }
    expect(keepalives.map((k) => [...k.payload])).toEqual([[0xff], [0xff]]);
    // A path that carries ESP needs none: ping every 200 ms for 3 s, then count again.
    const quietBefore = (await pavise.counters()).natKeepalivesSent;
    expect(quietBefore).toBeGreaterThanOrEqual(2);
    const busy = await lab.exec("c1", ["ping", "-c", "15", "-i", "0.2", "-I", C1_INNER, N1_INNER]);
    expect(busy.stdout).toMatch(/15 received/);
    expect((await pavise.counters()).natKeepalivesSent - quietBefore).toBeLessThanOrEqual(1);
    // strongSwan takes them as keepalives: the SA stays up and carries traffic.
    expect(await pingThrough(lab, 2)).toBe(2);
  });
});
