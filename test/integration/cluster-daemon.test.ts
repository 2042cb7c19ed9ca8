import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { etcdHealth, etcdctlArgs, waitForEtcd } from "../../src/lab/etcd.js";
import type { Lab } from "../../src/lab/lab.js";
import type { LabProcess } from "../../src/lab/host-runtime.js";
import { type AddressOverlap, overlaps } from "../../src/lab/probes/address-timeline.js";
import { AddressWatch } from "../../src/lab/probes/address-watch.js";
import { startTraffic } from "../../src/lab/probes/traffic.js";
import { distPath } from "../../src/util/package-paths.js";
import { run } from "../../src/util/run.js";
import { freshLab, testLabSpec } from "../support/fresh-lab.js";
import { until } from "../support/until.js";

// `pavise daemon` on the three lab nodes with real etcd (1 s leases, the lab's fast Raft
// timing): web starts on n1, fails over to n2 when n1 crashes, and moves to n3 when n2's daemon
// is told to stop (SIGTERM), and leaves n3 when n3 is cut off from etcd (n3 fences: drops the
// address before the lease it can no longer renew ends). The client's longest gap is printed for
// each; the address is never held by two nodes at once. Needs root and a build (dist/cli/main.js,
// the echo service).
const root = process.getuid?.() === 0;
const LAB = "tdmn";
const VIP = "198.18.1.50";
const UDP_PORT = 7402;

function clusterFile(lab: Lab): string {
  const endpoints = lab.plan.etcd.members.map((m) => m.clientUrl).join(", ");
  const echo = `exec ${process.execPath} ${distPath("lab/probes/traffic-agent.js")} serve --proto udp --port ${UDP_PORT}`;
  const node = (name: string): string => `  - name: ${name}
    interfaces:
      - { subnet: public, primary: lan0, standby: [lan1] }
      - { subnet: heartbeat, primary: hb0 }
`;
  return `cluster_name: ${LAB}
etcd:
  endpoints: [${endpoints}]
timing:
  member_timeout: 1s
arp:
  count: 3
  interval: 100ms
subnets:
  - { name: public, cidr: 198.18.1.0/24 }
  - { name: heartbeat, cidr: 198.18.2.0/24, heartbeat: yes }
nodes:
${node("n1")}${node("n2")}${node("n3")}
packages:
  - name: web
    node_name: [n1, n2, n3]
    ip_address:
      - { address: ${VIP}, subnet: public }
    services:
      - name: echo
        command: "${echo}"
        restart: 2
        restart_delay: 100ms
        halt_timeout: 2s
`;
}

/**
 * Moves etcd's leadership off a host, so that crashing it measures Pavise rather than an etcd
 * election (with 1 s leases an election fences every node: see member-session.ts).
 */
async function etcdLeaderAwayFrom(lab: Lab, host: string): Promise<string> {
  const roles = await etcdHealth(lab.runtime, lab.plan.etcd, host);
  const leader = roles.find((m) => m.leader);
  if (leader && leader.host !== host) return leader.host;
  const target = lab.plan.etcd.members.find((m) => m.host !== host)!;
  const urls = lab.plan.etcd.members.map((m) => m.clientUrl);
  const list = await lab.exec(target.host, [
    ...etcdctlArgs(lab.runtime, lab.plan.etcd, urls),
    "member",
    "list",
  ]);
  // "8e9e05c52164694d, started, n2, http://…, http://…, false"
  const id = list.stdout
    .split("\n")
    .map((line) => line.split(",").map((f) => f.trim()))
    .find((fields) => fields[2] === target.name)?.[0];
  if (!id) throw new Error(`no member id for ${target.name} in: ${list.stdout}`);
  const current = lab.plan.etcd.members.find((m) => m.host === host)!.clientUrl;
  await lab.exec(target.host, [...etcdctlArgs(lab.runtime, lab.plan.etcd, [current]), "move-leader", id]);
  const after = await until(
    `etcd's leader to leave ${host}`,
    () => etcdHealth(lab.runtime, lab.plan.etcd, host),
    (r) => r.some((m) => m.leader && m.host !== host),
    10_000,
    100,
  );
  return after.find((m) => m.leader)!.host;
}

/** PIDs of web's echo service in a host's network namespace. */
async function echoPids(lab: Lab, host: string): Promise<number[]> {
  const listed = await run(["ip", "netns", "pids", lab.host(host).namespace], { allowFailure: true });
  return listed.stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map(Number)
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        return argv.includes("serve") && argv.includes(`${UDP_PORT}`);
      } catch {
        return false;
      }
    });
}

/** Overlaps, leaving out a crashed host from its crash on (its links are down: nobody reaches it). */
function liveOverlaps(all: AddressOverlap[], crashed: string, crashedAt: number): AddressOverlap[] {
  return all.filter((o) => {
    if (!o.hosts.includes(crashed) || o.from < crashedAt) return true;
    return o.hosts.filter((h) => h !== crashed).length > 1;
  });
}

describe.skipIf(!root)("pavise daemon on three lab nodes", () => {
  let lab: Lab;
  let dir: string;
  let watch: AddressWatch | undefined;
  const daemons = new Map<string, LabProcess>();
  /** Log file of each daemon start, in order (a node may be started again). */
  const logs = new Map<string, string>();
  const allLogs: string[] = [];

  async function startDaemon(node: string, options: { json?: boolean } = {}): Promise<LabProcess> {
    const proc = await lab.runtime.spawn(
      node,
      [
        process.execPath,
        distPath("cli/main.js"),
        "daemon",
        "--config",
        join(dir, "cluster.yaml"),
        "--node",
        node,
        "--log-dir",
        join(dir, `logs-${node}`),
        ...(options.json ? ["--json"] : []),
      ],
      { role: "pavise-daemon", log: join(dir, `daemon-${node}-${allLogs.length + 1}.log`) },
    );
    daemons.set(node, proc);
    logs.set(node, proc.log);
    allLogs.push(proc.log);
    await until(
      "the daemon on " + node + " to join",
      () => Promise.resolve(daemonEvents(node)),
      (events) => events.some((e) => e.event === "joined"),
      15_000,
    );
    return proc;
  }

  function readLog(file: string | undefined): string {
    try {
      return file === undefined ? "" : readFileSync(file, "utf8");
    } catch {
      return "";
    }
  }

  /** What the node's latest daemon wrote. */
  function daemonLog(node: string): string {
    return readLog(logs.get(node));
  }

  /** The latest daemon's log lines, text ("<time> <node> <event>: <message>") or --json. */
  function daemonEvents(node: string): { event: string; message: string }[] {
    return daemonLog(node)
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => {
        if (line.startsWith("{")) return JSON.parse(line) as { event: string; message: string };
        const m = /^\S+ \S+ ([\w-]+): (.*)$/.exec(line);
        return { event: m?.[1] ?? "", message: m?.[2] ?? line };
      });
  }

  function logged(node: string, event: string, message = ""): boolean {
    return daemonEvents(node).some((e) => e.event === event && e.message.includes(message));
  }

  async function holdersWithLink(): Promise<string[]> {
    return (await lab.holders(VIP)).filter((h) => h.up).map((h) => h.host);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "pavise-tdmn-"));
    lab = await freshLab(testLabSpec(LAB, { etcd: true }));
    writeFileSync(join(dir, "cluster.yaml"), clusterFile(lab));
    watch = await AddressWatch.start(
      ["n1", "n2", "n3"].map((host) => ({ host, namespace: lab.host(host).namespace })),
    );
  });

  afterAll(async () => {
    await watch?.stop().catch(() => undefined);
    for (const proc of daemons.values()) await lab?.runtime.stop(proc).catch(() => undefined);
    await lab?.down();
    for (const file of allLogs) console.log(`--- ${file.slice(dir.length + 1)}\n${readLog(file)}`);
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts web on n1, fails it over to n2 when n1 crashes, never on two nodes at once", async () => {
    await startDaemon("n1");
    await startDaemon("n2");
    await startDaemon("n3", { json: true });
    await until(
      "web's address on n1 only",
      () => lab.holders(VIP),
      (h) => h.length === 1 && h[0]?.host === "n1",
      15_000,
    );
    await until(
      "the echo service on n1",
      () => Promise.resolve(logged("n1", "started", "package web started")),
      (yes) => yes,
      15_000,
    );
    expect((await lab.arpAnswerers("public", VIP)).map((a) => a.host)).toEqual(["n1"]);

    const traffic = await startTraffic(lab.runtime, {
      from: "c1",
      to: VIP,
      proto: "udp",
      port: UDP_PORT,
      intervalMs: 10,
    });
    const etcdLeader = await etcdLeaderAwayFrom(lab, "n1");
    await sleep(700);
    const crashedAt = Date.now();
    await lab.faults.crashHost("n1");
    daemons.delete("n1");
    await until("web's address on n2", holdersWithLink, (h) => h.includes("n2"), 20_000);
    const takenAfter = Date.now() - crashedAt;
    await sleep(1000);
    const report = await traffic.stop();
    expect(await holdersWithLink()).toEqual(["n2"]);
    expect((await lab.arpAnswerers("public", VIP)).map((a) => a.host)).toEqual(["n2"]);
    expect(report.received).toBeGreaterThan(0);
    console.log(
      `pavise daemon, node crash (etcd leader on ${etcdLeader}): n2 holds ${VIP} ${takenAfter} ms after n1 crashed; ` +
        `client's longest gap ${Math.round(report.maxGapMs)} ms, ${report.received}/${report.sent} answered`,
    );

    const timeline = await watch!.stop();
    watch = undefined;
    expect(liveOverlaps(overlaps(timeline, VIP), "n1", crashedAt)).toEqual([]);
    // n3 runs with --json: one JSON object per line, each with time, node, event and message.
    const lines = daemonLog("n3").trim().split("\n");
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines) {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      expect([typeof parsed.at, parsed.node, typeof parsed.event, typeof parsed.message]).toEqual([
        "number",
        "n3",
        "string",
        "string",
      ]);
    }
    watch = await AddressWatch.start(
      ["n2", "n3"].map((host) => ({ host, namespace: lab.host(host).namespace })),
    );
  });

  it("moves web to n3 when n2's daemon is stopped with SIGTERM (planned move)", async () => {
    const n2 = daemons.get("n2")!;
    const traffic = await startTraffic(lab.runtime, {
      from: "c1",
      to: VIP,
      proto: "udp",
      port: UDP_PORT,
      intervalMs: 10,
    });
    await sleep(500);
    const stoppedAt = Date.now();
    await lab.runtime.stop(n2, "SIGTERM");
    daemons.delete("n2");
    await until("web's address on n3 only", holdersWithLink, (h) => h.length === 1 && h[0] === "n3", 20_000);
    const movedAfter = Date.now() - stoppedAt;
    await until(
      "n2's daemon to leave",
      () => Promise.resolve(logged("n2", "left")),
      (yes) => yes,
      20_000,
    );
    await sleep(500);
    const report = await traffic.stop();
    expect((await lab.arpAnswerers("public", VIP)).map((a) => a.host)).toEqual(["n3"]);
    const timeline = await watch!.stop();
    watch = undefined;
    expect(overlaps(timeline, VIP)).toEqual([]);
    expect(report.received).toBeGreaterThan(0);
    console.log(
      `pavise daemon, planned move (SIGTERM n2): n3 holds ${VIP} ${movedAfter} ms after; ` +
        `client's longest gap ${Math.round(report.maxGapMs)} ms, ${report.received}/${report.sent} answered`,
    );
    await until(
      "n2's daemon process to exit",
      () => {
        try {
          process.kill(n2.pid, 0);
          return Promise.resolve(false);
        } catch {
          return Promise.resolve(true);
        }
      },
      (gone) => gone,
      10_000,
    );
  });

  it("a node cut off from etcd fences: it drops web's address before another node adds it", async () => {
    // n1 back (links up, its etcd member started) with a daemon, and n2's daemon again: three
    // etcd members, so cutting n3 off leaves a quorum.
    await lab.faults.powerOn("n1");
    await waitForEtcd(lab.runtime, lab.plan.etcd, 20_000);
    await startDaemon("n1");
    await startDaemon("n2");
    await etcdLeaderAwayFrom(lab, "n3");
    watch = await AddressWatch.start(
      ["n1", "n2", "n3"].map((host) => ({ host, namespace: lab.host(host).namespace })),
    );
    expect(await holdersWithLink()).toEqual(["n3"]);
    const traffic = await startTraffic(lab.runtime, {
      from: "c1",
      to: VIP,
      proto: "udp",
      port: UDP_PORT,
      intervalMs: 10,
    });
    await sleep(500);
    const cutAt = Date.now();
    const cut = await lab.faults.cutFromLan("n3", { subnet: "heartbeat" });
    const holders = await until(
      "web's address on another node only",
      holdersWithLink,
      (h) => h.length === 1 && h[0] !== "n3",
      20_000,
    );
    const movedAfter = Date.now() - cutAt;
    await sleep(500);
    const report = await traffic.stop();
    expect(logged("n3", "fenced")).toBe(true);
    expect((await lab.arpAnswerers("public", VIP)).map((a) => a.host)).toEqual(holders);
    const timeline = await watch.stop();
    watch = undefined;
    // n3's links stay up throughout: every holder counts.
    expect(overlaps(timeline, VIP)).toEqual([]);
    const dropped = timeline.events.find((e) => e.host === "n3" && e.address === VIP && e.change === "del");
    const added = timeline.events.find(
      (e) => e.host === holders[0] && e.address === VIP && e.change === "add",
    );
    expect(dropped && added && dropped.at <= added.at).toBe(true);
    console.log(
      `pavise daemon, n3 cut off from etcd: it dropped ${VIP} ${Math.round(dropped!.at - cutAt)} ms after the cut, ` +
        `${holders[0]} added it ${Math.round(added!.at - cutAt)} ms after (${movedAfter} ms seen); ` +
        `client's longest gap ${Math.round(report.maxGapMs)} ms, ${report.received}/${report.sent} answered`,
    );
    // Healed, n3 joins again (web stays where it is: failback manual).
    await lab.faults.heal(cut);
    await until(
      "n3 to join again",
      () => Promise.resolve(daemonEvents("n3").filter((e) => e.event === "joined").length),
      (joins) => joins >= 2,
      20_000,
    );
    expect(await holdersWithLink()).toEqual(holders);
  });

  it("a service out of restarts fails web on its node: reported, halted there, started elsewhere", async () => {
    const [from] = await holdersWithLink();
    expect(from).toBeDefined();
    watch = await AddressWatch.start(
      ["n1", "n2", "n3"].map((host) => ({ host, namespace: lab.host(host).namespace })),
    );
    // restart: 2 — the third exit is for good.
    let killedAt = 0;
    for (let kill = 1; kill <= 3; kill++) {
      const [pid] = await until(
        "web's echo service on " + from!,
        () => echoPids(lab, from!),
        (p) => p.length === 1,
      );
      killedAt = Date.now();
      process.kill(pid!, "SIGKILL");
      if (kill < 3) {
        await until(
          "the service to restart",
          () => echoPids(lab, from!),
          (p) => p.length === 1 && p[0] !== pid,
        );
      }
    }
    const holders = await until(
      "web's address on another node",
      holdersWithLink,
      (h) => h.length === 1 && h[0] !== from,
      20_000,
    );
    const movedAfter = Date.now() - killedAt;
    expect(logged(from!, "package-failed", "package web failed on")).toBe(true);
    expect((await lab.arpAnswerers("public", VIP)).map((a) => a.host)).toEqual(holders);
    const timeline = await watch.stop();
    watch = undefined;
    expect(overlaps(timeline, VIP)).toEqual([]);
    console.log(
      `pavise daemon, service out of restarts on ${from}: web runs on ${holders[0]} ${movedAfter} ms after the last exit`,
    );
  });
});
