/**
 * A package's start or halt script (Serviceguard's run_script / halt_script with
 * run_script_timeout / halt_script_timeout): `/bin/sh -c` in its own process group, with
 * PAVISE_PACKAGE and PAVISE_NODE in its environment and each line it prints stamped into the
 * package log. At the timeout the whole group is killed (SIGKILL: the timeout was its grace), so
 * nothing it started lingers. The outcome says which of ok, failed, timed out, or aborted (the
 * package was halted while its start script ran) it was.
 */

import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import type { ScriptConfig } from "../config/model.js";
import type { NodeNamespace } from "./node-namespace.js";
import type { PackageLog } from "./package-log.js";
import { startInGroup, waitForGroupGone } from "./process-group.js";
import type { ProcessExit } from "./service-supervision.js";

const OUTPUT_DRAIN_MS = 100;

export type ScriptKind = "start" | "halt";

export type ScriptOutcome =
  | { kind: "ok"; ms: number }
  | { kind: "failed"; exit: ProcessExit; ms: number }
  | { kind: "timed-out"; timeoutMs: number }
  | { kind: "aborted"; ms: number }
  | { kind: "not-started"; message: string };

export interface ScriptRun {
  ns: NodeNamespace;
  log: PackageLog;
  env: Record<string, string>;
  /** Ends the script early (its group is killed); the outcome is then "aborted". */
  abort?: AbortSignal;
}

/** `exited with status 3`, `was killed by SIGKILL`. */
export function describeExit(exit: ProcessExit): string {
  return exit.signal !== null ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`;
}

export function describeScriptOutcome(kind: ScriptKind, outcome: ScriptOutcome): string {
  switch (outcome.kind) {
    case "ok":
      return `${kind} script finished in ${outcome.ms} ms`;
    case "failed":
      return `${kind} script ${describeExit(outcome.exit)} after ${outcome.ms} ms`;
    case "timed-out":
      return `${kind} script did not finish within its timeout of ${outcome.timeoutMs} ms and was killed`;
    case "aborted":
      return `${kind} script was stopped after ${outcome.ms} ms because the package is halting`;
    case "not-started":
      return `${kind} script could not be started: ${outcome.message}`;
  }
}

export async function runScript(
  kind: ScriptKind,
  script: ScriptConfig,
  run: ScriptRun,
): Promise<ScriptOutcome> {
  const source = `${kind} script`;
  const started = Date.now();
  run.log.write("executor", `running ${source} (timeout ${script.timeoutMs} ms): ${script.command}`);
  let group;
  try {
    group = await startInGroup(script.command, { ns: run.ns, env: run.env, output: "pipe" });
  } catch (err) {
    const outcome: ScriptOutcome = { kind: "not-started", message: (err as Error).message };
    run.log.write("executor", describeScriptOutcome(kind, outcome));
    return outcome;
  }
  let outputDone: Promise<void> = Promise.resolve();
  if (group.output) {
    const lines = createInterface({ input: group.output });
    lines.on("line", (line) => run.log.write(source, line));
    outputDone = new Promise((resolve) => lines.once("close", () => resolve()));
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), script.timeoutMs);
  });
  const aborted = new Promise<"abort">((resolve) => {
    if (run.abort?.aborted) resolve("abort");
    run.abort?.addEventListener("abort", () => resolve("abort"), { once: true });
  });
  const first = await Promise.race([group.exited, timedOut, aborted]);
  clearTimeout(timer);
  let outcome: ScriptOutcome;
  if (first === "timeout" || first === "abort") {
    group.signalGroup("SIGKILL");
    await group.exited;
    await waitForGroupGone(group, Date.now() + 2_000);
    outcome =
      first === "timeout"
        ? { kind: "timed-out", timeoutMs: script.timeoutMs }
        : { kind: "aborted", ms: Date.now() - started };
  } else {
    const ms = Date.now() - started;
    outcome =
      first.code === 0 && first.signal === null ? { kind: "ok", ms } : { kind: "failed", exit: first, ms };
  }
  // Its last lines before the verdict; a child it left running may hold the pipe open, so not for long.
  await Promise.race([outputDone, sleep(OUTPUT_DRAIN_MS)]);
  run.log.write("executor", describeScriptOutcome(kind, outcome));
  return outcome;
}
