import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { LabProcess } from "../../src/lab/host-runtime.js";
import type { StatusView } from "../../src/cli/status-render.js";
import type { LoggedEvent } from "../../src/cli/events-render.js";
import { distPath } from "../../src/util/package-paths.js";
import { VIP, daemonClusterFile, etcdLeaderAwayFrom, readLog, NODES } from "../support/daemon-cluster.js";
import { testLabName } from "../support/fresh-lab.js";
import { until } from "../support/until.js";
import { useDaemonLab } from "../support/daemon-lab.js";

// `pavise status` and `pavise events` against a real cluster: daemons on n1–n3 with the lab's
// etcd (set up as in cluster-daemon.test.ts). web runs on n1; after n1 crashes, status shows
// n1 failed and web on n2, and the event log (read once, and followed with --follow) shows the
// failover. With endpoints where no etcd listens, both commands say so, exit 1, no stack trace.
// Needs root and a build (dist/cli/main.js).
const root = process.getuid?.() === 0;
const LAB = testLabName("tstat");

describe.skipIf(!root)("pavise status and pavise events on a lab cluster", () => {
  const t = useDaemonLab(LAB, {
    clusterFile: (lab) => daemonClusterFile(lab, { name: LAB, service: "sleeper" }),
    ready: async (t) => {
      // Where no etcd listens: the lab's etcd hosts, on a port nobody serves.
      const wrong = t.lab.plan.etcd.members.map((m) => m.clientUrl.replace(/:\d+$/, ":2399"));
      writeFileSync(
        join(t.dir, "wrong.yaml"),
        daemonClusterFile(t.lab, { name: LAB, service: "sleeper", endpoints: wrong }),
      );
      for (const node of NODES) await t.cluster.startDaemon(node);
    },
    cleanup: async (t) => {
      for (const proc of procs) await t.lab.runtime.stop(proc).catch(() => undefined);
    },
  });
  /** Processes to end in afterAll besides the daemons (the events follower). */
  const procs: LabProcess[] = [];

  function cli(host: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return t.lab.exec(host, [process.execPath, distPath("cli/main.js"), ...args], { allowFailure: true });
  }

  async function status(host: string): Promise<{ code: number; view: StatusView }> {
    const r = await cli(host, ["status", "--config", t.configFile, "--json"]);
    return { code: r.code, view: JSON.parse(r.stdout) as StatusView };
  }

  it("shows web up on n1, as text and as JSON, and exits 0", async () => {
    const { code, view } = await until(
      "status to show web up on n1",
      () => status("n1"),
      (s) => s.view.packages[0]?.status === "up" && s.view.packages[0].nodes[0] === "n1",
      20_000,
      200,
    );
    expect(code).toBe(0);
    expect(view.cluster.name).toBe(LAB);
    expect(["n1", "n2", "n3"]).toContain(view.cluster.leader);
    expect(view.etcd).toMatchObject({ reachable: 3, members: 3, quorum: true });
    expect(view.nodes.map((n) => [n.name, n.status])).toEqual([
      ["n1", "up"],
      ["n2", "up"],
      ["n3", "up"],
    ]);
    expect(view.packages[0]).toMatchObject({ name: "web", status: "up", state: "running", switching: true });
    expect(view.packages[0]!.addresses[0]).toMatchObject({ address: VIP, node: "n1", nic: "lan0" });

    const text = await cli("n1", ["status", "--config", t.configFile]);
    console.log(`$ pavise status --config cluster.yaml\n${text.stdout}`);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^web\s+up\s+running\s+enabled\s+n1\s*$/m);
    expect(text.stdout).toMatch(/^n1\s+up\s+\S+Z$/m);
    const verbose = await cli("n1", ["status", "-v", "--config", t.configFile]);
    expect(verbose.code).toBe(0);
    expect(verbose.stdout).toContain(`addresses:     ${VIP} (public) on n1 lan0`);
    expect(verbose.stdout).toContain("services:      sleeper");
  });

  it("after n1 crashes: n1 failed, web on n2, and the events show the failover (read and followed)", async () => {
    const follow = await t.lab.runtime.spawn(
      "n2",
      [process.execPath, distPath("cli/main.js"), "events", "--config", t.configFile, "--follow"],
      { role: "pavise-events", log: join(t.dir, "events-follow.log") },
    );
    procs.push(follow);
    await etcdLeaderAwayFrom(t.lab, "n1");
    await sleep(500);
    const crashedAt = Date.now();
    await t.lab.faults.crashHost("n1");

    const { code, view } = await until(
      "status to show n1 failed and web up on n2",
      () => status("n2"),
      (s) =>
        s.view.nodes[0]?.status === "failed" &&
        s.view.packages[0]?.status === "up" &&
        s.view.packages[0].nodes[0] === "n2",
      20_000,
      200,
    );
    console.log(`status shows web up on n2 ${Date.now() - crashedAt} ms after n1 crashed`);
    expect(code).toBe(0);
    expect(view.etcd.reachable).toBe(2);
    expect(view.etcd.quorum).toBe(true);
    expect(view.packages[0]!.addresses[0]).toMatchObject({ address: VIP, node: "n2", nic: "lan0" });
    const text = await cli("n2", ["status", "--config", t.configFile]);
    console.log(`$ pavise status --config cluster.yaml (after n1 crashed)\n${text.stdout}`);
    expect(text.stdout).toMatch(/^n1\s+failed\s+-$/m);
    expect(text.stdout).toMatch(/^web\s+up\s+running\s+enabled\s+n2\s*$/m);

    const events = await cli("n2", ["events", "--config", t.configFile, "--json"]);
    expect(events.code).toBe(0);
    const log = (JSON.parse(events.stdout) as { events: LoggedEvent[] }).events;
    const revisions = log.map((e) => e.revision);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    const startedOnN1 = log.findIndex((e) => e.node === "n1" && e.kind === "started" && e.package === "web");
    const startedOnN2 = log.findIndex((e) => e.node === "n2" && e.kind === "started" && e.package === "web");
    expect(startedOnN1).toBeGreaterThanOrEqual(0);
    expect(startedOnN2).toBeGreaterThan(startedOnN1);
    // The (new) leader said why: n1 failed, before web started on n2.
    const n1Failed = log.findIndex((e) => e.kind === "node-failed" && e.message.includes("node n1 failed"));
    expect(n1Failed).toBeGreaterThan(startedOnN1);
    expect(n1Failed).toBeLessThan(startedOnN2);
    const recent = await cli("n2", ["events", "--config", t.configFile, "--since", "1h"]);
    console.log(`$ pavise events --config cluster.yaml --since 1h\n${recent.stdout}`);
    expect(recent.stdout).toMatch(/ n2 {2}started: package web started in \d+ ms/);

    // The follower saw the failover as it happened, then ends on Ctrl-C.
    await until(
      "pavise events --follow to print web starting on n2",
      () => Promise.resolve(readLog(follow.log)),
      (t) => / n2 {2}started: package web started/.test(t),
      10_000,
    );
    await t.lab.runtime.stop(follow, "SIGINT");
    procs.splice(procs.indexOf(follow), 1);
  });

  it("says which endpoints it could not reach and how to fix it: exit 1, no stack trace", async () => {
    const wrong = join(t.dir, "wrong.yaml");
    for (const args of [
      ["status", "--config", wrong],
      ["events", "--config", wrong],
    ]) {
      const started = Date.now();
      const r = await cli("n2", args);
      console.log(
        `$ pavise ${args[0]} --config wrong.yaml → exit ${r.code} after ${Date.now() - started} ms\n${r.stderr}`,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        "error[CLUSTER_ETCD_UNREACHABLE]: cannot read the cluster from etcd at http://",
      );
      expect(r.stderr).toContain(":2399");
      expect(r.stderr).toContain("fix: check that etcd runs on those endpoints");
      expect(r.stderr).not.toMatch(/\n\s+at .*\.js:\d+/);
      expect(r.stderr).not.toContain("internal error");
      expect(Date.now() - started).toBeLessThan(10_000);
    }
    const json = await cli("n2", ["status", "--config", wrong, "--json"]);
    expect(json.code).toBe(1);
    expect((JSON.parse(json.stdout) as { error: { code: string } }).error.code).toBe(
      "CLUSTER_ETCD_UNREACHABLE",
    );
    const usage = await cli("n2", ["status"]);
    expect(usage.code).toBe(2);
  });
});
