import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { EtcdError } from "../etcd/errors.js";
import type { EtcdTlsFiles } from "../etcd/gateway-transport.js";
import { distPath } from "../../util/package-paths.js";
import type {
  KeepAliveWorkerCommand,
  KeepAliveWorkerData,
  KeepAliveWorkerMessage,
} from "./keepalive-worker.js";
import type { FenceGuardOptions } from "./fence-guard.js";
import { SharedLeaseState, type LeaseSnapshot, type RenewalRecord } from "./shared-lease-state.js";

export interface NodeLeaseOptions {
  endpoints: readonly string[];
  tls?: EtcdTlsFiles | undefined;
  /** memberTimeoutMs: the lease TTL; etcd counts in whole seconds, so it is rounded up. */
  ttlMs: number;
  /** keepaliveIntervalMs. */
  keepaliveIntervalMs: number;
  /** One attempt on one member before the next is tried (default a third of the interval). */
  attemptTimeoutMs?: number;
  /** The main thread's fence options; the worker judges the lease the same way (last resort). */
  fence: FenceGuardOptions;
  /** How long grant may take before start() gives up (default 10 s). */
  grantTimeoutMs?: number;
  /** Every message of the worker, for logs. */
  onMessage?: (message: KeepAliveWorkerMessage) => void;
}

/**
 * The node's etcd lease, kept alive by a worker thread (keepalive-worker.ts) so that the main
 * thread's load cannot starve the renewals. `start` returns once etcd granted the lease. The
 * main thread reads what the worker confirmed with `read()` (synchronously, from shared memory)
 * and tells it that it is alive with `beat()`.
 */
export class NodeLease {
  private stoppedPromise: Promise<{ revoked: boolean; error?: string }>;
  private lostAt: number | undefined;

  private constructor(
    readonly id: string,
    /** The grant: when it was sent and answered (monotonicMs) and the TTL etcd gave. */
    readonly granted: { sentAt: number; receivedAt: number; ttlMs: number },
    private readonly worker: Worker,
    private readonly shared: SharedLeaseState,
    stopped: Promise<{ revoked: boolean; error?: string }>,
  ) {
    this.stoppedPromise = stopped;
  }

  static async start(options: NodeLeaseOptions): Promise<NodeLease> {
    const ttlSeconds = Math.max(1, Math.ceil(options.ttlMs / 1000));
    if (!(options.keepaliveIntervalMs > 0 && options.keepaliveIntervalMs < ttlSeconds * 1000)) {
      throw new RangeError(
        `keepaliveIntervalMs must be between 0 and the TTL (${ttlSeconds * 1000} ms), not ${options.keepaliveIntervalMs}`,
      );
    }
    // Enough slots for every renewal of a main-thread stall the fence tolerates, and then some.
    const mainStallMs = options.fence.eventLoopBudgetMs + options.fence.tickIntervalMs;
    const capacity = Math.ceil(mainStallMs / options.keepaliveIntervalMs) + 16;
    const shared = new SharedLeaseState(capacity);
    const workerData: KeepAliveWorkerData = {
      endpoints: [...options.endpoints],
      tls: options.tls,
      ttlSeconds,
      intervalMs: options.keepaliveIntervalMs,
      ...(options.attemptTimeoutMs === undefined ? {} : { attemptTimeoutMs: options.attemptTimeoutMs }),
      mainCheckMs: 10,
      mainSilenceReportMs: mainStallMs,
      fence: options.fence,
      shared: shared.buffer,
    };
    const worker = new Worker(workerUrl(), { workerData, name: "pavise-keepalive" });
    const onMessage = options.onMessage ?? (() => undefined);
    let resolveStopped: (value: { revoked: boolean; error?: string }) => void = () => undefined;
    const stopped = new Promise<{ revoked: boolean; error?: string }>(
      (resolve) => (resolveStopped = resolve),
    );
    let lease: NodeLease | undefined;
    const granted = new Promise<NodeLease>((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.postMessage({ type: "stop" } satisfies KeepAliveWorkerCommand);
        reject(
          new EtcdError(
            "ETCD_UNREACHABLE",
            `etcd granted no lease within ${options.grantTimeoutMs ?? 10_000} ms`,
          ),
        );
      }, options.grantTimeoutMs ?? 10_000);
      worker.on("message", (message: KeepAliveWorkerMessage) => {
        onMessage(message);
        if (message.type === "granted") {
          clearTimeout(timer);
          lease = new NodeLease(message.id, message, worker, shared, stopped);
          resolve(lease);
        } else if (message.type === "lost" && lease) {
          lease.lostAt = message.at;
        } else if (message.type === "stopped") {
          clearTimeout(timer);
          resolveStopped(message);
          reject(
            new EtcdError("ETCD_UNREACHABLE", `the keep-alive worker stopped: ${message.error ?? "told to"}`),
          );
          void worker.terminate();
        }
      });
      worker.on("error", (err) => {
        clearTimeout(timer);
        resolveStopped({ revoked: false, error: err.message });
        reject(err);
      });
      worker.on("exit", () => resolveStopped({ revoked: false, error: "worker exited" }));
    });
    return granted;
  }

  /** What the worker confirmed: its counters and the renewals after `afterSeq`. */
  read(afterSeq?: number): { snapshot: LeaseSnapshot; renewals: RenewalRecord[] } {
    return this.shared.read(afterSeq);
  }

  /** Tells the worker the main thread ran at `now`. */
  beat(now: number): void {
    this.shared.beat(now);
  }

  /** When etcd said the lease was gone (as the message reached this thread), if it did. */
  get lost(): number | undefined {
    return this.lostAt;
  }

  /**
   * Revokes the lease (every key bound to it goes at once) and stops the worker. Call it after
   * the node has halted its packages: from then on others may take them.
   */
  async revoke(): Promise<{ revoked: boolean; error?: string }> {
    this.worker.postMessage({ type: "revoke" } satisfies KeepAliveWorkerCommand);
    return this.stoppedPromise;
  }

  /** Stops renewing without revoking: the lease runs out by itself after its TTL. */
  async stop(): Promise<void> {
    this.worker.postMessage({ type: "stop" } satisfies KeepAliveWorkerCommand);
    await this.stoppedPromise;
  }

  /**
   * The last resort for a stalled main thread: argv lists the worker runs (once) if its own view
   * of the lease fences while the main thread has been silent past its budget — typically
   * `ip addr del` for every package address this node holds. Replaces the previous list; keep
   * it up to date whenever addresses are added or removed.
   */
  setEmergencyCommands(commands: readonly (readonly string[])[]): void {
    this.worker.postMessage({
      type: "emergency-commands",
      commands: commands.map((argv) => [...argv]),
    } satisfies KeepAliveWorkerCommand);
  }

  /** Ends the worker at once (tests: a crash without any goodbye). */
  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

/**
 * The compiled worker script. Running compiled, it is next to this module; running from the
 * sources (vitest), it is the build's copy (a worker cannot load TypeScript).
 */
function workerUrl(): URL {
  const here = new URL("./keepalive-worker.js", import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  return pathToFileURL(distPath("cluster/membership/keepalive-worker.js"));
}
