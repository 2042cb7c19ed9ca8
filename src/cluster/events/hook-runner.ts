/**
 * Runs the hooks the sink plans (hook-plan.ts) without ever holding the daemon up: enqueue()
 * returns at once, at most `maxRunning` hooks run together and at most `maxQueued` wait (beyond
 * that a run is dropped and counted; the daemon logs that at most once a second). Each hook runs
 * by `/bin/sh -c` in its own process group (process-group.ts), stdin /dev/null, stdout and
 * stderr appended to <log-dir>/hooks.log. At its timeout the group gets SIGTERM and, 2 s later,
 * SIGKILL if anything of it is left (Pacemaker's alert timeout kills the agent the same way).
 */

import { join } from "node:path";
import { CURRENT_NAMESPACE, type NodeNamespace } from "../executor/node-namespace.js";
import { PackageLog } from "../executor/package-log.js";
import { startInGroup, type GroupProcess } from "../executor/process-group.js";
import { describeExit } from "../executor/script-runner.js";
import type { HookRun } from "./hook-plan.js";

export const HOOK_LOG_NAME = "hooks.log";

export interface HookRunnerOptions {
  /** The daemon's log directory: hooks.log goes there (opened at the first run). */
  logDirectory: string;
  /** A line in the daemon's own log (hook-failed, hook-dropped); never an event (no loops). */
  log: (event: string, message: string, extra?: Record<string, unknown>) => void;
  maxQueued?: number;
  maxRunning?: number;
  /** Between SIGTERM at the timeout and SIGKILL. */
  killGraceMs?: number;
  ns?: NodeNamespace;
}

export interface HookRunnerStats {
  started: number;
  succeeded: number;
  /** Exited non-zero, killed by a signal, or could not be started. */
  failed: number;
  timedOut: number;
  dropped: number;
  queued: number;
  running: number;
}

const DROP_LOG_INTERVAL_MS = 1000;

export class HookRunner {
  private readonly queue: HookRun[] = [];
  private readonly running = new Set<GroupProcess>();
  private readonly counts = { started: 0, succeeded: 0, failed: 0, timedOut: 0, dropped: 0 };
  private file: PackageLog | undefined;
  private droppedUnlogged = 0;
  private lastDropLog = 0;
  private stopped = false;
  private held = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly options: HookRunnerOptions) {}

  get logPath(): string {
    return join(this.options.logDirectory, HOOK_LOG_NAME);
  }

  /** Queues the runs (or drops those beyond the queue's room); never waits for a hook. */
  enqueue(runs: readonly HookRun[]): void {
    if (this.stopped) return;
    const room = this.options.maxQueued ?? 64;
    for (const run of runs) {
      if (this.queue.length >= room) this.drop(run);
      else this.queue.push(run);
      // Free slots take runs at once: the room is for runs that wait.
      this.pump();
    }
  }

  stats(): HookRunnerStats {
    return { ...this.counts, queued: this.queue.length, running: this.running.size };
  }

  /** Resolves when nothing is queued or running (tests). */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * While the node fences, no hook starts (design §9): starting processes costs the event loop
   * time the fence needs. Runs wait in the queue (or are dropped when it is full) until release().
   */
  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
    this.pump();
  }

  /** The daemon stops: nothing more starts, running hooks' groups are killed. */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    for (const group of this.running) group.signalGroup("SIGKILL");
    this.file?.close();
  }

  private drop(run: HookRun): void {
    this.counts.dropped += 1;
    this.droppedUnlogged += 1;
    const now = Date.now();
    if (now - this.lastDropLog < DROP_LOG_INTERVAL_MS) return;
    this.lastDropLog = now;
    this.options.log(
      "hook-dropped",
      `${this.droppedUnlogged} hook run(s) dropped (latest: ${run.hook} for ${run.env.PAVISE_EVENT_KIND ?? "?"}): ` +
        `${this.queue.length} queued and ${this.running.size} running already`,
      { dropped: this.counts.dropped },
    );
    this.droppedUnlogged = 0;
  }

  private pump(): void {
    const limit = this.options.maxRunning ?? 4;
    while (!this.stopped && !this.held && this.running.size < limit && this.queue.length > 0) {
      const run = this.queue.shift()!;
      void this.start(run);
    }
    if (this.queue.length === 0 && this.running.size === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private openLog(): PackageLog {
    this.file ??= PackageLog.open(this.logPath);
    return this.file;
  }

  private async start(run: HookRun): Promise<void> {
    const what = `${run.hook} for ${run.env.PAVISE_EVENT_KIND ?? "?"} #${run.env.PAVISE_EVENT_SEQUENCE ?? "?"}${
      run.env.PAVISE_EVENT_RECIPIENT !== undefined ? ` to ${run.env.PAVISE_EVENT_RECIPIENT}` : ""
    }`;
    const startedAt = Date.now();
    // A placeholder holds the slot while the process starts.
    const pending = placeholder();
    this.running.add(pending);
    let group: GroupProcess;
    let log: PackageLog;
    try {
      log = this.openLog();
      log.write("pavise", `hook ${what}: running (timeout ${run.timeoutMs} ms): ${run.command}`);
      group = await startInGroup(run.command, {
        ns: this.options.ns ?? CURRENT_NAMESPACE,
        env: run.env,
        output: log.fd,
      });
    } catch (err) {
      this.running.delete(pending);
      this.counts.failed += 1;
      this.options.log("hook-failed", `hook ${what} could not be started: ${(err as Error).message}`, {
        hook: run.hook,
      });
      this.pump();
      return;
    }
    this.running.delete(pending);
    this.running.add(group);
    this.counts.started += 1;
    if (this.stopped) group.signalGroup("SIGKILL");
    const graceMs = this.options.killGraceMs ?? 2000;
    let timedOut = false;
    let killed = false;
    const timer = setTimeout(() => {
      timedOut = true;
      group.signalGroup("SIGTERM");
      // Armed until it fires: the leader may exit on SIGTERM while the rest of its group lives on.
      setTimeout(() => {
        if (group.groupAlive()) killed = group.signalGroup("SIGKILL");
      }, graceMs).unref();
    }, run.timeoutMs);
    timer.unref();
    const exit = await group.exited;
    clearTimeout(timer);
    const ms = Date.now() - startedAt;
    if (timedOut) {
      this.counts.timedOut += 1;
      const how = killed ? `SIGTERM, and SIGKILL ${graceMs} ms later` : "SIGTERM";
      const message = `hook ${what} did not finish within its timeout of ${run.timeoutMs} ms: its process group was ended with ${how}`;
      log.write("pavise", message);
      this.options.log("hook-failed", message, { hook: run.hook, ms });
    } else if (exit.code === 0) {
      this.counts.succeeded += 1;
      log.write("pavise", `hook ${what}: done in ${ms} ms`);
    } else {
      this.counts.failed += 1;
      const message = `hook ${what} ${describeExit(exit)} after ${ms} ms (its output: ${this.logPath})`;
      log.write("pavise", message);
      this.options.log("hook-failed", message, { hook: run.hook, ms });
    }
    this.running.delete(group);
    this.pump();
  }
}

function placeholder(): GroupProcess {
  return {
    pid: -1,
    exited: new Promise(() => undefined),
    output: undefined,
    signalGroup: () => false,
    groupAlive: () => false,
  };
}
