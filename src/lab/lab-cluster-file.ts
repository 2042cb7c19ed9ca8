/**
 * A cluster file (src/cluster/config) for the default lab: nodes n1–n3 with lan0 (primary) and
 * lan1 (standby) on the public LAN and hb0 on the heartbeat LAN, the lab's etcd members (on the
 * nodes, or on hosts of their own: labs/separate-etcd.yaml), a 1 s
 * member timeout (the lab runs etcd with 50/500 ms Raft timing, which grants 1 s leases), and
 * one failover package `web`: a relocatable address and a UDP echo service (the lab's traffic
 * agent), so a client's traffic probe sees exactly when the package answers. The demo and
 * bench:failover run their clusters from it, with {@link startLabDaemons}.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { TimingKey } from "../cluster/config/read-cluster.js";
import { distPath } from "../util/package-paths.js";
import type { Lab } from "./lab.js";
import type { LabProcess } from "./host-runtime.js";
import { ipsecSection } from "./ipsec-package.js";
import { labApiSection, type LabApiCredentials } from "./api-credentials.js";

export interface LabClusterOptions {
  /** The package's relocatable address on the public LAN. */
  address: string;
  /** UDP port of the package's echo service. */
  echoPort: number;
  nodes?: string[];
  /** etcd client URLs (default: the members on n1–n3); pass lab.plan.etcd's for another placement. */
  etcdEndpoints?: readonly string[];
  /** The cluster file's timing keys, as written there (default member_timeout: 1s). */
  timing?: Partial<Record<TimingKey, string>>;
  /** web carries IPsec (identity web.pavise.test, PSK in this file): src/lab/ipsec-package.ts. */
  ipsec?: { pskFile: string; initiate?: boolean };
  /** The HTTP API (api: section) with these lab credentials (api-credentials.ts); none: no API. */
  api?: LabApiCredentials | undefined;
}

export function labClusterFile(options: LabClusterOptions): string {
  const nodes = options.nodes ?? ["n1", "n2", "n3"];
  const endpoints = options.etcdEndpoints ?? [11, 12, 13].map((n) => `http://198.18.2.${n}:2379`);
  const echo = `${process.execPath} ${distPath("lab/probes/traffic-agent.js")} serve --proto udp --port ${options.echoPort}`;
  return `cluster_name: lab
etcd:
  endpoints: [${endpoints.join(", ")}]
timing:
${Object.entries({ member_timeout: "1s", ...options.timing })
  .map(([key, value]) => `  ${key}: ${value}`)
  .join("\n")}
subnets:
  - { name: public, cidr: 198.18.1.0/24 }
  - { name: heartbeat, cidr: 198.18.2.0/24, heartbeat: yes }
nodes:
${nodes
  .map(
    (n) => `  - name: ${n}
    interfaces:
      - { subnet: public, primary: lan0, standby: [lan1] }
      - { subnet: heartbeat, primary: hb0 }`,
  )
  .join("\n")}
packages:
  - package_name: web
    node_name: [${nodes.join(", ")}]
    ip_address: [{ address: ${options.address}, subnet: public }]
    services:
      - { name: echo, command: "${echo}", restart: unlimited }
${options.ipsec ? ipsecSection(options.ipsec) : ""}${options.api ? labApiSection(options.api) : ""}`;
}

/**
 * Starts `pavise daemon --config FILE --node NODE` on each node (tracked lab processes). The first
 * node is started alone until it has joined (its log says so; at most 10 s), so that it is up
 * when the leader first places the package: it is the package's first choice. A fixed head start
 * was not enough on a loaded machine: another node joined first, placed the package on itself,
 * and with failback_policy manual it stayed there.
 */
export async function startLabDaemons(
  lab: Lab,
  file: string,
  nodes: readonly string[] = ["n1", "n2", "n3"],
): Promise<Map<string, LabProcess>> {
  const daemons = new Map<string, LabProcess>();
  for (const [index, node] of nodes.entries()) {
    // Each node's control socket (and API socket beside it) in the lab directory: the nodes
    // share this machine's file system.
    const control = join(lab.runtime.labDir, `daemon-${node}.sock`);
    const argv = [
      process.execPath,
      distPath("cli/main.js"),
      "daemon",
      "--config",
      file,
      "--node",
      node,
      "--control",
      control,
    ];
    const daemon = await lab.runtime.spawn(node, argv, { role: "pavise-daemon" });
    daemons.set(node, daemon);
    if (index === 0) await joined(daemon, 10_000);
  }
  return daemons;
}

/** Waits until the daemon's log has its "joined" line (see node-agent.ts), or the time is up. */
async function joined(daemon: LabProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (/ joined: /.test(readFileSync(daemon.log, "utf8"))) return true;
    } catch {
      // Not written yet.
    }
    await sleep(20);
  }
  return false;
}
