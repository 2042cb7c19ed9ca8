import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, describe, expect, it } from "vitest";
import { HookRunner } from "../../src/cluster/events/hook-runner.js";
import type { HookRun } from "../../src/cluster/events/hook-plan.js";
import { processGone } from "../support/daemon-cluster.js";
import { until } from "../support/until.js";

// The hook runner with real processes (no lab: hooks run in the daemon's own namespace): the
// environment reaches the hook, output goes to hooks.log, a hook that ignores SIGTERM is killed
// with its whole group, and the queue is bounded and never makes the caller wait.

const dir = mkdtempSync(join(tmpdir(), "pavise-hook-runner-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (command: string, over: Partial<HookRun> = {}, env: Record<string, string> = {}): HookRun => ({
  hook: "h",
  command,
  timeoutMs: 5_000,
  env: { PAVISE_EVENT_KIND: "started", PAVISE_EVENT_SEQUENCE: "1", ...env },
  ...over,
});

function runner(name: string, lines: string[][] = []): HookRunner {
  return new HookRunner({
    logDirectory: join(dir, name),
    log: (event, message) => lines.push([event, message]),
    killGraceMs: 500,
  });
}

describe("hook runner", () => {
  it("runs a hook with the event's environment, stdin /dev/null, its output in hooks.log", async () => {
    const out = join(dir, "env.txt");
    const r = runner("env");
    r.enqueue([
      run(
        `echo "$PAVISE_EVENT_KIND $PAVISE_EVENT_RECIPIENT" > ${out}; cat; echo said-hello; echo oops >&2`,
        {},
        {
          PAVISE_EVENT_RECIPIENT: "ops@example.com",
        },
      ),
    ]);
    await r.idle();
    expect(readFileSync(out, "utf8")).toBe("started ops@example.com\n");
    const log = readFileSync(r.logPath, "utf8");
    expect(log).toMatch(/pavise: hook h for started #1 to ops@example.com: running/);
    expect(log).toContain("said-hello\noops\n");
    expect(log).toMatch(/hook h for started #1 to ops@example.com: done in \d+ ms/);
    expect(r.stats()).toMatchObject({ started: 1, succeeded: 1, failed: 0 });
  });

  it("logs a failing hook as hook-failed with its exit status", async () => {
    const lines: string[][] = [];
    const r = runner("fail", lines);
    r.enqueue([run("exit 3")]);
    await r.idle();
    expect(lines).toEqual([
      ["hook-failed", expect.stringMatching(/^hook h for started #1 exited with status 3 after/)],
    ]);
    expect(r.stats().failed).toBe(1);
  });

  it("kills a hook that ignores SIGTERM with its whole group: SIGTERM at the timeout, SIGKILL after the grace", async () => {
    const lines: string[][] = [];
    const r = runner("hang", lines);
    const pids = join(dir, "hang.pids");
    const started = Date.now();
    // The shell ignores SIGTERM and its child sleeps: only the SIGKILL to the group ends both.
    r.enqueue([run(`trap '' TERM; sleep 100 & echo $$ $! > ${pids}; wait; wait`, { timeoutMs: 600 })]);
    await r.idle();
    const ms = Date.now() - started;
    console.log(`hook runner: a hook ignoring SIGTERM (timeout 600 ms, grace 500 ms) ended after ${ms} ms`);
    expect(ms).toBeGreaterThanOrEqual(1_100);
    expect(ms).toBeLessThan(5_000);
    const [shell, sleeper] = readFileSync(pids, "utf8").trim().split(" ").map(Number);
    await until(
      "the hook's sleep to be gone",
      () => Promise.resolve(processGone(sleeper!)),
      (g) => g,
      3_000,
    );
    expect(processGone(shell!)).toBe(true);
    expect(lines.map((l) => l[0])).toEqual(["hook-failed"]);
    expect(lines[0]?.[1]).toMatch(
      /did not finish within its timeout of 600 ms: its process group was ended with SIGTERM, and SIGKILL 500 ms later$/,
    );
    expect(r.stats().timedOut).toBe(1);
  });

  it("runs 4 at once, holds 64, drops the rest (counted, logged once), and enqueue never waits", async () => {
    const lines: string[][] = [];
    const r = runner("burst", lines);
    const marks = join(dir, "burst");
    const calledAt = Date.now();
    r.enqueue(
      Array.from({ length: 100 }, (_, i) =>
        run(`echo start >> ${marks}.$PPID; sleep 0.2`, {}, { PAVISE_EVENT_SEQUENCE: String(i) }),
      ),
    );
    const enqueueMs = Date.now() - calledAt;
    const first = r.stats();
    expect(first.running + first.queued).toBe(68);
    expect(first.running).toBeLessThanOrEqual(4);
    expect(first.dropped).toBe(32);
    let maxRunning = 0;
    const sampler = setInterval(() => (maxRunning = Math.max(maxRunning, r.stats().running)), 5);
    // What starting 68 hooks costs the event loop the daemon's lease and fence timers share.
    const lag = monitorEventLoopDelay({ resolution: 5 });
    lag.enable();
    await r.idle();
    lag.disable();
    clearInterval(sampler);
    const lagMaxMs = lag.max / 1e6;
    console.log(
      `hook runner: 100 runs enqueued in ${enqueueMs} ms; at most ${maxRunning} ran at once; ` +
        `event-loop delay while 68 ran: p99 ${(lag.percentile(99) / 1e6).toFixed(1)} ms, max ${lagMaxMs.toFixed(1)} ms`,
    );
    // Half the event_loop_budget of the lab's daemons (a quarter of their 1 s lease).
    expect(lagMaxMs).toBeLessThan(125);
    expect(enqueueMs).toBeLessThan(100);
    expect(maxRunning).toBe(4);
    expect(r.stats()).toMatchObject({ started: 68, succeeded: 68, dropped: 32 });
    expect(lines.filter((l) => l[0] === "hook-dropped")).toHaveLength(1);
  });

  it("starts nothing while held (a fence), and the held runs after release()", async () => {
    const r = runner("held");
    const mark = join(dir, "held.mark");
    r.hold();
    r.enqueue([run(`touch ${mark}`)]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(existsSync(mark)).toBe(false);
    expect(r.stats()).toMatchObject({ queued: 1, running: 0 });
    r.release();
    await r.idle();
    expect(existsSync(mark)).toBe(true);
  });

  it("stop() kills what runs and starts nothing more", async () => {
    const r = runner("stop");
    const pidFile = join(dir, "stop.pid");
    r.enqueue([run(`echo $$ > ${pidFile}; exec sleep 100`), run(`touch ${pidFile}.second`, {})]);
    const pid = await until(
      "the hook to start",
      () => Promise.resolve(existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8")) : 0),
      (p) => p > 0,
      3_000,
    );
    r.stop();
    await until(
      "the hook to be killed",
      () => Promise.resolve(processGone(pid)),
      (g) => g,
      3_000,
    );
    r.enqueue([run(`touch ${pidFile}.third`)]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(existsSync(`${pidFile}.third`)).toBe(false);
  });
});
