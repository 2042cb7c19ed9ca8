/**
 * The daemon's end of its guardian (guard-main.ts): starts it in its own session (it must
 * outlive a SIGKILL of the daemon), keeps it told what this node holds, and says goodbye when the
 * daemon leaves normally. The pipe's write end lives only in the daemon (libuv opens it
 * close-on-exec, so services and scripts do not inherit it): when the daemon dies, the guardian
 * sees the end of the pipe at once.
 *
 * With a deadline (timing.fence_after) it also says "alive" every quarter of it from the main
 * thread's timer, which stops when the daemon is frozen or its event loop stalls: the guardian
 * then acts before the lease can lapse (guard-core.ts).
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { distPath } from "../../util/package-paths.js";
import { GUARD_EXIT_SILENCED, type GuardHolding, type GuardMessage } from "./guard-core.js";

export interface DaemonGuardOptions {
  node: string;
  /** The guardian's log lines as JSON (like `pavise daemon --json`). */
  json: boolean;
  /** The guardian acts after this long without a line from the daemon (timing.fence_after). */
  deadlineMs?: number;
  onProblem: (message: string) => void;
  /** The guardian acted on the daemon's silence and has ended; the daemon is fenced by now. */
  onSilenced?: (message: string) => void;
}

export class DaemonGuard {
  private last = "";
  private released = false;
  private exited = false;
  private heartbeat: NodeJS.Timeout | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly options: DaemonGuardOptions,
  ) {}

  static start(options: DaemonGuardOptions): DaemonGuard {
    const child = spawn(
      process.execPath,
      [
        guardScript(),
        "--node",
        options.node,
        ...(options.deadlineMs !== undefined ? ["--deadline-ms", String(options.deadlineMs)] : []),
        ...(options.json ? ["--json"] : []),
      ],
      // stdout and stderr: the daemon's own, so its lines land in the daemon's log.
      { detached: true, stdio: ["pipe", "inherit", "inherit"] },
    );
    const guard = new DaemonGuard(child, options);
    child.once("error", (err) => options.onProblem(`guardian: ${err.message}`));
    child.once("exit", (code, signal) => {
      guard.exited = true;
      guard.stopHeartbeat();
      if (guard.released) return;
      if (code === GUARD_EXIT_SILENCED && options.onSilenced)
        options.onSilenced("guardian ended: it dropped this node's holding while the daemon was silent");
      else options.onProblem(`guardian exited (${signal ?? `code ${code}`}): this node is unguarded`);
    });
    child.stdin?.on("error", (err) => options.onProblem(`guardian pipe: ${err.message}`));
    // Neither keeps the daemon alive: it ends when its work is done, the guardian with it.
    child.unref();
    if (options.deadlineMs !== undefined) {
      const every = Math.max(10, Math.floor(options.deadlineMs / 4));
      guard.heartbeat = setInterval(() => guard.write({ type: "alive" }), every);
      guard.heartbeat.unref();
    }
    return guard;
  }

  /** The guardian has ended (it acted on a silence, or failed): a new one is needed. */
  get gone(): boolean {
    return this.exited;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** What this node holds now; sent only when it differs from what was sent last. */
  hold(holding: GuardHolding): void {
    const line = JSON.stringify({ type: "hold", ...holding } satisfies GuardMessage);
    if (line === this.last || this.released || this.exited) return;
    this.last = line;
    this.child.stdin?.write(`${line}\n`);
  }

  private write(message: GuardMessage): void {
    if (this.released || this.exited) return;
    this.child.stdin?.write(`${JSON.stringify(message)}\n`);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** The daemon leaves normally: the guardian ends quietly. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.stopHeartbeat();
    if (this.exited) return;
    this.child.stdin?.end(`${JSON.stringify({ type: "release" } satisfies GuardMessage)}\n`);
  }
}

/** Next to this module when compiled; the build's copy when running from the sources (vitest). */
function guardScript(): string {
  const here = fileURLToPath(new URL("./guard-main.js", import.meta.url));
  return existsSync(here) ? here : distPath("cluster/guard/guard-main.js");
}
