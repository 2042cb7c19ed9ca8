import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SaCounters } from "../../src/ipsec/datapath.js";
import type { Lab } from "../../src/lab/lab.js";
import type { PaviseIpsec } from "../../src/lab/pavise-ipsec.js";
import { isSameProcessAlive } from "../../src/lab/processes.js";
import { injectUdp } from "../../src/lab/probes/udp-inject.js";
import type { Charon } from "../../src/lab/strongswan/charon.js";
import {
  C1,
  N1,
  bothAgree,
  establishEspTunnel,
  pingThrough,
  startEspLab,
  udpCounters,
  type ChildSaPair,
} from "../support/esp-tunnel.js";
import { seededRandom } from "../support/seeded-random.js";
import { startUdpCapture, type CapturedUdp } from "../support/udp-capture.js";
import { until } from "../support/until.js";

// ESP packets injected by the test into Pavise's port 4500, from strongSwan's host c1: exact
// copies of packets Pavise already accepted (replays, RFC 4303 §3.4.3), packets with Pavise's
// SPI that strongSwan did not make (forgeries, §3.4.4), and datagrams that are no ESP at all.
// Each is dropped and counted where it belongs, the replay window moves only for authentic
// packets, and the daemon and the tunnel carry on.

const NAT_T_PORT = 4500;
const ESP_HEADER = 8;
const GCM_IV = 8;
const GCM_ICV = 16;

describe("replayed, forged and malformed ESP packets sent to Pavise", () => {
  let lab: Lab;
  let charon: Charon;
  let pavise: PaviseIpsec;
  let pair: ChildSaPair;

  beforeAll(async () => {
    ({ lab, charon } = await startEspLab("tesi"));
    ({ pavise, pair } = await establishEspTunnel(lab, charon));
  });

  afterAll(async () => {
    await pavise?.stop().catch(() => undefined);
    await charon?.stop().catch(() => undefined);
    await lab?.down();
  });

  async function counters(): Promise<Required<SaCounters>> {
    const child = (await pavise.sas())[0]?.children.find((c) => c.spiIn === pair.ours.spiIn);
    expect(child?.counters, "Pavise's Child SA").toBeDefined();
    return child!.counters as Required<SaCounters>;
  }

  /** Counters after the injected packets were handled: polled until `ok`, then read once more. */
  async function settled(ok: (c: Required<SaCounters>) => boolean): Promise<Required<SaCounters>> {
    await until("Pavise to count the injected packets", counters, ok, 5_000);
    return counters();
  }

  /** The ESP packets c1 sends to Pavise's inbound SA while pinging through the tunnel. */
  async function captureEsp(pings: number): Promise<CapturedUdp[]> {
    const capture = await startUdpCapture(lab.runtime, "n1", {
      nic: "lan0",
      filter: `udp dst port ${NAT_T_PORT} and src host ${C1} and udp[8:4] = 0x${pair.ours.spiIn}`,
      count: pings,
    });
    try {
      expect(await pingThrough(lab, pings)).toBe(pings);
      return await capture.datagrams();
    } finally {
      await capture.stop();
    }
  }

  let sentinels = 0;
  /**
   * Returns once Pavise has read everything injected so far: it reports an ESP packet for an
   * unknown SPI, sent last, with an SPI of its own each time (reports are rate-limited per SPI).
   * A sentinel the kernel dropped (full socket buffer) is followed by another.
   */
  async function handledSoFar(): Promise<void> {
    const sent: string[] = [];
    await until(
      "Pavise to report a sentinel ESP packet",
      async () => {
        const spi = (0xdead0000 + ++sentinels).toString(16);
        sent.push(spi);
        await inject([Buffer.concat([Buffer.from(spi, "hex"), Buffer.alloc(64)])]);
        const log = pavise.log();
        return sent.filter((s) => log.includes(`unknown SPI ${s} `));
      },
      (seen) => seen.length > 0,
      10_000,
      100,
    );
  }

  const inject = (datagrams: Uint8Array[], port = NAT_T_PORT): Promise<number> =>
    injectUdp(lab.runtime, "c1", { to: N1, port, bind: C1, datagrams });
  const seqOf = (esp: Buffer): number => esp.readUInt32BE(4);
  const withSeq = (esp: Buffer, seq: number): Buffer => {
    const copy = Buffer.from(esp);
    copy.writeUInt32BE(seq, 4);
    return copy;
  };

  it("drops exact copies of ESP packets it already accepted, and counts each as a replay", async () => {
    const before = await counters();
    const captured = await captureEsp(3);
    const accepted = await counters();
    // The echo requests in them came through (the replies did), so Pavise accepted all three.
    expect(accepted.packetsIn - before.packetsIn).toBe(3);
    expect(captured.map((d) => d.payload.readUInt32BE(0).toString(16).padStart(8, "0"))).toEqual(
      Array(3).fill(pair.ours.spiIn),
    );

    const replays = [...captured, ...captured].map((d) => d.payload);
    expect(await inject(replays)).toBe(6);
    const after = await settled((c) => c.replayDrops >= accepted.replayDrops + 6);
    expect(after.replayDrops - accepted.replayDrops).toBe(6);
    expect(after.packetsIn).toBe(accepted.packetsIn);
    expect(after.integrityFailures).toBe(accepted.integrityFailures);
    console.log(
      `replayed 6 copies of ESP packets seq ${captured.map((d) => seqOf(d.payload)).join(", ")}: ` +
        `replayDrops ${accepted.replayDrops} → ${after.replayDrops}, packetsIn stays ${after.packetsIn}`,
    );
  });

  it("drops forged packets with its SPI as integrity failures, without moving the replay window", async () => {
    const [real] = await captureEsp(1);
    const template = real!.payload;
    const last = seqOf(template);
    const before = await counters();

    // The next sequence numbers strongSwan will use, and one far ahead: if a forgery moved the
    // window, strongSwan's next real packets would be dropped as replays (RFC 4303 §3.4.3).
    const garbage = Buffer.concat([
      template.subarray(0, ESP_HEADER),
      randomBytes(template.length - ESP_HEADER),
    ]);
    garbage.writeUInt32BE(last + 1, 4);
    const resequenced = withSeq(template, last + 2); // authentic body, altered header (in the AAD)
    const flippedIcv = withSeq(template, last + 3);
    flippedIcv[flippedIcv.length - 1]! ^= 0x01;
    const flippedBody = withSeq(template, last + 4);
    flippedBody[ESP_HEADER + GCM_IV]! ^= 0x80;
    const truncated = withSeq(template.subarray(0, ESP_HEADER + GCM_IV + GCM_ICV - 1), last + 5);
    const farAhead = withSeq(garbage, last + 10_000);
    const forged = [garbage, resequenced, flippedIcv, flippedBody, truncated, farAhead];
    expect(await inject(forged)).toBe(forged.length);

    const after = await settled((c) => c.integrityFailures >= before.integrityFailures + forged.length);
    expect(after.integrityFailures - before.integrityFailures).toBe(forged.length);
    expect(after.replayDrops).toBe(before.replayDrops);
    expect(after.packetsIn).toBe(before.packetsIn);

    // strongSwan's real packets with those very sequence numbers still get through.
    expect(await pingThrough(lab, 5)).toBe(5);
    const later = await counters();
    expect(later.packetsIn - after.packetsIn).toBe(5);
    expect(later.replayDrops).toBe(before.replayDrops);
    console.log(
      `forged ${forged.length} packets with SPI ${pair.ours.spiIn}, seq ${last + 1}…${last + 5} and ${last + 10_000}: ` +
        `integrityFailures ${before.integrityFailures} → ${after.integrityFailures}; ` +
        `5 real packets after them accepted, replayDrops stays ${later.replayDrops}`,
    );
  });

  it("drops datagrams that are no ESP (or no IKE) without effect, and keeps serving", async () => {
    const before = await counters();
    const ours = Number.parseInt(pair.ours.spiIn, 16);
    const random = seededRandom(4303);
    const bytes = (n: number): Buffer =>
      Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
    /** Random bytes whose first four are no SPI of ours (0 is the non-ESP marker: IKE). */
    const notOurs = (n: number): Buffer => {
      const b = bytes(n);
      if (n >= 4 && b.readUInt32BE(0) === ours) b.writeUInt32BE(ours ^ 1, 0);
      return b;
    };
    const marker = Buffer.alloc(4);
    const toNatT = [
      Buffer.alloc(0),
      Buffer.from([0x00]),
      Buffer.from([0xff]), // a NAT keepalive (RFC 3948 §2.3): valid, and nothing to count
      bytes(3),
      notOurs(7), // shorter than SPI and sequence number
      Buffer.concat([marker, bytes(10)]), // non-ESP marker, too short for IKE
      Buffer.concat([marker, bytes(300)]), // non-ESP marker, garbage IKE
      ...Array.from({ length: 200 }, () => notOurs(Math.floor(random() * 1500))),
    ];
    const toIke = [
      Buffer.alloc(0),
      bytes(10),
      bytes(28),
      ...Array.from({ length: 100 }, () => bytes(Math.floor(random() * 1200))),
    ];
    const kernelBefore = await udpCounters(lab, "n1");
    const daemonBefore = await pavise.counters();
    // RFC 3948 §2.2: on port 4500, what is not a marker or keepalive is ESP; 8 octets at least.
    const espShaped = toNatT.filter((d) => d.length >= 8 && d.readUInt32BE(0) !== 0).length;
    expect(await inject(toIke, 500)).toBe(toIke.length);
    for (let i = 0; i < toNatT.length; i += 50) {
      expect(await inject(toNatT.slice(i, i + 50))).toBe(Math.min(50, toNatT.length - i));
      await handledSoFar();
    }
    const kernelDrops = (await udpCounters(lab, "n1")).RcvbufErrors! - kernelBefore.RcvbufErrors!;

    expect(isSameProcessAlive(pavise.process)).toBe(true);
    const after = await counters();
    expect(after).toEqual(before);
    // Each ESP-shaped datagram was counted as ESP for an unknown SPI (the markers too).
    const daemonAfter = await pavise.counters();
    expect(daemonAfter.unknownEspPackets - daemonBefore.unknownEspPackets).toBeGreaterThanOrEqual(espShaped);
    expect(daemonAfter.datapath?.inboundMalformed).toBe(daemonBefore.datapath?.inboundMalformed);

    // IKE still works (a Child SA rekey) and the new SA carries traffic.
    const old = pair.ours.spiIn;
    expect(await pavise.rekey("c1", "net")).toBe(1);
    pair = await bothAgree(pavise, charon, (p) => p.ours.spiIn !== old);
    expect(await pingThrough(lab, 3)).toBe(3);
    expect((await counters()).packetsIn).toBe(3);
    console.log(
      `${toNatT.length} malformed datagrams to port 4500 and ${toIke.length} to port 500 ` +
        `(${kernelDrops} dropped by n1's kernel for a full socket buffer): SA counters unchanged, ` +
        `daemon alive, Child SA rekeyed ${old} → ${pair.ours.spiIn} afterwards and carrying traffic`,
    );
  });

  it("keeps a rekeyed SA's inbound side for late packets for 5 s, then forgets its SPI", async () => {
    const [late] = await captureEsp(1);
    const oldSpi = pair.ours.spiIn;
    const reported = (): boolean =>
      pavise.log().includes(`unknown SPI ${Number.parseInt(oldSpi, 16).toString(16)} `);
    const rekeyedAt = Date.now();
    expect(await pavise.rekey("c1", "net")).toBe(1);
    pair = await bothAgree(pavise, charon, (p) => p.ours.spiIn !== oldSpi);
    expect(pair.ours.spiIn).not.toBe(oldSpi);

    // Right after the rekey, a packet on the old SA still finds it (here: as a replay).
    await inject([late!.payload]);
    await handledSoFar();
    expect(reported(), "the old SPI reported as unknown during the linger").toBe(false);
    expect(Date.now() - rekeyedAt).toBeLessThan(4_000);

    // After strongSwan's delete_rekeyed_delay (5 s) the SA is gone: the same packet is unknown.
    await until(
      "the old SPI to be reported as unknown",
      async () => {
        await inject([late!.payload]);
        await handledSoFar();
        return reported();
      },
      (seen) => seen,
      15_000,
      250,
    );
    const forgottenAfter = Date.now() - rekeyedAt;
    expect(forgottenAfter).toBeGreaterThanOrEqual(4_500);
    expect(await pingThrough(lab, 2)).toBe(2);
    console.log(`rekeyed SA ${oldSpi} accepted late packets, forgotten ${forgottenAfter} ms after the rekey`);
  });
});
