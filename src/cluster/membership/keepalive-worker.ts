/**
 * The lease keep-alive loop, in a worker thread of the node daemon (node:worker_threads), so
 * that neither datapath work nor a busy or stalled main thread can starve it: it grants the
 * node's lease, renews it every keep-alive interval, and writes each confirmed renewal (when it
 * was sent, when the answer came, the TTL etcd gave) to the shared state the main thread's fence
 * guard reads (shared-lease-state.ts). It also watches the main thread's heartbeat and records
 * how long it stood still.
 *
 * Fencing is the main thread's business: its guard knows about its own event loop, and the
 * daemon halts packages from there. One case it cannot handle: its loop stalled (so it cannot act
 * at all) while the lease also runs out (etcd unreachable). For that double fault the worker
 * keeps its own FenceGuard over the same renewals, and when that guard has fenced while the main
 * thread has been silent past its budget, it runs the emergency commands the daemon gave it
 * (e.g. `ip addr del` for every package address), once — the last resort, like Serviceguard's
 * safety timer that resets a node whose cmcld hangs.
 *
 * Started by node-lease.ts; runs compiled (dist/cluster/membership/keepalive-worker.js).
 *
 * Messages to the main thread: {type: "granted", id, ttlMs, sentAt, receivedAt},
 * {type: "failure", at, code, message} (first failure of a run, and every tenth),
 * {type: "recovered", at, failures}, {type: "lost", at, message},
 * {type: "main-silent", silenceMs, at} (once the main thread ran again),
 * {type: "emergency", at, reason, mainSilentMs, results}, {type: "stopped", revoked}.
 * From the main thread: {type: "revoke"} (revoke the lease, then stop), {type: "stop"} and
 * {type: "emergency-commands", commands} (argv lists; replaces the previous ones).
 */
import { spawnSync } from "node:child_process";
import { parentPort, workerData } from "node:worker_threads";
import { EtcdClient } from "../etcd/client.js";
import { EtcdError } from "../etcd/errors.js";
import type { EtcdTlsFiles } from "../etcd/gateway-transport.js";
import { monotonicMs } from "../etcd/monotonic-clock.js";
import { FenceGuard, type FenceGuardOptions, type FenceReason } from "./fence-guard.js";
import { SharedLeaseState } from "./shared-lease-state.js";

export interface KeepAliveWorkerData {
  endpoints: string[];
  tls: EtcdTlsFiles | undefined;
  ttlSeconds: number;
  intervalMs: number;
  /** One attempt on one member; then the next member is tried (default: a third of the interval). */
  attemptTimeoutMs?: number;
  /** How often the main thread's heartbeat is looked at, and how long a silence is worth a report. */
  mainCheckMs: number;
  mainSilenceReportMs: number;
  /** The main thread's fence options: the worker judges the lease the same way. */
  fence: FenceGuardOptions;
  shared: SharedArrayBuffer;
}

export type KeepAliveWorkerMessage =
  | { type: "granted"; id: string; ttlMs: number; sentAt: number; receivedAt: number }
  | { type: "failure"; at: number; code: string; message: string; consecutive: number }
  | { type: "recovered"; at: number; failures: number }
  | { type: "lost"; at: number; message: string }
  | { type: "main-silent"; at: number; silenceMs: number }
  | {
      type: "emergency";
      at: number;
      doneAt: number;
      reason: FenceReason;
      mainSilentMs: number;
      results: { argv: string[]; status: number | null; error?: string }[];
    }
  | { type: "stopped"; revoked: boolean; error?: string };

export type KeepAliveWorkerCommand =
  { type: "revoke" } | { type: "stop" } | { type: "emergency-commands"; commands: string[][] };

const data = workerData as KeepAliveWorkerData;
const port = parentPort;
if (!port) throw new Error("keepalive-worker.js runs as a worker thread (node-lease.ts starts it)");
const shared = new SharedLeaseState(data.shared);
const post = (message: KeepAliveWorkerMessage): void => port.postMessage(message);
const client = new EtcdClient({
  endpoints: data.endpoints,
  tls: data.tls,
  timeoutMs: data.intervalMs,
  attemptTimeoutMs: data.attemptTimeoutMs ?? Math.max(50, Math.floor(data.intervalMs / 3)),
});

let command: Exclude<KeepAliveWorkerCommand, { type: "emergency-commands" }> | undefined;
let wake: (() => void) | undefined;
let emergency: string[][] = [];
let emergencyDone = false;
port.on("message", (message: KeepAliveWorkerCommand) => {
  if (message.type === "emergency-commands") {
    emergency = message.commands;
    return;
  }
  command = message;
  wake?.();
});

// The worker's own view of the lease (same rule as the main thread's), ticked by its own timer.
const guard = new FenceGuard(data.fence, monotonicMs());

/** Runs the emergency commands once: the main thread is stalled and the lease cannot be proven. */
function lastResort(now: number, mainSilentMs: number): void {
  const authority = guard.authority(now);
  if (emergencyDone || emergency.length === 0 || authority.kind !== "fenced") return;
  if (mainSilentMs <= data.fence.eventLoopBudgetMs + data.fence.tickIntervalMs) return;
  emergencyDone = true;
  const results = emergency.map((argv) => {
    const result = spawnSync(argv[0]!, argv.slice(1), { timeout: 2000, stdio: "ignore" });
    return { argv, status: result.status, ...(result.error ? { error: result.error.message } : {}) };
  });
  post({
    type: "emergency",
    at: now,
    doneAt: monotonicMs(),
    reason: authority.reason,
    mainSilentMs,
    results,
  });
}

/** Sleeps until `at` (monotonic), or until a command arrives. */
function sleepUntil(at: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.max(0, at - monotonicMs()));
    function done(): void {
      clearTimeout(timer);
      wake = undefined;
      resolve();
    }
    wake = done;
  });
}

// The main thread's heartbeat: how long it stands still, reported when it runs again.
let silent = 0;
let lastCheck = monotonicMs();
const mainWatch = setInterval(() => {
  const now = monotonicMs();
  guard.handleLoopTick(now, Math.max(0, now - lastCheck - data.mainCheckMs));
  lastCheck = now;
  const beat = shared.lastBeat();
  if (beat === 0) return;
  const silence = now - beat;
  lastResort(now, silence);
  const max = shared.read(Infinity).snapshot.maxMainSilenceMs;
  if (silence > max) shared.update({ maxMainSilenceMs: silence });
  if (silence > data.mainSilenceReportMs) silent = Math.max(silent, silence);
  else if (silent > 0) {
    post({ type: "main-silent", at: monotonicMs(), silenceMs: silent });
    silent = 0;
  }
}, data.mainCheckMs);

let failures = 0;
let consecutive = 0;

function failed(err: unknown): void {
  failures += 1;
  consecutive += 1;
  const at = monotonicMs();
  shared.update({ failures, consecutiveFailures: consecutive, lastFailureAt: at });
  if (consecutive === 1 || consecutive % 10 === 0) {
    const error = err instanceof EtcdError ? err : undefined;
    post({
      type: "failure",
      at,
      code: error?.code ?? "ERROR",
      message: (err as Error).message,
      consecutive,
    });
  }
}

function confirmed(sentAt: number, ttlMs: number): number {
  const receivedAt = monotonicMs();
  if (consecutive > 0) post({ type: "recovered", at: receivedAt, failures: consecutive });
  consecutive = 0;
  shared.update({ consecutiveFailures: 0 }, { sentAt, receivedAt, ttlMs });
  guard.handleRenewal(receivedAt, { sentAt, receivedAt, ttlMs });
  return receivedAt;
}

async function main(): Promise<void> {
  let id: string | undefined;
  let revoked = false;
  let error: string | undefined;
  try {
    // Grant: until it works or we are told to stop.
    while (id === undefined && command === undefined) {
      try {
        const lease = await client.leaseGrant(data.ttlSeconds);
        id = lease.id;
        const receivedAt = confirmed(lease.sentAt, lease.ttlMs);
        post({ type: "granted", id, ttlMs: lease.ttlMs, sentAt: lease.sentAt, receivedAt });
      } catch (err) {
        failed(err);
        await sleepUntil(monotonicMs() + 100);
      }
    }
    // Renew every interval, counted from the last send; after a failure, at once.
    let next = monotonicMs() + data.intervalMs;
    while (id !== undefined && command === undefined) {
      await sleepUntil(next);
      if (command !== undefined) break;
      const attemptAt = monotonicMs();
      try {
        const renewal = await client.leaseKeepAlive(id);
        confirmed(renewal.sentAt, renewal.ttlMs);
        next = renewal.sentAt + data.intervalMs;
      } catch (err) {
        if (err instanceof EtcdError && err.code === "ETCD_LEASE_NOT_FOUND") {
          const at = monotonicMs();
          shared.update({ lost: true, lostAt: at });
          guard.handleRenewalFailure(at, { kind: "lease-not-found" });
          post({ type: "lost", at, message: err.message });
          lastResort(at, at - shared.lastBeat());
          return;
        }
        failed(err);
        // The transport already paused between rounds over every member; don't spin.
        next = Math.max(monotonicMs(), attemptAt + 20);
      }
    }
    if (id !== undefined && command?.type === "revoke") {
      await client.leaseRevoke(id, { timeoutMs: 2000 });
      revoked = true;
    }
  } catch (err) {
    error = (err as Error).message;
  } finally {
    clearInterval(mainWatch);
    shared.update({ stopped: true });
    client.close();
    post({ type: "stopped", revoked, ...(error === undefined ? {} : { error }) });
  }
}

void main();
