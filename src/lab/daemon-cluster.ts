import { readFileSync } from "node:fs";
import { join } from "node:path";
import { etcdHealth, etcdctlArgs } from "./etcd.js";
import { labEtcdTlsYaml } from "./etcd-auth.js";
import { labApiSection, type LabApiCredentials } from "./api-credentials.js";
import type { AddressOverlap } from "./probes/address-timeline.js";
import type { LabProcess } from "./host-runtime.js";
import type { Lab } from "./lab.js";
import { AddressWatch } from "./probes/address-watch.js";
import { distPath } from "../util/package-paths.js";
import { run } from "../util/run.js";
import { until } from "../util/until.js";

// What the tests that run `pavise daemon` on the lab's three nodes share (and the cluster soak,
// src/soak/): the cluster file
// (1 s leases to match the lab's fast etcd; one failover package `web` with VIP and a service),
// starting a daemon and reading its log, and the lab's etcd and processes as they see them.

/** web's relocatable address. */
export const VIP = "198.18.1.50";

/** The lab's cluster nodes. */
export const NODES: readonly string[] = ["n1", "n2", "n3"];

export interface DaemonClusterFileOptions {
  name: string;
  /** etcd client URLs (default: the lab's members). */
  endpoints?: string[];
  /** web's service: a UDP echo server on this port (restarted twice), or just a sleeper. */
  service?: EchoService | "sleeper";
  /** web's generic resources (set by an operator: pavise resource set), initially up. */
  resources?: string[];
  /** web's halt_script (timeout: Serviceguard's halt_script_timeout), e.g. one that hangs. */
  haltScript?: { command: string; timeout: string };
  /** web's addresses after VIP (all on public). */
  moreAddresses?: string[];
  /** web's services after the first: echoService entries. */
  moreServices?: string;
  /** Packages after web: YAML list entries, indented like web. */
  morePackages?: string;
  /** The `packages:` entries instead of web and morePackages (YAML, indented by two spaces). */
  packages?: string;
  /** Top-level sections after packages: (YAML, e.g. `hooks:` …), ending with a newline. */
  topLevel?: string;
  /** The HTTP API (api: section) with these lab credentials (api-credentials.ts); none: no API. */
  api?: LabApiCredentials | undefined;
}

export interface EchoService {
  echoPort: number;
  /** service_restart (default 2). */
  restart?: number;
  /**
   * A file: while `<crashWhile>-<node>` exists, the service exits with status 1 as soon as it
   * starts on that node (a flapping service), so a test can make it flap on one node only.
   */
  crashWhile?: string;
}

/** A service entry (YAML, under a package's `services:`): a UDP echo server. */
export function echoService(echo: EchoService | number, name = "echo"): string {
  const { echoPort, restart, crashWhile } = typeof echo === "number" ? { echoPort: echo } : echo;
  const serve = `exec ${process.execPath} ${distPath("lab/probes/traffic-agent.js")} serve --proto udp --port ${echoPort}`;
  const crash = crashWhile ? `if [ -e ${crashWhile}-$PAVISE_NODE ]; then exit 1; fi; ` : "";
  return `      - name: ${name}
        command: "${crash}${serve}"
        restart: ${restart ?? 2}
        restart_delay: 100ms
        halt_timeout: 2s
`;
}

export function daemonClusterFile(lab: Lab, options: DaemonClusterFileOptions): string {
  const endpoints = options.endpoints ?? lab.plan.etcd.members.map((m) => m.clientUrl);
  // With the lab's etcd TLS (and authentication): each node its own certificate and user.
  const tls = labEtcdTlsYaml(lab.runtime, lab.plan.etcd);
  const node = (name: string): string => `  - name: ${name}
    interfaces:
      - { subnet: public, primary: lan0, standby: [lan1] }
      - { subnet: heartbeat, primary: hb0 }
`;
  const service =
    options.service === undefined || options.service === "sleeper"
      ? `      - { name: sleeper, command: "exec sleep 100000", halt_timeout: 2s }\n`
      : echoService(options.service);
  const resources =
    options.resources && options.resources.length > 0
      ? `    generic_resources:\n${options.resources.map((r) => `      - { name: ${r}, initial: up }\n`).join("")}`
      : "";
  const haltScript = options.haltScript
    ? `    halt_script: { command: "${options.haltScript.command}", timeout: ${options.haltScript.timeout} }\n`
    : "";
  const addresses = [VIP, ...(options.moreAddresses ?? [])]
    .map((address) => `      - { address: ${address}, subnet: public }\n`)
    .join("");
  const packages =
    options.packages ??
    `  - name: web
    node_name: [n1, n2, n3]
    ip_address:
${addresses}${resources}${haltScript}    services:
${service}${options.moreServices ?? ""}${options.morePackages ?? ""}`;
  return `cluster_name: ${options.name}
etcd:
  endpoints: [${endpoints.join(", ")}]
${tls ? `  tls: ${tls}\n` : ""}timing:
  member_timeout: 1s
arp:
  count: 3
  interval: 100ms
subnets:
  - { name: public, cidr: 198.18.1.0/24 }
  - { name: heartbeat, cidr: 198.18.2.0/24, heartbeat: yes }
nodes:
${node("n1")}${node("n2")}${node("n3")}
packages:
${packages}${options.topLevel ?? ""}${options.api ? labApiSection(options.api) : ""}`;
}

/**
 * Moves etcd's leadership off a host, so that crashing it measures Pavise rather than an etcd
 * election (with 1 s leases an election fences every node: see member-session.ts). Returns
 * the host that leads afterwards.
 */
export async function etcdLeaderAwayFrom(lab: Lab, host: string): Promise<string> {
  const roles = await etcdHealth(lab.runtime, lab.plan.etcd, host);
  const leader = roles.find((m) => m.leader);
  if (leader && leader.host !== host) return leader.host;
  const target = lab.plan.etcd.members.find((m) => m.host !== host)!;
  const urls = lab.plan.etcd.members.map((m) => m.clientUrl);
  const list = await lab.exec(target.host, [
    ...etcdctlArgs(lab.runtime, lab.plan.etcd, urls),
    "member",
    "list",
  ]);
  // "8e9e05c52164694d, started, n2, http://…, http://…, false"
  const id = list.stdout
    .split("\n")
    .map((line) => line.split(",").map((f) => f.trim()))
    .find((fields) => fields[2] === target.name)?.[0];
  if (!id) throw new Error(`no member id for ${target.name} in: ${list.stdout}`);
  const current = lab.plan.etcd.members.find((m) => m.host === host)!.clientUrl;
  await lab.exec(target.host, [...etcdctlArgs(lab.runtime, lab.plan.etcd, [current]), "move-leader", id]);
  const after = await until(
    `etcd's leader to leave ${host}`,
    () => etcdHealth(lab.runtime, lab.plan.etcd, host),
    (r) => r.some((m) => m.leader && m.host !== host),
    10_000,
    100,
  );
  return after.find((m) => m.leader)!.host;
}

/** Overlaps, leaving out a crashed host from its crash on (its links are down: nobody reaches it). */
export function liveOverlaps(all: AddressOverlap[], crashed: string, crashedAt: number): AddressOverlap[] {
  return overlapsOfLiveHosts(all, [{ host: crashed, from: crashedAt, to: Number.POSITIVE_INFINITY }]);
}

/** A host that was down (crashed, links down) from `from` until it was powered on at `to`. */
export interface HostDown {
  host: string;
  from: number;
  to: number;
}

/**
 * Overlaps, leaving out each crashed host while it was down: a crashed host keeps its addresses
 * with its links down until it is powered on (which removes them before the links come up), so
 * nobody reaches it there. An overlap still counts if two hosts that were up held the address.
 */
export function overlapsOfLiveHosts(all: AddressOverlap[], down: readonly HostDown[]): AddressOverlap[] {
  return all.filter((o) => {
    const live = o.hosts.filter((h) => !down.some((d) => d.host === h && o.from >= d.from && o.from < d.to));
    return live.length > 1;
  });
}

/** Watches the package addresses on n1..n3 or `hosts` (AddressWatch), for `overlaps`. */
export function watchNodeAddresses(lab: Lab, hosts: readonly string[] = NODES): Promise<AddressWatch> {
  return AddressWatch.forHosts(lab.runtime, hosts);
}

/** PIDs of web's echo service (on `port`) in a host's network namespace. */
export function echoPids(lab: Lab, host: string, port: number): Promise<number[]> {
  return commandPids(lab, host, (argv) => argv.includes("serve") && argv.includes(`${port}`));
}

/** The nodes (of n1..n3 or `nodes`) running web's echo service on `port`. */
export async function nodesServing(
  lab: Lab,
  port: number,
  nodes: readonly string[] = NODES,
): Promise<string[]> {
  const found: string[] = [];
  for (const node of nodes) if ((await echoPids(lab, node, port)).length > 0) found.push(node);
  return found;
}

/** PIDs of the processes in a host's network namespace whose argv `matches`. */
export async function commandPids(
  lab: Lab,
  host: string,
  matches: (argv: string[]) => boolean,
): Promise<number[]> {
  const listed = await run(["ip", "netns", "pids", lab.host(host).namespace], { allowFailure: true });
  return listed.stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map(Number)
    .filter((pid) => {
      try {
        return matches(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0"));
      } catch {
        return false;
      }
    });
}

/** Gone or a zombie (killed; its new parent has not reaped it yet). */
export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    return state === "Z" || state === "X";
  } catch {
    return true;
  }
}

/** Waits until a process (a daemon that exits or was stopped) is gone. */
export async function untilProcessGone(what: string, pid: number, timeoutMs = 10_000): Promise<void> {
  await until(
    what,
    () => Promise.resolve(processGone(pid)),
    (gone) => gone,
    timeoutMs,
  );
}

export function readLog(file: string | undefined): string {
  try {
    return file === undefined ? "" : readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** The daemons a test started, each with its own log file, and what they logged. */
export class DaemonCluster {
  readonly daemons = new Map<string, LabProcess>();
  /** Log file of each node's latest daemon. */
  readonly logs = new Map<string, string>();
  /** Log file of each daemon start, in order (a node may be started again). */
  readonly allLogs: string[] = [];
  /**
   * The environment of the operator commands it runs (statusText): with etcd's authentication,
   * an operator's or monitor's PAVISE_ETCD_* (etcd-auth.ts etcdUserEnv).
   */
  cliEnv: NodeJS.ProcessEnv | undefined;

  constructor(
    private readonly lab: Lab,
    /** Holds cluster.yaml; logs go here too. */
    readonly dir: string,
  ) {}

  /** Starts `pavise daemon` on a node and waits until it has joined the cluster. */
  async startDaemon(node: string, options: { json?: boolean } = {}): Promise<LabProcess> {
    const proc = await this.lab.runtime.spawn(
      node,
      [
        process.execPath,
        distPath("cli/main.js"),
        "daemon",
        "--config",
        join(this.dir, "cluster.yaml"),
        "--node",
        node,
        "--log-dir",
        join(this.dir, `logs-${node}`),
        // Each node's own control socket: the lab's nodes share one file system.
        "--control",
        this.controlSocket(node),
        ...(options.json ? ["--json"] : []),
      ],
      { role: "pavise-daemon", log: join(this.dir, `daemon-${node}-${this.allLogs.length + 1}.log`) },
    );
    this.daemons.set(node, proc);
    this.logs.set(node, proc.log);
    this.allLogs.push(proc.log);
    await until(
      `the daemon on ${node} to join`,
      () => Promise.resolve(this.daemonEvents(node)),
      (events) => events.some((e) => e.event === "joined"),
      15_000,
    );
    return proc;
  }

  /** The node's daemon control socket (pavise daemon --control). */
  controlSocket(node: string): string {
    return join(this.dir, `daemon-${node}.sock`);
  }

  /** What the node's latest daemon wrote. */
  daemonLog(node: string): string {
    return readLog(this.logs.get(node));
  }

  /** The latest daemon's log lines, text ("<time> <node> <event>: <message>") or --json. */
  daemonEvents(node: string): { event: string; message: string }[] {
    return this.daemonLog(node)
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => {
        if (line.startsWith("{")) return JSON.parse(line) as { event: string; message: string };
        const m = /^\S+ \S+ ([\w-]+): (.*)$/.exec(line);
        return { event: m?.[1] ?? "", message: m?.[2] ?? line };
      });
  }

  logged(node: string, event: string, message = ""): boolean {
    return this.daemonEvents(node).some((e) => e.event === event && e.message.includes(message));
  }

  /** Waits until each node's daemon serves its HTTP API (the cluster file has api:). */
  async untilApiServing(nodes: readonly string[] = NODES): Promise<void> {
    for (const node of nodes) await this.untilLogged(`the API on ${node}`, node, "api", "serving on");
  }

  /** Waits until the node's latest daemon has logged `event` with `message` in it. */
  async untilLogged(
    what: string,
    node: string,
    event: string,
    message = "",
    timeoutMs = 10_000,
  ): Promise<void> {
    await until(
      what,
      () => Promise.resolve(this.logged(node, event, message)),
      (yes) => yes,
      timeoutMs,
    );
  }

  /** `pavise status -v`, asked from a node. */
  async statusText(host: string): Promise<string> {
    const r = await this.lab.exec(
      host,
      [process.execPath, distPath("cli/main.js"), "status", "-v", "--config", join(this.dir, "cluster.yaml")],
      { allowFailure: true, ...(this.cliEnv ? { env: this.cliEnv } : {}) },
    );
    return r.stdout + r.stderr;
  }

  /** Awaits `wait`; if it fails, prints what `pavise status -v` says first (why it did not happen). */
  async explained<T>(host: string, wait: Promise<T>): Promise<T> {
    try {
      return await wait;
    } catch (err) {
      console.log(
        `$ pavise status -v (from ${host}, after: ${(err as Error).message})\n${await this.statusText(host)}`,
      );
      throw err;
    }
  }

  /** Every daemon's log, for the test output. */
  printLogs(): void {
    for (const file of this.allLogs) console.log(`--- ${file.slice(this.dir.length + 1)}\n${readLog(file)}`);
  }
}
