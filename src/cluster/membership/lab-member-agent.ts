/**
 * A small node process for lab tests of etcd access, membership and fencing. It runs inside a
 * lab host (etcd is only reachable there), reads one JSON command a line on stdin and writes one
 * JSON line per answer or event on stdout. Every line carries `t`, the monotonic clock
 * (monotonic-clock.ts), which is the same for every process on the machine, so a test can
 * compare the times two nodes logged.
 *
 * Each command {op, …} is answered by {re: op, ok: true, …} or {re: op, ok: false, code, error}.
 *   connect {endpoints, tls?}         a bare etcd client, no membership
 *   start {endpoints, tls?, prefix, node, memberTimeoutMs, keepaliveIntervalMs, fenceAfterMs,
 *          eventLoopBudgetMs, safetyMarginMs?}     joins: lease in a worker, fence guard, node key
 *   acquire {package, exclusive?, at?}   take ownership (at: a monotonic time to fire at)
 *   contend {package, everyMs}        try to acquire until it works, then {ev: "acquired"}
 *   release {package}
 *   guard {package, everyMs}          every everyMs {ev: "act"} while mayRun(package), then one
 *                                     {ev: "refused"} — the daemon's check before each action
 *   busy {ms}                         keeps the main thread busy (a CPU-bound stall)
 *   emergency {commands}              argv lists the keep-alive worker runs as a last resort
 *   status                            authority, guard stats, the worker's lease state
 *   campaign  resign                  leader election
 *   end {revoke}                      leaves (revoke: every key of the lease goes at once)
 *   put {key, value, lease?}  get {key, prefix?}  delete {key, prefix?}  txn {txn}
 *   grant {ttlSeconds}  keepalive {id}  revoke {id}  ttl {id?}  compact {revision}
 *   watch {key, prefix?, startRevision?, healthCheckMs?}   then {ev: "watch", batch} per batch
 *   unwatch
 *   puts {key, count}                 count puts of key, values "0", "1", … one after the other
 *   bench {n}                         latency of put/get/txn/keep-alive and watch delivery
 *   peers-record {prefix, guard, records}   IPsec peer registry (src/ipsec/registry/peer-registry.ts):
 *   peers-forget {prefix, guard, ids}       guard = {package, node, lease, createRevision?}
 *   peers-list {prefix, package}
 *   exit
 * Events: {ev: "fenced", …FenceEvent}, {ev: "lease", …keep-alive worker message}.
 *
 * Run: node dist/cluster/membership/lab-member-agent.js (compiled; see distPath).
 */
import { createInterface } from "node:readline";
import { EtcdClient } from "../etcd/client.js";
import { EtcdError } from "../etcd/errors.js";
import type { EtcdTlsFiles } from "../etcd/gateway-transport.js";
import { monotonicMs } from "../etcd/monotonic-clock.js";
import type { EtcdWatch } from "../etcd/watch.js";
import type { Txn } from "../etcd/wire.js";
import { MemberSession } from "./member-session.js";
import { ClusterKeys } from "./layout.js";
import { forgetPeers, listPeers, recordPeers, type OwnerGuard } from "../../ipsec/registry/peer-registry.js";
import type { PeerRecord } from "../../ipsec/registry/peer-record.js";

type Command = Record<string, unknown> & { op: string };

let session: MemberSession | undefined;
let bare: EtcdClient | undefined;
const watches: EtcdWatch[] = [];
let guardTimer: NodeJS.Timeout | undefined;

function emit(line: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ t: monotonicMs(), ...line }) + "\n");
}

function member(): MemberSession {
  if (!session) throw new EtcdError("ETCD_REQUEST_FAILED", "no session: send start first");
  return session;
}

function client(): EtcdClient {
  const c = session?.client ?? bare;
  if (!c) throw new EtcdError("ETCD_REQUEST_FAILED", "no client: send connect or start first");
  return c;
}

function busyUntil(at: number): void {
  while (monotonicMs() < at) {
    // Spin: a CPU-bound main thread, or a precise start time.
  }
}

function percentiles(samples: number[]): { p50: number; p90: number; p99: number; max: number; n: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const q = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: sorted[sorted.length - 1] ?? NaN, n: sorted.length };
}

async function timed(
  n: number,
  fn: (i: number) => Promise<unknown>,
): Promise<ReturnType<typeof percentiles>> {
  for (let i = 0; i < 20; i++) await fn(i);
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = monotonicMs();
    await fn(i);
    samples.push(monotonicMs() - start);
  }
  return percentiles(samples);
}

async function bench(n: number): Promise<Record<string, unknown>> {
  const c = client();
  const key = `/bench/${process.pid}/`;
  const put = await timed(n, (i) => c.put(`${key}k${i % 10}`, `v${i}`));
  const get = await timed(n, (i) => c.get(`${key}k${i % 10}`));
  const txn = await timed(n, () =>
    c.txn({
      compare: [{ key: `${key}t`, target: "create", op: "==", value: 0 }],
      success: [{ op: "put", key: `${key}t`, value: "x" }],
      failure: [{ op: "delete", key: `${key}t` }],
    }),
  );
  const lease = await c.leaseGrant(5);
  const keepalive = await timed(n, () => c.leaseKeepAlive(lease.id));
  await c.leaseRevoke(lease.id);
  // Watch delivery: put a value, time until the watch hands it over.
  const watch = c.watch(`${key}w/`);
  await watch.ready;
  const delays: number[] = [];
  const sentAt = new Map<string, number>();
  const reader = (async () => {
    for await (const batch of watch) {
      if (batch.kind !== "events") continue;
      for (const e of batch.events) {
        const t0 = sentAt.get(e.kv.value);
        if (t0 !== undefined) delays.push(monotonicMs() - t0);
      }
      if (delays.length >= n) return;
    }
  })();
  for (let i = 0; i < n; i++) {
    sentAt.set(`w${i}`, monotonicMs());
    await c.put(`${key}w/x`, `w${i}`);
  }
  await Promise.race([reader, new Promise((r) => setTimeout(r, 2000))]);
  watch.close();
  await c.delete(key, { prefix: true });
  return { put, get, txn, keepalive, watch: percentiles(delays) };
}

async function handle(command: Command): Promise<Record<string, unknown>> {
  switch (command.op) {
    case "connect": {
      bare?.close();
      bare = new EtcdClient({
        endpoints: command.endpoints as string[],
        tls: command.tls as EtcdTlsFiles | undefined,
      });
      return {};
    }
    case "start": {
      const c = command as unknown as {
        endpoints: string[];
        tls?: EtcdTlsFiles;
        prefix: string;
        node: string;
        memberTimeoutMs: number;
        keepaliveIntervalMs: number;
        fenceAfterMs: number;
        eventLoopBudgetMs: number;
        safetyMarginMs?: number;
      };
      session = await MemberSession.start({
        etcd: { endpoints: c.endpoints, tls: c.tls, prefix: c.prefix },
        timing: {
          memberTimeoutMs: c.memberTimeoutMs,
          keepaliveIntervalMs: c.keepaliveIntervalMs,
          fenceAfterMs: c.fenceAfterMs,
          eventLoopBudgetMs: c.eventLoopBudgetMs,
        },
        node: c.node,
        ...(c.safetyMarginMs === undefined ? {} : { safetyMarginMs: c.safetyMarginMs }),
        onFence: (event) => emit({ ev: "fenced", ...event }),
        onLeaseMessage: (message) => emit({ ev: "lease", ...message }),
      });
      return { lease: session.lease.id, granted: session.lease.granted };
    }
    case "acquire": {
      if (typeof command.at === "number") busyUntil(command.at);
      const sentAt = monotonicMs();
      const result = await member().acquire(String(command.package), {
        exclusive: command.exclusive !== false,
      });
      return { sentAt, ...result };
    }
    case "contend": {
      const s = member();
      const pkg = String(command.package);
      const every = Number(command.everyMs ?? 20);
      void (async () => {
        for (;;) {
          const sentAt = monotonicMs();
          try {
            const result = await s.acquire(pkg);
            if (result.acquired) {
              emit({ ev: "acquired", package: pkg, sentAt, owner: result.owner });
              return;
            }
          } catch (err) {
            emit({ ev: "contend-error", error: (err as Error).message });
          }
          if (!s.mayAct()) return;
          await new Promise((r) => setTimeout(r, every));
        }
      })();
      return {};
    }
    case "release":
      return { released: await member().release(String(command.package)) };
    case "guard": {
      const s = member();
      const pkg = String(command.package);
      if (guardTimer) clearInterval(guardTimer);
      let acts = 0;
      guardTimer = setInterval(
        () => {
          if (s.mayRun(pkg)) {
            acts += 1;
            emit({ ev: "act", package: pkg, n: acts });
          } else {
            emit({ ev: "refused", package: pkg, authority: s.fence.authority() });
            clearInterval(guardTimer);
          }
        },
        Number(command.everyMs ?? 10),
      );
      return {};
    }
    case "busy": {
      const start = monotonicMs();
      busyUntil(start + Number(command.ms));
      return { start, end: monotonicMs() };
    }
    case "status": {
      const s = member();
      return {
        lease: s.lease.id,
        authority: s.fence.authority(),
        stats: s.fence.stats,
        worker: s.lease.read().snapshot,
        packages: s.packages,
      };
    }
    case "emergency":
      member().lease.setEmergencyCommands(command.commands as string[][]);
      return {};
    case "campaign":
      return { ...(await member().campaign()) };
    case "resign":
      return { resigned: await member().resign() };
    case "end":
      if (guardTimer) clearInterval(guardTimer);
      await member().end({ revoke: command.revoke === true });
      session = undefined;
      return {};
    case "put":
      return {
        revision: await client().put(String(command.key), String(command.value), {
          ...(typeof command.lease === "string" ? { lease: command.lease } : {}),
        }),
      };
    case "get":
      return { ...(await client().range(String(command.key), { prefix: command.prefix === true })) };
    case "delete":
      return { ...(await client().delete(String(command.key), { prefix: command.prefix === true })) };
    case "txn":
      return { ...(await client().txn(command.txn as Txn)) };
    case "peers-record":
      return {
        ...(await recordPeers(
          client(),
          new ClusterKeys(String(command.prefix)),
          command.guard as OwnerGuard,
          command.records as PeerRecord[],
        )),
      };
    case "peers-forget":
      return {
        ...(await forgetPeers(
          client(),
          new ClusterKeys(String(command.prefix)),
          command.guard as OwnerGuard,
          command.ids as string[],
        )),
      };
    case "peers-list":
      return {
        ...(await listPeers(client(), new ClusterKeys(String(command.prefix)), String(command.package))),
      };
    case "grant":
      return { ...(await client().leaseGrant(Number(command.ttlSeconds))) };
    case "keepalive":
      return { ...(await client().leaseKeepAlive(String(command.id))) };
    case "revoke":
      await client().leaseRevoke(String(command.id));
      return {};
    case "ttl":
      return {
        ...(await client().leaseTimeToLive(typeof command.id === "string" ? command.id : member().lease.id, {
          keys: true,
        })),
      };
    case "compact":
      await client().compact(Number(command.revision));
      return {};
    case "watch": {
      const watch = client().watch(String(command.key), {
        prefix: command.prefix !== false,
        ...(typeof command.startRevision === "number" ? { startRevision: command.startRevision } : {}),
        ...(typeof command.healthCheckMs === "number" ? { healthCheckMs: command.healthCheckMs } : {}),
      });
      watches.push(watch);
      const from = await watch.ready;
      void (async () => {
        for await (const batch of watch) emit({ ev: "watch", batch });
      })();
      return { from };
    }
    case "unwatch":
      for (const w of watches.splice(0)) w.close();
      return {};
    case "puts": {
      const c = client();
      const revisions: number[] = [];
      const errors: string[] = [];
      for (let i = 0; i < Number(command.count); i++) {
        // Each value is written exactly once, retrying while etcd is between members.
        for (;;) {
          try {
            revisions.push(await c.put(String(command.key), String(i)));
            break;
          } catch (err) {
            errors.push((err as Error).message);
            await new Promise((r) => setTimeout(r, 20));
          }
        }
        if (typeof command.everyMs === "number")
          await new Promise((r) => setTimeout(r, command.everyMs as number));
      }
      return { first: revisions[0], last: revisions[revisions.length - 1], retries: errors.length };
    }
    case "bench":
      return bench(Number(command.n ?? 200));
    case "exit":
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown op ${command.op}`);
  }
}

// Commands run one after the other, in the order they came.
let queue = Promise.resolve();
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "") return;
  queue = queue.then(async () => {
    let command: Command;
    try {
      command = JSON.parse(line) as Command;
    } catch {
      emit({ re: "?", ok: false, error: `not JSON: ${line}` });
      return;
    }
    try {
      emit({ re: command.op, ok: true, ...(await handle(command)) });
    } catch (err) {
      emit({
        re: command.op,
        ok: false,
        code: (err as EtcdError).code ?? "ERROR",
        error: (err as Error).message,
      });
    }
  });
});
