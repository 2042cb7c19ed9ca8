/**
 * Generic resources with a monitor command (Serviceguard's generic_resource_name with a
 * monitoring script that sets the status with cmsetresource): every node that may run a package
 * needing the resource runs its command every interval. Exit 0 means up; any other exit, or no
 * exit within the interval (the whole process group is killed then), means down. The node
 * reports the statuses in its node key (NodeState.resources), and the scheduler keeps packages
 * on nodes where all their resources are up (eligibility.ts).
 *
 * Before its first check a resource has its configured initial status. A resource named by
 * several packages is checked once, with the first package's monitor.
 */

import { createInterface } from "node:readline";
import type { ClusterConfig } from "../config/model.js";
import { CURRENT_NAMESPACE, type NodeNamespace } from "../executor/node-namespace.js";
import { startInGroup } from "../executor/process-group.js";
import { describeExit } from "../executor/script-runner.js";

export type ResourceStatus = "up" | "down";

export interface MonitoredResource {
  name: string;
  command: string;
  intervalMs: number;
  initial: ResourceStatus;
}

/** The monitored resources this node checks: those of packages that list it. Pure. */
export function monitoredResources(
  config: Pick<ClusterConfig, "packages">,
  node: string,
): MonitoredResource[] {
  const byName = new Map<string, MonitoredResource>();
  for (const pkg of config.packages) {
    if (!pkg.nodes.includes(node)) continue;
    for (const resource of pkg.resources) {
      if (!resource.monitor || byName.has(resource.name)) continue;
      byName.set(resource.name, { name: resource.name, ...resource.monitor, initial: resource.initial });
    }
  }
  return [...byName.values()];
}

/** One check's verdict, with why for the log. */
export interface CheckResult {
  status: ResourceStatus;
  detail: string;
}

/** Runs a monitor command once, within a timeout. */
export type CheckRunner = (resource: MonitoredResource, env: Record<string, string>) => Promise<CheckResult>;

export interface ResourceMonitorsOptions {
  node: string;
  /** A resource's status changed (also its first check, when it differs from the initial). */
  onChange: (name: string, status: ResourceStatus, detail: string) => void;
  /** Where the commands run (default: this namespace). */
  ns?: NodeNamespace;
  run?: CheckRunner;
}

export class ResourceMonitors {
  private readonly statusByName = new Map<string, ResourceStatus>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;
  /** Bumped by reconfigure: checks of an earlier configuration end without a next one. */
  private generation = 0;
  private readonly run: CheckRunner;

  constructor(
    private resources: readonly MonitoredResource[],
    private readonly options: ResourceMonitorsOptions,
  ) {
    for (const r of resources) this.statusByName.set(r.name, r.initial);
    const ns = options.ns ?? CURRENT_NAMESPACE;
    this.run = options.run ?? ((resource, env) => runCheck(ns, resource, env));
  }

  /** Checks every resource now, then every interval (a check never overlaps its previous one). */
  start(): void {
    for (const resource of this.resources) void this.check(resource, this.generation);
  }

  /**
   * Follows a new configuration (pavise config apply): a resource still there keeps its status
   * and is checked again at once with its new command; a new one starts from its initial status.
   */
  reconfigure(resources: readonly MonitoredResource[]): void {
    this.generation++;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    const before = new Map(this.statusByName);
    this.statusByName.clear();
    for (const r of resources) this.statusByName.set(r.name, before.get(r.name) ?? r.initial);
    this.resources = resources;
    if (!this.stopped) this.start();
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  /** Every monitored resource's current status. */
  statuses(): Record<string, ResourceStatus> {
    return Object.fromEntries(this.statusByName);
  }

  private async check(resource: MonitoredResource, generation: number): Promise<void> {
    if (this.stopped || generation !== this.generation) return;
    const result = await this.run(resource, {
      PAVISE_NODE: this.options.node,
      PAVISE_RESOURCE: resource.name,
    }).catch((err: unknown): CheckResult => ({ status: "down", detail: `not run: ${String(err)}` }));
    if (this.stopped || generation !== this.generation) return;
    if (this.statusByName.get(resource.name) !== result.status) {
      this.statusByName.set(resource.name, result.status);
      this.options.onChange(resource.name, result.status, result.detail);
    }
    this.timers.set(
      resource.name,
      setTimeout(() => void this.check(resource, generation), resource.intervalMs),
    );
  }
}

const DETAIL_MAX = 200;

/** `/bin/sh -c COMMAND` in its own group; killed with its group when it outlives the interval. */
async function runCheck(
  ns: NodeNamespace,
  resource: MonitoredResource,
  env: Record<string, string>,
): Promise<CheckResult> {
  const group = await startInGroup(resource.command, { ns, env, output: "pipe" });
  let lastLine = "";
  if (group.output) createInterface({ input: group.output }).on("line", (line) => (lastLine = line));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), resource.intervalMs);
  });
  const first = await Promise.race([group.exited, timedOut]);
  clearTimeout(timer);
  const said = lastLine.trim() ? `: ${lastLine.trim().slice(0, DETAIL_MAX)}` : "";
  if (first === "timeout") {
    group.signalGroup("SIGKILL");
    return { status: "down", detail: `monitor did not finish within ${resource.intervalMs} ms${said}` };
  }
  if (first.code === 0 && first.signal === null) return { status: "up", detail: `monitor exited 0${said}` };
  return { status: "down", detail: `monitor ${describeExit(first)}${said}` };
}
