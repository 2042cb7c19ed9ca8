/**
 * Starts and halts one package on this node by carrying out its steps (package-steps.ts)
 * through a table of drivers, logging each one to the package log. Start stops at the first
 * step that fails and says what to do; the package is then half-started ("failed"), and halt
 * takes down whatever is there. Halt never stops half-way: every service is halted, every
 * address removed and the halt script run even when an earlier step failed, because an address
 * left behind could end up held by two nodes. A halt while the start is still running stops the
 * start first (its script is killed), then halts.
 */

import type { PackageConfig, ServiceConfig, SubnetConfig } from "../config/model.js";
import {
  describeStep,
  haltSteps,
  type PackageStep,
  type PlacedAddress,
  startSteps,
} from "./package-steps.js";
import { describeChangeStep, type PackageChangeStep, packageChangeSteps } from "./package-change-steps.js";
import { describeScriptOutcome, type ScriptKind, type ScriptOutcome } from "./script-runner.js";
import type { ScriptConfig } from "../config/model.js";
import type { ServiceEvent } from "./service-supervision.js";
import type { ServiceHaltOutcome } from "./service-supervisor.js";

/** A running service, as the runner sees it. */
export interface ServiceHandle {
  readonly name: string;
  readonly pid: number | undefined;
  halt(): Promise<ServiceHaltOutcome>;
}

/** What the runner needs done; the real ones are in package-drivers.ts, tests bring their own. */
export interface PackageDrivers {
  runScript(kind: ScriptKind, script: ScriptConfig, abort: AbortSignal): Promise<ScriptOutcome>;
  /** Adds and announces the address; resolves with the NIC it went on. */
  addAddress(address: PlacedAddress): Promise<string>;
  /** Removes the address wherever it is on this node. */
  removeAddress(address: PlacedAddress): Promise<void>;
  /** Starts the service under supervision; its events come through `onServiceEvent`. */
  startService(service: ServiceConfig, onServiceEvent: (event: ServiceEvent) => void): Promise<ServiceHandle>;
  /** The package's IPsec starts on this node (its addresses are here). */
  ipsecUp(pkg: PackageConfig): Promise<void>;
  /** Its recorded peers are contacted (in the background: the start does not wait). */
  ipsecContact(pkg: PackageConfig): void;
  /** Its IPsec stops here: peers told (DELETE) only when it halts for good, not when it moves. */
  ipsecDown(pkg: PackageConfig, tellPeers: boolean): Promise<void>;
  log(text: string): void;
}

/** How a halt ends the package's IPsec sessions (design §6). */
export interface HaltOptions {
  /**
   * The package is halted for good (no node will run it): DELETE its IKE SAs. Otherwise (it
   * moves, or fails over) they end without a word and the adoptive node's INITIAL_CONTACT
   * replaces them at the client.
   */
  tellPeers?: boolean;
}

export type PackageRunState =
  | { kind: "down" }
  | { kind: "starting" }
  | { kind: "up"; since: number }
  /** A start step failed, or a service ran out of restarts: halt it. */
  | { kind: "failed"; reason: string }
  | { kind: "halting" };

export interface StepProblem {
  step: string;
  message: string;
  hint: string;
}

/** What a configuration change did to a package that runs here (reconfigure). */
export interface ChangeResult {
  /** The steps carried out, as package-change-steps.ts names them. */
  done: string[];
  problems: StepProblem[];
}

export type StartResult = { ok: true; ms: number } | { ok: false; problem: StepProblem };
export interface HaltResult {
  ok: boolean;
  ms: number;
  problems: StepProblem[];
}

export type PackageEvent =
  | { kind: "service"; package: string; service: string; event: ServiceEvent }
  /**
   * The package can no longer run here (`service` failed for good, or `subnet` has no NIC with
   * link left here): halt it and fail it over.
   */
  | { kind: "package-failed"; package: string; reason: string; service?: string; subnet?: string };

export class PackageRunner {
  private current: PackageRunState = { kind: "down" };
  private services: ServiceHandle[] = [];
  private starting: Promise<StartResult> | undefined;
  private abort = new AbortController();
  private startScriptRan = false;
  private halting: Promise<HaltResult> | undefined;
  private changing: Promise<ChangeResult> | undefined;
  /** A halt waits for the change under way: the change must not start anything. */
  private haltWanted = false;
  /** A configuration that came while a halt was wanted: taken once the package is down. */
  private deferred: { pkg: PackageConfig; subnets: readonly SubnetConfig[] } | undefined;

  constructor(
    private config: PackageConfig,
    private subnets: readonly SubnetConfig[],
    private readonly drivers: PackageDrivers,
    private readonly onEvent: (event: PackageEvent) => void = () => undefined,
  ) {}

  /** The package's configuration: the one it was started with, or the last one applied online. */
  get pkg(): PackageConfig {
    return this.config;
  }

  get state(): PackageRunState {
    return this.current;
  }

  /** The services started in this run, with their current PIDs. */
  runningServices(): readonly ServiceHandle[] {
    return this.services;
  }

  start(): Promise<StartResult> {
    if (this.current.kind !== "down") {
      return Promise.resolve({
        ok: false,
        problem: {
          step: "start",
          message: `package ${this.pkg.name} is ${this.current.kind} on this node, not down`,
          hint: `halt it first (pavise pkg halt ${this.pkg.name})`,
        },
      });
    }
    this.starting = this.runStart();
    return this.starting;
  }

  async halt(options: HaltOptions = {}): Promise<HaltResult> {
    if (this.changing) {
      // A configuration change under way finishes first (it may be starting a service); one
      // still waiting for a start is put off until the package is down, and the start stops.
      this.haltWanted = true;
      if (this.current.kind === "starting") {
        this.drivers.log(`halt requested while starting: stopping the start`);
        this.abort.abort();
      }
      try {
        await this.changing;
      } finally {
        this.haltWanted = false;
      }
    }
    if (this.current.kind === "down") return { ok: true, ms: 0, problems: [] };
    if (this.current.kind === "halting") {
      return {
        ok: false,
        ms: 0,
        problems: [{ step: "halt", message: "a halt is already running", hint: "wait for it" }],
      };
    }
    this.halting = this.runHalt(options);
    try {
      return await this.halting;
    } finally {
      this.halting = undefined;
    }
  }

  /**
   * Takes a new configuration of the package (pavise config apply). Down here, it is simply
   * used from the next start. Running (or failed: what it holds must still go at its halt), only
   * what differs is changed now (package-change-steps.ts): unchanged services keep running.
   * A start or halt under way finishes first; a halt waits for the change.
   */
  async reconfigure(next: PackageConfig, subnets: readonly SubnetConfig[]): Promise<ChangeResult> {
    while (this.changing) await this.changing;
    this.changing = this.runChange(next, subnets);
    try {
      return await this.changing;
    } finally {
      this.changing = undefined;
    }
  }

  private async runChange(next: PackageConfig, subnets: readonly SubnetConfig[]): Promise<ChangeResult> {
    if (this.starting && this.current.kind === "starting") await this.starting;
    if (this.halting) await this.halting;
    if (this.current.kind === "down") {
      this.config = next;
      this.subnets = subnets;
      return { done: [], problems: [] };
    }
    if (this.haltWanted) {
      // The halt must undo what the old configuration put here: the new one waits for it.
      this.deferred = { pkg: next, subnets };
      this.drivers.log("configuration changed while halting: it takes effect at the next start");
      return { done: [], problems: [] };
    }
    const steps = packageChangeSteps(this.config, next, subnets);
    this.config = next;
    this.subnets = subnets;
    const done: string[] = [];
    const problems: StepProblem[] = [];
    if (steps.length > 0)
      this.drivers.log(`configuration changed: ${steps.map(describeChangeStep).join("; ")}`);
    for (const step of steps) {
      const problem = await this.changeStep(step);
      if (problem) {
        problems.push(problem);
        this.drivers.log(`${problem.step} failed: ${problem.message} — ${problem.hint}`);
      } else {
        done.push(describeChangeStep(step));
      }
    }
    return { done, problems };
  }

  private async changeStep(step: PackageChangeStep): Promise<StepProblem | undefined> {
    try {
      switch (step.kind) {
        case "halt-service": {
          const handle = this.services.find((h) => h.name === step.service.name);
          this.services = this.services.filter((h) => h !== handle);
          if (handle) await handle.halt();
          return undefined;
        }
        case "remove-address":
          await this.drivers.removeAddress(step.address);
          return undefined;
        case "add-address":
          await this.drivers.addAddress(step.address);
          return undefined;
        case "start-service": {
          const service = step.service;
          const handle = await this.drivers.startService(service, (event) =>
            this.onServiceEvent(service, event),
          );
          this.services.push(handle);
          return undefined;
        }
      }
    } catch (err) {
      return {
        step: describeChangeStep(step),
        message: (err as Error).message,
        hint: errorHint(err, this.config.name),
      };
    }
  }

  private async runHalt(options: HaltOptions): Promise<HaltResult> {
    const began = Date.now();
    if (this.current.kind === "starting") {
      this.drivers.log(`halt requested while starting: stopping the start`);
      this.abort.abort();
      await this.starting;
    }
    this.current = { kind: "halting" };
    this.drivers.log(`halting package ${this.pkg.name}`);
    const problems: StepProblem[] = [];
    for (const step of haltSteps(this.pkg, this.subnets)) {
      if (step.kind === "halt-script" && !this.startScriptRan && this.pkg.startScript) continue;
      const problem = await this.haltStep(step, options);
      if (problem) {
        problems.push(problem);
        this.drivers.log(`${problem.step} failed: ${problem.message} — ${problem.hint}`);
      }
    }
    this.services = [];
    this.startScriptRan = false;
    this.abort = new AbortController();
    this.current = { kind: "down" };
    if (this.deferred) {
      this.config = this.deferred.pkg;
      this.subnets = this.deferred.subnets;
      this.deferred = undefined;
    }
    const ms = Date.now() - began;
    this.drivers.log(
      problems.length === 0
        ? `package ${this.pkg.name} halted in ${ms} ms`
        : `package ${this.pkg.name} halted in ${ms} ms with ${problems.length} problem(s)`,
    );
    return { ok: problems.length === 0, ms, problems };
  }

  private async runStart(): Promise<StartResult> {
    const began = Date.now();
    this.current = { kind: "starting" };
    this.drivers.log(`starting package ${this.pkg.name}`);
    for (const step of startSteps(this.pkg, this.subnets)) {
      if (this.abort.signal.aborted)
        return this.failStart({
          step: describeStep(step),
          message: "the package is halting",
          hint: "none: it was halted on purpose",
        });
      const problem = await this.startStep(step);
      if (problem) return this.failStart(problem);
    }
    if (this.abort.signal.aborted)
      return this.failStart({
        step: "start",
        message: "the package is halting",
        hint: "none: it was halted on purpose",
      });
    const ms = Date.now() - began;
    this.current = { kind: "up", since: Date.now() };
    this.drivers.log(`package ${this.pkg.name} is up (started in ${ms} ms)`);
    return { ok: true, ms };
  }

  private failStart(problem: StepProblem): StartResult {
    this.current = { kind: "failed", reason: `${problem.step}: ${problem.message}` };
    this.drivers.log(`start failed at ${problem.step}: ${problem.message} — ${problem.hint}`);
    return { ok: false, problem };
  }

  private async startStep(step: PackageStep): Promise<StepProblem | undefined> {
    const name = describeStep(step);
    try {
      switch (step.kind) {
        case "start-script": {
          this.startScriptRan = true;
          const outcome = await this.drivers.runScript("start", step.script, this.abort.signal);
          if (outcome.kind === "ok") return undefined;
          return {
            step: name,
            message: describeScriptOutcome("start", outcome),
            hint: scriptHint("start", outcome, this.pkg.name),
          };
        }
        case "add-address":
          await this.drivers.addAddress(step.address);
          return undefined;
        case "ipsec-up":
          await this.drivers.ipsecUp(this.pkg);
          return undefined;
        case "ipsec-contact":
          this.drivers.ipsecContact(this.pkg);
          return undefined;
        case "start-service": {
          const handle = await this.drivers.startService(step.service, (event) =>
            this.onServiceEvent(step.service, event),
          );
          this.services.push(handle);
          return undefined;
        }
        default:
          return undefined;
      }
    } catch (err) {
      return { step: name, message: (err as Error).message, hint: errorHint(err, this.pkg.name) };
    }
  }

  private async haltStep(step: PackageStep, options: HaltOptions): Promise<StepProblem | undefined> {
    const name = describeStep(step);
    try {
      switch (step.kind) {
        case "halt-services": {
          const order = step.services.map((s) => s.name);
          const handles = [...this.services].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
          await Promise.all(handles.map((h) => h.halt()));
          return undefined;
        }
        case "remove-address":
          await this.drivers.removeAddress(step.address);
          return undefined;
        case "ipsec-down":
          await this.drivers.ipsecDown(this.pkg, options.tellPeers === true);
          return undefined;
        case "halt-script": {
          const outcome = await this.drivers.runScript("halt", step.script, new AbortController().signal);
          if (outcome.kind === "ok") return undefined;
          return {
            step: name,
            message: describeScriptOutcome("halt", outcome),
            hint: scriptHint("halt", outcome, this.pkg.name),
          };
        }
        default:
          return undefined;
      }
    } catch (err) {
      return { step: name, message: (err as Error).message, hint: errorHint(err, this.pkg.name) };
    }
  }

  private onServiceEvent(service: ServiceConfig, event: ServiceEvent): void {
    this.onEvent({ kind: "service", package: this.pkg.name, service: service.name, event });
    if (event.kind === "failed" && this.current.kind !== "halting") {
      const reason = `service ${service.name} failed for good after ${event.restarts} restart(s)`;
      this.current = { kind: "failed", reason };
      this.drivers.log(`package ${this.pkg.name} has failed on this node: ${reason}`);
      this.onEvent({ kind: "package-failed", package: this.pkg.name, reason, service: service.name });
    }
  }
}

function scriptHint(kind: ScriptKind, outcome: ScriptOutcome, pkg: string): string {
  const key = kind === "start" ? "run_script_timeout" : "halt_script_timeout";
  switch (outcome.kind) {
    case "timed-out":
      return `make the ${kind} script finish sooner or raise its timeout (${key}); its output is in the package log`;
    case "failed":
      return `read the ${kind} script's output in the package log and fix it${kind === "start" ? `, then halt the package (pavise pkg halt ${pkg}) and run it again` : ""}`;
    case "not-started":
      return "check that /bin/sh exists and the daemon may start processes";
    default:
      return kind === "start"
        ? `halt the package (pavise pkg halt ${pkg}) to clean up what was started`
        : "none";
  }
}

function errorHint(err: unknown, pkg: string): string {
  const hint = (err as { hint?: unknown }).hint;
  return typeof hint === "string"
    ? hint
    : `read the package log, then halt the package (pavise pkg halt ${pkg})`;
}
