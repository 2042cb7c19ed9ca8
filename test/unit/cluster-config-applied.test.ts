import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type AppliedConfig,
  decodeAppliedConfig,
  encodeAppliedConfig,
  readAppliedConfig,
  writeAppliedConfig,
} from "../../src/cluster/config/applied-config.js";
import { parseClusterConfig } from "../../src/cluster/config/cluster-config.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import { readEvents } from "../../src/cluster/membership/node-registry.js";
import { applier, applyClusterConfig, CONFIG_APPLY_CONFLICT } from "../../src/cli/config-apply.js";
import { renderApply } from "../../src/cli/config-apply-command.js";
import { PaviseError } from "../../src/util/errors.js";
import { startingConfig } from "../../src/cluster/agent/config-follower.js";
import { MemoryEtcd } from "../support/memory-etcd.js";

const example = readFileSync(new URL("../../examples/cluster.yaml", import.meta.url), "utf8");
const keys = new ClusterKeys("/pavise/pavise/");

function record(revision: number, text = example): AppliedConfig {
  return { revision, text, appliedAt: 1_790_000_000_000 + revision, by: "ops@admin1" };
}

function apply(
  etcd: MemoryEtcd,
  text: string,
  now = 1_790_000_100_000,
): ReturnType<typeof applyClusterConfig> {
  return applyClusterConfig({
    file: "cluster.yaml",
    text,
    config: parseClusterConfig(text, "cluster.yaml"),
    client: etcd.asClient(),
    by: "ops@admin1",
    now,
  });
}

describe("the stored record of the applied configuration", () => {
  it("keeps the text byte for byte (comments, spacing, non-ASCII) and reads back what was written", () => {
    const text = `${example}# café — ünïcode, trailing spaces   \n\n`;
    const r = record(7, text);
    expect(decodeAppliedConfig(encodeAppliedConfig(r), keys.config)).toEqual(r);
  });

  it("refuses a value that is not a record, naming the key and what to do", () => {
    for (const value of ["", "{}", '{"revision":0,"text":"x","appliedAt":1,"by":"a"}', '{"revision":1}']) {
      let error: unknown;
      try {
        decodeAppliedConfig(value, keys.config);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(PaviseError);
      expect(error).toMatchObject({ code: "CONFIG_RECORD_INVALID", where: { key: "/pavise/pavise/config" } });
      expect((error as PaviseError).hint).toMatch(/apply the cluster file again/);
    }
  });

  it("a write holds only on the mod revision read: the second of two writers is told", async () => {
    const etcd = new MemoryEtcd();
    expect(await readAppliedConfig(etcd.asClient(), keys)).toBeUndefined();
    expect(await writeAppliedConfig(etcd.asClient(), keys, record(1), 0)).toMatchObject({ stored: true });
    const first = await readAppliedConfig(etcd.asClient(), keys);
    expect(first?.record).toEqual(record(1));
    // Two applies read revision 1; one stores 2, the other's write finds the key changed.
    expect(await writeAppliedConfig(etcd.asClient(), keys, record(2), first!.modRevision)).toMatchObject({
      stored: true,
    });
    expect(await writeAppliedConfig(etcd.asClient(), keys, record(2, "other"), first!.modRevision)).toEqual({
      stored: false,
    });
    expect((await readAppliedConfig(etcd.asClient(), keys))?.record).toEqual(record(2));
    // Every revision stays readable.
    expect((await readAppliedConfig(etcd.asClient(), keys, { revision: 1 }))?.record).toEqual(record(1));
    expect(await readAppliedConfig(etcd.asClient(), keys, { revision: 3 })).toBeUndefined();
    expect(keys.configRevision(12)).toBe("/pavise/pavise/config-history/0000000012");
  });

  it("by whom: the user behind sudo first, then USER, at this host", () => {
    expect(applier({ SUDO_USER: "alice", USER: "root" })).toMatch(/^alice@/);
    expect(applier({ USER: "bob" })).toMatch(/^bob@/);
  });
});

describe("config apply against a model etcd", () => {
  it("stores revision 1, then 2 with the changes, and logs config-applied events", async () => {
    const etcd = new MemoryEtcd();
    const first = await apply(etcd, example);
    expect(first).toMatchObject({
      ok: true,
      revision: 1,
      previous: undefined,
      unchanged: false,
      diff: undefined,
    });
    const next = example.replace("priority: 40", "priority: 30");
    const second = await apply(etcd, next);
    expect(second).toMatchObject({ ok: true, revision: 2, previous: 1 });
    expect(second.ok && second.diff?.changes).toEqual([
      { subject: "package web", what: "priority 40 → 30", effect: "scheduler" },
    ]);
    expect(renderApply(second)).toContain("  package web: priority 40 → 30 — now, by the leader");
    expect((await readAppliedConfig(etcd.asClient(), keys))?.record.text).toBe(next);
    const events = await readEvents(etcd.asClient(), keys);
    expect(events.map((e) => [e.kind, e.revision === undefined ? undefined : e["by"]])).toEqual([
      ["config-applied", "ops@admin1"],
      ["config-applied", "ops@admin1"],
    ]);
    expect(events.map((e) => e.message)).toEqual([
      "configuration revision 1 applied by ops@admin1",
      "configuration revision 2 applied by ops@admin1",
    ]);
  });

  it("the same file again stores nothing", async () => {
    const etcd = new MemoryEtcd();
    await apply(etcd, example);
    const again = await apply(etcd, example);
    expect(again).toMatchObject({ ok: true, revision: 1, unchanged: true });
    expect((await readAppliedConfig(etcd.asClient(), keys))?.record.revision).toBe(1);
  });

  it("refuses a new cluster name with an explicit prefix, and a name change hidden by the default prefix", async () => {
    const etcd = new MemoryEtcd();
    await apply(etcd, example);
    const renamed = await apply(etcd, example.replace("cluster_name: pavise #", "cluster_name: other #"));
    expect(renamed).toMatchObject({ ok: false, reason: "refused", revision: 1 });
    expect(!renamed.ok && renamed.problems.map((p) => p.key)).toEqual(["cluster_name"]);
    // With the default prefix, a new name is a new prefix where nothing was applied: the nodes
    // it shares with cluster pavise give it away.
    const defaultPrefix = example
      .replace("cluster_name: pavise #", "cluster_name: other #")
      .replace("  prefix: /pavise/pavise/ # default: /pavise/<cluster_name>/\n", "");
    const hidden = await apply(etcd, defaultPrefix);
    expect(hidden).toMatchObject({ ok: false, reason: "refused", revision: undefined });
    expect(!hidden.ok && hidden.problems[0]?.message).toMatch(
      /etcd holds cluster pavise with node\(s\) n1, n2, n3/,
    );
    expect(await etcd.get("/pavise/other/config")).toBeUndefined();
    expect((await readAppliedConfig(etcd.asClient(), keys))?.record.revision).toBe(1);
  });

  it("refuses to remove a node whose daemon is a member; once it left, the removal is applied", async () => {
    const etcd = new MemoryEtcd();
    await apply(etcd, example);
    await etcd.put(keys.node("n3"), JSON.stringify({ name: "n3", lease: "33", since: 1, status: "up" }), {
      lease: "33",
    });
    const withoutN3 = example
      .replace(
        "  - name: n3\n    interfaces:\n      - { subnet: public, primary: lan0, standby: [lan1] }\n      - { subnet: heartbeat, primary: hb0 }\n",
        "",
      )
      .replace("node_name: [n2, n3, n1]", "node_name: [n2, n1]")
      .replace("node_name: [n1, n2, n3]", "node_name: [n1, n2]")
      .replace(
        "endpoints: [http://198.18.2.11:2379, http://198.18.2.12:2379, http://198.18.2.13:2379]",
        "endpoints: [http://198.18.2.11:2379, http://198.18.2.12:2379]",
      );
    const refused = await apply(etcd, withoutN3);
    expect(refused).toMatchObject({ ok: false, reason: "refused", revision: 1 });
    expect(!refused.ok && refused.problems.map((p) => p.hint)).toEqual([
      "halt node n3 first (stop its pavise daemon: its packages move to other nodes), then apply again",
    ]);
    etcd.revoke("33");
    expect(await apply(etcd, withoutN3)).toMatchObject({ ok: true, revision: 2 });
  });

  it("refuses to change the type of a package that runs", async () => {
    const etcd = new MemoryEtcd();
    await apply(etcd, example);
    await etcd.put(keys.owner("exporter", "n1"), JSON.stringify({ node: "n1", lease: "11", since: 1 }), {
      lease: "11",
    });
    const failover = example.replace(
      '    package_type: multi_node\n    node_name: ["*"]',
      '    package_type: failover\n    node_name: ["*"]',
    );
    const refused = await apply(etcd, failover);
    expect(!refused.ok && refused.problems.map((p) => p.key)).toEqual(["packages.exporter.package_type"]);
    etcd.revoke("11");
    expect(await apply(etcd, failover)).toMatchObject({ ok: true, revision: 2 });
  });

  it("an apply that loses the race stores nothing and says to apply again", async () => {
    const etcd = new MemoryEtcd();
    await apply(etcd, example);
    // Another apply lands between this one's read and its write.
    const realTxn = etcd.txn.bind(etcd);
    let raced = false;
    etcd.txn = async (txn) => {
      if (!raced && txn.success.some((op) => op.op === "put" && op.key === keys.config)) {
        raced = true;
        await writeAppliedConfig(
          etcd.asClient(),
          keys,
          { ...record(2), by: "bob@admin2" },
          (await etcd.get(keys.config))!.modRevision,
        );
      }
      return realTxn(txn);
    };
    let error: unknown;
    try {
      await apply(etcd, example.replace("priority: 40", "priority: 30"));
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: CONFIG_APPLY_CONFLICT });
    expect((error as Error).message).toMatch(/another apply stored revision 2 \(by bob@admin2\)/);
    expect((await readAppliedConfig(etcd.asClient(), keys))?.record.by).toBe("bob@admin2");
  });
});

describe("the configuration a daemon starts with", () => {
  const local = parseClusterConfig(example, "cluster.yaml");
  const start = (
    etcd: MemoryEtcd,
    localText = example,
  ): Promise<{ running: Awaited<ReturnType<typeof startingConfig>>; lines: string[] }> => {
    const lines: string[] = [];
    return startingConfig({
      local: parseClusterConfig(localText),
      localText,
      client: etcd.asClient(),
      keys,
      node: "n1",
      log: (event, message) => lines.push(`${event}: ${message}`),
    }).then((running) => ({ running, lines }));
  };

  it("nothing applied: the local file, revision 0", async () => {
    const { running, lines } = await start(new MemoryEtcd());
    expect(running).toEqual({ config: local, revision: 0 });
    expect(lines).toEqual([
      "config: no configuration has been applied (pavise config apply): running the local file",
    ]);
  });

  it("applied: that revision, with the local file's etcd settings, and a word when the file differs", async () => {
    const etcd = new MemoryEtcd();
    const applied = example.replace("priority: 40", "priority: 30");
    await writeAppliedConfig(etcd.asClient(), keys, record(3, applied), 0);
    const olderLocal = example.replace(
      "endpoints: [http://198.18.2.11:2379, http://198.18.2.12:2379, http://198.18.2.13:2379]",
      "endpoints: [http://198.18.2.11:2379]",
    );
    const { running, lines } = await start(etcd, olderLocal);
    expect(running.revision).toBe(3);
    expect(running.config.packages.find((p) => p.name === "web")?.priority).toBe(30);
    expect(running.config.etcd.endpoints).toEqual(["http://198.18.2.11:2379"]);
    expect(lines).toEqual([
      "config: running applied revision 3 (2026-09-21T14:13:20.003Z by ops@admin1); the local file differs from it and only gives etcd's endpoints",
    ]);
  });

  it("an applied revision without this node, or that does not parse, is not run", async () => {
    const etcd = new MemoryEtcd();
    await writeAppliedConfig(etcd.asClient(), keys, record(2, "cluster_name: [oops"), 0);
    const { running, lines } = await start(etcd);
    expect(running).toEqual({ config: local, revision: 2 });
    expect(lines[0]).toMatch(/^problem: applied revision 2 cannot be read by this daemon/);
  });

  it("etcd does not answer: the local file now, the applied one once the watch delivers it", async () => {
    const etcd = new MemoryEtcd();
    etcd.get = () => new Promise(() => undefined);
    const lines: string[] = [];
    const running = await startingConfig({
      local,
      localText: example,
      client: etcd.asClient(),
      keys,
      node: "n1",
      log: (event, message) => lines.push(`${event}: ${message}`),
      timeoutMs: 50,
    });
    expect(running).toEqual({ config: local, revision: 0 });
    expect(lines[0]).toMatch(/cannot read the applied configuration \(etcd did not answer in time\)/);
  });
});
