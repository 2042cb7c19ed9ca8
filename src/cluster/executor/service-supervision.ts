/**
 * The life of one package service as a pure state machine, without processes or timers: when
 * to start it, whether to restart it after it exits (Serviceguard's service_restart, here with a
 * pause of restartDelayMs), when it has failed for good, how it is halted (SIGTERM, then SIGKILL
 * after service_halt_timeout), and when it flaps. The driver (service-supervisor.ts) calls an
 * input (`start`, `spawned`, `spawnFailed`, `exited`, `halt`, `handleTimeout`) with the time,
 * then carries out every `pollAction()`, hands on every `pollEvent()`, and arms one timer for
 * `pollTimeout()`, in that order, after every input.
 *
 * As in Serviceguard, a service is meant to run until the package halts: any exit counts as a
 * failure, whatever its status, and the restart count is kept for the life of the package run
 * (it is not forgiven after a quiet spell; the package's next start begins again at zero).
 */

import type { ServiceConfig } from "../config/model.js";

/** How a process ended: its exit status, or the signal that killed it. */
export interface ProcessExit {
  code: number | null;
  signal: string | null;
}

/** A service that restarts this often within the window is reported as flapping. */
export interface FlapDetection {
  restarts: number;
  windowMs: number;
}

export const DEFAULT_FLAP_DETECTION: FlapDetection = { restarts: 3, windowMs: 60_000 };

export type ServiceAction =
  /** Start the command; `attempt` 0 is the first start, n the n-th restart. */
  | { kind: "spawn"; attempt: number }
  /** Signal the service's process group. */
  | { kind: "signal"; signal: "SIGTERM" | "SIGKILL" };

export type ServiceEvent =
  | { kind: "started"; at: number; attempt: number }
  | { kind: "exited"; at: number; exit: ProcessExit; ranMs: number }
  | { kind: "spawn-failed"; at: number; message: string }
  /** It will be started again after the pause: restart `restart` of `limit`. */
  | { kind: "restarting"; at: number; restart: number; limit: number | "unlimited"; delayMs: number }
  | { kind: "flapping"; at: number; restartsInWindow: number; windowMs: number; restartsSoFar: number }
  /** Its restarts ran out (service_restart): the package has failed on this node. */
  | { kind: "failed"; at: number; restarts: number; exit: ProcessExit | undefined }
  /** It outlived service_halt_timeout after SIGTERM and was sent SIGKILL. */
  | { kind: "kill-escalated"; at: number; afterMs: number }
  | { kind: "halted"; at: number; exit: ProcessExit | undefined; killed: boolean };

export type ServiceState =
  | { kind: "idle" }
  | { kind: "spawning"; attempt: number; haltRequested: boolean }
  | { kind: "running"; attempt: number; since: number }
  | { kind: "waiting"; attempt: number; restartAt: number }
  | { kind: "stopping"; since: number; killAt: number | undefined; killed: boolean }
  | { kind: "halted" }
  | { kind: "failed"; restarts: number };

export type ServicePolicy = Pick<ServiceConfig, "restarts" | "restartDelayMs" | "haltTimeoutMs">;

export class ServiceSupervision {
  private current: ServiceState = { kind: "idle" };
  private restartsUsed = 0;
  /** Times of the restarts not yet counted into a flapping report. */
  private recentRestarts: number[] = [];
  private readonly actions: ServiceAction[] = [];
  private readonly events: ServiceEvent[] = [];

  constructor(
    private readonly policy: ServicePolicy,
    private readonly flap: FlapDetection = DEFAULT_FLAP_DETECTION,
  ) {}

  get state(): ServiceState {
    return this.current;
  }

  /** Restarts made so far in this run of the package. */
  get restarts(): number {
    return this.restartsUsed;
  }

  start(_now: number): void {
    if (this.current.kind !== "idle") return;
    this.spawn(0);
  }

  spawned(now: number): void {
    const state = this.current;
    if (state.kind !== "spawning") return;
    this.current = { kind: "running", attempt: state.attempt, since: now };
    this.events.push({ kind: "started", at: now, attempt: state.attempt });
    if (state.haltRequested) this.halt(now);
  }

  /** The command could not be started at all (e.g. /bin/sh missing): counts as an exit. */
  spawnFailed(now: number, message: string): void {
    const state = this.current;
    if (state.kind !== "spawning") return;
    this.events.push({ kind: "spawn-failed", at: now, message });
    if (state.haltRequested) {
      this.finishHalt(now, undefined, false);
      return;
    }
    this.afterFailure(now, undefined);
  }

  exited(now: number, exit: ProcessExit): void {
    const state = this.current;
    if (state.kind === "running") {
      this.events.push({ kind: "exited", at: now, exit, ranMs: now - state.since });
      this.afterFailure(now, exit);
    } else if (state.kind === "stopping") {
      this.finishHalt(now, exit, state.killed);
    }
  }

  /** Halt the service: SIGTERM now, SIGKILL after haltTimeoutMs; no more restarts. */
  halt(now: number): void {
    const state = this.current;
    switch (state.kind) {
      case "idle":
      case "waiting":
        this.finishHalt(now, undefined, false);
        return;
      case "spawning":
        state.haltRequested = true;
        return;
      case "running":
        this.current = {
          kind: "stopping",
          since: now,
          killAt: now + this.policy.haltTimeoutMs,
          killed: false,
        };
        this.actions.push({ kind: "signal", signal: "SIGTERM" });
        return;
      case "stopping":
      case "halted":
      case "failed":
        return;
    }
  }

  handleTimeout(now: number): void {
    const state = this.current;
    if (state.kind === "waiting" && now >= state.restartAt) {
      this.spawn(state.attempt);
    } else if (state.kind === "stopping" && state.killAt !== undefined && now >= state.killAt) {
      this.current = { ...state, killAt: undefined, killed: true };
      this.actions.push({ kind: "signal", signal: "SIGKILL" });
      this.events.push({ kind: "kill-escalated", at: now, afterMs: now - state.since });
    }
  }

  pollAction(): ServiceAction | undefined {
    return this.actions.shift();
  }

  pollEvent(): ServiceEvent | undefined {
    return this.events.shift();
  }

  pollTimeout(): number | undefined {
    const state = this.current;
    if (state.kind === "waiting") return state.restartAt;
    if (state.kind === "stopping") return state.killAt;
    return undefined;
  }

  private spawn(attempt: number): void {
    this.current = { kind: "spawning", attempt, haltRequested: false };
    this.actions.push({ kind: "spawn", attempt });
  }

  private afterFailure(now: number, exit: ProcessExit | undefined): void {
    const limit = this.policy.restarts;
    if (limit !== "unlimited" && this.restartsUsed >= limit) {
      this.current = { kind: "failed", restarts: this.restartsUsed };
      this.events.push({ kind: "failed", at: now, restarts: this.restartsUsed, exit });
      return;
    }
    this.restartsUsed++;
    this.events.push({
      kind: "restarting",
      at: now,
      restart: this.restartsUsed,
      limit,
      delayMs: this.policy.restartDelayMs,
    });
    this.noteRestart(now);
    const restartAt = now + this.policy.restartDelayMs;
    this.current = { kind: "waiting", attempt: this.restartsUsed, restartAt };
    // A zero pause restarts at once rather than waiting for a timer.
    if (this.policy.restartDelayMs <= 0) this.spawn(this.restartsUsed);
  }

  /** Flapping: `flap.restarts` restarts within `flap.windowMs`; reported again for each further such run. */
  private noteRestart(now: number): void {
    this.recentRestarts = this.recentRestarts.filter((t) => now - t < this.flap.windowMs);
    this.recentRestarts.push(now);
    if (this.recentRestarts.length >= this.flap.restarts) {
      this.events.push({
        kind: "flapping",
        at: now,
        restartsInWindow: this.recentRestarts.length,
        windowMs: this.flap.windowMs,
        restartsSoFar: this.restartsUsed,
      });
      this.recentRestarts = [];
    }
  }

  private finishHalt(now: number, exit: ProcessExit | undefined, killed: boolean): void {
    this.current = { kind: "halted" };
    this.events.push({ kind: "halted", at: now, exit, killed });
  }
}
