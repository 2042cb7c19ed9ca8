/**
 * Runs one package service: the decisions come from the pure ServiceSupervision
 * (service-supervision.ts); this driver starts the command (`/bin/sh -c`, own process group,
 * PAVISE_PACKAGE / PAVISE_NODE / PAVISE_SERVICE in its environment, stdout and stderr appended
 * to the package log), signals its group, keeps one timer, and logs and reports every event.
 */

import type { ServiceConfig } from "../config/model.js";
import type { NodeNamespace } from "./node-namespace.js";
import type { PackageLog } from "./package-log.js";
import { type GroupProcess, startInGroup, waitForGroupGone } from "./process-group.js";
import { describeExit } from "./script-runner.js";
import {
  type FlapDetection,
  type ProcessExit,
  type ServiceEvent,
  ServiceSupervision,
} from "./service-supervision.js";

export interface ServiceSupervisorOptions {
  ns: NodeNamespace;
  log: PackageLog;
  packageName: string;
  nodeName: string;
  flap?: FlapDetection;
  onEvent?: (event: ServiceEvent, service: ServiceSupervisor) => void;
}

export interface ServiceHaltOutcome {
  exit: ProcessExit | undefined;
  /** SIGKILL was needed after service_halt_timeout. */
  killed: boolean;
}

export class ServiceSupervisor {
  private readonly core: ServiceSupervision;
  private process: GroupProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly haltWaiters: ((outcome: ServiceHaltOutcome) => void)[] = [];
  private lastHalt: ServiceHaltOutcome | undefined;
  private readonly startWaiters = new Set<(event: ServiceEvent) => void>();
  /** PIDs of every process this service ran, first to last (tests check they are gone). */
  readonly pids: number[] = [];

  constructor(
    readonly config: ServiceConfig,
    private readonly options: ServiceSupervisorOptions,
  ) {
    this.core = new ServiceSupervision(config, options.flap);
  }

  get name(): string {
    return this.config.name;
  }

  get state(): ServiceSupervision["state"] {
    return this.core.state;
  }

  get restarts(): number {
    return this.core.restarts;
  }

  /** The PID (= process group) of the running command, if one runs. */
  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** Starts the service; resolves once its first process runs (or could not be started). */
  async start(): Promise<void> {
    const started = new Promise<void>((resolve) => {
      const check = (event: ServiceEvent): void => {
        if (event.kind === "started" || event.kind === "spawn-failed") {
          this.startWaiters.delete(check);
          resolve();
        }
      };
      this.startWaiters.add(check);
    });
    this.core.start(Date.now());
    this.drive();
    await started;
  }

  /** Halts it: SIGTERM to its group, SIGKILL after haltTimeoutMs; no more restarts. */
  halt(): Promise<ServiceHaltOutcome> {
    if (this.core.state.kind === "halted" && this.lastHalt) return Promise.resolve(this.lastHalt);
    const done = new Promise<ServiceHaltOutcome>((resolve) => this.haltWaiters.push(resolve));
    this.core.halt(Date.now());
    this.drive();
    if (this.core.state.kind === "failed") {
      // Nothing runs: its restarts had already run out.
      this.settleHalt({ exit: undefined, killed: false });
    }
    return done;
  }

  /** Carries out what the core asks, reports what it says, and arms its one timer. */
  private drive(): void {
    for (let action = this.core.pollAction(); action; action = this.core.pollAction()) {
      if (action.kind === "spawn") void this.spawn(action.attempt);
      else this.process?.signalGroup(action.signal);
    }
    for (let event = this.core.pollEvent(); event; event = this.core.pollEvent()) this.report(event);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const at = this.core.pollTimeout();
    if (at !== undefined) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.core.handleTimeout(Date.now());
          this.drive();
        },
        Math.max(0, at - Date.now()),
      );
    }
  }

  private async spawn(attempt: number): Promise<void> {
    let group: GroupProcess;
    try {
      group = await startInGroup(this.config.command, {
        ns: this.options.ns,
        env: {
          PAVISE_PACKAGE: this.options.packageName,
          PAVISE_NODE: this.options.nodeName,
          PAVISE_SERVICE: this.config.name,
        },
        output: this.options.log.fd,
      });
    } catch (err) {
      this.core.spawnFailed(Date.now(), (err as Error).message);
      this.drive();
      return;
    }
    this.process = group;
    this.pids.push(group.pid);
    this.options.log.write(
      "executor",
      `service ${this.name}: ${attempt === 0 ? "started" : `restart ${attempt} started`}, pid ${group.pid}`,
    );
    this.core.spawned(Date.now());
    this.drive();
    const exit = await group.exited;
    if (this.core.state.kind === "stopping") {
      // During a halt, what the shell started must be gone too before the service counts as
      // halted: it had the same SIGTERM, and gets the same SIGKILL at the halt timeout.
      const state = this.core.state;
      await waitForGroupGone(group, state.killAt ?? Date.now() + this.config.haltTimeoutMs);
    } else if (group.groupAlive()) {
      // The shell died on its own but left children (holding its port, say): the service is
      // dead, and they must not be in the way of its restart.
      group.signalGroup("SIGKILL");
    }
    if (group.groupAlive()) {
      group.signalGroup("SIGKILL");
      await waitForGroupGone(group, Date.now() + 2_000);
    }
    if (this.process === group) this.process = undefined;
    this.core.exited(Date.now(), exit);
    this.drive();
  }

  private report(event: ServiceEvent): void {
    const text = describeServiceEvent(this.name, event);
    if (text !== undefined) this.options.log.write("executor", text, event.at);
    for (const waiter of [...this.startWaiters]) waiter(event);
    if (event.kind === "halted") this.settleHalt({ exit: event.exit, killed: event.killed });
    this.options.onEvent?.(event, this);
  }

  private settleHalt(outcome: ServiceHaltOutcome): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.lastHalt = outcome;
    for (const waiter of this.haltWaiters.splice(0)) waiter(outcome);
  }
}

export function describeServiceEvent(service: string, event: ServiceEvent): string | undefined {
  const s = `service ${service}`;
  switch (event.kind) {
    case "started":
      return undefined; // logged with its PID when spawned
    case "exited":
      return `${s} ${describeExit(event.exit)} after running ${event.ranMs} ms`;
    case "spawn-failed":
      return `${s} could not be started: ${event.message}`;
    case "restarting":
      return `${s}: restart ${event.restart} of ${event.limit} in ${event.delayMs} ms (service_restart)`;
    case "flapping":
      return `${s} is flapping: ${event.restartsInWindow} restarts within ${event.windowMs} ms (${event.restartsSoFar} so far)`;
    case "failed":
      return `${s} failed for good: ${event.restarts === 0 ? "no restarts allowed" : `all ${event.restarts} restarts used`}; the package has failed on this node`;
    case "kill-escalated":
      return `${s} still ran ${event.afterMs} ms after SIGTERM (service_halt_timeout): sending SIGKILL`;
    case "halted":
      return `${s} halted${event.exit ? ` (it ${describeExit(event.exit)})` : ""}`;
  }
}
