import { afterEach, describe, expect, it } from "vitest";
import type { Lab } from "../../src/lab/lab.js";
import type { LabProcess } from "../../src/lab/host-runtime.js";
import { startPaviseIpsec, type PaviseIpsec } from "../../src/lab/pavise-ipsec.js";
import {
  startEchoServer,
  startTraffic,
  type EchoServer,
  type TrafficRun,
} from "../../src/lab/probes/traffic.js";
import { sampleArp } from "../support/cluster-observe.js";
import { freshLab, testLabName, testLabSpec } from "../support/fresh-lab.js";
import { until } from "../support/until.js";

// Issue #6, kind 1 (design §9, §14 T3a): `pavise ipsec serve` as the client of a package
// address. The address 198.18.1.50 moves from n1 to n2 (n1's serve is SIGKILLed, the address
// removed there, added on n2 with a gratuitous ARP, a serve with the same configuration started
// on n2), so the adoptive node has none of the old SAs. The client (c1) must come back by itself:
//  1. through its own liveness checks: dpd_delay 1s, retransmit 500ms × 1.5, 2 tries, then
//     dpd_action restart with keyingtries 0 (est. 1–2 s + 2.375 s after the crash);
//  2. at once when n2 initiates to it with INITIAL_CONTACT (RFC 7296 §2.4).
// A UDP request–echo stream through the tunnel every 10 ms measures the gap.

const PACKAGE = "198.18.1.50";
const C1 = "198.18.1.101";
const C1_INNER = "198.18.10.101";
const SERVICE = "198.18.20.50"; // the package's service address, inside the tunnel only
const PSK = "pavise-client-psk";
const PORT = 7000;
const RUNS = 3;
/** Honest bounds for a loaded 2-core machine (the estimates above plus 1.5–2 s). */
const DPD_GAP_BOUND_MS = 6_000;
const CONTACT_GAP_BOUND_MS = 4_000;

const RESPONDER = `
connections:
  c1:
    local_addrs: [${PACKAGE}]
    remote_addrs: [${C1}]
    proposals: [aes128gcm16-prfsha256-x25519]
    local: { auth: psk, id: ${PACKAGE} }
    remote: { auth: psk, id: ${C1} }
    children:
      net:
        local_ts: [${SERVICE}/32]
        remote_ts: [${C1_INNER}/32]
        esp_proposals: [aes128gcm16]
secrets:
  ike:
    - id: [${PACKAGE}, ${C1}]
      secret: "${PSK}"
`;

const CLIENT = `
connections:
  web:
    local_addrs: [${C1}]
    remote_addrs: [${PACKAGE}]
    proposals: [aes128gcm16-prfsha256-x25519]
    local: { auth: psk, id: ${C1} }
    remote: { auth: psk, id: ${PACKAGE} }
    dpd_delay: 1s
    retransmit: { timeout: 500ms, base: 1.5, tries: 2 }
    keyingtries: 0
    children:
      net:
        local_ts: [${C1_INNER}/32]
        remote_ts: [${SERVICE}/32]
        esp_proposals: [aes128gcm16]
        start_action: start
        dpd_action: restart
secrets:
  ike:
    - id: [${C1}, ${PACKAGE}]
      secret: "${PSK}"
`;

interface Moved {
  gapMs: number;
  client: string;
}

describe("Pavise as the client of a package address that moves (issue #6 kind 1)", () => {
  let lab: Lab | undefined;
  const processes: LabProcess[] = [];
  const gaps: Record<string, number[]> = { dpd: [], contact: [] };

  afterEach(async () => {
    for (const proc of processes.splice(0)) await lab?.runtime.stop(proc, "SIGKILL").catch(() => {});
    if (lab) await lab.down();
    lab = undefined;
  });

  /** One move of the address; `contact` makes n2 initiate to c1 as soon as its serve runs. */
  const move = async (contact: boolean): Promise<Moved> => {
    lab = await freshLab(testLabSpec(testLabName(contact ? "pccontact" : "pcmove")));
    const l = lab;
    await l.exec("c1", ["ip", "addr", "add", `${C1_INNER}/32`, "dev", "lo"]);
    for (const host of ["n1", "n2"]) await l.exec(host, ["ip", "addr", "add", `${SERVICE}/32`, "dev", "lo"]);
    await l.exec("n1", ["ip", "addr", "add", `${PACKAGE}/24`, "dev", "lan0"]);
    const servers: EchoServer[] = [];
    for (const host of ["n1", "n2"])
      servers.push(await startEchoServer(l.runtime, host, { proto: "udp", port: PORT }));
    processes.push(...servers.map((s) => s.process));

    const n1: PaviseIpsec = await startPaviseIpsec(l.runtime, "n1", RESPONDER);
    processes.push(n1.process);
    const client = await startPaviseIpsec(l.runtime, "c1", CLIENT);
    processes.push(client.process);
    // start_action start: the client initiates by itself.
    await until(
      "the client's Child SA",
      () => client.sas(),
      (sas) => sas.length === 1 && sas[0]!.children.length === 1,
      15_000,
    );
    const oldSpi = (await client.sas())[0]!.spiI;

    const traffic: TrafficRun = await startTraffic(l.runtime, {
      from: "c1",
      to: SERVICE,
      bind: C1_INNER,
      proto: "udp",
      port: PORT,
      intervalMs: 10,
    });
    processes.push(traffic.process);
    const arp = sampleArp(l, [PACKAGE]);
    // A random phase against the client's 1 s liveness checks, so the runs spread over it.
    const phaseMs = Math.round(Math.random() * 1_000);
    await new Promise((resolve) => setTimeout(resolve, 1_500 + phaseMs));

    // The move: n1 dies, its address goes to n2 (gratuitous ARP), a serve with the same
    // configuration starts there.
    const crashAt = Date.now();
    await l.runtime.stop(n1.process, "SIGKILL");
    await l.exec("n1", ["ip", "addr", "del", `${PACKAGE}/24`, "dev", "lan0"]);
    await l.exec("n2", ["ip", "addr", "add", `${PACKAGE}/24`, "dev", "lan0"]);
    const garp = l.exec("n2", ["arping", "-q", "-U", "-c", "1", "-I", "lan0", "-s", PACKAGE, PACKAGE], {
      allowFailure: true,
    });
    const n2 = await startPaviseIpsec(l.runtime, "n2", RESPONDER);
    processes.push(n2.process);
    const n2ReadyMs = Date.now() - crashAt;
    if (contact) {
      await n2.initiate("c1").catch((error: Error) => {
        throw new Error(`n2 could not initiate: ${error.message}\n${n2.log()}`);
      });
    }

    await until(
      "a new Child SA on the client",
      () => client.sas(),
      (sas) => sas.some((sa) => sa.spiI !== oldSpi && sa.children.length === 1),
      20_000,
    );
    const upMs = Date.now() - crashAt;
    await garp;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const report = await traffic.stop();
    const samples = (await arp.stop()).get(PACKAGE) ?? [];

    const log = client.log();
    const triggers = [
      /dpd_action restart/.test(log) ? "dpd_action restart" : undefined,
      /replaced: the peer sent INITIAL_CONTACT/.test(log) ? "INITIAL_CONTACT" : undefined,
      /INVALID_IKE_SPI from/.test(log) ? "INVALID_IKE_SPI hint" : undefined,
    ].filter(Boolean);
    console.log(
      `pavise client, ${contact ? "n2 contacts with INITIAL_CONTACT" : "client's own DPD"}: gap ${Math.round(report.maxGapMs)} ms ` +
        `(traffic lost ${report.lost}/${report.sent}), n2 serve ready ${n2ReadyMs} ms and client SA up ${upMs} ms ` +
        `after the SIGKILL (after a random extra ${phaseMs} ms of traffic); triggers in the client's log: ${triggers.join(", ")}`,
    );
    // What the client saw, in its own words (the lines after the first SA came up).
    console.log(
      log
        .split("\n")
        .filter((line) => /reestablish|INVALID_IKE_SPI|INITIAL_CONTACT|IKE SA web (down|up)/.test(line))
        .join("\n"),
    );
    // Never two holders: every ARP sample for the address was answered by at most one host.
    expect(samples.length).toBeGreaterThan(0);
    for (const sample of samples) expect(sample.hosts.length).toBeLessThanOrEqual(1);
    expect(report.gaps[0]?.durationMs).toBe(report.maxGapMs);
    // The longest silence is the move, not the start or the end of the run.
    expect(report.gaps[0]!.startOffsetMs).toBeGreaterThan(1_000);
    expect(report.received).toBeGreaterThan(100);
    return { gapMs: report.maxGapMs, client: log };
  };

  for (let run = 1; run <= RUNS; run++) {
    it(`run ${run}: the client's liveness check notices, dpd_action restart re-establishes with n2`, async () => {
      const { gapMs, client } = await move(false);
      gaps.dpd!.push(gapMs);
      expect(client).toMatch(
        /IKE SA web down \(198\.18\.1\.50\): peer did not answer \(retransmissions exhausted\)/,
      );
      expect(client).toMatch(/reestablish web to 198\.18\.1\.50: dpd_action restart .*keyingtries 0/);
      expect(client).toMatch(/reestablish web to 198\.18\.1\.50: dpd_action restart: up \(attempt \d+/);
      expect(client).not.toMatch(/INITIAL_CONTACT from/);
      expect(gapMs).toBeLessThan(DPD_GAP_BOUND_MS);
    }, 90_000);

    it(`run ${run}: n2 initiates with INITIAL_CONTACT, the client drops its stale SA at once`, async () => {
      const { gapMs, client } = await move(true);
      gaps.contact!.push(gapMs);
      expect(client).toMatch(/IKE SA web down \(198\.18\.1\.50\): replaced: the peer sent INITIAL_CONTACT/);
      // Before its own liveness check could give up: no restart was needed.
      expect(client).not.toMatch(/dpd_action restart/);
      expect(client).not.toMatch(/retransmissions exhausted/);
      expect(gapMs).toBeLessThan(CONTACT_GAP_BOUND_MS);
    }, 90_000);
  }

  it("summary", () => {
    console.log(
      `pavise client gaps (ms): own DPD ${gaps.dpd!.map(Math.round).join(", ")}; INITIAL_CONTACT ${gaps.contact!.map(Math.round).join(", ")}`,
    );
    expect(gaps.dpd).toHaveLength(RUNS);
    expect(gaps.contact).toHaveLength(RUNS);
  });
});
