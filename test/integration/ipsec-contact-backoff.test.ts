import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Cut } from "../../src/lab/faults.js";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import { startStrongswanClient } from "../../src/lab/ipsec-package.js";
import type { IkeSaInfo } from "../../src/lab/strongswan/charon.js";
import { distPath } from "../../src/util/package-paths.js";
import { VIP, liveOverlaps } from "../support/daemon-cluster.js";
import { clusterEvents } from "../support/cluster-observe.js";
import { testLabName } from "../support/fresh-lab.js";
import { until } from "../support/until.js";
import { useIpsecPackageLab, webSas } from "../support/ipsec-package-lab.js";

// Issue #6: "Peers it cannot reach are retried with backoff and reported." Two strongSwan
// clients have tunnels to package web on n1; c2 is cut off from n2 when n1 crashes. n2 contacts
// c1 at once; c2's attempts fail, are reported in the event log with growing delays and in
// `pavise status -v`; once the cut heals, the next attempt reaches c2 and its stale SA goes.
const root = process.getuid?.() === 0;
const LAB = testLabName("tipb");
const UDP_PORT = 7432;
const C2 = "198.18.1.102";

function webSa(sas: IkeSaInfo[]): IkeSaInfo | undefined {
  return webSas(sas)[0];
}

describe.skipIf(!root)("IPsec contact: an unreachable client is retried with backoff and reported", () => {
  let cut: Cut | undefined;
  const ipsec = useIpsecPackageLab(LAB, {
    echoPort: UDP_PORT,
    cleanup: async (lab) => {
      if (cut) await lab.lab.faults.heal(cut).catch(() => undefined);
    },
  });
  const t = ipsec.t;

  it("retries c2 with growing delays while it cannot be reached, reports it, and reaches it once the cut heals", async () => {
    await ipsec.startWebOnN1();
    const c1 = ipsec.track(await startStrongswanClient(t.lab, { psk: ipsec.psk }));
    const c2 = ipsec.track(await startStrongswanClient(t.lab, { psk: ipsec.psk, host: "c2", address: C2 }));
    await c1.initiate({ child: "web" });
    await c2.initiate({ child: "web" });
    const c2Before = webSa(await c2.listSas());
    await until(
      "both clients recorded",
      () =>
        Promise.resolve(t.cluster.daemonEvents("n1").filter((e) => e.event === "ipsec-peer-recorded").length),
      (n) => n >= 2,
      10_000,
    );

    cut = await t.lab.faults.cutBetween("c2", "n2");
    const { crashedAt } = await ipsec.crashN1();
    await until(
      "c1 contacted",
      async () => webSa(await c1.listSas()),
      (sa) => sa?.initiator === false,
      10_000,
    );
    // Two failed attempts: each handshake gives up after ≈4 s, then 1 s and 2 s of backoff (±20 %).
    const unreachable = await until(
      "two failed attempts to reach c2",
      () =>
        Promise.resolve(
          t.cluster
            .daemonEvents("n2")
            .filter((e) => e.event === "ipsec-peer-unreachable" && e.message.includes(C2)),
        ),
      (events) => events.length >= 2,
      30_000,
    );
    const delays = unreachable.map((e) => Number(/in (\d+) ms/.exec(e.message)?.[1]));
    console.log(
      `IPsec contact: c2 unreachable, retry delays ${delays.join(", ")} ms: ${unreachable[0]?.message}`,
    );
    expect(delays[0]).toBeGreaterThanOrEqual(800);
    expect(delays[0]).toBeLessThanOrEqual(1200);
    expect(delays[1]).toBeGreaterThanOrEqual(1600);
    expect(delays[1]).toBeLessThanOrEqual(2400);
    // Also in the cluster's event log (any node reads it) and in pavise status -v.
    const logged = await clusterEvents(t.lab, "n2", t.configFile);
    expect(logged.some((e) => e.kind === "ipsec-peer-unreachable")).toBe(true);
    const status = await t.lab.exec(
      "n2",
      [process.execPath, distPath("cli/main.js"), "status", "-v", "--config", t.configFile],
      {
        allowFailure: true,
      },
    );
    console.log(status.stdout);
    expect(status.stdout).toMatch(
      new RegExp(
        `${C2.replaceAll(".", "\\.")} at ${C2.replaceAll(".", "\\.")} \\(clients, recorded by n2\\): not reached, retrying after \\d+ attempt`,
      ),
    );
    // c2 still holds its stale SA: nobody reached it.
    expect(webSa(await c2.listSas())?.childSas[0]?.spiIn).toBe(c2Before?.childSas[0]?.spiIn);

    const logFrom = readFileSync(c2.logPath, "utf8").length;
    const healedAt = Date.now();
    await t.lab.faults.heal(cut);
    cut = undefined;
    await until(
      "c2 contacted after the heal",
      async () => webSa(await c2.listSas()),
      (sa) => sa?.initiator === false && sa.childSas[0]?.spiIn !== c2Before?.childSas[0]?.spiIn,
      30_000,
    ).catch((err: unknown) => {
      const ike = readFileSync(c2.logPath, "utf8")
        .split("\n")
        .filter((line) => !line.includes("vici"));
      console.log(`c2's charon.log (without vici lines):\n${ike.slice(-60).join("\n")}`);
      throw err;
    });
    const reachedAfter = Date.now() - healedAt;
    expect(readFileSync(c2.logPath, "utf8").slice(logFrom)).toContain("received INITIAL_CONTACT");
    expect(
      t.cluster.daemonEvents("n2").some((e) => e.event === "ipsec-peer-contacted" && e.message.includes(C2)),
    ).toBe(true);
    console.log(
      `IPsec contact: c2 reached ${reachedAfter} ms after the cut healed (${Date.now() - crashedAt} ms after n1 crashed)`,
    );
    const timeline = await t.stopWatch();
    expect(liveOverlaps(overlaps(timeline, VIP), "n1", crashedAt)).toEqual([]);
  });
});
