import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { fetchDaemonMetrics } from "../../src/cluster/agent/daemon-control.js";
import { moveEtcdLeader } from "../../src/lab/etcd.js";
import { ipsecWebPackage, startStrongswanClient, writeLabPsk } from "../../src/lab/ipsec-package.js";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import type { Charon, IkeSaInfo } from "../../src/lab/strongswan/charon.js";
import { arpHosts, linkedHolders, startClientTraffic } from "../support/cluster-observe.js";
import { VIP, daemonClusterFile, liveOverlaps } from "../support/daemon-cluster.js";
import { useDaemonLab } from "../support/daemon-lab.js";
import { testLabName } from "../support/fresh-lab.js";
import {
  type ParsedFamily,
  parsePrometheusText,
  sampleSum,
  sampleValue,
} from "../support/prometheus-text.js";
import { until } from "../support/until.js";
import { distPath } from "../../src/util/package-paths.js";

const execFileAsync = promisify(execFile);

// GET /metrics on each daemon's control socket (operator-surfaces design §6, session 1 H3):
// three daemons, web with IPsec and a strongSwan client. The scrape is read by a strict
// Prometheus text reader; membership and package gauges match the cluster; ESP counters of web
// on its owner grow with the client's traffic through the tunnel; when n1 crashes, n2's scrape
// shows web running there, n1 failed, one move counted by the leader, and ESP counters growing
// on n2. Never two owners at once. Needs root and a build (dist/).
const root = process.getuid?.() === 0;
const LAB = testLabName("mxmetrics");
const UDP_PORT = 7471;

function webSas(sas: IkeSaInfo[]): IkeSaInfo[] {
  return sas.filter((sa) => sa.name === "web");
}

describe.skipIf(!root)("metrics of three daemons (GET /metrics on the control socket)", () => {
  let psk = "";
  let charon: Charon | undefined;
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
      await charon?.stop().catch(() => undefined);
    },
  });

  const scrape = async (node: string): Promise<Map<string, ParsedFamily>> => {
    const started = performance.now();
    const text = await fetchDaemonMetrics(t.cluster.controlSocket(node), 5000);
    const ms = performance.now() - started;
    // The strict reader throws on anything Prometheus would refuse.
    const parsed = parsePrometheusText(text);
    console.log(
      `scrape ${node}: ${text.length} bytes, ${text.split("\n").length - 1} lines, ${ms.toFixed(1)} ms`,
    );
    return parsed;
  };

  it("membership, leader and package gauges on every node; ESP counters of web grow with the client's traffic", async () => {
    await moveEtcdLeader(t.lab.runtime, t.lab.plan.etcd, "n1", "n2");
    for (const node of ["n1", "n2", "n3"]) await t.cluster.startDaemon(node);
    await until(
      "web's address on n1 only",
      () => t.lab.holders(VIP),
      (h) => h.length === 1 && h[0]?.host === "n1",
      20_000,
    );
    await t.cluster.untilLogged("web started on n1", "n1", "started", "package web started", 20_000);

    const views = await until(
      "every node's scrape to show the three nodes up and web up on n1",
      async () => Promise.all(["n1", "n2", "n3"].map(scrape)),
      (all) =>
        all.every(
          (m) =>
            sampleSum(m, "pavise_cluster_node_status", { status: "up" }) === 3 &&
            sampleSum(m, "pavise_package_running", { package: "web", node: "n1" }) === 1 &&
            // Reported up: a report etcd dropped is written again 250 ms later.
            sampleSum(m, "pavise_package_status", { package: "web", status: "up" }) === 1,
        ),
      10_000,
    );
    for (const m of views) {
      expect(sampleValue(m, "pavise_node_member")).toBe(1);
      expect(sampleValue(m, "pavise_package_status", { package: "web", status: "up" })).toBe(1);
      expect(sampleSum(m, "pavise_package_status", { package: "web" })).toBe(1);
      expect(sampleSum(m, "pavise_package_running", { package: "web" })).toBe(1);
      expect(sampleValue(m, "pavise_lease_renewals_total")).toBeGreaterThan(0);
      expect(sampleValue(m, "pavise_lease_renewal_latency_seconds_count")).toBe(
        sampleValue(m, "pavise_lease_renewals_total"),
      );
      expect(sampleValue(m, "pavise_event_loop_lag_seconds_count")).toBeGreaterThan(0);
    }
    // `pavise metrics --control PATH` prints the same exposition.
    const cli = await execFileAsync(process.execPath, [
      distPath("cli/main.js"),
      "metrics",
      "--control",
      t.cluster.controlSocket("n3"),
    ]);
    expect(sampleValue(parsePrometheusText(cli.stdout), "pavise_build_info", { node: "n3" })).toBe(1);
    // Exactly one leader (sum over the nodes, as a dashboard would).
    expect(views.reduce((n, m) => n + sampleValue(m, "pavise_node_leader"), 0)).toBe(1);
    const [n1] = views;
    expect(sampleValue(n1!, "pavise_package_starts_total", { package: "web" })).toBe(1);
    expect(sampleValue(n1!, "pavise_ike_sas", { package: "web" })).toBe(0);
    console.log(
      `lease on n1: renewal latency mean ${(
        (sampleValue(n1!, "pavise_lease_renewal_latency_seconds_sum") /
          sampleValue(n1!, "pavise_lease_renewal_latency_seconds_count")) *
        1000
      ).toFixed(1)} ms over ${sampleValue(n1!, "pavise_lease_renewals_total")} renewals; ` +
        `event-loop lag max ${(sampleValue(n1!, "pavise_event_loop_lag_max_seconds") * 1000).toFixed(1)} ms`,
    );

    charon = await startStrongswanClient(t.lab, { psk });
    await charon.initiate({ child: "web" });
    const before = await scrape("n1");
    expect(sampleValue(before, "pavise_ike_sas", { package: "web" })).toBe(1);
    expect(sampleValue(before, "pavise_child_sas", { package: "web" })).toBe(1);
    expect(
      sampleSum(before, "pavise_ike_exchanges_total", {
        package: "web",
        exchange: "IKE_AUTH",
        role: "responder",
        result: "ok",
      }),
    ).toBe(1);
    const inBefore = sampleValue(before, "pavise_esp_packets_total", { package: "web", direction: "in" });
    const outBefore = sampleValue(before, "pavise_esp_packets_total", { package: "web", direction: "out" });
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await sleep(1000);
    const report = await traffic.stop();
    expect(report.received).toBeGreaterThan(20);
    const after = await scrape("n1");
    const [clientSa] = webSas(await charon.listSas());
    const grownIn =
      sampleValue(after, "pavise_esp_packets_total", { package: "web", direction: "in" }) - inBefore;
    const grownOut =
      sampleValue(after, "pavise_esp_packets_total", { package: "web", direction: "out" }) - outBefore;
    // Each answered request came in as one ESP packet and its answer left as one; no more came
    // in than the client sent in all.
    expect(grownIn).toBeGreaterThanOrEqual(report.received);
    expect(grownOut).toBeGreaterThanOrEqual(report.received);
    expect(inBefore + grownIn).toBeLessThanOrEqual(clientSa!.childSas[0]!.packetsOut);
    expect(sampleValue(after, "pavise_esp_bytes_total", { package: "web", direction: "in" })).toBeGreaterThan(
      grownIn * 20,
    );
    expect(sampleValue(after, "pavise_esp_drops_total", { package: "web", reason: "integrity" })).toBe(0);
    expect(sampleValue(after, "pavise_esp_drops_total", { package: "web", reason: "replay" })).toBe(0);
    console.log(
      `ESP on n1 during 1 s of client traffic: +${grownIn} packets in, +${grownOut} out; ` +
        `client ${report.received}/${report.sent} answered, strongSwan sent ${clientSa!.childSas[0]!.packetsOut} in all`,
    );

    // The client rekeys its Child SA under traffic, with no scrape in between: the old SA's
    // counters leave the datapath with it, and the totals must keep them (package-traffic-totals.ts).
    const base = inBefore + grownIn;
    const oldSpi = clientSa!.childSas[0]!.spiIn;
    const again = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await sleep(400);
    expect(await charon.rekeyChild({ child: "web" })).toBe(1);
    await until(
      "the client to have only the new Child SA",
      async () => webSas(await charon!.listSas()),
      (sas) =>
        sas[0]?.childSas.length === 1 &&
        sas[0].childSas[0]?.spiIn !== oldSpi &&
        sas[0].childSas[0]?.state === "INSTALLED",
      10_000,
    );
    await sleep(400);
    const againReport = await again.stop();
    const rekeyed = await until(
      "n1 to have only the new Child SA",
      () => scrape("n1"),
      (m) => sampleValue(m, "pavise_child_sas", { package: "web" }) === 1,
      5_000,
    );
    expect(
      sampleSum(rekeyed, "pavise_ike_exchanges_total", {
        package: "web",
        exchange: "CREATE_CHILD_SA",
        role: "responder",
        result: "ok",
      }),
    ).toBe(1);
    const total = sampleValue(rekeyed, "pavise_esp_packets_total", { package: "web", direction: "in" });
    expect(againReport.received).toBeGreaterThan(20);
    // Without the old SA's last counters, what it carried since the last scrape would be missing.
    expect(total - base).toBeGreaterThanOrEqual(againReport.received);
    console.log(
      `ESP on n1 through a Child SA rekey under traffic: +${total - base} packets in for ` +
        `${againReport.received}/${againReport.sent} answered`,
    );
  });

  it("n1 crashes: n2's scrape shows web there and n1 failed, the leader counted one failover move, ESP grows on n2", async () => {
    const client = charon!;
    const movesBefore = (await Promise.all(["n2", "n3"].map(scrape))).reduce(
      (n, m) => n + sampleSum(m, "pavise_package_moves_total", { package: "web" }),
      0,
    );
    expect(movesBefore).toBe(0);
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await sleep(700);
    const crashedAt = Date.now();
    await t.lab.faults.crashHost("n1");
    t.cluster.daemons.delete("n1");
    await until(
      "web's address on n2",
      () => linkedHolders(t.lab, VIP),
      (h) => h.includes("n2"),
      20_000,
    );
    const takenAfter = Date.now() - crashedAt;
    const n2 = await until(
      "n2's scrape: web started and up on n2, n1 failed",
      () => scrape("n2"),
      (m) =>
        sampleSum(m, "pavise_package_running", { package: "web", node: "n2" }) === 1 &&
        sampleSum(m, "pavise_cluster_node_status", { node: "n1", status: "failed" }) === 1 &&
        // The owner key is taken before the start: the start is counted once it is done.
        sampleSum(m, "pavise_package_starts_total", { package: "web" }) >= 1 &&
        sampleSum(m, "pavise_package_status", { package: "web", status: "up" }) === 1,
      10_000,
    );
    const seenAfter = Date.now() - crashedAt;
    expect(sampleSum(n2, "pavise_package_running", { package: "web" })).toBe(1);
    expect(sampleValue(n2, "pavise_package_starts_total", { package: "web" })).toBe(1);
    const survivors = await Promise.all(["n2", "n3"].map(scrape));
    const moves = survivors.reduce(
      (n, m) => n + sampleSum(m, "pavise_package_moves_total", { package: "web", cause: "failover" }),
      0,
    );
    expect(moves).toBe(1);
    expect(survivors.reduce((n, m) => n + sampleValue(m, "pavise_node_leader"), 0)).toBe(1);

    await until(
      "the client's new SA, initiated by n2",
      async () => webSas(await client.listSas()),
      (sas) =>
        sas.some(
          (sa) => !sa.initiator && sa.state === "ESTABLISHED" && sa.childSas[0]?.state === "INSTALLED",
        ),
      20_000,
    );
    const contactedAfter = Date.now() - crashedAt;
    await sleep(500);
    const report = await traffic.stop();
    const longest = report.gaps[0]!;
    expect(longest.startOffsetMs + longest.durationMs).toBeLessThan(report.durationMs - 300);

    const before = await scrape("n2");
    expect(
      sampleSum(before, "pavise_ike_exchanges_total", {
        package: "web",
        exchange: "IKE_AUTH",
        role: "initiator",
        result: "ok",
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(sampleSum(before, "pavise_ipsec_contacts_total", { package: "web", result: "reached" })).toBe(1);
    const inBefore = sampleValue(before, "pavise_esp_packets_total", { package: "web", direction: "in" });
    const more = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await sleep(700);
    const moreReport = await more.stop();
    const after = await scrape("n2");
    const grownIn =
      sampleValue(after, "pavise_esp_packets_total", { package: "web", direction: "in" }) - inBefore;
    expect(moreReport.received).toBeGreaterThan(10);
    expect(grownIn).toBeGreaterThanOrEqual(moreReport.received);

    expect(await arpHosts(t.lab, VIP)).toEqual(["n2"]);
    const timeline = await t.stopWatch();
    expect(liveOverlaps(overlaps(timeline, VIP), "n1", crashedAt)).toEqual([]);
    console.log(
      `metrics, n1 crash: n2 holds ${VIP} ${takenAfter} ms after, n2's /metrics shows it up ${seenAfter} ms after, ` +
        `client's new SA ${contactedAfter} ms after; longest gap ${Math.round(report.maxGapMs)} ms; ` +
        `ESP on n2 +${grownIn} packets in for ${moreReport.received}/${moreReport.sent} answered`,
    );
  });
});
