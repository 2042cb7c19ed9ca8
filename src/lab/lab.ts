import { mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { PaviseError } from "../util/errors.js";
import { run, type RunOptions, type RunResult } from "../util/run.js";
import {
  startEtcd,
  startEtcdAuth,
  startEtcdMember,
  waitForEtcd,
  etcdHealth,
  type EtcdMemberHealth,
} from "./etcd.js";
import type { HostRuntime, LabProcess, SpawnOptions } from "./host-runtime.js";
import { planLab, type LabPlan, type PlannedHost, type PlannedNic } from "./plan.js";
import { isSameProcessAlive, killProcess, processStartTime, spawnInNamespace } from "./processes.js";
import { type LabSpec, validateLabSpec } from "./spec.js";
import { stopLabRelays } from "./console-relay-process.js";
import { labDirectory, readLabState, writeLabState, type LabState } from "./state.js";
import {
  buildSwitch,
  configureHost,
  createNamespaces,
  deleteNamespace,
  existingNamespaces,
  pidsInNamespace,
} from "./topology.js";
import { LabFaults } from "./faults.js";
import { arpAnswerers, type ArpAnswer } from "./probes/arp.js";
import { addressHolders, type AddressHolder } from "./probes/holders.js";

export type ProgressListener = (step: string) => void;

export interface LabUpOptions {
  onProgress?: ProgressListener;
  /** How long etcd may take to become healthy. */
  etcdTimeoutMs?: number;
}

export interface LabDownReport {
  name: string;
  namespacesRemoved: string[];
  processesKilled: number[];
  directoryRemoved: boolean;
}

export interface HostNicStatus {
  name: string;
  subnet: string;
  role: string;
  mac: string;
  up: boolean;
  addresses: string[];
}

export interface LabHostStatus {
  name: string;
  kind: string;
  namespace: string;
  present: boolean;
  nics: HostNicStatus[];
}

export interface LabStatus {
  name: string;
  dir: string;
  ready: boolean;
  createdAt: string;
  lans: { subnet: string; cidr: string; bridge: string }[];
  hosts: LabHostStatus[];
  etcd: EtcdMemberHealth[];
  processes: (LabProcess & { alive: boolean })[];
}

/**
 * A running lab: hosts as network namespaces, LANs as bridges, etcd members on the nodes.
 * Built with `Lab.up`, found again with `Lab.open`, removed with `lab.down()` or `Lab.down(name)`.
 */
export class Lab {
  readonly runtime: HostRuntime;
  readonly faults: LabFaults;

  private constructor(private state: LabState) {
    this.runtime = this.makeRuntime();
    this.faults = new LabFaults(this);
  }

  get plan(): LabPlan {
    return this.state.plan;
  }

  get name(): string {
    return this.state.plan.name;
  }

  get dir(): string {
    return labDirectory(this.name);
  }

  /** Builds the lab a spec describes. On any failure it removes what it made and rethrows. */
  static async up(spec: LabSpec, options: LabUpOptions = {}): Promise<Lab> {
    const problems = validateLabSpec(spec);
    if (problems.length > 0) {
      throw new PaviseError("LAB_CONFIG_INVALID", `lab configuration has ${problems.length} problem(s)`, {
        problems,
      });
    }
    const progress = options.onProgress ?? (() => undefined);
    if (readLabState(spec.name)) {
      throw new PaviseError("LAB_EXISTS", `a lab named ${spec.name} is already up`, {
        hint: `remove it first with: pavise lab down ${spec.name}`,
      });
    }
    const plan = planLab(spec);
    const wanted = [plan.switchNamespace, ...plan.hosts.map((h) => h.namespace)];
    const present = await existingNamespaces();
    const clash = wanted.filter((ns) => present.has(ns));
    if (clash.length > 0) {
      throw new PaviseError("LAB_NAMESPACE_EXISTS", `network namespaces already exist: ${clash.join(", ")}`, {
        hint: `they are not from a lab Pavise knows; remove them (ip netns del NAME) or choose another lab name`,
      });
    }

    const lab = new Lab({
      version: 1,
      spec,
      plan,
      createdAt: new Date().toISOString(),
      // Recorded before they exist, so a crash half-way still leaves `down` a complete list.
      namespaces: wanted,
      processes: [],
      ready: false,
    });
    mkdirSync(join(lab.dir, "logs"), { recursive: true });
    lab.save();
    try {
      await createNamespaces(wanted);
      await buildSwitch(plan);
      await Promise.all(plan.hosts.map((host) => configureHost(host)));
      progress(`network: ${plan.hosts.length} hosts, ${plan.bridges.length} LANs`);
      if (plan.etcd.members.length > 0) {
        const processes = await startEtcd(lab.runtime, plan.etcd);
        progress(`etcd: started ${processes.length} members${plan.etcd.tls ? " with TLS" : ""}`);
        await waitForEtcd(lab.runtime, plan.etcd, options.etcdTimeoutMs ?? 20_000);
        progress(`etcd: ${plan.etcd.members.length} members healthy`);
        if (plan.etcd.auth) {
          await startEtcdAuth(lab.runtime, plan.etcd);
          progress(`etcd: authentication on (roles on ${plan.etcd.auth.prefix})`);
        }
      }
      lab.state.ready = true;
      lab.save();
      return lab;
    } catch (err) {
      await lab.down();
      throw err;
    }
  }

  /** The lab of this name that is up, or LAB_NOT_FOUND. */
  static open(name: string): Lab {
    const state = readLabState(name);
    if (!state) {
      throw new PaviseError("LAB_NOT_FOUND", `no lab named ${name} is up`, {
        hint: `start one with: pavise lab up (see pavise lab list)`,
      });
    }
    return new Lab(state);
  }

  /**
   * Removes everything a lab made: every process in its namespaces (SIGKILL, by PID), the
   * namespaces (and with them every link and bridge) and its directory. Safe to repeat.
   */
  static async down(name: string): Promise<LabDownReport> {
    const state = readLabState(name);
    const report: LabDownReport = {
      name,
      namespacesRemoved: [],
      processesKilled: [],
      directoryRemoved: false,
    };
    // Console relays (pavise lab console) run in the root namespace, known by their pid files.
    report.processesKilled.push(...(await stopLabRelays(labDirectory(name))));
    if (state) {
      // Tracked processes first, by PID and start time; then anything else living in the namespaces.
      for (const process of state.processes) {
        if (isSameProcessAlive(process)) {
          await killProcess(process);
          report.processesKilled.push(process.pid);
        }
      }
      const present = await existingNamespaces();
      for (const namespace of [...state.namespaces].reverse()) {
        if (!present.has(namespace)) continue;
        for (const pid of await pidsInNamespace(namespace)) {
          const startTime = processStartTime(pid);
          if (startTime === undefined) continue;
          await killProcess({ pid, startTime });
          report.processesKilled.push(pid);
        }
        await deleteNamespace(namespace);
        report.namespacesRemoved.push(namespace);
      }
    }
    const dir = labDirectory(name);
    try {
      rmSync(dir, { recursive: true, force: true });
      report.directoryRemoved = true;
    } catch {
      report.directoryRemoved = false;
    }
    return report;
  }

  down(): Promise<LabDownReport> {
    return Lab.down(this.name);
  }

  host(name: string): PlannedHost {
    const host = this.plan.hosts.find((h) => h.name === name);
    if (!host) {
      throw new PaviseError("LAB_UNKNOWN_HOST", `lab ${this.name} has no host ${name}`, {
        hint: `hosts are: ${this.plan.hosts.map((h) => h.name).join(", ")}`,
      });
    }
    return host;
  }

  nic(hostName: string, nicName: string): PlannedNic {
    const host = this.host(hostName);
    const nic = host.nics.find((n) => n.name === nicName);
    if (!nic) {
      throw new PaviseError("LAB_UNKNOWN_NIC", `host ${hostName} has no NIC ${nicName}`, {
        hint: `its NICs are: ${host.nics.map((n) => n.name).join(", ")}`,
      });
    }
    return nic;
  }

  /** The fixed address of a host on a subnet (its primary NIC), without prefix length. */
  addressOf(hostName: string, subnet: string): string {
    const nic = this.host(hostName).nics.find((n) => n.subnet === subnet && n.address !== undefined);
    if (!nic?.address) {
      throw new PaviseError("LAB_NO_ADDRESS", `host ${hostName} has no address on subnet ${subnet}`, {
        hint: `subnets are: ${this.plan.bridges.map((b) => b.subnet).join(", ")}`,
      });
    }
    return nic.address;
  }

  exec(host: string, argv: readonly string[], options?: RunOptions): Promise<RunResult> {
    return this.runtime.exec(host, argv, options);
  }

  /** Which hosts have the address configured right now. */
  holders(address: string): Promise<AddressHolder[]> {
    return addressHolders(this.plan, address);
  }

  /** Who answers ARP for the address on a LAN (MAC, host, NIC), asked from the lab switch. */
  arpAnswerers(subnet: string, address: string, waitSeconds?: number): Promise<ArpAnswer[]> {
    return arpAnswerers(this.plan, subnet, address, waitSeconds);
  }

  /**
   * Starts the etcd member of a node again (after it was killed or its host crashed), as the
   * node's service manager would at boot. Does nothing for a node without a member or whose
   * member runs.
   */
  async startEtcdMember(host: string): Promise<LabProcess | undefined> {
    const member = this.plan.etcd.members.find((m) => m.host === host);
    if (!member) return undefined;
    const running = this.processes().find((p) => p.role === `etcd-${member.name}`);
    if (running) return running;
    return startEtcdMember(this.runtime, this.plan.etcd, member);
  }

  /** Processes the lab tracks that are still running. */
  processes(): LabProcess[] {
    return this.state.processes.filter((p) => isSameProcessAlive(p));
  }

  async status(): Promise<LabStatus> {
    const present = await existingNamespaces();
    const hosts = await Promise.all(
      this.plan.hosts.map(async (host): Promise<LabHostStatus> => {
        const live = present.has(host.namespace)
          ? await linkStates(host.namespace)
          : new Map<string, LinkState>();
        return {
          name: host.name,
          kind: host.kind,
          namespace: host.namespace,
          present: present.has(host.namespace),
          nics: host.nics.map((nic) => ({
            name: nic.name,
            subnet: nic.subnet,
            role: nic.role,
            mac: nic.mac,
            up: live.get(nic.name)?.up ?? false,
            addresses: live.get(nic.name)?.addresses ?? [],
          })),
        };
      }),
    );
    return {
      name: this.name,
      dir: this.dir,
      ready: this.state.ready,
      createdAt: this.state.createdAt,
      lans: this.plan.bridges.map((b) => ({ subnet: b.subnet, cidr: b.cidr, bridge: b.name })),
      hosts,
      etcd: await etcdHealth(this.runtime, this.plan.etcd),
      processes: this.state.processes.map((p) => ({ ...p, alive: isSameProcessAlive(p) })),
    };
  }

  private save(): void {
    writeLabState(this.state);
  }

  private makeRuntime(): HostRuntime {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the runtime is a view of this lab
    const lab = this;
    return {
      labDir: lab.dir,
      labName: lab.name,
      namespaceOf: (host) => lab.host(host).namespace,
      exec: (host, argv, options) => run(["ip", "netns", "exec", lab.host(host).namespace, ...argv], options),
      async spawn(host: string, argv: readonly string[], options: SpawnOptions): Promise<LabProcess> {
        const namespace = lab.host(host).namespace;
        const log = options.log ?? join(lab.dir, "logs", `${host}-${options.role}-${uniqueSuffix()}.log`);
        mkdirSync(dirname(log), { recursive: true });
        const { pid, startTime } = await spawnInNamespace(namespace, argv, {
          log,
          ...(options.env ? { env: options.env } : {}),
        });
        const process: LabProcess = { pid, startTime, host, role: options.role, argv: [...argv], log };
        lab.refreshProcesses();
        lab.state.processes.push(process);
        lab.save();
        return process;
      },
      async stop(process: LabProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
        if (signal === "SIGKILL") {
          await killProcess(process);
        } else if (isSameProcessAlive(process)) {
          globalThis.process.kill(process.pid, signal);
        }
        lab.refreshProcesses();
        lab.state.processes = lab.state.processes.filter(
          (p) => p.pid !== process.pid || p.startTime !== process.startTime,
        );
        lab.save();
      },
    };
  }

  /** Re-reads the state file so processes tracked by another Pavise process are kept. */
  private refreshProcesses(): void {
    const onDisk = readLabState(this.name);
    if (!onDisk) return;
    const known = new Set(this.state.processes.map((p) => `${p.pid}/${p.startTime}`));
    for (const p of onDisk.processes) if (!known.has(`${p.pid}/${p.startTime}`)) this.state.processes.push(p);
  }
}

let spawnCounter = 0;
/** Makes each default log file name unique, so a run never reads an earlier run's output. */
function uniqueSuffix(): string {
  spawnCounter += 1;
  return `${Date.now().toString(36)}-${process.pid}-${spawnCounter}`;
}

interface LinkState {
  up: boolean;
  addresses: string[];
}

async function linkStates(namespace: string): Promise<Map<string, LinkState>> {
  const result = await run(["ip", "-n", namespace, "-j", "addr", "show"], { allowFailure: true });
  const map = new Map<string, LinkState>();
  if (result.code !== 0) return map;
  const links = JSON.parse(result.stdout) as {
    ifname: string;
    flags?: string[];
    operstate?: string;
    addr_info?: { family: string; local: string; prefixlen: number }[];
  }[];
  for (const link of links) {
    map.set(link.ifname, {
      up: link.operstate === "UP" || (link.flags ?? []).includes("LOWER_UP"),
      addresses: (link.addr_info ?? [])
        .filter((a) => a.family === "inet")
        .map((a) => `${a.local}/${a.prefixlen}`),
    });
  }
  return map;
}
