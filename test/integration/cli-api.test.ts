import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { LoggedEvent } from "../../src/cli/events-render.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import { LAB_API_PORT } from "../../src/lab/api-credentials.js";
import { etcdctlArgs } from "../../src/lab/etcd.js";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import { distPath } from "../../src/util/package-paths.js";
import {
  arpHosts,
  clusterEvents,
  linkedHolders,
  sampleArp,
  startClientTraffic,
} from "../support/cluster-observe.js";
import { NODES, VIP, daemonClusterFile, nodesServing } from "../support/daemon-cluster.js";
import { useDaemonLab } from "../support/daemon-lab.js";
import { testLabName } from "../support/fresh-lab.js";
import { until } from "../support/until.js";

// `pavise … --api URL` (design §2 "CLI and lab"): the CLI run in the lab's client namespace c1
// against a node's HTTPS API, next to the same command reading etcd directly on n1. The status
// and the event log are the same either way; pkgadmin's certificate moves web to n3 (never two
// holders: address watch and ARP; the event log says via api and who); a monitor token is
// refused the CLI's way (API_FORBIDDEN, exit 1, nothing written); an unknown package is the
// CLI's usage error (exit 2) with the same text as over etcd; an address where nothing listens
// and a server checked without the cluster CA are clear errors naming the URL. Needs root and a
// build.
const root = process.getuid?.() === 0;
const LAB = testLabName("cacli");
const UDP_PORT = 7461;

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

describe.skipIf(!root)("pavise status|pkg|node|events --api URL in a lab", () => {
  const t = useDaemonLab(LAB, {
    api: true,
    clusterFile: (lab, _dir, api) =>
      daemonClusterFile(lab, { name: LAB, service: { echoPort: UDP_PORT }, resources: ["disk"], api }),
    watchFromStart: true,
    start: NODES,
    ready: async (lab) => {
      await until(
        "web on n1 only",
        () => linkedHolders(lab.lab, VIP),
        (h) => h.length === 1 && h[0] === "n1",
        20_000,
      );
      await lab.cluster.untilApiServing();
    },
  });

  const nodeUrl = (node: string, port = LAB_API_PORT): string => {
    const nic = t.lab.host(node).nics.find((n) => n.subnet === "public" && n.address !== undefined)!;
    return `https://${nic.address}:${port}`;
  };
  const c1Address = (): string => t.lab.host("c1").nics[0]!.address!;

  /** The CLI on a lab host (c1 for the API; n1 reaches etcd), exit status and output. */
  async function cli(host: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliRun> {
    const r = await t.lab.exec(host, [process.execPath, distPath("cli/main.js"), ...args], {
      allowFailure: true,
      env,
      timeoutMs: 120_000,
    });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  }
  const viaEtcd = (args: string[]): Promise<CliRun> => cli("n1", [...args, "--config", t.configFile]);
  const viaApi = (node: string, args: string[], credentials: string[]): Promise<CliRun> =>
    cli("c1", [...args, "--api", nodeUrl(node), "--api-ca", t.api.caCert, ...credentials]);
  const asUser = (user: string): string[] => [
    "--api-cert",
    t.api.clients[user]!.cert,
    "--api-key",
    t.api.clients[user]!.key,
  ];
  const tokenFile = (): string => {
    const file = join(t.dir, "prometheus.token");
    writeFileSync(file, `${t.api.token}\n`, { mode: 0o600 });
    return file;
  };
  const monitorToken = (): string[] => ["--api-token-file", tokenFile()];

  /** The intent key of web (admin/packages/web): its mod_revision, or "absent". */
  async function intentRevision(): Promise<number | "absent"> {
    const key = new ClusterKeys(`/pavise/${LAB}/`).adminPackage("web");
    const urls = t.lab.plan.etcd.members.map((m) => m.clientUrl);
    const r = await t.lab.exec("n1", [
      ...etcdctlArgs(t.lab.runtime, t.lab.plan.etcd, urls),
      "get",
      key,
      "-w",
      "json",
    ]);
    const kvs = (JSON.parse(r.stdout) as { kvs?: { mod_revision: number }[] }).kvs;
    return kvs?.[0]?.mod_revision ?? "absent";
  }

  /** Runs both until they agree (the cluster is quiet between the two reads), at most `tries` times. */
  async function sameBothWays<T>(
    what: string,
    read: () => Promise<[T, T]>,
    tries = 5,
  ): Promise<{ etcd: T; api: T; tries: number }> {
    let last: [T, T] | undefined;
    for (let i = 1; i <= tries; i++) {
      last = await read();
      if (JSON.stringify(last[0]) === JSON.stringify(last[1]))
        return { etcd: last[0], api: last[1], tries: i };
      console.log(`${what}, try ${i}: etcd ${JSON.stringify(last[0])}\n  API ${JSON.stringify(last[1])}`);
      await sleep(1_000);
    }
    // Not once the same: show the difference.
    expect(last![1], `${what} over the API`).toEqual(last![0]);
    throw new Error("unreachable");
  }

  it("pavise status --api --json is pavise status --json (plus servedBy and revision); the text and exit status too", async () => {
    const json = await sameBothWays("status --json", async () => {
      const [etcd, api] = await Promise.all([
        viaEtcd(["status", "--json"]),
        viaApi("n2", ["status", "--json"], monitorToken()),
      ]);
      expect([etcd.code, api.code, api.stderr]).toEqual([0, 0, ""]);
      const served = JSON.parse(api.stdout) as Record<string, unknown>;
      expect(served.servedBy).toBe("n2");
      expect(typeof served.revision).toBe("number");
      const { servedBy: _s, revision: _r, ...view } = served;
      // cluster.revision is the etcd revision each read was made at, like revision: the CLI reads
      // etcd's current one, the node's view the one of the last change under the cluster's
      // prefix (a write elsewhere in etcd moves the first only). The rest must be the same.
      const readAt = (v: unknown): unknown => {
        const { cluster, ...rest } = v as { cluster: { revision: number } };
        expect(cluster.revision).toBeGreaterThan(0);
        return { ...rest, cluster: { ...cluster, revision: undefined } };
      };
      return [readAt(JSON.parse(etcd.stdout)), readAt(view)];
    });
    console.log(`status --json the same over etcd and the API (n2) at try ${json.tries}`);
    expect(json.etcd).toMatchObject({ packages: [{ name: "web", nodes: ["n1"] }] });
    const text = await sameBothWays("status -v", async () => {
      const [etcd, api] = await Promise.all([
        viaEtcd(["status", "-v"]),
        viaApi("n3", ["status", "-v"], asUser("monitor")),
      ]);
      return [
        [etcd.code, etcd.stdout],
        [api.code, api.stdout],
      ];
    });
    expect(text.api[1]).toMatch(/web/);
    // PAVISE_API_TOKEN instead of a file.
    const fromEnv = await cli("c1", ["status", "--api", nodeUrl("n1"), "--api-ca", t.api.caCert, "--json"], {
      ...process.env,
      PAVISE_API_TOKEN: t.api.token,
    });
    expect([fromEnv.code, (JSON.parse(fromEnv.stdout) as { servedBy: string }).servedBy]).toEqual([0, "n1"]);
  });

  it("pkgadmin's certificate moves web to n3: the CLI's line, never two holders, the event log says via api and who", async () => {
    const traffic = await startClientTraffic(t.lab, VIP, UDP_PORT);
    const arp = sampleArp(t.lab, [VIP]);
    await sleep(500);
    const started = performance.now();
    const move = await viaApi("n1", ["pkg", "move", "web", "--node", "n3"], asUser("pkgadmin"));
    const ms = performance.now() - started;
    await sleep(500);
    const report = await traffic.stop();
    const arpSamples = (await arp.stop()).get(VIP)!;
    console.log(
      `pavise pkg move web --node n3 --api ${nodeUrl("n1")}: exit ${move.code} in ${Math.round(ms)} ms\n${move.stderr}${move.stdout}`,
    );
    expect(move.code).toBe(0);
    expect(move.stdout).toMatch(/^web: up on n3 \(\d+\.\d s\)\n$/);
    expect(move.stderr).toBe(
      `pavise pkg move web --node n3: recorded in etcd by pkgadmin@${c1Address()} (through ${nodeUrl("n1")})\n`,
    );
    expect(await linkedHolders(t.lab, VIP)).toEqual(["n3"]);
    expect(await arpHosts(t.lab, VIP)).toEqual(["n3"]);
    expect(await nodesServing(t.lab, UDP_PORT)).toEqual(["n3"]);
    expect(arpSamples.length).toBeGreaterThan(0);
    expect(arpSamples.filter((sample) => sample.hosts.length > 1)).toEqual([]);
    console.log(
      `move through the CLI over the API: client's longest gap ${Math.round(report.maxGapMs)} ms, ` +
        `${report.received}/${report.sent} answered; ${arpSamples.length} ARP rounds, each answered by one node at most`,
    );
    expect(report.received).toBeGreaterThan(0);
    expect(report.maxGapMs).toBeLessThan(1500);
    const events = await clusterEvents(t.lab, "n1", t.configFile);
    const moved = events.filter(
      (e) => e.kind === "operator" && (e as Record<string, unknown>).action === "pkg-move",
    );
    expect(moved).toHaveLength(1);
    expect(moved[0]).toMatchObject({
      user: "pkgadmin",
      via: "api",
      auth: "certificate",
      servedBy: "n1",
      host: c1Address(),
    });

    // --json: the OperatorResult, as the etcd path prints it (here: enable, nothing to move).
    const enable = await viaApi("n2", ["pkg", "enable", "web", "--json"], asUser("pkgadmin"));
    expect(enable.code).toBe(0);
    expect(JSON.parse(enable.stdout)).toMatchObject({
      command: "pavise pkg enable web",
      serviceguard: "cmmodpkg -e web",
      by: `pkgadmin@${c1Address()}`,
      ok: true,
    });
    expect(enable.stderr).toBe("");
  });

  it("pavise events --api --json is pavise events --json: the same events in the same order", async () => {
    const both = await sameBothWays("events --json", async () => {
      const [etcd, api] = await Promise.all([
        viaEtcd(["events", "--json", "--since", "1h"]),
        viaApi("n3", ["events", "--json", "--since", "1h"], monitorToken()),
      ]);
      expect([etcd.code, api.code]).toEqual([0, 0]);
      const strip = (text: string): unknown => {
        const { cluster, events } = JSON.parse(text) as { cluster: string; events: LoggedEvent[] };
        return { cluster, events };
      };
      return [strip(etcd.stdout), strip(api.stdout)];
    });
    const events = (both.api as { events: LoggedEvent[] }).events;
    console.log(
      `events --json the same over etcd and the API (n3): ${events.length} events, at try ${both.tries}`,
    );
    expect(events.some((e) => e.kind === "operator")).toBe(true);
  });

  it("pavise events --follow --api: new events from the live stream, each once, in revision order, as etcd has them", async () => {
    const before = (await clusterEvents(t.lab, "n1", t.configFile)).at(-1)!.revision;
    const proc = await t.lab.runtime.spawn(
      "c1",
      [
        process.execPath,
        distPath("cli/main.js"),
        "events",
        "--follow",
        "--json",
        "--since",
        "0s",
        "--api",
        nodeUrl("n3"),
        "--api-ca",
        t.api.caCert,
        ...monitorToken(),
      ],
      { role: "events-follow" },
    );
    const followed = (): LoggedEvent[] =>
      readFileSync(proc.log, "utf8")
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as LoggedEvent);
    try {
      await sleep(1_500);
      for (const action of ["disable", "enable"]) {
        const r = await viaApi("n1", ["pkg", action, "web", "--node", "n2"], asUser("pkgadmin"));
        expect(r.code, r.stderr).toBe(0);
      }
      const seen = await until(
        "both operator events followed",
        () => Promise.resolve(followed()),
        (events) => events.filter((e) => e.kind === "operator").length >= 2,
        10_000,
      );
      const etcd = await clusterEvents(t.lab, "n1", t.configFile);
      const revisions = seen.map((e) => e.revision);
      console.log(
        `events --follow --api: ${seen.length} events followed (revisions ${revisions.join(", ")})`,
      );
      expect(revisions).toEqual([...new Set(revisions)].sort((a, b) => a - b));
      expect(revisions[0]).toBeGreaterThan(before);
      expect(seen.filter((e) => e.kind === "operator").map((e) => e.action)).toEqual([
        "pkg-disable",
        "pkg-enable",
      ]);
      for (const e of seen) expect(e).toEqual(etcd.find((x) => x.revision === e.revision));
      expect(readFileSync(proc.log, "utf8")).not.toMatch(/error\[/);
    } finally {
      await t.lab.runtime.stop(proc, "SIGINT");
    }
  });

  it("refusals the CLI's way: a monitor token gets API_FORBIDDEN (exit 1, nothing written); an unknown package is a usage error, as over etcd", async () => {
    const before = await intentRevision();
    const halt = await viaApi("n2", ["pkg", "halt", "web"], monitorToken());
    console.log(`monitor: pavise pkg halt web --api …: exit ${halt.code}\n${halt.stderr}`);
    expect(halt.code).toBe(1);
    expect(halt.stdout).toBe("");
    expect(halt.stderr).toMatch(
      /^error\[API_FORBIDDEN\]: prometheus may not run, halt, move or switch package web: this needs .*\n {2}fix: .+\n$/,
    );
    const asJson = await viaApi("n2", ["pkg", "halt", "web", "--json"], monitorToken());
    expect(asJson.code).toBe(1);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ error: { code: "API_FORBIDDEN" } });
    const node = await viaApi("n2", ["node", "halt", "n2"], asUser("pkgadmin"));
    expect([node.code, node.stderr.split("\n")[0]]).toEqual([
      1,
      "error[API_FORBIDDEN]: pkgadmin may not halt or run a node: this needs full_admin",
    ]);
    for (const r of [halt, asJson, node]) expect(r.stderr + r.stdout).not.toMatch(/\.[jt]s:\d+/);
    await sleep(300);
    expect(await intentRevision()).toEqual(before);
    expect(await linkedHolders(t.lab, VIP)).toEqual(["n3"]);

    const [etcd, api] = await Promise.all([
      viaEtcd(["pkg", "run", "wbe"]),
      viaApi("n1", ["pkg", "run", "wbe"], asUser("pkgadmin")),
    ]);
    expect(api.code).toBe(2);
    expect(api.stderr.split("\n")[0]).toMatch(/^error\[CLI_USAGE\]: .*did you mean "web"/);
    expect([api.code, api.stderr]).toEqual([etcd.code, etcd.stderr]);
  });

  it("resource set and node halt|run over the API print what they print over etcd", async () => {
    const down = await viaApi(
      "n2",
      ["resource", "set", "web", "disk", "down", "--node", "n2"],
      asUser("pkgadmin"),
    );
    expect([down.code, down.stdout]).toEqual([0, expect.stringMatching(/^web: up on n3 \(\d+\.\d s\)\n$/)]);
    const up = await viaEtcd(["resource", "set", "web", "disk", "up", "--node", "n2"]);
    expect([up.code, up.stdout]).toEqual([0, expect.stringMatching(/^web: up on n3 \(\d+\.\d s\)\n$/)]);
    const halt = await viaApi("n1", ["node", "halt", "n2", "--json"], asUser("admin"));
    expect(halt.code).toBe(0);
    expect(JSON.parse(halt.stdout)).toMatchObject({
      command: "pavise node halt n2",
      serviceguard: "cmhaltnode n2",
      by: `admin@${c1Address()}`,
      ok: true,
      waited: true,
    });
    const run = await viaApi("n1", ["node", "run", "n2"], asUser("admin"));
    console.log(
      `node halt n2 / run n2 over the API: ${(JSON.parse(halt.stdout) as { state: string }).state}; ${run.stdout.trim()}`,
    );
    expect([run.code, run.stdout]).toEqual([0, expect.stringMatching(/^n2: up .*\(\d+\.\d s\)\n$/)]);
    expect(await linkedHolders(t.lab, VIP)).toEqual(["n3"]);
  });

  it("no answer: an address where nothing listens, and a server not checked against the cluster CA, named in the error", async () => {
    const closed = nodeUrl("n2", LAB_API_PORT + 1);
    const refused = await cli("c1", ["status", "--api", closed, "--api-ca", t.api.caCert, ...monitorToken()]);
    console.log(`nothing listening: exit ${refused.code}\n${refused.stderr}`);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `error[CLI_API_UNREACHABLE]: cannot reach the API at ${closed}: the connection was refused (nothing listens there)\n` +
        "  fix: check the URL and that the node's daemon runs with an api: section; or use another node's --api URL, or --config FILE to go to etcd directly\n",
    );
    const move = await cli("c1", [
      "pkg",
      "move",
      "web",
      "--api",
      closed,
      ...asUser("pkgadmin"),
      "--api-ca",
      t.api.caCert,
    ]);
    expect([move.code, move.stderr.split("\n")[0]]).toEqual([
      1,
      `error[CLI_API_UNREACHABLE]: cannot reach the API at ${closed}: the connection was refused (nothing listens there)`,
    ]);
    const untrusted = await cli("c1", ["status", "--api", nodeUrl("n2"), ...monitorToken()]);
    // The server's chain is the lab CA's, which only --api-ca names.
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(
      new RegExp(
        `^error\\[CLI_API_UNTRUSTED\\]: the API at ${nodeUrl("n2").replace(/\./g, "\\.")} has a certificate this command does not trust: `,
      ),
    );
    expect(untrusted.stderr).toContain("fix: give the cluster CA with --api-ca FILE (or PAVISE_API_CA)");
    const anonymous = await cli("c1", ["status", "--api", nodeUrl("n2"), "--api-ca", t.api.caCert]);
    expect([anonymous.code, anonymous.stderr]).toEqual([
      1,
      "error[API_UNAUTHENTICATED]: this request carries no credentials\n" +
        "  fix: sign in with --api-cert FILE --api-key FILE (a client certificate), or a token: --api-token-file FILE or PAVISE_API_TOKEN\n",
    ]);
    const timeline = await t.stopWatch();
    expect(overlaps(timeline, VIP)).toEqual([]);
  });
});
