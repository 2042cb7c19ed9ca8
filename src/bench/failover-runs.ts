/**
 * One bench:failover run in a fresh lab: a client (c1) sends a UDP request to the package's
 * address every 10 ms; the owner node n1 crashes (links down, every process killed) or hands the
 * address over on purpose (its daemon stops); the client's longest gap is the figure. The same
 * for Pavise (`pavise daemon` on n1–n3, one failover package with the address and an echo
 * service) and keepalived (VRRP on n1 and n2, echo servers on both).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { etcdHealth } from "../lab/etcd.js";
import { startKeepalived } from "../lab/keepalived.js";
import { labClusterFile, startLabDaemons } from "../lab/lab-cluster-file.js";
import { Lab } from "../lab/lab.js";
import type { LabProcess } from "../lab/host-runtime.js";
import { AddressWatch } from "../lab/probes/address-watch.js";
import { overlaps } from "../lab/probes/address-timeline.js";
import { addressHolders } from "../lab/probes/holders.js";
import { startEchoServer, startTraffic } from "../lab/probes/traffic.js";
import { defaultLabSpec } from "../lab/spec.js";
import { PaviseError } from "../util/errors.js";
import type { FailoverRun, FailoverScenario } from "./failover-summary.js";

export const LAB_NAME = "bfail";
export const VIP = "198.18.1.50";
const PORT = 7100;
const NODES = ["n1", "n2", "n3"];

async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline)
      throw new PaviseError("BENCH_TIMEOUT", `${what} did not happen within ${timeoutMs} ms`);
    await sleep(20);
  }
}

const upHolders = async (lab: Lab): Promise<string[]> =>
  (await addressHolders(lab.plan, VIP)).filter((h) => h.up).map((h) => h.host);

/** Starts the system in the lab and waits until n1 serves the address. */
async function startSystem(lab: Lab, system: FailoverRun["system"]): Promise<Map<string, LabProcess>> {
  const daemons = new Map<string, LabProcess>();
  if (system === "keepalived") {
    for (const [host, priority] of [
      ["n1", 150],
      ["n2", 100],
    ] as const) {
      await startEchoServer(lab.runtime, host, { proto: "udp", port: PORT });
      const own = lab.addressOf(host, "public");
      const peer = lab.addressOf(host === "n1" ? "n2" : "n1", "public");
      daemons.set(
        host,
        await startKeepalived(lab.runtime, {
          host,
          nic: "lan0",
          address: own,
          peers: [peer],
          virtualAddress: `${VIP}/24`,
          priority,
        }),
      );
    }
  } else {
    const file = join(lab.runtime.labDir, "cluster.yaml");
    writeFileSync(file, labClusterFile({ address: VIP, echoPort: PORT }));
    for (const [host, proc] of await startLabDaemons(lab, file, NODES)) daemons.set(host, proc);
  }
  await waitFor(
    "n1 to hold the address",
    () => upHolders(lab),
    (h) => h.length === 1 && h[0] === "n1",
    20_000,
  );
  return daemons;
}

/** One run: fresh lab, the system up on n1, then the fault; returns the client's view. */
export async function failoverRun(
  system: FailoverRun["system"],
  scenario: FailoverScenario,
): Promise<FailoverRun> {
  await Lab.down(LAB_NAME);
  const lab = await Lab.up(defaultLabSpec({ name: LAB_NAME, etcd: system === "pavise", etcdTls: false }));
  try {
    const daemons = await startSystem(lab, system);
    const watch = await AddressWatch.forHosts(lab.runtime, NODES);
    const traffic = await startTraffic(lab.runtime, {
      from: "c1",
      to: VIP,
      proto: "udp",
      port: PORT,
      intervalMs: 10,
    });
    await sleep(500);
    const etcdLeaderCrashed =
      system === "pavise" && scenario === "crash"
        ? (await etcdHealth(lab.runtime, lab.plan.etcd, "n2")).find((m) => m.leader)?.host === "n1"
        : undefined;
    const faultAt = Date.now();
    if (scenario === "crash") await lab.faults.crashHost("n1");
    else await lab.runtime.stop(daemons.get("n1")!, "SIGTERM");
    await waitFor(
      "another node to hold the address",
      () => upHolders(lab),
      (h) => h.length > 0 && !h.includes("n1"),
      20_000,
    );
    const takeoverMs = Date.now() - faultAt;
    await sleep(1500);
    const report = await traffic.stop();
    const timeline = await watch.stop();
    // After a crash n1 keeps its address configured on links that are down: it cannot answer,
    // so only a planned move can show two live holders.
    const overlapMs =
      scenario === "move" ? Math.max(0, ...overlaps(timeline, VIP).map((o) => o.durationMs)) : 0;
    return {
      system,
      scenario,
      gapMs: report.maxGapMs,
      takeoverMs,
      overlapMs,
      answered: report.received,
      sent: report.sent,
      ...(etcdLeaderCrashed === undefined ? {} : { etcdLeaderCrashed }),
    };
  } finally {
    await lab.down();
  }
}
