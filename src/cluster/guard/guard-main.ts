/**
 * The guardian process (`node dist/cluster/guard/guard-main.js --node NAME [--deadline-ms MS]
 * [--json]`), started
 * by the daemon in its own session so that it outlives a SIGKILL of the daemon. Its standard
 * input is a pipe from the daemon (guard-core.ts says what comes over it); its output goes to
 * the daemon's log, in the daemon's format. Thin on purpose: GuardCore decides, this carries out.
 */

import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { type GuardAction, type GuardAddress, GuardCore } from "./guard-core.js";

const { values } = parseArgs({
  options: { node: { type: "string" }, json: { type: "boolean" }, "deadline-ms": { type: "string" } },
  strict: true,
});
const node = values.node ?? "?";
const deadlineMs = values["deadline-ms"] === undefined ? undefined : Number(values["deadline-ms"]);
const json = values.json === true;
const daemonPid = process.ppid;

function log(event: string, message: string, extra: Record<string, unknown> = {}): void {
  const at = Date.now();
  process.stdout.write(
    json
      ? `${JSON.stringify({ at, node, event, message, ...extra })}\n`
      : `${new Date(at).toISOString()} ${node} ${event}: ${message}\n`,
  );
}

function removeAddress(a: GuardAddress): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn("ip", ["-4", "addr", "del", `${a.address}/${a.prefixLength}`, "dev", a.nic], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", (err) => resolve(`could not run ip: ${err.message}`));
    child.once("close", (code) => resolve(code === 0 ? "removed" : stderr.trim() || `ip exited ${code}`));
  });
}

function killGroup(pgid: number): string {
  try {
    process.kill(-pgid, "SIGKILL");
    return "killed";
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH" ? "already gone" : (err as Error).message;
  }
}

/** Carries out what the core decided; exits when it says so. */
async function act(core: GuardCore, since: number): Promise<void> {
  const removals: Promise<void>[] = [];
  const done: string[] = [];
  let exitCode: number | undefined;
  for (let action: GuardAction | undefined = core.pollAction(); action; action = core.pollAction()) {
    switch (action.kind) {
      case "log":
        log(action.event, action.message, { daemonPid });
        break;
      case "remove-address": {
        const a = action;
        // All at once: each `ip` is a fork and exec (≈2 ms); the kills below need none.
        removals.push(
          removeAddress(a).then((outcome) => {
            done.push(`${a.address} on ${a.nic}: ${outcome} after ${Date.now() - since} ms`);
          }),
        );
        break;
      }
      case "kill-group":
        done.push(`process group ${action.pgid} (${action.service}): ${killGroup(action.pgid)}`);
        break;
      case "exit":
        exitCode = action.code;
        break;
    }
  }
  await Promise.all(removals);
  if (done.length > 0) log("guard", `done in ${Date.now() - since} ms: ${done.join("; ")}`, { daemonPid });
  if (exitCode !== undefined) process.exit(exitCode);
}

const core = new GuardCore({ ...(deadlineMs !== undefined ? { deadlineMs } : {}), now: performance.now() });
log(
  "guard",
  `watching daemon pid ${daemonPid} (guard pid ${process.pid})${deadlineMs !== undefined ? `, acting after ${deadlineMs} ms of silence` : ""}`,
  { daemonPid, guardPid: process.pid },
);
// One timer: the core's next deadline, set again after every input (guard-core.ts).
let timer: NodeJS.Timeout | undefined;
function armTimer(): void {
  if (timer) clearTimeout(timer);
  timer = undefined;
  const due = core.pollTimeout();
  if (due === undefined) return;
  timer = setTimeout(
    () => {
      timer = undefined;
      const now = performance.now();
      core.handleTimeout(now);
      void act(core, Date.now());
      armTimer();
    },
    Math.max(0, Math.ceil(due - performance.now())),
  );
}
process.stdin.setEncoding("utf8");
process.stdin.on("data", (text: string) => {
  core.handleData(text, performance.now());
  void act(core, Date.now());
  armTimer();
});
let ended = false;
const onEnd = (): void => {
  if (ended) return;
  ended = true;
  if (timer) clearTimeout(timer);
  const since = Date.now();
  core.handleEnd();
  void act(core, since);
};
process.stdin.once("end", onEnd);
process.stdin.once("close", onEnd);
process.stdin.once("error", onEnd);
armTimer();
// Signals meant for the daemon's terminal or group are not for the guardian: it ends when the
// daemon does.
process.on("SIGHUP", () => undefined);
process.on("SIGINT", () => undefined);
