import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { StatusView } from "../../src/cli/status-render.js";
import { etcdctlArgs, etcdClientTls } from "../../src/lab/etcd.js";
import { MONITOR_USER, OPERATOR_USER, etcdUserEnv, etcdUserFiles } from "../../src/lab/etcd-auth.js";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import { distPath } from "../../src/util/package-paths.js";
import { arpHosts, linkedHolders, sampleArp, startClientTraffic } from "../support/cluster-observe.js";
import { NODES, VIP, daemonClusterFile } from "../support/daemon-cluster.js";
import { untilWebServedBy, useDaemonLab } from "../support/daemon-lab.js";
import { testLabName } from "../support/fresh-lab.js";

// Cluster traffic protected (issue #6, docs/ipsec-packages-design.md §12, T3b): the lab's etcd
// runs client and peer TLS with the lab's CA and etcd's authentication (lab spec
// `etcd: {tls: true, auth: true}`, src/lab/etcd-auth.ts). The daemons on n1–n3 each use their own
// certificate and etcd user ("{node}" in the cluster file's etcd.tls), form the cluster and run
// web. Nothing without a client certificate gets in; the operator's credentials may move web
// (admin/, events/) but not write an owner key; the monitor's may read status but not act.
// web's address is watched on every node from the start and must never be on two at once.
// Needs root and a build (dist/).
const root = process.getuid?.() === 0;
const LAB = testLabName("sxtls");
const UDP_PORT = 7461;
const PREFIX = `/pavise/${LAB}/`;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe.skipIf(!root)("cluster traffic over etcd TLS with users and roles", () => {
  const t = useDaemonLab(LAB, {
    etcd: { tls: true, auth: true },
    clusterFile: (lab) => daemonClusterFile(lab, { name: LAB, service: { echoPort: UDP_PORT } }),
    watchFromStart: true,
    ready: async (lab) => {
      // pavise status -v (printed when a wait fails) runs with the monitor's credentials.
      lab.cluster.cliEnv = { ...process.env, ...etcdUserEnv(lab.lab.runtime, MONITOR_USER) };
      for (const node of NODES) await lab.cluster.startDaemon(node);
      await untilWebServedBy(lab, "n1", UDP_PORT);
    },
  });

  /** A pavise command on a lab host as `user` (operator, monitor) or with no credentials of its own. */
  function cli(args: string[], user: string | undefined, host = "n2"): Promise<CliResult> {
    return t.lab.exec(host, [process.execPath, distPath("cli/main.js"), ...args, "--config", t.configFile], {
      allowFailure: true,
      env: { ...process.env, ...(user ? etcdUserEnv(t.lab.runtime, user) : {}) },
    });
  }

  /** etcdctl on n1 with the lab's CA and the given extra arguments (no client certificate of its own). */
  function etcdctl(args: string[]): Promise<CliResult> {
    const urls = t.lab.plan.etcd.members.map((m) => m.clientUrl);
    const base = ["etcdctl", `--endpoints=${urls.join(",")}`, "--dial-timeout=2s", "--command-timeout=3s"];
    return t.lab.exec("n1", [...base, `--cacert=${etcdClientTls(t.lab.runtime).caCert}`, ...args], {
      allowFailure: true,
      timeoutMs: 15_000,
    });
  }

  /** etcdctl arguments that are `user` (its certificate without CN, and its password). */
  function asUser(user: string): string[] {
    const files = etcdUserFiles(t.lab.runtime, user);
    const password = readFileSync(files.passwordFile, "utf8").trim();
    return [`--cert=${files.cert}`, `--key=${files.key}`, `--user=${user}:${password}`];
  }

  async function status(user: string): Promise<StatusView> {
    const r = await cli(["status", "--json"], user);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as StatusView;
  }

  const noStackTrace = (text: string): void => expect(text).not.toMatch(/\bat .*\.js:\d+/);

  it("the daemons form the cluster over TLS, each as its own etcd user, and run web on n1", async () => {
    const file = readFileSync(t.configFile, "utf8");
    expect(file).toMatch(/endpoints: \[https:\/\//);
    expect(file).toContain('user: "{node}"');
    const view = await status(MONITOR_USER);
    expect(view.nodes.map((n) => [n.name, n.status])).toEqual(NODES.map((n) => [n, "up"]));
    expect(view.packages.find((p) => p.name === "web")).toMatchObject({ status: "up", nodes: ["n1"] });
    // The node keys were written by the nodes' own users: n2's user may write, root aside.
    const mine = await etcdctl([...asUser("n2"), "get", "--keys-only", `${PREFIX}nodes/n2`]);
    expect(mine.stdout.trim(), mine.stderr).toBe(`${PREFIX}nodes/n2`);
  });

  it("etcd refuses a client without a certificate, and a certificate without a user", async () => {
    const bare = await etcdctl(["get", "--prefix", PREFIX]);
    console.log(
      `$ etcdctl get --prefix ${PREFIX}  (no client certificate; exit ${bare.code})\n${bare.stderr}`,
    );
    expect(bare.code).not.toBe(0);
    expect(bare.stdout).not.toContain(PREFIX);
    // Refused in the TLS handshake (--client-cert-auth), not merely unanswered.
    const memberLog = readFileSync(join(t.lab.runtime.labDir, "logs", "etcd-n1.log"), "utf8");
    expect(memberLog).toContain("client didn't provide a certificate");
    const files = etcdUserFiles(t.lab.runtime, OPERATOR_USER);
    const certOnly = await etcdctl([`--cert=${files.cert}`, `--key=${files.key}`, "get", "--prefix", PREFIX]);
    console.log(
      `$ etcdctl --cert operator.crt get --prefix  (no user; exit ${certOnly.code})\n${certOnly.stderr}`,
    );
    expect(certOnly.code).not.toBe(0);
    expect(certOnly.stderr).toMatch(/permission denied|user name is empty/);
  });

  it("the operator's credentials cannot write an owner key: permission denied", async () => {
    const key = `${PREFIX}owners/web/n2`;
    const put = await etcdctl([...asUser(OPERATOR_USER), "put", key, "{}"]);
    console.log(`$ etcdctl --user operator put ${key}  (exit ${put.code})\n${put.stderr}`);
    expect(put.code).not.toBe(0);
    expect(put.stderr).toMatch(/permission denied/);
    const owners = await etcdctl([
      ...asUser(OPERATOR_USER),
      "get",
      "--prefix",
      "--keys-only",
      `${PREFIX}owners/`,
    ]);
    expect(owners.stdout.trim().split("\n")).toEqual([`${PREFIX}owners/web/n1`]);
    // Nor take the leader's key, nor drop a node's.
    for (const other of [`${PREFIX}leader`, `${PREFIX}nodes/n1`]) {
      const del = await etcdctl([...asUser(OPERATOR_USER), "del", other]);
      expect(del.stderr, other).toMatch(/permission denied/);
    }
  });

  it("an operator command with the file's per-node credentials is refused, saying what to set", async () => {
    const r = await cli(["status"], undefined);
    console.log(`$ pavise status  (no PAVISE_ETCD_*; exit ${r.code})\n${r.stderr}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("etcd.tls.cert is a node's");
    expect(r.stderr).toContain("PAVISE_ETCD_CERT");
    noStackTrace(r.stderr);
  });

  it("the monitor's credentials read status but cannot move web (clear error, no stack trace)", async () => {
    const r = await cli(["pkg", "move", "web"], MONITOR_USER);
    console.log(`$ pavise pkg move web  (as monitor; exit ${r.code})\n${r.stderr}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/permission denied/);
    expect(r.stderr).toContain("pavise-operator");
    noStackTrace(r.stderr);
    await sleep(1000);
    expect(await linkedHolders(t.lab, VIP)).toEqual(["n1"]);
    expect(
      (await status(MONITOR_USER)).packages.find((p) => p.name === "web")?.requestedNode,
    ).toBeUndefined();
  });

  it("the operator applies the cluster file (its first apply), though it may not read other clusters' keys", async () => {
    const r = await t.lab.exec(
      "n2",
      [process.execPath, distPath("cli/main.js"), "config", "apply", t.configFile, "--json"],
      { allowFailure: true, env: { ...process.env, ...etcdUserEnv(t.lab.runtime, OPERATOR_USER) } },
    );
    console.log(`$ pavise config apply  (as operator; exit ${r.code})\n${r.stdout}${r.stderr}`);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, revision: 1 });
    noStackTrace(r.stderr);
  });

  it("pavise pkg move web with the operator's credentials: web on n2, never on two nodes; the gap", async () => {
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    const arp = sampleArp(t.lab, [VIP]);
    await sleep(500);
    const started = Date.now();
    const r = await cli(["pkg", "move", "web"], OPERATOR_USER);
    const ms = Date.now() - started;
    console.log(`$ pavise pkg move web  (as operator; exit ${r.code}, ${ms} ms)\n${r.stderr}${r.stdout}`);
    expect(r.code, r.stderr).toBe(0);
    await untilWebServedBy(t, "n2", UDP_PORT);
    await sleep(500);
    const report = await traffic.stop();
    const samples = (await arp.stop()).get(VIP) ?? [];
    console.log(
      `pavise pkg move web (n1 -> n2) over etcd TLS + auth: command done in ${ms} ms; client's longest gap ` +
        `${Math.round(report.maxGapMs)} ms (target < 500 ms), ${report.received}/${report.sent} answered; ` +
        `${samples.length} ARP rounds`,
    );
    expect(report.received).toBeGreaterThan(0);
    // Target 0.5 s; the bound leaves room for a loaded machine and still fails on a real stall.
    expect(report.maxGapMs).toBeLessThan(1500);
    expect(samples.length).toBeGreaterThan(0);
    for (const sample of samples) expect(sample.hosts.length, JSON.stringify(sample)).toBeLessThanOrEqual(1);
    expect(await arpHosts(t.lab, VIP)).toEqual(["n2"]);
    // The operator's event was appended (events/ is the operator's to write).
    const events = await cli(["events", "--json"], MONITOR_USER);
    const logged = (JSON.parse(events.stdout) as { events: { kind: string; message: string }[] }).events;
    expect(logged.some((e) => e.kind === "operator" && e.message.includes("pavise pkg move web"))).toBe(true);
  });

  it("n2's password is rotated (etcd drops its tokens): its daemon asks again and hands web to n3", async () => {
    const files = etcdUserFiles(t.lab.runtime, "n2");
    const old = readFileSync(files.passwordFile, "utf8").trim();
    const rotated = `${old}-rotated`;
    // As an administrator rotates it: the file first, then etcd (which forgets n2's tokens).
    writeFileSync(files.passwordFile, `${rotated}\n`);
    const urls = t.lab.plan.etcd.members.map((m) => m.clientUrl);
    await t.lab.exec(
      "n1",
      [...etcdctlArgs(t.lab.runtime, t.lab.plan.etcd, urls), "user", "passwd", "n2", "--interactive=false"],
      { input: `${rotated}\n` },
    );
    const stale = await etcdctl([
      `--cert=${files.cert}`,
      `--key=${files.key}`,
      `--user=n2:${old}`,
      "get",
      PREFIX,
    ]);
    expect(stale.stderr).toMatch(/authentication failed/);
    // n2 must write (its status, then give up its owner key) with a new token for web to move.
    const started = Date.now();
    const r = await cli(["pkg", "move", "web", "--node", "n3"], OPERATOR_USER);
    expect(r.code, r.stderr).toBe(0);
    await untilWebServedBy(t, "n3", UDP_PORT);
    console.log(
      `after n2's password was rotated: web on n3 ${Date.now() - started} ms after pavise pkg move`,
    );
    const view = await status(MONITOR_USER);
    expect(view.nodes.map((n) => [n.name, n.status])).toEqual(NODES.map((n) => [n, "up"]));
    expect(t.cluster.logged("n2", "fenced")).toBe(false);
  });

  it("web's address was never on two nodes at once", async () => {
    const timeline = await t.stopWatch();
    expect(overlaps(timeline, VIP)).toEqual([]);
  });
});
