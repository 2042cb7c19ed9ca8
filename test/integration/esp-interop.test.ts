import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Lab } from "../../src/lab/lab.js";
import { startPaviseIpsec, type PaviseIpsec } from "../../src/lab/pavise-ipsec.js";
import { startIperf3Server } from "../../src/lab/probes/iperf3.js";
import { startCharon, type Charon } from "../../src/lab/strongswan/charon.js";
import { renderPskTunnel } from "../../src/lab/strongswan/swanctl-config.js";
import { freshLab, testLabSpec } from "../support/fresh-lab.js";
import { until } from "../support/until.js";

// Traffic through Pavise's own ESP datapath (TUN + ESP in UDP/4500) to and from strongSwan
// (kernel-libipsec). Inner addresses differ from the outer ones: c1 talks as 198.18.10.101,
// n1 as 198.18.20.11 (each on its loopback), so the tunnel never has to carry its own packets.

const PSK = "pavise-esp-psk";
const C1 = "198.18.1.101";
const N1 = "198.18.1.11";
const C1_INNER = "198.18.10.101";
const N1_INNER = "198.18.20.11";

describe("ESP traffic between Pavise and strongSwan", () => {
  let lab: Lab;
  let charon: Charon;
  let pavise: PaviseIpsec;

  beforeAll(async () => {
    lab = await freshLab(testLabSpec("tesp"));
    await lab.exec("c1", ["ip", "addr", "add", `${C1_INNER}/32`, "dev", "lo"]);
    await lab.exec("n1", ["ip", "addr", "add", `${N1_INNER}/32`, "dev", "lo"]);
    charon = await startCharon(lab.runtime, "c1");
    await charon.loadConfig(
      renderPskTunnel({
        name: "n1",
        localAddress: C1,
        remoteAddress: N1,
        psk: PSK,
        localTs: [`${C1_INNER}/32`],
        remoteTs: [`${N1_INNER}/32`],
      }),
    );
    pavise = await startPaviseIpsec(
      lab.runtime,
      "n1",
      `
connections:
  c1:
    local_addrs: [${N1}]
    remote_addrs: [${C1}]
    proposals: [aes128gcm16-prfsha256-x25519]
    local: { auth: psk, id: ${N1} }
    remote: { auth: psk, id: ${C1} }
    children:
      net:
        local_ts: [${N1_INNER}/32]
        remote_ts: [${C1_INNER}/32]
        esp_proposals: [aes128gcm16]
secrets:
  ike:
    - id: [${N1}, ${C1}]
      secret: "${PSK}"
`,
    );
  });

  afterAll(async () => {
    await pavise?.stop().catch(() => undefined);
    await charon?.stop().catch(() => undefined);
    await lab?.down();
  });

  it("carries ICMP both ways, counted on both sides", async () => {
    await charon.initiate({ child: "n1", ike: "n1", timeoutMs: 10_000 });
    const [ours] = await until(
      "the Child SA",
      () => pavise.sas(),
      (sas) => sas[0]?.children.length === 1,
    );
    // Routes are installed right after the Child SA: give them a moment, then ping through.
    const ping = await until(
      "a ping through the tunnel",
      () =>
        lab.exec("c1", ["ping", "-c", "3", "-i", "0.2", "-W", "1", "-I", C1_INNER, N1_INNER], {
          allowFailure: true,
        }),
      (r) => r.code === 0,
      10_000,
      200,
    );
    expect(ping.stdout).toMatch(/3 received|[123] received/);
    const [after] = await pavise.sas();
    const counters = after?.children[0]?.counters;
    expect(counters?.packetsIn).toBeGreaterThanOrEqual(1);
    expect(counters?.packetsOut).toBeGreaterThanOrEqual(1);
    const theirs = (await charon.listSas())[0]?.childSas[0];
    expect(theirs?.packetsOut).toBeGreaterThanOrEqual(1);
    expect(theirs?.packetsIn).toBeGreaterThanOrEqual(1);
    expect(ours?.children[0]?.spiIn).toBe(theirs?.spiOut);
  });

  it("carries TCP (iperf3) through the tunnel", async () => {
    const server = await startIperf3Server(lab.runtime, "n1", N1_INNER);
    try {
      const result = await lab.exec(
        "c1",
        ["iperf3", "--client", N1_INNER, "--bind", C1_INNER, "--time", "2", "--json"],
        {
          timeoutMs: 30_000,
        },
      );
      const report = JSON.parse(result.stdout) as {
        end: { sum_received: { bits_per_second: number; bytes: number } };
      };
      const mbits = report.end.sum_received.bits_per_second / 1e6;
      console.log(
        `iperf3 strongSwan (c1) → Pavise (n1) through Pavise's ESP datapath: ${mbits.toFixed(0)} Mbit/s`,
      );
      expect(report.end.sum_received.bytes).toBeGreaterThan(1_000_000);
      const [sa] = await pavise.sas();
      expect(sa?.children[0]?.counters?.bytesIn).toBeGreaterThan(report.end.sum_received.bytes);
    } finally {
      await lab.runtime.stop(server);
    }
  });
});
