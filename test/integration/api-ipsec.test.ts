import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { DaemonApi } from "../../src/api/http/daemon-api.js";
import type { PackageIpsecDetail } from "../../src/api/schema/view-types.js";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import { CLIENT_ADDRESS, startStrongswanClient } from "../../src/lab/ipsec-package.js";
import type { Charon } from "../../src/lab/strongswan/charon.js";
import { apiCall } from "../support/api-client.js";
import { ApiSchemaValidator } from "../support/api-schema-validator.js";
import { arpHosts, startClientTraffic } from "../support/cluster-observe.js";
import { VIP, liveOverlaps } from "../support/daemon-cluster.js";
import { testLabName } from "../support/fresh-lab.js";
import { useIpsecPackageLab, webSas } from "../support/ipsec-package-lab.js";
import { parsePrometheusText, sampleValue } from "../support/prometheus-text.js";
import { until } from "../support/until.js";

// The API's IPsec reads and metrics against real SAs (issue #7, design §5, §6, §10): package web
// carries IPsec, a strongSwan client on c1 sends requests through the tunnel. The SAs live only
// in the owner's memory, so n3's API forwards `GET /v1/packages/web/ipsec` to the owner (node to
// node, with its node certificate) — n1, then n2 after n1 crashes — and answers with the owner's
// SAs: the same SPIs strongSwan shows, the ESP counters covering the requests answered. The
// owner's /metrics count the package's ESP packets and IKE exchanges.
const root = process.getuid?.() === 0;
const LAB = testLabName("apiipsec");
const UDP_PORT = 7432;

describe.skipIf(!root)("the API's IPsec reads and metrics, against strongSwan", () => {
  let charon: Charon | undefined;
  const ipsec = useIpsecPackageLab(LAB, { echoPort: UDP_PORT, api: true });
  const t = ipsec.t;
  const validator = new ApiSchemaValidator();

  /** A monitor's GET on a node's own API socket (the token of the lab's prometheus user). */
  async function get(node: string, path: string): Promise<{ status: number; text: string; json: unknown }> {
    const socketPath = DaemonApi.socketPath(t.cluster.controlSocket(node), node);
    const answer = await apiCall({ socketPath }, "GET", path, {
      ca: readFileSync(t.api.caCert),
      headers: { authorization: `Bearer ${t.api.token}` },
    });
    return { status: answer.status, text: answer.text, json: answer.json };
  }

  async function ipsecOn(node: string): Promise<PackageIpsecDetail> {
    const answer = await get(node, "/v1/packages/web/ipsec");
    expect(answer.status, answer.text).toBe(200);
    expect(validator.problems("PackageIpsecDetail", answer.json)).toBeUndefined();
    return answer.json as PackageIpsecDetail;
  }

  it("n3 answers with n1's live SA (forwarded to the owner): strongSwan's SPIs, counters covering the traffic", async () => {
    await ipsec.startWebOnN1();
    await t.cluster.untilApiServing();
    charon = ipsec.track(await startStrongswanClient(t.lab, { psk: ipsec.psk }));
    await charon.initiate({ child: "web" });
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await sleep(1000);
    const report = await traffic.stop();
    expect(report.received).toBeGreaterThan(20);
    const [client] = webSas(await charon.listSas());

    const started = performance.now();
    const detail = await ipsecOn("n3");
    const forwardedMs = performance.now() - started;
    expect(detail.from).toBe("n1");
    expect(detail.sas).toHaveLength(1);
    const [sa] = detail.sas;
    expect(sa?.remoteId).toBe(CLIENT_ADDRESS);
    expect(sa?.remote).toContain(CLIENT_ADDRESS);
    const child = sa!.children[0]!;
    // The daemon's inbound SPI is strongSwan's outbound one, and the other way round.
    expect([child.spiIn, child.spiOut]).toEqual([client!.childSas[0]!.spiOut, client!.childSas[0]!.spiIn]);
    expect(child.counters!.packetsIn).toBeGreaterThanOrEqual(report.received);
    expect(child.counters!.packetsOut).toBeGreaterThanOrEqual(report.received);
    expect(detail.peers.map((p) => p.id)).toContain(CLIENT_ADDRESS);

    // The owner's metrics: the package's ESP packets and its IKE exchanges.
    const metrics = parsePrometheusText((await get("n1", "/metrics")).text);
    const espIn = sampleValue(metrics, "pavise_esp_packets_total", { package: "web", direction: "in" });
    const ikeSas = sampleValue(metrics, "pavise_ike_sas", { package: "web" });
    expect(espIn).toBeGreaterThanOrEqual(report.received);
    expect(ikeSas).toBe(1);
    console.log(
      `API IPsec read on n3, forwarded to n1: ${forwardedMs.toFixed(1)} ms; SA ${child.spiIn}/${child.spiOut}, ` +
        `${child.counters!.packetsIn} packets in for ${report.received} answered requests; ` +
        `n1's pavise_esp_packets_total{package="web",direction="in"} ${espIn}`,
    );
  });

  it("after n1 crashes, n3 answers with n2's new SA; never two holders", async () => {
    const before = webSas(await charon!.listSas())[0];
    const { crashedAt } = await ipsec.crashN1();
    await until(
      "the client's new SA with n2",
      async () => webSas(await charon!.listSas()),
      (sas) => sas.length === 1 && sas[0]?.childSas[0]?.spiIn !== before?.childSas[0]?.spiIn,
      20_000,
    );
    const [fresh] = webSas(await charon!.listSas());
    // n3's view follows the takeover (its etcd client passes over n1's dead member); until then
    // the owner it would ask is n1, which cannot answer (503 API_OWNER_UNREACHABLE).
    const fromN2 = await until(
      "n3's API answering from n2",
      () => get("n3", "/v1/packages/web/ipsec"),
      (a) => a.status === 200 && (a.json as PackageIpsecDetail).from === "n2",
      5_000,
    );
    const seenAfter = Date.now() - crashedAt;
    expect(validator.problems("PackageIpsecDetail", fromN2.json)).toBeUndefined();
    const detail = fromN2.json as PackageIpsecDetail;
    const child = detail.sas[0]!.children[0]!;
    expect([child.spiIn, child.spiOut]).toEqual([fresh!.childSas[0]!.spiOut, fresh!.childSas[0]!.spiIn]);
    expect(await arpHosts(t.lab, VIP)).toEqual(["n2"]);
    const timeline = await t.stopWatch();
    expect(liveOverlaps(overlaps(timeline, VIP), "n1", crashedAt)).toEqual([]);
    console.log(
      `after n1's crash: n3 answers with n2's SA ${child.spiIn}/${child.spiOut}, ${seenAfter} ms after the crash`,
    );
  });
});
