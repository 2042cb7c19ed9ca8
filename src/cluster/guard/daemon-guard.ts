/**
 * The daemon's end of its guardian (guard-main.ts): starts it in its own session (it must
 * outlive a SIGKILL of the daemon), keeps it told what this node holds, and says goodbye when the
 * daemon leaves normally. The pipe's write end lives only in the daemon (libuv opens it
 * close-on-exec, so services and scripts do not inherit it): when the daemon dies, the guardian
 * sees the end of the pipe at once.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { distPath } from "../../util/package-paths.js";
import type { GuardHolding, GuardMessage } from "./guard-core.js";

export interface DaemonGuardOptions {
  node: string;
  /** The guardian's log lines as JSON (like `pavise daemon --json`). */
  json: boolean;
  onProblem: (message: string) => void;
}

export class DaemonGuard {
  private last = "";
  private released = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly options: DaemonGuardOptions,
  ) {}

  static start(options: DaemonGuardOptions): DaemonGuard {
    const child = spawn(
      process.execPath,
      [guardScript(), "--node", options.node, ...(options.json ? ["--json"] : [])],
      // stdout and stderr: the daemon's own, so its lines land in the daemon's log.
      { detached: true, stdio: ["pipe", "inherit", "inherit"] },
    );
    const guard = new DaemonGuard(child, options);
    child.once("error", (err) => options.onProblem(`guardian: ${err.message}`));
    child.once("exit", (code, signal) => {
      if (!guard.released)
        options.onProblem(`guardian exited (${signal ?? `code ${code}`}): this node is unguarded`);
    });
    child.stdin?.on("error", (err) => options.onProblem(`guardian pipe: ${err.message}`));
    // Neither keeps the daemon alive: it ends when its work is done, the guardian with it.
    child.unref();
    return guard;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** What this node holds now; sent only when it differs from what was sent last. */
  hold(holding: GuardHolding): void {
    const line = JSON.stringify({ type: "hold", ...holding } satisfies GuardMessage);
    if (line === this.last || this.released) return;
    this.last = line;
    this.child.stdin?.write(`${line}\n`);
  }

  /** The daemon leaves normally: the guardian ends quietly. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.child.stdin?.end(`${JSON.stringify({ type: "release" } satisfies GuardMessage)}\n`);
  }
}

/** Next to this module when compiled; the build's copy when running from the sources (vitest). */
function guardScript(): string {
  const here = fileURLToPath(new URL("./guard-main.js", import.meta.url));
  return existsSync(here) ? here : distPath("cluster/guard/guard-main.js");
}
