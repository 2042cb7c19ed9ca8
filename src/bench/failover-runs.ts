/**
 * One bench:failover run in a fresh lab: a client (c1) sends a UDP request to the package's
 * address every 10 ms; the owner node n1 crashes (links down, every process killed) or hands the
 * address over on purpose (its daemon stops); the client's longest gap is the figure. The same
 * for Pavise (`pavise daemon` on n1–n3, one failover package with the address and an echo
 * service) and keepalived (VRRP on n1 and n2, echo servers on both).
 *
 * Pavise's etcd runs on the package nodes n1–n3 ("colocated") or on q1–q3, hosts that run no
 * package ("separate", labs/separate-etcd.yaml). A third scenario, "etcd-leader", kills only
 * etcd's leader member and keeps every package node up: the client's gap then shows whether an
 * etcd election alone made the owner fence itself. A fourth, "steady", does nothing for 30 s and
 * counts what the machine's load alone did: etcd elections, fences, the client's longest gap.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { etcdHealth, moveEtcdLeader } from "../lab/etcd.js";
import { startKeepalived } from "../lab/keepalived.js";
import { labClusterFile, startLabDaemons, type LabClusterOptions } from "../lab/lab-cluster-file.js";
import { Lab } from "../lab/lab.js";
import type { LabProcess } from "../lab/host-runtime.js";
import { AddressWatch } from "../lab/probes/address-watch.js";
import { overlaps } from "../lab/probes/address-timeline.js";
import { addressHolders } from "../lab/probes/holders.js";
import { startEchoServer, startTraffic } from "../lab/probes/traffic.js";
import { defaultLabSpec, type EtcdPlacement, type LabSpec } from "../lab/spec.js";
import { PaviseError } from "../util/errors.js";
import type { FailoverRun, FailoverScenario } from "./failover-summary.js";
import { daemonLogLines, ipsecContactTimeline, readFailoverTimeline } from "./failover-timeline.js";
import type { FailoverIpsecClient, FailoverIpsecRun } from "./failover-ipsec-summary.js";
import {
  CLIENT_RECORDED,
  IPSEC_LISTENS,
  ipsecPackageFor,
  startIpsecClient,
  untilDaemonLogged,
  type RunningIpsecClient,
} from "./failover-ipsec-clients.js";
import { CLIENT_ADDRESS } from "../lab/ipsec-package.js";

export interface FailoverRunOptions {
  /** The lab's name (namespaces are prefixed with it). */
  labName: string;
  /** Where Pavise's etcd members run. */
  etcd: EtcdPlacement;
  /** etcd settings to try instead of the lab's (50/500 ms Raft timing, pre-vote). */
  etcdTuning?: { electionTimeoutMs?: number; preVote?: boolean };
  /** Cluster-file timing keys instead of the lab's (member_timeout 1s, the rest derived). */
  timing?: LabClusterOptions["timing"];
  /**
   * Where etcd's leader should be when the fault comes (etcdctl move-leader): on n1, the node
   * that crashes (co-located only), or on another host; by default wherever etcd elected it.
   */
  etcdLeaderOn?: "n1" | "other";
  /**
   * Pavise crash and move runs: web gets an ipsec: section and this client runs on c1, so the
   * probe goes through the tunnel (failover-ipsec-clients.ts).
   */
  ipsecClient?: FailoverIpsecClient;
}
export const VIP = "198.18.1.50";
const PORT = 7100;
const NODES = ["n1", "n2", "n3"];
/** How long the "steady" scenario watches a cluster that nothing happens to. */
const STEADY_MS = 30_000;

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

/** Starts the system in the lab and waits until n1 serves the address (and the IPsec client has its SA). */
async function startSystem(
  lab: Lab,
  system: FailoverRun["system"],
  options: FailoverRunOptions,
): Promise<{ daemons: Map<string, LabProcess>; client: RunningIpsecClient | undefined }> {
  const daemons = new Map<string, LabProcess>();
  const ipsec =
    options.ipsecClient === undefined ? undefined : ipsecPackageFor(options.ipsecClient, lab.runtime.labDir);
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
    writeFileSync(
      file,
      labClusterFile({
        address: VIP,
        echoPort: PORT,
        etcdEndpoints: lab.plan.etcd.members.map((m) => m.clientUrl),
        ...(options.timing ? { timing: options.timing } : {}),
        ...(ipsec ? { ipsec: ipsec.section } : {}),
      }),
    );
    for (const [host, proc] of await startLabDaemons(lab, file, NODES)) daemons.set(host, proc);
  }
  try {
    await waitFor(
      "n1 to hold the address",
      () => upHolders(lab),
      (h) => h.length === 1 && h[0] === "n1",
      20_000,
    );
  } catch (error) {
    // Before any fault: the run measured nothing, so the bench may try again in a fresh lab.
    throw new PaviseError(
      "BENCH_SETUP_FAILED",
      `${(error as Error).message}: ${await whatDaemonsSaid(lab, daemons)}`,
    );
  }
  if (!ipsec || options.ipsecClient === undefined) return { daemons, client: undefined };
  let client: RunningIpsecClient | undefined;
  try {
    const n1 = daemons.get("n1")!;
    await untilDaemonLogged(n1, "web's IPsec listening on n1", IPSEC_LISTENS, 20_000);
    client = await startIpsecClient(lab, options.ipsecClient, ipsec.psk);
    await untilDaemonLogged(n1, `n1 recording the IPsec client ${CLIENT_ADDRESS}`, CLIENT_RECORDED, 10_000);
    return { daemons, client };
  } catch (error) {
    await client?.stop().catch(() => undefined);
    throw new PaviseError(
      "BENCH_SETUP_FAILED",
      `the ${options.ipsecClient} client did not get its SA with web on n1: ${(error as Error).message}`,
    );
  }
}

/** What the daemons said (since `since`, ms since the epoch) while the address did not go where it should. */
async function whatDaemonsSaid(lab: Lab, daemons: Map<string, LabProcess>, since = 0): Promise<string> {
  const holders = await upHolders(lab);
  const lines = [...daemons.values()]
    .flatMap((d) => {
      try {
        return daemonLogLines(readFileSync(d.log, "utf8"));
      } catch {
        return [];
      }
    })
    .filter((l) => l.at >= since && !["watch", "cleanup"].includes(l.event))
    .sort((a, b) => a.at - b.at)
    .slice(0, 16)
    .map((l) => `${l.node} ${l.event}: ${l.message.slice(0, 100)}`);
  return `address held by ${holders.join(", ") || "nobody"}; daemons said: ${lines.join(" | ") || "nothing"}`;
}

/** The lab for a run: Pavise's etcd placed and tuned as asked; keepalived needs no etcd. */
export function failoverLabSpec(system: FailoverRun["system"], options: FailoverRunOptions): LabSpec {
  const spec = defaultLabSpec({
    name: options.labName,
    etcd: system === "pavise",
    etcdTls: false,
    etcdPlacement: system === "pavise" ? options.etcd : "colocated",
  });
  const tuning = options.etcdTuning ?? {};
  return {
    ...spec,
    etcd: {
      ...spec.etcd,
      ...(tuning.electionTimeoutMs === undefined ? {} : { electionTimeoutMs: tuning.electionTimeoutMs }),
      ...(tuning.preVote === undefined ? {} : { preVote: tuning.preVote }),
    },
  };
}

/** The host whose etcd member leads, asked from n2 (a package node in both placements). */
async function etcdLeader(lab: Lab): Promise<string | undefined> {
  return (await etcdHealth(lab.runtime, lab.plan.etcd, "n2")).find((m) => m.leader)?.host;
}

/** One run: fresh lab, the system up on n1, then the fault; returns the client's view. */
export async function failoverRun(
  system: FailoverRun["system"],
  scenario: FailoverScenario,
  options: FailoverRunOptions,
): Promise<FailoverRun> {
  if (system === "keepalived" && scenario === "etcd-leader") {
    throw new PaviseError(
      "BENCH_USAGE",
      "the etcd-leader scenario is for Pavise only (keepalived has no etcd)",
    );
  }
  if (
    options.ipsecClient !== undefined &&
    (system !== "pavise" || (scenario !== "crash" && scenario !== "move"))
  ) {
    throw new PaviseError(
      "BENCH_USAGE",
      `an IPsec client runs with Pavise's crash and move scenarios only, not ${system} ${scenario}`,
    );
  }
  await Lab.down(options.labName);
  const lab = await Lab.up(failoverLabSpec(system, options));
  let client: RunningIpsecClient | undefined;
  try {
    const started = await startSystem(lab, system, options);
    const daemons = started.daemons;
    client = started.client;
    const saBefore = await client?.current();
    const watch = await AddressWatch.forHosts(lab.runtime, NODES);
    const traffic = await startTraffic(lab.runtime, {
      from: "c1",
      to: VIP,
      proto: "udp",
      port: PORT,
      intervalMs: 10,
    });
    await sleep(500);
    // A leader moved on purpose is not one that load caused: the count before the fault omits it.
    let leaderMoves = 0;
    if (system === "pavise" && options.etcdLeaderOn !== undefined) {
      const hosts = lab.plan.etcd.members.map((m) => m.host);
      const was = await etcdLeader(lab);
      const to = options.etcdLeaderOn === "n1" ? "n1" : was !== "n1" ? was : hosts.find((h) => h !== "n1");
      if (to !== undefined && to !== was && hosts.includes(to)) {
        await moveEtcdLeader(lab.runtime, lab.plan.etcd, to, "n2");
        leaderMoves = 1;
      }
    }
    const leaderBefore = system === "pavise" ? await etcdLeader(lab) : undefined;
    const etcdLeaderCrashed = system === "pavise" && scenario === "crash" ? leaderBefore === "n1" : undefined;
    const faultyHost = scenario === "etcd-leader" ? leaderBefore : "n1";
    if (faultyHost === undefined)
      throw new PaviseError("BENCH_NO_ETCD_LEADER", "etcd had no leader before the fault");
    // "steady": no fault at all for STEADY_MS; what load alone did is counted "before the fault".
    if (scenario === "steady") await sleep(STEADY_MS);
    const faultAt = Date.now();
    if (scenario === "crash") await lab.faults.crashHost("n1");
    else if (scenario === "move") await lab.runtime.stop(daemons.get("n1")!, "SIGTERM");
    else if (scenario === "etcd-leader")
      await lab.faults.kill(lab.processes().find((p) => p.role === `etcd-${faultyHost}`)!);
    let takeoverMs: number;
    if (scenario === "steady") {
      takeoverMs = 0;
    } else if (scenario === "etcd-leader") {
      // Nothing should move: give an election and a fence time to happen, then look.
      await sleep(3000);
      takeoverMs = 0;
    } else {
      try {
        await waitFor(
          "another node to hold the address",
          () => upHolders(lab),
          (h) => h.length > 0 && !h.includes("n1"),
          20_000,
        );
      } catch (error) {
        const said = await whatDaemonsSaid(lab, daemons, faultAt);
        throw new PaviseError("BENCH_TIMEOUT", `${(error as Error).message} after ${scenario}: ${said}`);
      }
      takeoverMs = Date.now() - faultAt;
      // Through IPsec the client is answered again once it has an SA with the adoptive node.
      if (client) await untilNewSa(client, saBefore?.id, 20_000);
      await sleep(1500);
    }
    const report = await traffic.stop();
    const timeline = await watch.stop();
    const ipsec = client
      ? await ipsecFigures(
          client,
          saBefore?.id,
          faultAt,
          [...daemons.values()].map((d) => d.log),
        )
      : undefined;
    // After a crash n1 keeps its address configured on links that are down: it cannot answer,
    // so only a planned move (or a fence and restart) can show two live holders.
    const overlapMs =
      scenario === "crash" ? 0 : Math.max(0, ...overlaps(timeline, VIP).map((o) => o.durationMs));
    const etcdLog = (name: string): string => join(lab.runtime.labDir, "logs", `etcd-${name}.log`);
    const faultyMember = lab.plan.etcd.members.find((m) => m.host === faultyHost);
    const paviseTimeline =
      system === "pavise"
        ? readFailoverTimeline(
            faultAt,
            scenario === "crash" || scenario === "move" ? "n1" : undefined,
            lab.plan.etcd.members.filter((m) => m !== faultyMember).map((m) => etcdLog(m.name)),
            [...daemons.values()].map((d) => d.log),
            faultyMember ? etcdLog(faultyMember.name) : undefined,
          )
        : undefined;
    return {
      system,
      scenario,
      ...(system === "pavise" ? { etcd: options.etcd } : {}),
      gapMs: report.maxGapMs,
      takeoverMs,
      overlapMs,
      answered: report.received,
      sent: report.sent,
      ...(etcdLeaderCrashed === undefined ? {} : { etcdLeaderCrashed }),
      ...(paviseTimeline
        ? {
            timeline: {
              ...paviseTimeline,
              etcdLeaderChangesBeforeFault: Math.max(
                0,
                (paviseTimeline.etcdLeaderChangesBeforeFault ?? 0) - leaderMoves,
              ),
            },
          }
        : {}),
      ...(ipsec ? { ipsec } : {}),
    };
  } finally {
    await client?.stop().catch(() => undefined);
    await lab.down();
  }
}

/** Waits (at most `timeoutMs`) until the client has an IKE SA other than `before`. */
async function untilNewSa(
  client: RunningIpsecClient,
  before: string | undefined,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const now = await client.current().catch(() => undefined);
    if (now !== undefined && now.id !== before) return;
    await sleep(50);
  }
}

/** What the tunnel added to the run: the client's SA at the end, and the IPsec steps from the daemons' logs. */
async function ipsecFigures(
  client: RunningIpsecClient,
  before: string | undefined,
  faultAt: number,
  daemonLogs: readonly string[],
): Promise<FailoverIpsecRun> {
  const after = await client.current().catch(() => undefined);
  const read = (file: string): string => {
    try {
      return readFileSync(file, "utf8");
    } catch {
      return "";
    }
  };
  return {
    client: client.kind,
    ...ipsecContactTimeline(faultAt, "n1", daemonLogs.map(read), CLIENT_ADDRESS),
    newSa: after !== undefined && after.id !== before,
    tunnelPacketsIn: after?.packetsIn ?? 0,
  };
}
