import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { etcdClientTls, waitForEtcd } from "../../src/lab/etcd.js";
import type { Lab } from "../../src/lab/lab.js";
import { monotonicMs } from "../../src/cluster/etcd/monotonic-clock.js";
import type { WatchBatch } from "../../src/cluster/etcd/watch.js";
import { LabMember, type AgentLine } from "../../src/cluster/membership/lab-member.js";
import { freshLab, testLabSpec } from "../support/fresh-lab.js";

// etcd access from inside lab nodes (etcd is reachable only there): each node runs
// dist/cluster/membership/lab-member-agent.js, driven over its stdin/stdout (lab-member.ts).

const root = process.getuid?.() === 0;
const TIMING = { memberTimeoutMs: 1000, keepaliveIntervalMs: 333, fenceAfterMs: 600, eventLoopBudgetMs: 200 };

/** Endpoints starting with the member of `first` (1-based), so a test knows whom a node talks to. */
function endpoints(lab: Lab, first = 1): string[] {
  const urls = lab.plan.etcd.members.map((m) => m.clientUrl);
  return [...urls.slice(first - 1), ...urls.slice(0, first - 1)];
}

type Stat = { p50: number; p99: number; n: number };
const fmt = (s: Stat): string => `p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms (n=${s.n})`;

function watchBatches(member: LabMember): WatchBatch[] {
  return member.events.filter((e) => e.ev === "watch").map((e) => e.batch as WatchBatch);
}

function watchedValues(member: LabMember, key: string): { value: string; revision: number; type: string }[] {
  return watchBatches(member).flatMap((b) =>
    b.kind === "events"
      ? b.events
          .filter((e) => e.kv.key === key)
          .map((e) => ({ value: e.kv.value, revision: e.kv.modRevision, type: e.type }))
      : [],
  );
}

describe.skipIf(!root)("etcd client against a 3-member etcd in the lab", () => {
  let lab: Lab;
  const members: LabMember[] = [];
  const member = async (host: string): Promise<LabMember> => {
    const m = await LabMember.start(lab, host);
    members.push(m);
    return m;
  };

  beforeAll(async () => {
    lab = await freshLab(testLabSpec("tetcd", { etcd: true }));
  });

  afterAll(async () => {
    for (const m of members) await m.kill();
    await lab?.down();
  });

  it("keys, prefixes, transactions and leases", async () => {
    const n1 = await member("n1");
    await n1.send({ op: "connect", endpoints: endpoints(lab) });
    await n1.send({ op: "put", key: "/t/kv/a", value: "1" });
    await n1.send({ op: "put", key: "/t/kv/b", value: "2" });
    await n1.send({ op: "put", key: "/t/kw", value: "outside" });
    const range = await n1.send({ op: "get", key: "/t/kv/", prefix: true });
    expect((range.kvs as { key: string; value: string }[]).map((kv) => [kv.key, kv.value])).toEqual([
      ["/t/kv/a", "1"],
      ["/t/kv/b", "2"],
    ]);
    // A transaction: only if /t/kv/a is "1", set it to "3"; the second time the failure branch runs.
    const txn = {
      compare: [{ key: "/t/kv/a", target: "value", op: "==", value: "1" }],
      success: [{ op: "put", key: "/t/kv/a", value: "3" }],
      failure: [{ op: "get", key: "/t/kv/a" }],
    };
    expect((await n1.send({ op: "txn", txn })).succeeded).toBe(true);
    const again = await n1.send({ op: "txn", txn });
    expect(again.succeeded).toBe(false);
    expect(again.results).toMatchObject([{ op: "get", kvs: [{ value: "3" }] }]);
    expect((await n1.send({ op: "delete", key: "/t/kv/", prefix: true })).deleted).toBe(2);
    // Leases: a key bound to one, listed by time-to-live, gone with the revoke.
    const lease = await n1.send({ op: "grant", ttlSeconds: 5 });
    expect(lease.ttlMs).toBe(5000);
    await n1.send({ op: "put", key: "/t/leased", value: "x", lease: lease.id });
    expect(await n1.send({ op: "ttl", id: lease.id })).toMatchObject({ exists: true, keys: ["/t/leased"] });
    expect((await n1.send({ op: "keepalive", id: lease.id })).ttlMs).toBe(5000);
    await n1.send({ op: "revoke", id: lease.id });
    expect((await n1.send({ op: "get", key: "/t/leased" })).kvs).toEqual([]);
    expect(await n1.send({ op: "ttl", id: lease.id })).toMatchObject({ exists: false, ttlMs: -1 });
    await expect(n1.send({ op: "keepalive", id: lease.id })).rejects.toMatchObject({
      code: "ETCD_LEASE_NOT_FOUND",
    });
    await expect(n1.send({ op: "put", key: "/t/x", value: "x", lease: lease.id })).rejects.toMatchObject({
      code: "ETCD_LEASE_NOT_FOUND",
    });
  });

  it("latency of put, get, txn, keep-alive and watch delivery (printed)", async () => {
    const n1 = await member("n1");
    await n1.send({ op: "connect", endpoints: endpoints(lab) });
    const bench = await n1.send({ op: "bench", n: 300 }, 60_000);
    const lines = ["put", "get", "txn", "keepalive", "watch"].map(
      (k) => `  ${k.padEnd(10)} ${fmt(bench[k] as Stat)}`,
    );
    console.log(
      `etcd through the JSON gateway, from n1 (3 members, 50/500 ms Raft timing):\n${lines.join("\n")}`,
    );
    expect((bench.watch as Stat).n).toBe(300);
  });

  it("two contenders for one package key: exactly one wins, 50 times out of 50", async () => {
    const [a, b] = [await member("n1"), await member("n2")];
    for (const [m, node, first] of [
      [a, "n1", 1],
      [b, "n2", 2],
    ] as const) {
      await m.send({
        op: "start",
        endpoints: endpoints(lab, first),
        prefix: "/pavise/tetcd/",
        node,
        ...TIMING,
      });
    }
    const wins = { n1: 0, n2: 0 };
    let closest = Infinity;
    for (let round = 0; round < 50; round++) {
      // Both fire at the same instant (one monotonic clock for the whole machine).
      const at = monotonicMs() + 30;
      const [ra, rb] = await Promise.all([
        a.send({ op: "acquire", package: "web", at }),
        b.send({ op: "acquire", package: "web", at }),
      ]);
      closest = Math.min(closest, Math.abs((ra.sentAt as number) - (rb.sentAt as number)));
      expect([ra.acquired, rb.acquired].filter(Boolean)).toHaveLength(1);
      const [winner, loser, node] = ra.acquired ? [a, rb, "n1"] : [b, ra, "n2"];
      wins[node as "n1" | "n2"] += 1;
      expect((loser.holders as { node: string }[]).map((h) => h.node)).toEqual([node]);
      expect((await winner.send({ op: "release", package: "web" })).released).toBe(true);
    }
    console.log(
      `contention: 50 rounds, exactly one winner each (n1 won ${wins.n1}, n2 ${wins.n2}); requests as close as ${closest.toFixed(3)} ms`,
    );
    for (const m of [a, b]) await m.send({ op: "end", revoke: true });
  });

  it("a watch delivers every change once, in order, and resumes after its member restarts", async () => {
    const watcher = await member("n3");
    const writer = await member("n2");
    // The watcher streams from etcd-n1's member; the writer talks to n2's.
    await watcher.send({ op: "connect", endpoints: endpoints(lab, 1) });
    await writer.send({ op: "connect", endpoints: endpoints(lab, 2) });
    await watcher.send({ op: "watch", key: "/t/w/", healthCheckMs: 200 });
    const etcdN1 = lab.processes().find((p) => p.role === "etcd-n1")!;
    const writes = writer.send({ op: "puts", key: "/t/w/a", count: 300, everyMs: 2 }, 60_000);
    await new Promise((r) => setTimeout(r, 150));
    const killedAt = monotonicMs();
    await lab.faults.kill(etcdN1);
    const first = await writes;
    await lab.startEtcdMember("n1");
    await waitForEtcd(lab.runtime, lab.plan.etcd, 20_000);
    await writer.send({ op: "puts", key: "/t/w/b", count: 100 });
    await watcher.waitFor("the last change", () =>
      watchedValues(watcher, "/t/w/b").some((v) => v.value === "99"),
    );
    const a = watchedValues(watcher, "/t/w/a");
    const b = watchedValues(watcher, "/t/w/b");
    expect(a.map((v) => v.value)).toEqual(Array.from({ length: 300 }, (_, i) => String(i)));
    expect(b.map((v) => v.value)).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
    const revisions = [...a, ...b].map((v) => v.revision);
    expect(revisions).toEqual([...revisions].sort((x, y) => x - y));
    expect(new Set(revisions).size).toBe(revisions.length);
    const resumed = watchBatches(watcher).filter((batch) => batch.kind === "resumed");
    expect(resumed.length).toBeGreaterThan(0);
    const resumedAt = watcher.events.find(
      (e) => e.ev === "watch" && (e.batch as WatchBatch).kind === "resumed",
    )!.t;
    console.log(
      `watch: 400 changes in order, none lost or repeated; etcd-n1 killed under it, resumed ${(resumedAt - killedAt).toFixed(0)} ms later on ${(resumed[0] as { endpoint: string }).endpoint} (${String(first.retries)} writes retried)`,
    );
    await watcher.send({ op: "unwatch" });
  });

  it("a watch from a compacted revision says so, then carries on", async () => {
    const n1 = await member("n1");
    await n1.send({ op: "connect", endpoints: endpoints(lab) });
    const revisions: number[] = [];
    for (let i = 0; i < 5; i++)
      revisions.push((await n1.send({ op: "put", key: "/t/c/k", value: String(i) })).revision as number);
    await n1.send({ op: "compact", revision: revisions[3] });
    await n1.send({ op: "watch", key: "/t/c/", startRevision: revisions[0] });
    await n1.send({ op: "put", key: "/t/c/k", value: "after" });
    await n1.waitFor("the change after compaction", () =>
      watchedValues(n1, "/t/c/k").some((v) => v.value === "after"),
    );
    const batches = watchBatches(n1);
    expect(batches[0]).toEqual({ kind: "compacted", compactRevision: revisions[3] });
    // From the compact revision on, nothing is lost.
    expect(watchedValues(n1, "/t/c/k").map((v) => v.value)).toEqual(["3", "4", "after"]);
    await n1.send({ op: "unwatch" });
  });

  it("keys bound to a node's lease vanish when it stops renewing (crash)", async () => {
    const node = await member("n1");
    const watcher = await member("n2");
    await node.send({
      op: "start",
      endpoints: endpoints(lab, 1),
      prefix: "/pavise/tcrash/",
      node: "n1",
      ...TIMING,
    });
    await node.send({ op: "acquire", package: "db" });
    await watcher.send({ op: "connect", endpoints: endpoints(lab, 2) });
    await watcher.send({ op: "watch", key: "/pavise/tcrash/" });
    const crashAt = monotonicMs();
    await node.kill();
    const gone = (key: string) => (e: AgentLine) =>
      e.ev === "watch" &&
      (e.batch as WatchBatch).kind === "events" &&
      (e.batch as Extract<WatchBatch, { kind: "events" }>).events.some(
        (ev) => ev.type === "delete" && ev.kv.key === key,
      );
    const nodeGone = await watcher.waitFor("nodes/n1 deleted", gone("/pavise/tcrash/nodes/n1"), 5000);
    const ownerGone = await watcher.waitFor(
      "owners/db/n1 deleted",
      gone("/pavise/tcrash/owners/db/n1"),
      5000,
    );
    const after = nodeGone.t - crashAt;
    console.log(
      `lease expiry after a crash: nodes/n1 and owners/db/n1 deleted ${after.toFixed(0)} ms after the node died (TTL 1000 ms, renewed every 333 ms)`,
    );
    expect(ownerGone.t - crashAt).toBeLessThan(3000);
    expect(after).toBeGreaterThan(1000 - 333 - 50);
    await watcher.send({ op: "unwatch" });
  });
});

describe.skipIf(!root)("etcd client with TLS client certificates", () => {
  let lab: Lab;
  const members: LabMember[] = [];

  beforeAll(async () => {
    lab = await freshLab(testLabSpec("ttls", { etcd: true, etcdTls: true }));
  });

  afterAll(async () => {
    for (const m of members) await m.kill();
    await lab?.down();
  });

  it("keys, leases, ownership and watches over TLS, and a clear error without the right CA", async () => {
    const files = etcdClientTls(lab.runtime);
    const tls = { ca: files.caCert, cert: files.cert, key: files.key };
    const urls = lab.plan.etcd.members.map((m) => m.clientUrl);
    expect(urls.every((u) => u.startsWith("https://"))).toBe(true);
    const n1 = await LabMember.start(lab, "n1");
    members.push(n1);
    await n1.send({ op: "start", endpoints: urls, tls, prefix: "/pavise/ttls/", node: "n1", ...TIMING });
    expect((await n1.send({ op: "acquire", package: "web" })).acquired).toBe(true);
    await n1.send({ op: "watch", key: "/pavise/ttls/owners/" });
    await n1.send({ op: "release", package: "web" });
    await n1.waitFor("the release", (e) => e.ev === "watch");
    const status = await n1.send({ op: "status" });
    expect(status.authority).toMatchObject({ kind: "owner" });
    const bench = await n1.send({ op: "bench", n: 100 }, 60_000);
    console.log(`over TLS: put ${fmt(bench.put as Stat)}, keep-alive ${fmt(bench.keepalive as Stat)}`);
    await n1.send({ op: "end", revoke: true });

    // The server's certificate checked against a CA that did not sign it: refused, with a hint.
    const n2 = await LabMember.start(lab, "n2");
    members.push(n2);
    await n2.send({ op: "connect", endpoints: urls, tls: { ...tls, ca: files.cert } });
    await expect(n2.send({ op: "get", key: "/x" })).rejects.toMatchObject({ code: "ETCD_UNREACHABLE" });
    // And http endpoints for a TLS cluster are refused before anything is sent.
    await expect(
      n2.send({ op: "connect", endpoints: urls.map((u) => u.replace("https", "http")), tls }),
    ).rejects.toMatchObject({
      code: "ETCD_CONFIG_INVALID",
    });
  });
});
