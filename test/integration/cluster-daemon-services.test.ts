import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { StatusView } from "../../src/cli/status-render.js";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import { pidsInNamespace } from "../../src/lab/topology.js";
import { distPath } from "../../src/util/package-paths.js";
import {
  VIP,
  daemonClusterFile,
  echoPids,
  processGone,
  nodesServing,
  NODES,
} from "../support/daemon-cluster.js";
import { sampleArp, linkedHolders, arpHosts, startClientTraffic } from "../support/cluster-observe.js";
import { testLabName } from "../support/fresh-lab.js";
import { until } from "../support/until.js";
import { useDaemonLab, untilWebServedBy } from "../support/daemon-lab.js";

// Fault tests of #5, "a flapping service" and "halt script hanging", with `pavise daemon` on
// the lab's three nodes. web's echo service (service_restart 3, restart_delay 100 ms) starts to
// exit the moment it starts on n1: its restarts are counted, flapping is reported, and when they
// run out web fails on n1 and starts on another node; `pavise status --json` says it failed on
// n1, and why. Then web's halt script hangs on its owner while that daemon is stopped (SIGTERM,
// a planned move): the script is killed at its timeout (halt_script_timeout 3 s), and only then
// does the next node start web, because the owner key is released once the halt is done. Never
// two holders, by the address timeline and by ARP. Needs root and a build.
const root = process.getuid?.() === 0;
const LAB = testLabName("fasvc");
const UDP_PORT = 7413;
const RESTARTS = 3;
const HALT_SCRIPT_TIMEOUT_MS = 3000;
/** What the hanging halt script runs, so its process can be found (or not) afterwards. */
const HANG_SECONDS = "1717";

describe.skipIf(!root)("pavise daemon with a flapping service and a hanging halt script", () => {
  const t = useDaemonLab(LAB, {
    clusterFile: (lab, dir) =>
      daemonClusterFile(lab, {
        name: LAB,
        service: { echoPort: UDP_PORT, restart: RESTARTS, crashWhile: join(dir, "crash") },
        haltScript: {
          command: `if [ -e ${join(dir, "hang")}-$PAVISE_NODE ]; then echo hanging on purpose; sleep ${HANG_SECONDS}; fi`,
          timeout: `${HALT_SCRIPT_TIMEOUT_MS / 1000}s`,
        },
      }),
    start: NODES,
    ready: (t) => untilWebServedBy(t, "n1", UDP_PORT),
    haltFirst: true,
  });

  const holdersWithLink = (): Promise<string[]> => linkedHolders(t.lab, VIP);

  const servingNodes = (): Promise<string[]> => nodesServing(t.lab, UDP_PORT);

  async function status(host: string): Promise<StatusView> {
    const r = await t.lab.exec(
      host,
      [process.execPath, distPath("cli/main.js"), "status", "--config", t.configFile, "--json"],
      { allowFailure: true },
    );
    return JSON.parse(r.stdout) as StatusView;
  }

  /** web's service events on a node, from its daemon log ("service" lines carry them as JSON). */
  function serviceEvents(node: string): { kind: string; [field: string]: unknown }[] {
    return t.cluster
      .daemonEvents(node)
      .filter((e) => e.event === "service")
      .map((e) => JSON.parse(e.message.slice(e.message.indexOf("{"))) as { kind: string });
  }

  /** PIDs in a node's namespace still running the hanging halt script's sleep. */
  async function hangingSleeps(node: string): Promise<number[]> {
    return (await pidsInNamespace(t.lab.host(node).namespace)).filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        return argv[0] === "sleep" && argv[1] === HANG_SECONDS;
      } catch {
        return false;
      }
    });
  }

  it("a service that exits as it starts on n1: restarts counted, flapping reported, web fails there and starts elsewhere", async () => {
    await t.startWatch();
    const arp = sampleArp(t.lab, [VIP]);
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await sleep(500);

    // From now on every start of the service on n1 exits with status 1 at once.
    writeFileSync(`${join(t.dir, "crash")}-n1`, "");
    const [pid] = await echoPids(t.lab, "n1", UDP_PORT);
    expect(pid).toBeDefined();
    const crashedAt = Date.now();
    process.kill(pid!, "SIGKILL");
    const [taker] = await until(
      "web's address on another node only",
      holdersWithLink,
      (h) => h.length === 1 && h[0] !== "n1",
      20_000,
    );
    const addressAfter = Date.now() - crashedAt;
    await until("web's service on the new owner only", servingNodes, (s) => s.length === 1 && s[0] === taker);
    const servedAfter = Date.now() - crashedAt;
    await sleep(1000);
    const report = await traffic.stop();
    const samples = (await arp.stop()).get(VIP)!;
    const timeline = await t.stopWatch();

    // The restarts, counted: service_restart 3, then failed for good.
    const events = serviceEvents("n1");
    const restarts = events.filter((e) => e.kind === "restarting");
    expect(restarts.map((e) => e.restart)).toEqual([1, 2, 3]);
    expect(restarts.every((e) => e.limit === RESTARTS)).toBe(true);
    expect(events.filter((e) => e.kind === "exited").length).toBe(RESTARTS + 1);
    expect(events.some((e) => e.kind === "flapping")).toBe(true);
    expect(events.filter((e) => e.kind === "failed").map((e) => e.restarts)).toEqual([RESTARTS]);
    expect(t.cluster.logged("n1", "package-failed", `failed for good after ${RESTARTS} restart(s)`)).toBe(
      true,
    );

    expect(overlaps(timeline, VIP)).toEqual([]);
    const dropped = timeline.events.find((e) => e.host === "n1" && e.address === VIP && e.change === "del");
    const added = timeline.events.find((e) => e.host === taker && e.address === VIP && e.change === "add");
    expect(dropped && added && dropped.at < added.at).toBe(true);
    for (const s of samples) expect(s.hosts.length, `ARP answerers at ${s.at}`).toBeLessThanOrEqual(1);
    expect(await arpHosts(t.lab, VIP)).toEqual([taker]);
    expect(report.received).toBeGreaterThan(0);

    // pavise status --json: up on the taker, failed on n1 with the reason.
    const view = await status(taker!);
    const web = view.packages.find((p) => p.name === "web")!;
    expect(web).toMatchObject({ status: "up", nodes: [taker] });
    expect(web.failedOn.map((f) => f.node)).toEqual(["n1"]);
    expect(web.failedOn[0]!.reason).toContain(`failed for good after ${RESTARTS} restart(s)`);
    const failedAt = t.cluster.daemonEvents("n1").find((e) => e.event === "package-failed");
    console.log(
      `pavise daemon, flapping service on n1 (service_restart ${RESTARTS}, restart_delay 100 ms): ` +
        `${restarts.length} restarts, then "${failedAt?.message ?? "?"}"; ${taker} holds ${VIP} ${addressAfter} ms ` +
        `and serves ${servedAfter} ms after the first crash; n1 dropped it ${Math.round(dropped!.at - crashedAt)} ms, ` +
        `${taker} added it ${Math.round(added!.at - crashedAt)} ms after; ` +
        `client's longest gap ${Math.round(report.maxGapMs)} ms, ${report.received}/${report.sent} answered; ` +
        `status: failed on ${web.failedOn.map((f) => `${f.node} (${f.reason})`).join(", ")}`,
    );
  });

  it("a halt script that hangs during a planned move is killed at its timeout, then the next node starts web", async () => {
    const [owner] = await holdersWithLink();
    expect(owner).toBeDefined();
    writeFileSync(`${join(t.dir, "hang")}-${owner}`, "");
    await t.startWatch();
    const arp = sampleArp(t.lab, [VIP]);
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    await sleep(500);

    const stoppedAt = Date.now();
    await t.lab.runtime.stop(t.cluster.daemons.get(owner!)!, "SIGTERM");
    t.cluster.daemons.delete(owner!);
    // The halt script is running (and hanging) once the owner's address and service are gone.
    const hanging = await until(
      "the halt script to hang",
      () => hangingSleeps(owner!),
      (p) => p.length > 0,
    );
    const [taker] = await until(
      "web's address on another node only",
      holdersWithLink,
      (h) => h.length === 1 && h[0] !== owner,
      20_000,
      10,
    );
    const movedAfter = Date.now() - stoppedAt;
    await until("web's service on the new owner only", servingNodes, (s) => s.length === 1 && s[0] === taker);
    const servedAfter = Date.now() - stoppedAt;
    await t.cluster.untilLogged("the old owner's daemon to leave", owner!, "left", "");
    await sleep(500);
    const report = await traffic.stop();
    const samples = (await arp.stop()).get(VIP)!;
    const timeline = await t.stopWatch();

    expect(overlaps(timeline, VIP)).toEqual([]);
    const dropped = timeline.events.find((e) => e.host === owner && e.address === VIP && e.change === "del");
    const added = timeline.events.find((e) => e.host === taker && e.address === VIP && e.change === "add");
    expect(dropped).toBeDefined();
    expect(added).toBeDefined();
    expect(dropped!.at).toBeLessThan(added!.at);
    // The next node starts web only after the halt script was killed at its timeout...
    expect(added!.at - stoppedAt).toBeGreaterThanOrEqual(HALT_SCRIPT_TIMEOUT_MS);
    // ...and not long after (the halt is done, the owner key released, the start is quick).
    expect(added!.at - stoppedAt).toBeLessThan(HALT_SCRIPT_TIMEOUT_MS + 3000);
    // Killed with its whole process group.
    for (const pid of hanging) expect(processGone(pid), `halt script's sleep ${pid}`).toBe(true);
    expect(await hangingSleeps(owner!)).toEqual([]);
    const packageLog = readFileSync(join(t.dir, `logs-${owner}`, "web.log"), "utf8");
    expect(packageLog).toContain("halt script: hanging on purpose");
    expect(packageLog).toContain(
      `halt script did not finish within its timeout of ${HALT_SCRIPT_TIMEOUT_MS} ms and was killed`,
    );
    const halted = t.cluster.daemonEvents(owner!).find((e) => e.event === "halted");
    expect(halted?.message).toContain("halt script did not finish within its timeout");
    for (const s of samples) expect(s.hosts.length, `ARP answerers at ${s.at}`).toBeLessThanOrEqual(1);
    expect(await arpHosts(t.lab, VIP)).toEqual([taker]);
    expect(report.received).toBeGreaterThan(0);
    console.log(
      `pavise daemon, halt script hanging on ${owner} during a planned move (halt_script_timeout ${HALT_SCRIPT_TIMEOUT_MS} ms): ` +
        `${owner} dropped ${VIP} ${Math.round(dropped!.at - stoppedAt)} ms after SIGTERM, ${taker} added it ` +
        `${Math.round(added!.at - stoppedAt)} ms after (seen ${movedAfter} ms, service up ${servedAfter} ms); ` +
        `"${halted?.message ?? "?"}"; client's longest gap ${Math.round(report.maxGapMs)} ms, ${report.received}/${report.sent} answered`,
    );
  });
});
