#!/usr/bin/env node
import { parseArgs } from "node:util";
import { renderStatus } from "../cli/lab-command.js";
import { Lab } from "../lab/lab.js";
import { runIperf3, startIperf3Server } from "../lab/probes/iperf3.js";
import { startEchoServer, startTraffic } from "../lab/probes/traffic.js";
import { DEFAULT_LAB_NAME, defaultLabSpec } from "../lab/spec.js";
import { startCharon, type Charon } from "../lab/strongswan/charon.js";
import { startPaviseIpsec } from "../lab/pavise-ipsec.js";
import { renderPskTunnel } from "../lab/strongswan/swanctl-config.js";
import { PaviseError, describeError } from "../util/errors.js";

/**
 * The main job: a lab cluster on this machine, shown working — the network and etcd, a
 * rehearsed fault measured by the traffic probe, the strongSwan reference tunnel, Pavise's
 * IKEv2/ESP gateway, and a package failing over between nodes with its IPsec, a strongSwan
 * client working through it before and after (package-failover.ts).
 */

import { pause, say, step } from "./demo-output.js";
import { packageFailover } from "./package-failover.js";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { down: { type: "boolean" } }, strict: true });
  const name = DEFAULT_LAB_NAME;

  step(`Building lab "${name}": 3 nodes, 2 clients, a public and a heartbeat LAN, 3 etcd members`);
  const removed = await Lab.down(name);
  if (removed.namespacesRemoved.length > 0) say(`  removed the lab left by an earlier run`);
  const lab = await Lab.up(defaultLabSpec({ name }), { onProgress: (s) => say(`  ✓ ${s}`) });
  say("");
  say(renderStatus(await lab.status()));

  step("Rehearsing a fault: c1 talks to n1 every 10 ms while n1 is cut off the public LAN for 1.5 s");
  const n1 = lab.addressOf("n1", "public");
  const echo = await startEchoServer(lab.runtime, "n1", { proto: "udp", port: 7000 });
  const traffic = await startTraffic(lab.runtime, {
    from: "c1",
    to: n1,
    proto: "udp",
    port: 7000,
    intervalMs: 10,
  });
  await pause(1000);
  const cut = await lab.faults.cutFromLan("n1", { subnet: "public" });
  say(`  cut: ${cut.description}`);
  await pause(1500);
  await lab.faults.heal(cut);
  say("  healed");
  await pause(1000);
  const report = await traffic.stop();
  await echo.stop();
  say(
    `  traffic probe: ${report.received}/${report.sent} answered, longest gap ${report.maxGapMs.toFixed(0)} ms ` +
      `(the cut lasted 1500 ms), round trip p50 ${report.rttMs?.p50.toFixed(2) ?? "-"} ms`,
  );
  const answers = await lab.arpAnswerers("public", n1);
  say(`  ARP for ${n1} is answered by: ${answers.map((a) => `${a.host}/${a.nic} (${a.mac})`).join(", ")}`);

  step("strongSwan reference tunnel: charon on c1 and c2 (kernel-libipsec, AES-128-GCM, X25519)");
  const c1 = lab.addressOf("c1", "public");
  const c2 = lab.addressOf("c2", "public");
  const charons: Charon[] = [];
  try {
    const left = await startCharon(lab.runtime, "c1");
    charons.push(left);
    const right = await startCharon(lab.runtime, "c2");
    charons.push(right);
    const psk = "pavise-demo-secret";
    await left.loadConfig(renderPskTunnel({ name: "demo", localAddress: c1, remoteAddress: c2, psk }));
    await right.loadConfig(renderPskTunnel({ name: "demo", localAddress: c2, remoteAddress: c1, psk }));
    await left.initiate({ child: "demo", ike: "demo", timeoutMs: 10_000 });
    const [sa] = await left.listSas();
    const child = sa?.childSas[0];
    say(
      `  IKE SA ${sa?.state} ${sa?.localHost} ↔ ${sa?.remoteHost} (${sa?.encrAlg}-${sa?.encrKeysize}, ${sa?.dhGroup}); ` +
        `CHILD SA ${child?.state}, ESP in UDP/4500: ${child?.encap ? "yes" : "no"}`,
    );
    const server = await startIperf3Server(lab.runtime, "c2", c2);
    const result = await runIperf3(lab.runtime, "c1", c2, { seconds: 3 });
    await lab.runtime.stop(server);
    say(`  iperf3 c1 → c2 through the tunnel: ${result.receivedMbitPerSecond.toFixed(0)} Mbit/s`);
  } finally {
    for (const charon of charons) await charon.stop();
  }

  step("Pavise's own IKEv2 endpoint and ESP datapath on n1, strongSwan on c1 connecting to it");
  const n1Address = lab.addressOf("n1", "public");
  const gatewayPsk = "pavise-demo-gateway";
  // Inner addresses, as a gateway would protect a network behind it.
  await lab.exec("n1", ["ip", "addr", "add", `${GATEWAY_INNER}/32`, "dev", "lo"]);
  await lab.exec("c1", ["ip", "addr", "add", `${CLIENT_INNER}/32`, "dev", "lo"]);
  const pavise = await startPaviseIpsec(lab.runtime, "n1", demoGatewayConfig(n1Address, c1, gatewayPsk));
  const client = await startCharon(lab.runtime, "c1");
  try {
    await client.loadConfig(
      renderPskTunnel({
        name: "gw",
        localAddress: c1,
        remoteAddress: n1Address,
        psk: gatewayPsk,
        localTs: [`${CLIENT_INNER}/32`],
        remoteTs: [`${GATEWAY_INNER}/32`],
      }),
    );
    await client.initiate({ child: "gw", ike: "gw", timeoutMs: 10_000 });
    const [ours] = await pavise.sas();
    const [theirs] = await client.listSas();
    say(
      `  Pavise: IKE SA ${ours?.state} ${ours?.algorithms}, CHILD SA in ${ours?.children[0]?.spiIn} out ${ours?.children[0]?.spiOut}`,
    );
    say(
      `  strongSwan: IKE SA ${theirs?.state}, CHILD SA ${theirs?.childSas[0]?.state} in ${theirs?.childSas[0]?.spiIn} out ${theirs?.childSas[0]?.spiOut}`,
    );
    await pavise.rekey("c1", "net");
    let [rekeyed] = await pavise.sas();
    for (let i = 0; i < 30 && rekeyed?.children[0]?.spiIn === ours?.children[0]?.spiIn; i++) {
      await pause(100);
      [rekeyed] = await pavise.sas();
    }
    say(
      `  after "pavise ipsec rekey c1 --child net": CHILD SA in ${rekeyed?.children[0]?.spiIn} out ${rekeyed?.children[0]?.spiOut}`,
    );
    const server = await startIperf3Server(lab.runtime, "n1", GATEWAY_INNER);
    const run = await lab.exec(
      "c1",
      ["iperf3", "--client", GATEWAY_INNER, "--bind", CLIENT_INNER, "--time", "3", "--json"],
      { timeoutMs: 30_000, allowFailure: true },
    );
    await lab.runtime.stop(server);
    const mbits = (
      JSON.parse(run.stdout || "{}") as { end?: { sum_received?: { bits_per_second?: number } } }
    ).end?.sum_received?.bits_per_second;
    say(
      `  iperf3 ${CLIENT_INNER} → ${GATEWAY_INNER} through strongSwan → Pavise's ESP datapath: ${mbits ? `${(mbits / 1e6).toFixed(0)} Mbit/s` : "failed"}`,
    );
  } finally {
    await client.stop();
    await pavise.stop();
  }

  await packageFailover(lab);

  if (values.down) {
    step("Removing the lab (--down)");
    const report = await lab.down();
    say(
      `  removed ${report.namespacesRemoved.length} namespaces, ended ${report.processesKilled.length} processes`,
    );
  } else {
    step("The lab stays up for you to explore:");
    say(`  ./pavise lab status                             hosts, NICs, addresses, etcd health`);
    say(`  ./pavise lab exec c1 -- ping -c 3 ${n1}   run anything inside a lab host`);
    say(`  ./pavise lab down                               remove it, leaving the machine as it was`);
  }
}

const GATEWAY_INNER = "198.18.20.11";
const CLIENT_INNER = "198.18.10.101";

function demoGatewayConfig(gateway: string, client: string, psk: string): string {
  return `connections:
  c1:
    local_addrs: [${gateway}]
    remote_addrs: [${client}]
    local: { auth: psk, id: ${gateway} }
    remote: { auth: psk, id: ${client} }
    children:
      net:
        local_ts: [${GATEWAY_INNER}/32]
        remote_ts: [${CLIENT_INNER}/32]
secrets:
  ike:
    - id: [${gateway}, ${client}]
      secret: "${psk}"
`;
}

main().catch((err: unknown) => {
  if (err instanceof PaviseError) process.stderr.write(`${describeError(err)}\n`);
  else process.stderr.write(`demo failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});
