import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Lab } from "../../src/lab/lab.js";
import type { PaviseIpsec } from "../../src/lab/pavise-ipsec.js";
import {
  startBulkReceiver,
  startBulkSender,
  type BulkReceiver,
  type BulkSender,
} from "../../src/lab/probes/bulk-transfer.js";
import {
  startEchoServer,
  startTraffic,
  type EchoServer,
  type TrafficRun,
} from "../../src/lab/probes/traffic.js";
import type { Charon } from "../../src/lab/strongswan/charon.js";
import {
  C1_INNER,
  N1_INNER,
  bothAgree,
  establishEspTunnel,
  mbits,
  startEspLab,
  type ChildSaPair,
} from "../support/esp-tunnel.js";
import { until } from "../support/until.js";

// A Child SA rekey (CREATE_CHILD_SA with PFS, RFC 7296 §1.3.3) while TCP flows both ways at
// full speed, started once by Pavise and once by strongSwan: no TCP connection is lost, every
// byte arrives intact (SHA-256), the new SA carries the traffic afterwards, and the old one is
// gone on both sides. The flows run until all of that has been seen, however long the rekey
// takes (under load an IKE message can be lost and retransmitted, seconds later).

const NEW_SA_BYTES = 1_000_000;

describe("Child SA rekey under continuous TCP traffic, with strongSwan", () => {
  let lab: Lab;
  let charon: Charon;
  let pavise: PaviseIpsec;

  beforeAll(async () => {
    ({ lab, charon } = await startEspLab("tesr"));
    // With a DH group in the ESP proposal, a Child SA rekey does a fresh key exchange (PFS).
    ({ pavise } = await establishEspTunnel(lab, charon, { esp: "aes128gcm16-x25519" }));
  });

  afterAll(async () => {
    await pavise?.stop().catch(() => undefined);
    await charon?.stop().catch(() => undefined);
    await lab?.down();
  });

  /** Both sides' byte counters of one Child SA (by Pavise's inbound SPI), or undefined if gone. */
  async function bytesOf(pair: ChildSaPair) {
    const ours = (await pavise.sas())[0]?.children.find((c) => c.spiIn === pair.ours.spiIn)?.counters;
    const theirs = (await charon.listSas())[0]?.childSas.find((c) => c.spiIn === pair.theirs.spiIn);
    if (!ours || !theirs) return undefined;
    return {
      paviseIn: ours.bytesIn,
      paviseOut: ours.bytesOut,
      swanIn: theirs.bytesIn,
      swanOut: theirs.bytesOut,
    };
  }

  async function rekeyUnderTraffic(
    who: "Pavise" | "strongSwan",
    rekey: () => Promise<number>,
  ): Promise<void> {
    const old = await bothAgree(pavise, charon);
    const receivers: BulkReceiver[] = [];
    const senders: BulkSender[] = [];
    let echoServer: EchoServer | undefined;
    let echo: TrafficRun | undefined;
    try {
      // A bulk flow each way on its own TCP connection, and a request every 10 ms on a third.
      const flows = [
        { from: "c1", to: "n1", bind: C1_INNER, target: N1_INNER, port: 5401 },
        { from: "n1", to: "c1", bind: N1_INNER, target: C1_INNER, port: 5402 },
      ] as const;
      for (const flow of flows) {
        receivers.push(await startBulkReceiver(lab.runtime, flow.to, { bind: flow.target, port: flow.port }));
        senders.push(
          await startBulkSender(lab.runtime, flow.from, {
            to: flow.target,
            port: flow.port,
            bind: flow.bind,
          }),
        );
      }
      echoServer = await startEchoServer(lab.runtime, "n1", { proto: "tcp", port: 7201, bind: N1_INNER });
      echo = await startTraffic(lab.runtime, {
        from: "c1",
        to: N1_INNER,
        bind: C1_INNER,
        proto: "tcp",
        port: 7201,
        intervalMs: 10,
      });

      // The flows are under way through the old SA, both ways...
      const start = (await bytesOf(old))!;
      await until(
        "the flows to run through the old Child SA",
        () => bytesOf(old),
        (b) => !!b && b.paviseIn > start.paviseIn + 5_000_000 && b.paviseOut > start.paviseOut + 5_000_000,
        10_000,
      );
      // ... when the rekey starts.
      const rekeyedAt = Date.now();
      expect(await rekey()).toBe(1);
      const fresh = await bothAgree(pavise, charon, (p) => p.ours.spiIn !== old.ours.spiIn, 20_000);
      const rekeyMs = Date.now() - rekeyedAt;
      expect([old.ours.spiIn, old.ours.spiOut]).not.toContain(fresh.ours.spiOut);

      // The new SA carries the flows, both ways, counted by both sides.
      await until(
        "the new Child SA to carry the flows",
        () => bytesOf(fresh),
        (b) =>
          !!b &&
          b.paviseIn > NEW_SA_BYTES &&
          b.paviseOut > NEW_SA_BYTES &&
          b.swanIn > NEW_SA_BYTES &&
          b.swanOut > NEW_SA_BYTES,
        10_000,
      );

      // The old SA is gone from Pavise at once. strongSwan stops using it at once (DELETED: it
      // keeps the inbound half for late packets) and drops it after delete_rekeyed_delay (5 s).
      expect((await pavise.sas()).flatMap((sa) => sa.children.map((c) => c.spiIn))).toEqual([
        fresh.ours.spiIn,
      ]);
      const oldTheirs = (await charon.listSas())
        .flatMap((sa) => sa.childSas)
        .filter((c) => c.spiIn === old.theirs.spiIn);
      expect(oldTheirs.filter((c) => c.state !== "DELETED")).toEqual([]);
      const [remaining] = await until(
        "strongSwan to drop the old Child SA",
        () => charon.listSas(),
        (sas) => sas.flatMap((sa) => sa.childSas).length === 1,
        10_000,
        200,
      );
      expect(remaining!.childSas.map((c) => c.spiIn)).toEqual([fresh.theirs.spiIn]);
      const carried = (await bytesOf(fresh))!;

      // Not a single TCP connection lost, not a byte changed.
      const echoReport = await echo.stop();
      expect(echoReport.reconnects).toBe(0);
      expect(echoReport.sent).toBeGreaterThan(100);
      expect(echoReport.received).toBe(echoReport.sent);
      const figures: string[] = [];
      for (const [i, flow] of flows.entries()) {
        const sent = await senders[i]!.stop();
        const received = await receivers[i]!.report(20_000);
        expect(received.bytes).toBe(sent.bytes);
        expect(received.sha256).toBe(sent.sha256);
        figures.push(
          `${flow.from} → ${flow.to} ${(sent.bytes / 1e6).toFixed(0)} MB (${mbits(sent.bytes, sent.seconds)} Mbit/s)`,
        );
      }
      console.log(
        `${who} rekeyed the Child SA ${old.ours.spiIn}/${old.ours.spiOut} → ${fresh.ours.spiIn}/${fresh.ours.spiOut}: ` +
          `both sides agreed after ${rekeyMs} ms; TCP with intact SHA-256 ${figures.join(", ")}; ` +
          `the new SA carried Pavise in ${(carried.paviseIn / 1e6).toFixed(0)} MB, out ${(carried.paviseOut / 1e6).toFixed(0)} MB ` +
          `until strongSwan dropped the old one; TCP echo ${echoReport.received}/${echoReport.sent} answered, ` +
          `longest gap ${echoReport.maxGapMs.toFixed(0)} ms`,
      );
    } finally {
      for (const sender of senders) await sender.stop().catch(() => undefined);
      for (const receiver of receivers) await receiver.stop();
      await echo?.stop().catch(() => undefined);
      await echoServer?.stop();
    }
  }

  it("Pavise rekeys the Child SA: no TCP connection lost, the new SA carries the traffic, the old is gone", async () => {
    await rekeyUnderTraffic("Pavise", () => pavise.rekey("c1", "net"));
  });

  it("strongSwan rekeys the Child SA: no TCP connection lost, the new SA carries the traffic, the old is gone", async () => {
    await rekeyUnderTraffic("strongSwan", () => charon.rekeyChild({ child: "n1", ike: "n1" }));
  });
});
