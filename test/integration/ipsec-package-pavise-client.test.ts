import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { moveEtcdLeader } from "../../src/lab/etcd.js";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import {
  CLIENT_ADDRESS,
  PACKAGE_IKE_ID,
  ipsecWebPackage,
  paviseClientConfig,
  writeLabPsk,
} from "../../src/lab/ipsec-package.js";
import { type PaviseIpsec, startPaviseIpsec } from "../../src/lab/pavise-ipsec.js";
import type { IkeSaStatus } from "../../src/ipsec/sa-status.js";
import { VIP, daemonClusterFile, liveOverlaps } from "../support/daemon-cluster.js";
import { arpHosts, linkedHolders, startClientTraffic } from "../support/cluster-observe.js";
import { testLabName } from "../support/fresh-lab.js";
import { until } from "../support/until.js";
import { useDaemonLab } from "../support/daemon-lab.js";

// Issue #6, kind 1 against the cluster: the client is `pavise ipsec serve` (dpd_delay 1s,
// dpd_action restart, keyingtries 0) with a tunnel to package web. The owner node crashes; the
// client is back without an operator — through the adoptive node's INITIAL_CONTACT or its own
// liveness check, whichever comes first (the test says which). The gap through the tunnel is
// printed; the address is never on two nodes.
const root = process.getuid?.() === 0;
const LAB = testLabName("tipp");
const UDP_PORT = 7433;

function established(sas: IkeSaStatus[]): IkeSaStatus[] {
  return sas.filter((sa) => sa.connection === "web" && sa.state === "ESTABLISHED" && sa.children.length > 0);
}

describe.skipIf(!root)("IPsec that moves with the package: a Pavise client", () => {
  let psk = "";
  let client: PaviseIpsec | undefined;
  const t = useDaemonLab(LAB, {
    watchFromStart: true,
    clusterFile: (lab, dir) => {
      const written = writeLabPsk(dir);
      psk = written.psk;
      return daemonClusterFile(lab, {
        name: LAB,
        packages: ipsecWebPackage({ echoPort: UDP_PORT, pskFile: written.file }),
      });
    },
    cleanup: async () => {
      await client?.stop().catch(() => undefined);
    },
  });

  it("n1 crashes: the Pavise client is back with n2 by itself; the gap through the tunnel", async () => {
    await moveEtcdLeader(t.lab.runtime, t.lab.plan.etcd, "n1", "n2");
    for (const node of ["n1", "n2", "n3"]) await t.cluster.startDaemon(node);
    await until(
      "web on n1",
      () => linkedHolders(t.lab, VIP),
      (h) => h.length === 1 && h[0] === "n1",
      20_000,
    );
    await t.cluster.untilLogged("web started on n1", "n1", "started", "package web started", 20_000);

    client = await startPaviseIpsec(t.lab.runtime, "c1", paviseClientConfig({ psk }));
    const [first] = await until(
      "the client's SA with n1",
      async () => established(await client!.sas()),
      (s) => s.length === 1,
      10_000,
    );
    expect(first).toMatchObject({ remoteId: PACKAGE_IKE_ID, localId: CLIENT_ADDRESS });
    expect(first?.remote).toContain(VIP);
    await until(
      "c1 recorded as a peer of web",
      () => Promise.resolve(t.cluster.logged("n1", "ipsec-peer-recorded", `peer ${CLIENT_ADDRESS}`)),
      (ok) => ok,
      10_000,
    );

    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await sleep(700);
    const crashedAt = Date.now();
    await t.lab.faults.crashHost("n1");
    t.cluster.daemons.delete("n1");
    await until(
      "web on n2",
      () => linkedHolders(t.lab, VIP),
      (h) => h.includes("n2"),
      20_000,
    );
    const takenAfter = Date.now() - crashedAt;
    const [fresh] = await until(
      "the client's new SA with n2",
      async () => established(await client!.sas()),
      (s) => s.length === 1 && s[0]?.spiI !== first?.spiI,
      20_000,
    );
    const backAfter = Date.now() - crashedAt;
    await sleep(1000);
    const report = await traffic.stop();

    // Which trigger won: n2's INITIAL_CONTACT (n2 initiated: the client is the responder) or
    // the client's own liveness check and dpd_action restart (the client initiated).
    const how =
      fresh?.initiator === false ? "n2's INITIAL_CONTACT" : "its own liveness check (dpd_action restart)";
    const longest = report.gaps[0]!;
    expect(longest.startOffsetMs + longest.durationMs).toBeLessThan(report.durationMs - 500);
    expect(await arpHosts(t.lab, VIP)).toEqual(["n2"]);
    const timeline = await t.stopWatch();
    expect(liveOverlaps(overlaps(timeline, VIP), "n1", crashedAt)).toEqual([]);
    console.log(
      `IPsec package, node crash, Pavise client: n2 holds ${VIP} ${takenAfter} ms after n1 crashed; the client's new SA ` +
        `(through ${how}) up ${backAfter} ms after; longest gap through the tunnel ${Math.round(report.maxGapMs)} ms, ` +
        `${report.received}/${report.sent} answered`,
    );
    // Target < 2 s (issue #6); the bound leaves room for a loaded machine.
    expect(report.maxGapMs).toBeLessThan(4_000);
  });
});
