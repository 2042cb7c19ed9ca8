/**
 * The executor of one node: what the daemon hands its part of the plan to. It owns the node's
 * addresses (NodeAddresses: local LAN failover included), one PackageRunner per package it
 * starts, and the package log files, and it reports what the cluster must act on: a package
 * that can no longer run here (a service out of restarts, its subnet or a monitored subnet
 * without link) comes out as a "package-failed" event; halting it and failing it over is the
 * daemon's decision, not the executor's.
 */

import type { ProbeRound } from "./address-probe.js";
import { join } from "node:path";
import { PaviseError } from "../../util/errors.js";
import type { ClusterConfig, NodeConfig, PackageConfig } from "../config/model.js";
import { NODE_OWNER, type ReturnPolicy } from "./address-placement.js";
import { type AddressEvent, NodeAddresses } from "./node-addresses.js";
import { CURRENT_NAMESPACE, type NodeNamespace } from "./node-namespace.js";
import { type PackageIpsecDriver, realPackageDrivers } from "./package-drivers.js";
import { DEFAULT_LOG_DIRECTORY, PackageLog, packageLogPath } from "./package-log.js";
import {
  type ChangeResult,
  type HaltOptions,
  type HaltResult,
  type PackageEvent,
  PackageRunner,
  type StartResult,
} from "./package-runner.js";
import type { FlapDetection } from "./service-supervision.js";
import type { ServiceSupervisor } from "./service-supervisor.js";

export type ExecutorEvent = AddressEvent | PackageEvent;

export interface NodeExecutorOptions {
  config: Pick<ClusterConfig, "nodes" | "subnets" | "arp" | "packages">;
  nodeName: string;
  /** Where to act; the daemon's own namespace by default. */
  ns?: NodeNamespace;
  /** Directory of the package logs (default /var/log/pavise); a package's logFile wins. */
  logDirectory?: string;
  returnPolicy?: ReturnPolicy;
  flap?: FlapDetection;
  onEvent?: (event: ExecutorEvent) => void;
  /** The node's IPsec for packages with ipsec: (the daemon's PackageIpsecHost). */
  ipsec?: PackageIpsecDriver;
  /** NodeAddressesOptions.mayHoldPackageAddresses: the daemon's membership says. */
  mayHoldPackageAddresses?: () => boolean;
}

/** Log of the node's own address moves, beside the package logs. */
export const NODE_LOG_NAME = "node.log";

export class NodeExecutor {
  private readonly runners = new Map<string, PackageRunner>();
  private readonly logs = new Map<string, PackageLog>();
  private readonly supervisorsByPackage = new Map<string, ServiceSupervisor[]>();
  private addressesOrUndefined: NodeAddresses | undefined;
  private ipsecDriver: PackageIpsecDriver | undefined;
  /** The configuration in force: the one started with, then each one applied (reconfigure). */
  private config: NodeExecutorOptions["config"];

  private constructor(
    private readonly options: NodeExecutorOptions,
    private readonly node: NodeConfig,
  ) {
    this.config = options.config;
    this.ipsecDriver = options.ipsec;
  }

  static async start(options: NodeExecutorOptions): Promise<NodeExecutor> {
    const node = options.config.nodes.find((n) => n.name === options.nodeName);
    if (!node) {
      throw new PaviseError(
        "EXECUTOR_UNKNOWN_NODE",
        `node ${options.nodeName} is not in the cluster configuration`,
        {
          hint: `nodes are: ${options.config.nodes.map((n) => n.name).join(", ")}`,
        },
      );
    }
    const executor = new NodeExecutor(options, node);
    executor.addressesOrUndefined = await NodeAddresses.start({
      ns: executor.ns,
      node,
      subnets: options.config.subnets,
      arp: options.config.arp,
      ...(options.returnPolicy ? { returnPolicy: options.returnPolicy } : {}),
      relocatable: options.config.packages.flatMap((p) => p.addresses.map((a) => a.address)),
      log: (owner, text) => executor.logFor(owner).write("executor", text),
      onEvent: (event) => executor.onAddressEvent(event),
      ...(options.mayHoldPackageAddresses
        ? { mayHoldPackageAddresses: options.mayHoldPackageAddresses }
        : {}),
    });
    return executor;
  }

  get addresses(): NodeAddresses {
    if (!this.addressesOrUndefined) throw new Error("executor not started");
    return this.addressesOrUndefined;
  }

  private get ns(): NodeNamespace {
    return this.options.ns ?? CURRENT_NAMESPACE;
  }

  private get logDirectory(): string {
    return this.options.logDirectory ?? DEFAULT_LOG_DIRECTORY;
  }

  logPath(packageName: string): string {
    return packageLogPath(this.packageConfig(packageName), this.logDirectory);
  }

  runner(packageName: string): PackageRunner {
    let runner = this.runners.get(packageName);
    if (!runner) {
      const pkg = this.packageConfig(packageName);
      const log = this.logFor(packageName);
      runner = new PackageRunner(
        pkg,
        this.config.subnets,
        realPackageDrivers({
          ns: this.ns,
          packageName,
          nodeName: this.node.name,
          log,
          addresses: this.addresses,
          ...(this.options.flap ? { flap: this.options.flap } : {}),
          // Looked up at each call: the host opens after the executor.
          ipsec: {
            up: (p) => this.requireIpsec(p.name).up(p),
            contact: (p) => this.ipsecDriver?.contact(p),
            down: async (p, tellPeers) => this.ipsecDriver?.down(p, tellPeers),
          },
          onSupervisor: (s) => this.supervisorsByPackage.get(packageName)?.push(s),
        }),
        (event) => this.options.onEvent?.(event),
      );
      this.runners.set(packageName, runner);
    }
    return runner;
  }

  /** Every service supervisor of the package's current run (PIDs, restart counts). */
  supervisors(packageName: string): readonly ServiceSupervisor[] {
    return this.supervisorsByPackage.get(packageName) ?? [];
  }

  /**
   * The package's addresses that another host answers ARP for now, probed in parallel
   * (address-probe.ts); `unknown`: those no probe could be sent for, and why.
   */
  async addressesInUse(packageName: string): Promise<ProbeRound> {
    const pkg = this.config.packages.find((p) => p.name === packageName);
    const results = await Promise.all(
      (pkg?.addresses ?? []).map(async (a) => ({
        a,
        result: await this.addresses.probe(a.address, a.subnet),
      })),
    );
    return {
      inUse: results.flatMap(({ a, result }) =>
        result.answered === true ? [{ address: a.address, nic: result.nic, mac: result.mac }] : [],
      ),
      unknown: results.flatMap(({ a, result }) =>
        result.answered === undefined ? [{ address: a.address, problem: result.problem }] : [],
      ),
    };
  }

  startPackage(packageName: string): Promise<StartResult> {
    this.supervisorsByPackage.set(packageName, []);
    return this.runner(packageName).start();
  }

  /** `tellPeers`: halted for good, its IPsec peers get a DELETE (design §6). */
  haltPackage(packageName: string, options: HaltOptions = {}): Promise<HaltResult> {
    return this.runner(packageName).halt(options);
  }

  private requireIpsec(pkg: string): PackageIpsecDriver {
    if (this.ipsecDriver) return this.ipsecDriver;
    throw new PaviseError(
      "EXECUTOR_NO_IPSEC",
      `package ${pkg} has ipsec:, but this node's daemon runs no IPsec`,
      {
        hint: "read the daemon's log for why its IPsec did not start (the TUN device, ports 500/4500)",
      },
    );
  }

  /** The daemon's IPsec host, once open (it opens after the executor, before any start). */
  setIpsec(ipsec: PackageIpsecDriver): void {
    this.ipsecDriver = ipsec;
  }

  /** Packages this executor knows: the configured ones and any it ran that are no longer. */
  packageNames(): string[] {
    const configured = this.config.packages.map((p) => p.name);
    return [...configured, ...[...this.runners.keys()].filter((name) => !configured.includes(name))];
  }

  /**
   * Takes a new cluster configuration (pavise config apply). Gratuitous ARP settings and new
   * subnets apply at once; each package that runs here changes only what differs (its runner
   * does: package-change-steps.ts); a package no longer configured keeps its old configuration
   * until it is halted (the daemon halts it). This node's own interfaces are not changed here:
   * they are read when the daemon starts.
   */
  async reconfigure(next: NodeExecutorOptions["config"]): Promise<Map<string, ChangeResult>> {
    this.config = next;
    this.addresses.reconfigure({ subnets: next.subnets, arp: next.arp });
    const results = new Map<string, ChangeResult>();
    await Promise.all(
      [...this.runners].map(async ([name, runner]) => {
        const pkg = next.packages.find((p) => p.name === name);
        if (pkg) results.set(name, await runner.reconfigure(pkg, next.subnets));
      }),
    );
    return results;
  }

  /** Stops watching links and closes the logs; packages keep running as they are. */
  async stop(): Promise<void> {
    await this.addressesOrUndefined?.stop();
    for (const log of this.logs.values()) log.close();
    this.logs.clear();
  }

  private packageConfig(name: string): PackageConfig {
    // A package removed from the configuration while it ran keeps its runner until halted.
    const pkg = this.config.packages.find((p) => p.name === name) ?? this.runners.get(name)?.pkg;
    if (!pkg) {
      throw new PaviseError(
        "EXECUTOR_UNKNOWN_PACKAGE",
        `package ${name} is not in the cluster configuration`,
        {
          hint: `packages are: ${this.config.packages.map((p) => p.name).join(", ") || "(none)"}`,
        },
      );
    }
    return pkg;
  }

  private logFor(owner: string): PackageLog {
    let log = this.logs.get(owner);
    if (!log) {
      log = PackageLog.open(
        owner === NODE_OWNER ? join(this.logDirectory, NODE_LOG_NAME) : this.logPath(owner),
      );
      this.logs.set(owner, log);
    }
    return log;
  }

  private onAddressEvent(event: AddressEvent): void {
    this.options.onEvent?.(event);
    if (event.kind !== "subnet-down") return;
    for (const [name, runner] of this.runners) {
      const state = runner.state.kind;
      if (state !== "up" && state !== "starting") continue;
      const pkg = runner.pkg;
      const uses =
        pkg.addresses.some((a) => a.subnet === event.subnet) || pkg.monitoredSubnets.includes(event.subnet);
      if (!uses) continue;
      const reason = `subnet ${event.subnet} is down on node ${this.node.name}`;
      this.logFor(name).write("executor", `package ${name} has failed on this node: ${reason}`);
      this.options.onEvent?.({ kind: "package-failed", package: name, reason, subnet: event.subnet });
    }
  }
}
