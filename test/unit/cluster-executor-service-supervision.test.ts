import { describe, expect, it } from "vitest";
import {
  type ProcessExit,
  type ServiceAction,
  type ServiceEvent,
  type ServicePolicy,
  ServiceSupervision,
} from "../../src/cluster/executor/service-supervision.js";

const crashed: ProcessExit = { code: 1, signal: null };
const terminated: ProcessExit = { code: null, signal: "SIGTERM" };
const killed: ProcessExit = { code: null, signal: "SIGKILL" };

/** The core with a virtual clock, and a fake process that "runs" whenever the core spawns it. */
class Harness {
  now = 0;
  readonly core: ServiceSupervision;
  readonly actions: ServiceAction[] = [];
  readonly events: ServiceEvent[] = [];
  spawns = 0;

  constructor(policy: Partial<ServicePolicy>, flap?: { restarts: number; windowMs: number }) {
    this.core = new ServiceSupervision(
      { restarts: 0, restartDelayMs: 100, haltTimeoutMs: 1_000, ...policy },
      flap,
    );
  }

  /** Drains outputs; a spawn is confirmed at once, as a driver would after the process starts. */
  drain(): void {
    for (let a = this.core.pollAction(); a; a = this.core.pollAction()) {
      this.actions.push(a);
      if (a.kind === "spawn") {
        this.spawns++;
        this.core.spawned(this.now);
      }
    }
    for (let e = this.core.pollEvent(); e; e = this.core.pollEvent()) this.events.push(e);
  }

  /** Advances the clock, firing the core's timer whenever it falls due. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const at = this.core.pollTimeout();
      if (at === undefined || at > end) break;
      this.now = Math.max(this.now, at);
      this.core.handleTimeout(this.now);
      this.drain();
    }
    this.now = end;
  }

  kinds(): string[] {
    return this.events.map((e) => e.kind);
  }
}

describe("service supervision (service_restart, service_halt_timeout)", () => {
  it("starts once and runs", () => {
    const h = new Harness({});
    h.core.start(h.now);
    h.drain();
    expect(h.actions).toEqual([{ kind: "spawn", attempt: 0 }]);
    expect(h.core.state.kind).toBe("running");
    expect(h.core.pollTimeout()).toBeUndefined();
  });

  it("with no restarts, fails for good on the first exit, whatever its status", () => {
    const h = new Harness({ restarts: 0 });
    h.core.start(0);
    h.drain();
    h.now = 500;
    h.core.exited(h.now, { code: 0, signal: null });
    h.drain();
    expect(h.kinds()).toEqual(["started", "exited", "failed"]);
    expect(h.events.at(-1)).toMatchObject({ kind: "failed", restarts: 0 });
    expect(h.core.state).toEqual({ kind: "failed", restarts: 0 });
  });

  it("restarts N times after the pause, then fails for good", () => {
    const h = new Harness({ restarts: 2, restartDelayMs: 250 });
    h.core.start(0);
    h.drain();
    for (let i = 0; i < 3; i++) {
      h.now += 1_000;
      h.core.exited(h.now, crashed);
      h.drain();
      h.advance(249);
      const spawnsBefore = h.spawns;
      h.advance(1);
      if (i < 2) expect(h.spawns).toBe(spawnsBefore + 1);
    }
    expect(h.spawns).toBe(3);
    const restarts = h.events.filter((e) => e.kind === "restarting");
    expect(restarts.map((e) => (e.kind === "restarting" ? `${e.restart}/${e.limit}` : ""))).toEqual([
      "1/2",
      "2/2",
    ]);
    expect(h.events.at(-1)).toMatchObject({ kind: "failed", restarts: 2, exit: crashed });
    expect(h.core.restarts).toBe(2);
  });

  it("restarts without end when unlimited, and reports flapping for each run of restarts in the window", () => {
    const h = new Harness({ restarts: "unlimited", restartDelayMs: 10 }, { restarts: 3, windowMs: 1_000 });
    h.core.start(0);
    h.drain();
    for (let i = 0; i < 7; i++) {
      h.now += 50;
      h.core.exited(h.now, crashed);
      h.drain();
      h.advance(10);
    }
    expect(h.core.state.kind).toBe("running");
    expect(h.core.restarts).toBe(7);
    const flaps = h.events.filter((e) => e.kind === "flapping");
    expect(flaps.map((e) => (e.kind === "flapping" ? e.restartsSoFar : 0))).toEqual([3, 6]);
  });

  it("does not call it flapping when the restarts are spread wider than the window", () => {
    const h = new Harness({ restarts: "unlimited", restartDelayMs: 0 }, { restarts: 3, windowMs: 1_000 });
    h.core.start(0);
    h.drain();
    for (let i = 0; i < 6; i++) {
      h.now += 600;
      h.core.exited(h.now, crashed);
      h.drain();
    }
    expect(h.core.restarts).toBe(6);
    expect(h.kinds()).not.toContain("flapping");
  });

  it("halts with SIGTERM and is done when the process exits", () => {
    const h = new Harness({ haltTimeoutMs: 1_000 });
    h.core.start(0);
    h.drain();
    h.core.halt(10);
    h.drain();
    expect(h.actions.at(-1)).toEqual({ kind: "signal", signal: "SIGTERM" });
    expect(h.core.pollTimeout()).toBe(1_010);
    h.core.exited(20, terminated);
    h.drain();
    expect(h.events.at(-1)).toEqual({ kind: "halted", at: 20, exit: terminated, killed: false });
    expect(h.core.pollTimeout()).toBeUndefined();
  });

  it("sends SIGKILL when the service ignores SIGTERM past its halt timeout", () => {
    const h = new Harness({ haltTimeoutMs: 1_000 });
    h.core.start(0);
    h.drain();
    h.core.halt(0);
    h.drain();
    h.advance(999);
    expect(h.actions.at(-1)).toEqual({ kind: "signal", signal: "SIGTERM" });
    h.advance(1);
    expect(h.actions.at(-1)).toEqual({ kind: "signal", signal: "SIGKILL" });
    expect(h.events.at(-1)).toEqual({ kind: "kill-escalated", at: 1_000, afterMs: 1_000 });
    h.core.exited(1_001, killed);
    h.drain();
    expect(h.events.at(-1)).toMatchObject({ kind: "halted", killed: true });
  });

  it("does not restart a service that exits while it is being halted", () => {
    const h = new Harness({ restarts: "unlimited" });
    h.core.start(0);
    h.drain();
    h.core.halt(5);
    h.core.exited(6, crashed);
    h.drain();
    h.advance(10_000);
    expect(h.spawns).toBe(1);
    expect(h.core.state.kind).toBe("halted");
  });

  it("halts at once while waiting to restart, and the pending restart never happens", () => {
    const h = new Harness({ restarts: 3, restartDelayMs: 500 });
    h.core.start(0);
    h.drain();
    h.core.exited(100, crashed);
    h.drain();
    h.core.halt(200);
    h.drain();
    h.advance(1_000);
    expect(h.spawns).toBe(1);
    expect(h.events.at(-1)).toEqual({ kind: "halted", at: 200, exit: undefined, killed: false });
  });

  it("halts right after the spawn when the halt came while it was being spawned", () => {
    const core = new ServiceSupervision({ restarts: 0, restartDelayMs: 0, haltTimeoutMs: 100 });
    core.start(0);
    expect(core.pollAction()).toEqual({ kind: "spawn", attempt: 0 });
    core.halt(1);
    expect(core.pollAction()).toBeUndefined();
    core.spawned(2);
    expect(core.pollAction()).toEqual({ kind: "signal", signal: "SIGTERM" });
  });

  it("counts a command that cannot be started as a failure", () => {
    const core = new ServiceSupervision({ restarts: 1, restartDelayMs: 0, haltTimeoutMs: 100 });
    core.start(0);
    core.pollAction();
    core.spawnFailed(1, "ENOENT");
    expect(core.pollAction()).toEqual({ kind: "spawn", attempt: 1 });
    core.spawnFailed(2, "ENOENT");
    const events: string[] = [];
    for (let e = core.pollEvent(); e; e = core.pollEvent()) events.push(e.kind);
    expect(events).toEqual(["spawn-failed", "restarting", "spawn-failed", "failed"]);
  });
});
