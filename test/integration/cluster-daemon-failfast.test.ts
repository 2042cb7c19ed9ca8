import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Lab } from "../../src/lab/lab.js";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import { AddressWatch } from "../../src/lab/probes/address-watch.js";
import { startTraffic } from "../../src/lab/probes/traffic.js";
import { DaemonCluster, VIP, daemonClusterFile, echoPids, processGone } from "../support/daemon-cluster.js";
import { freshLab, testLabSpec } from "../support/fresh-lab.js";
import { until } from "../support/until.js";

// `pavise daemon` on the three lab nodes, web with a generic resource that a monitor command
// checks on each node (Serviceguard's generic_resource_name with a monitoring script) and an
// echo service with fail_fast (service_fail_fast_enabled): the resource going down on web's node
// moves web; the service failing for good takes its node out of the cluster at once (addresses
// dropped, service killed, lease revoked, the daemon exits 3), so the next node takes over
// without waiting for a lease to lapse. The client's gaps are printed; the address is never held
// by two nodes at once. Needs root and a build.
const root = process.getuid?.() === 0;
const LAB = "mnff";
const UDP_PORT = 7403;

describe.skipIf(!root)("generic resource monitors and fail-fast with pavise daemon", () => {
  let lab: Lab;
  let dir: string;
  let cluster: DaemonCluster;
  let watch: AddressWatch | undefined;
  /** A node's resource "uplink" is down while this file exists. */
  const uplinkDown = (node: string): string => join(dir, `uplink-down-${node}`);

  async function holdersWithLink(): Promise<string[]> {
    return (await lab.holders(VIP)).filter((h) => h.up).map((h) => h.host);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "pavise-mnff-"));
    lab = await freshLab(testLabSpec(LAB, { etcd: true }));
    // web is the file's last package and its echo service the last mapping: the service gets
    // fail_fast, the package a monitored resource.
    const file =
      daemonClusterFile(lab, { name: LAB, service: { echoPort: UDP_PORT } }) +
      `        fail_fast: yes
    generic_resources:
      - name: uplink
        monitor: { command: "test ! -e ${dir}/uplink-down-$PAVISE_NODE", interval: 200ms }
`;
    writeFileSync(join(dir, "cluster.yaml"), file);
    cluster = new DaemonCluster(lab, dir);
    for (const node of ["n1", "n2", "n3"]) await cluster.startDaemon(node);
    await until("web on n1", holdersWithLink, (h) => h.length === 1 && h[0] === "n1", 15_000);
    await until(
      "web started",
      () => Promise.resolve(cluster.logged("n1", "started", "package web started")),
      (yes) => yes,
      15_000,
    );
  });

  afterAll(async () => {
    await watch?.stop().catch(() => undefined);
    for (const proc of cluster?.daemons.values() ?? []) await lab?.runtime.stop(proc).catch(() => undefined);
    await lab?.down();
    cluster?.printLogs();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the monitored resource going down on web's node moves web to the next node", async () => {
    watch = await AddressWatch.start(
      ["n1", "n2", "n3"].map((host) => ({ host, namespace: lab.host(host).namespace })),
    );
    const traffic = await startTraffic(lab.runtime, {
      from: "c1",
      to: VIP,
      proto: "udp",
      port: UDP_PORT,
      intervalMs: 10,
    });
    await sleep(500);
    const downAt = Date.now();
    writeFileSync(uplinkDown("n1"), "");
    await until("web on n2", holdersWithLink, (h) => h.length === 1 && h[0] === "n2", 15_000);
    const movedAfter = Date.now() - downAt;
    await sleep(500);
    const report = await traffic.stop();
    expect(cluster.logged("n1", "resource-down", "resource uplink is down on n1")).toBe(true);
    expect((await lab.arpAnswerers("public", VIP)).map((a) => a.host)).toEqual(["n2"]);
    expect(overlaps(await watch.stop(), VIP)).toEqual([]);
    watch = undefined;
    expect(report.received).toBeGreaterThan(0);
    console.log(
      `resource monitor: uplink down on n1 (checked every 200 ms) → n2 holds ${VIP} ${movedAfter} ms later; ` +
        `client's longest gap ${Math.round(report.maxGapMs)} ms, ${report.received}/${report.sent} answered`,
    );
    // Back up on n1: web stays on n2 (failback manual), n1 is reported up again.
    rmSync(uplinkDown("n1"));
    await until(
      "n1's uplink up again",
      () => Promise.resolve(cluster.logged("n1", "resource-up", "resource uplink is up on n1")),
      (yes) => yes,
      10_000,
    );
    await sleep(500);
    expect(await holdersWithLink()).toEqual(["n2"]);
  });

  it("a fail_fast service failing for good takes its node out at once: n3 takes over without a lease lapsing", async () => {
    // n1's uplink down again: n3 is the only node web can go to.
    writeFileSync(uplinkDown("n1"), "");
    watch = await AddressWatch.start(
      ["n1", "n2", "n3"].map((host) => ({ host, namespace: lab.host(host).namespace })),
    );
    const n2 = cluster.daemons.get("n2")!;
    const traffic = await startTraffic(lab.runtime, {
      from: "c1",
      to: VIP,
      proto: "udp",
      port: UDP_PORT,
      intervalMs: 10,
    });
    await sleep(500);
    // restart: 2 — the third exit is for good.
    let killedAt = 0;
    let lastPid = 0;
    for (let kill = 1; kill <= 3; kill++) {
      const [pid] = await until(
        "web's echo service on n2",
        () => echoPids(lab, "n2", UDP_PORT),
        (p) => p.length === 1 && p[0] !== lastPid,
      );
      lastPid = pid!;
      killedAt = Date.now();
      process.kill(pid!, "SIGKILL");
    }
    await until("web on n3", holdersWithLink, (h) => h.length === 1 && h[0] === "n3", 15_000);
    const movedAfter = Date.now() - killedAt;
    await sleep(500);
    const report = await traffic.stop();
    await until(
      "n2's daemon to exit",
      () => Promise.resolve(processGone(n2.pid)),
      (gone) => gone,
      10_000,
    );
    cluster.daemons.delete("n2");
    expect(cluster.logged("n2", "fail-fast", "service echo of package web failed for good")).toBe(true);
    expect((await lab.arpAnswerers("public", VIP)).map((a) => a.host)).toEqual(["n3"]);
    expect(overlaps(await watch.stop(), VIP)).toEqual([]);
    watch = undefined;
    expect(await echoPids(lab, "n2", UDP_PORT)).toEqual([]);
    console.log(
      `fail_fast service: n2 left the cluster, n3 holds ${VIP} ${movedAfter} ms after the last service exit` +
        `; client's longest gap ${Math.round(report.maxGapMs)} ms, ${report.received}/${report.sent} answered`,
    );
    expect(existsSync(uplinkDown("n1"))).toBe(true);
  });
});
