import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { overlaps } from "../../src/lab/probes/address-timeline.js";
import { distPath } from "../../src/util/package-paths.js";
import type { RunResult } from "../../src/util/run.js";
import {
  type DaemonClusterFileOptions,
  VIP,
  daemonClusterFile,
  echoPids,
  echoService,
  NODES,
} from "../support/daemon-cluster.js";
import { testLabName } from "../support/fresh-lab.js";
import { until } from "../support/until.js";
import { useDaemonLab } from "../support/daemon-lab.js";
import { linkedHolders, arpHosts } from "../support/cluster-observe.js";

// `pavise config apply` against three running daemons (real etcd, real namespaces): each
// revision changes the running cluster online, and only what differs — a package added starts,
// an address added appears on the owner only (ARP answered by it alone) while the service keeps
// its PID, a service added starts alone, a package removed halts and its address goes. An
// invalid file and a new cluster name are refused with nothing stored. No address is ever held
// by two nodes. Needs root and a build (dist/cli/main.js, the echo service).
const root = process.getuid?.() === 0;
const LAB = testLabName("cfapply");
const WEB_PORT = 7411;
const WEB_SECOND_PORT = 7412;
const API_PORT = 7413;
/** web's second address (added online). */
const VIP_B = "198.18.1.51";
/** The second package's address. */
const API_VIP = "198.18.1.60";

/** web's second service, and the same with a new command (restarted alone when applied). */
const ECHO_B = echoService(WEB_SECOND_PORT, "echo-b");
const ECHO_B_V2 = ECHO_B.replace('command: "exec ', 'command: "PAVISE_ECHO=v2 exec ');

/** The second package: prefers n2, so the two packages run on different nodes. */
const API_PACKAGE = `  - name: api
    node_name: [n2, n3, n1]
    ip_address:
      - { address: ${API_VIP}, subnet: public }
    services:
${echoService(API_PORT, "api-echo")}`;

describe.skipIf(!root)("pavise config apply with daemons on three lab nodes", () => {
  const t = useDaemonLab(LAB, {
    clusterFile: () => base(),
    watchFromStart: true,
    start: NODES,
    ready: async (t) => {
      await until(
        "web on n1",
        () => holders(VIP),
        (h) => h.length === 1 && h[0] === "n1",
        20_000,
      );
      await until(
        "web's echo service on n1",
        () => echoPids(t.lab, "n1", WEB_PORT),
        (p) => p.length === 1,
        15_000,
      );
    },
    cleanup: async (t) => {
      const timeline = await t.stopWatch().catch(() => undefined);
      if (timeline) console.log(`address overlaps over the whole run: ${JSON.stringify(overlaps(timeline))}`);
    },
  });
  /** A daemon's log line that follows what a test can already see (an address, a PID). */
  const loggedSoon = (node: string, event: string, message: string): Promise<void> =>
    t.cluster.untilLogged(`${node} to log ${event}: ${message}`, node, event, message, 5_000);
  const base = (more: Partial<DaemonClusterFileOptions> = {}): string =>
    daemonClusterFile(t.lab, { name: LAB, service: { echoPort: WEB_PORT }, ...more });

  /** Runs the CLI on n1 (etcd is reachable inside the lab only). */
  function pavise(args: string[]): Promise<RunResult> {
    return t.lab.exec("n1", [process.execPath, distPath("cli/main.js"), ...args], { allowFailure: true });
  }

  /**
   * Writes `text` as a file of its own and applies it; returns the CLI's answer and, when a
   * revision was stored, when (the record's time: what the daemons' reaction is measured from).
   */
  let files = 0;
  async function apply(text: string, json = false): Promise<RunResult & { file: string; appliedAt: number }> {
    files += 1;
    const file = join(t.dir, `revision-${files}.yaml`);
    writeFileSync(file, text);
    const result = await pavise(["config", "apply", file, ...(json ? ["--json"] : [])]);
    console.log(`$ pavise config apply ${file}\n${result.stdout}${result.stderr}`);
    const stamp = /, (\d{4}-\d\d-\d\dT[\d:.]+Z) by /.exec(result.stdout)?.[1];
    return { ...result, file, appliedAt: stamp === undefined ? Number.NaN : Date.parse(stamp) };
  }

  function since(appliedAt: number): string {
    return `${Date.now() - appliedAt} ms after the revision was stored`;
  }

  async function appliedRevision(): Promise<number | undefined> {
    const got = await pavise(["config", "get", "--config", t.configFile, "--json"]);
    return got.code === 0 ? (JSON.parse(got.stdout) as { revision: number }).revision : undefined;
  }

  const holders = (address: string): Promise<string[]> => linkedHolders(t.lab, address);

  it("a package added by an apply starts on its node; config get returns the file byte for byte", async () => {
    expect(t.cluster.logged("n1", "config", "no configuration has been applied")).toBe(true);
    const text = base({ morePackages: API_PACKAGE });
    const applied = await apply(text);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(`applied revision 1 of cluster ${LAB} (the first)`);
    await until(
      "api's address on n2",
      () => holders(API_VIP),
      (h) => h.length === 1 && h[0] === "n2",
      20_000,
    );
    console.log(`config apply: package api added → its address on n2 ${since(applied.appliedAt)}`);
    await until(
      "api's service on n2",
      () => echoPids(t.lab, "n2", API_PORT),
      (p) => p.length === 1,
      15_000,
    );
    expect(t.cluster.logged("n2", "config-change", "package api: added")).toBe(true);
    // web was not touched: same single holder.
    expect(await holders(VIP)).toEqual(["n1"]);
    // pavise status shows the applied packages, even from the older cluster.yaml.
    const status = await pavise(["status", "--config", t.configFile, "--json"]);
    const view = JSON.parse(status.stdout) as {
      packages: { name: string; status: string; nodes: string[] }[];
    };
    expect(view.packages.map((p) => [p.name, p.status, p.nodes])).toEqual([
      ["web", "up", ["n1"]],
      ["api", "up", ["n2"]],
    ]);

    const got = await pavise(["config", "get", "--config", t.configFile]);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe(readFileSync(applied.file, "utf8"));
    const json = JSON.parse(
      (await pavise(["config", "get", "--config", t.configFile, "--json"])).stdout,
    ) as Record<string, unknown>;
    expect(json).toMatchObject({ revision: 1, text });
    expect(typeof json.by).toBe("string");
  });

  it("an address added to the running package appears on its owner only, and the service keeps its PID", async () => {
    const [pidBefore] = await echoPids(t.lab, "n1", WEB_PORT);
    const [apiPidBefore] = await echoPids(t.lab, "n2", API_PORT);
    const applied = await apply(base({ morePackages: API_PACKAGE, moreAddresses: [VIP_B] }));
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(`package web: address ${VIP_B} (public) added`);
    await until(
      `${VIP_B} on n1`,
      () => holders(VIP_B),
      (h) => h.length === 1 && h[0] === "n1",
      15_000,
    );
    console.log(`config apply: address ${VIP_B} added → on n1 ${since(applied.appliedAt)}`);
    expect(await arpHosts(t.lab, VIP_B)).toEqual(["n1"]);
    expect(await echoPids(t.lab, "n1", WEB_PORT)).toEqual([pidBefore]);
    expect(await echoPids(t.lab, "n2", API_PORT)).toEqual([apiPidBefore]);
    expect(await holders(VIP)).toEqual(["n1"]);
    await loggedSoon("n1", "config-applied", `package web: adding address ${VIP_B}/24`);
  });

  it("a service added starts alone: the others keep their PIDs", async () => {
    const [pidBefore] = await echoPids(t.lab, "n1", WEB_PORT);
    const [apiPidBefore] = await echoPids(t.lab, "n2", API_PORT);
    const applied = await apply(
      base({
        morePackages: API_PACKAGE,
        moreAddresses: [VIP_B],
        moreServices: ECHO_B,
      }),
    );
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain("package web: service echo-b added");
    const [newPid] = await until(
      "echo-b on n1",
      () => echoPids(t.lab, "n1", WEB_SECOND_PORT),
      (p) => p.length === 1,
      15_000,
    );
    console.log(`config apply: service echo-b added → running on n1 ${since(applied.appliedAt)}`);
    expect(newPid).not.toBe(pidBefore);
    expect(await echoPids(t.lab, "n1", WEB_PORT)).toEqual([pidBefore]);
    expect(await echoPids(t.lab, "n2", API_PORT)).toEqual([apiPidBefore]);
    for (const node of ["n2", "n3"]) expect(await echoPids(t.lab, node, WEB_SECOND_PORT)).toEqual([]);
  });

  it("a service whose command changed is restarted alone: the other keeps its PID", async () => {
    const [pidBefore] = await echoPids(t.lab, "n1", WEB_PORT);
    const [oldPid] = await echoPids(t.lab, "n1", WEB_SECOND_PORT);
    const applied = await apply(
      base({ morePackages: API_PACKAGE, moreAddresses: [VIP_B], moreServices: ECHO_B_V2 }),
    );
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(
      "package web: service echo-b command changed (restarted where the package runs)",
    );
    const [newPid] = await until(
      "echo-b restarted on n1",
      () => echoPids(t.lab, "n1", WEB_SECOND_PORT),
      (p) => p.length === 1 && p[0] !== oldPid,
      15_000,
    );
    console.log(
      `config apply: echo-b's command changed → restarted on n1 (pid ${oldPid} → ${newPid}) ${since(applied.appliedAt)}`,
    );
    expect(readFileSync(`/proc/${newPid}/environ`, "utf8").split("\0")).toContain("PAVISE_ECHO=v2");
    expect(await echoPids(t.lab, "n1", WEB_PORT)).toEqual([pidBefore]);
    // The daemon logs the change once the restart is done: the new PID can be seen before that.
    await loggedSoon(
      "n1",
      "config-applied",
      "package web: halting service echo-b (changed); starting service echo-b (changed)",
    );
  });

  it("a package removed is halted where it ran: its address and service are gone", async () => {
    const [webPid] = await echoPids(t.lab, "n1", WEB_PORT);
    const [apiPid] = await echoPids(t.lab, "n2", API_PORT);
    const applied = await apply(base({ moreAddresses: [VIP_B], moreServices: ECHO_B_V2 }));
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain("package api: removed");
    await until(
      "api's address gone",
      () => holders(API_VIP),
      (h) => h.length === 0,
      15_000,
    );
    await until(
      "api's service gone",
      () => echoPids(t.lab, "n2", API_PORT),
      (p) => p.length === 0,
      15_000,
    );
    console.log(
      `config apply: package api removed → halted on n2 (pid ${apiPid} gone) ${since(applied.appliedAt)}`,
    );
    expect(t.cluster.logged("n2", "halting", "package api: no longer in the configuration")).toBe(true);
    expect(await echoPids(t.lab, "n1", WEB_PORT)).toEqual([webPid]);
    expect((await holders(VIP)).concat(await holders(VIP_B))).toEqual(["n1", "n1"]);
    expect(await appliedRevision()).toBe(5);
  });

  it("a daemon started with an older local file runs the applied revision: web moves to it whole", async () => {
    // n2's daemon restarts with cluster.yaml, which has neither web's second address nor echo-b.
    const n2 = t.cluster.daemons.get("n2")!;
    await t.lab.runtime.stop(n2, "SIGTERM");
    await t.cluster.untilLogged("n2's daemon to leave", "n2", "left", "", 20_000);
    await t.cluster.startDaemon("n2");
    expect(t.cluster.logged("n2", "config", "running applied revision 5")).toBe(true);
    expect(t.cluster.logged("n2", "config", "the local file differs from it")).toBe(true);
    // A planned move (n1's daemon stops): web comes up on n2 as revision 5 has it.
    const n1 = t.cluster.daemons.get("n1")!;
    const stoppedAt = Date.now();
    await t.lab.runtime.stop(n1, "SIGTERM");
    t.cluster.daemons.delete("n1");
    await until(
      `${VIP_B} on n2`,
      () => holders(VIP_B),
      (h) => h.length === 1 && h[0] === "n2",
      20_000,
    );
    await until(
      "echo-b on n2",
      () => echoPids(t.lab, "n2", WEB_SECOND_PORT),
      (p) => p.length === 1,
      15_000,
    );
    console.log(
      `web moved to the restarted n2 with revision 5's address and service ${Date.now() - stoppedAt} ms after n1's daemon was stopped`,
    );
    expect(await holders(VIP)).toEqual(["n2"]);
    expect(await arpHosts(t.lab, VIP_B)).toEqual(["n2"]);
    expect(await echoPids(t.lab, "n1", WEB_SECOND_PORT)).toEqual([]);
    await t.cluster.startDaemon("n1");
    expect(t.cluster.logged("n1", "config", "running applied revision 5")).toBe(true);
  });

  it("an invalid file is refused with every problem; a new cluster name or removing an up node too: nothing stored", async () => {
    const before = [await holders(VIP), await holders(VIP_B)];
    const good = base({ moreAddresses: [VIP_B], moreServices: ECHO_B_V2 });
    const invalid = good
      .replace(`address: ${VIP_B}, subnet: public`, "address: 198.19.9.9, subnet: public")
      .replace("node_name: [n1, n2, n3]", "node_name: [n1, n2, n9]");
    const refusedInvalid = await apply(invalid);
    expect(refusedInvalid.code).toBe(1);
    expect(refusedInvalid.stdout).toContain("198.19.9.9");
    expect(refusedInvalid.stdout).toContain("n9");
    expect(refusedInvalid.stdout).toMatch(/: \d+ problems\nnothing applied$/m);

    const renamed = await apply(good.replace(`cluster_name: ${LAB}`, "cluster_name: cfother"), true);
    expect(renamed.code).toBe(1);
    const answer = JSON.parse(renamed.stdout) as { ok: boolean; reason: string; problems: { key: string }[] };
    expect(answer).toMatchObject({ ok: false, reason: "refused", problems: [{ key: "cluster_name" }] });

    const withoutN3 = good
      .replace(/ {2}- name: n3\n {4}interfaces:\n.*\n.*\n/, "")
      .replace("node_name: [n1, n2, n3]", "node_name: [n1, n2]");
    const nodeUp = await apply(withoutN3);
    expect(nodeUp.code).toBe(1);
    expect(nodeUp.stdout).toContain("halt node n3 first");

    expect(await appliedRevision()).toBe(5);
    // Nothing moved.
    expect([await holders(VIP), await holders(VIP_B)]).toEqual(before);
  });

  it("timing is stored, and the summary says it takes effect when each daemon restarts", async () => {
    const applied = await apply(
      base({ moreAddresses: [VIP_B], moreServices: ECHO_B_V2 }).replace(
        "member_timeout: 1s",
        "member_timeout: 2s",
      ),
    );
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain("timing: member_timeout 1s → 2s — when each daemon restarts");
    expect(await appliedRevision()).toBe(6);
    for (const node of ["n1", "n2", "n3"]) {
      await t.cluster.untilLogged(
        `${node} to switch to revision 6`,
        node,
        "config",
        "running revision 6",
        10_000,
      );
    }
    const timeline = await t.stopWatch();
    expect(overlaps(timeline)).toEqual([]);
  });

  it("two applies at once: one revision each, or one wins and the other is told to apply again", async () => {
    const current = base({ moreAddresses: [VIP_B], moreServices: ECHO_B_V2 }).replace(
      "member_timeout: 1s",
      "member_timeout: 2s",
    );
    const [a, b] = await Promise.all([
      apply(current.replace("count: 3", "count: 4")),
      apply(current.replace("count: 3", "count: 5")),
    ]);
    const outcomes = [a, b].map((r) =>
      r.code === 0 ? /applied revision (\d+)/.exec(r.stdout)?.[1] : r.stderr,
    );
    console.log(`two applies at once: ${JSON.stringify(outcomes)}`);
    const latest = await pavise(["config", "get", "--config", t.configFile, "--json"]);
    const record = JSON.parse(latest.stdout) as { revision: number; text: string };
    if (a.code === 0 && b.code === 0) {
      // One after the other: revisions 7 and 8, the later one applied.
      expect(outcomes.map(Number).sort()).toEqual([7, 8]);
      expect(record.revision).toBe(8);
      expect(record.text).toBe(readFileSync(Number(outcomes[0]) === 8 ? a.file : b.file, "utf8"));
    } else {
      const [won, lost] = a.code === 0 ? [a, b] : [b, a];
      expect(won.code).toBe(0);
      expect(lost.code).toBe(1);
      expect(lost.stderr).toMatch(/CONFIG_APPLY_CONFLICT.*another apply stored revision 7/);
      expect(lost.stderr).toMatch(/run pavise config apply again/);
      expect(record.revision).toBe(7);
      expect(record.text).toBe(readFileSync(won.file, "utf8"));
    }
  });
});
