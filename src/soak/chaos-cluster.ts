/**
 * The cluster a chaos soak runs against: a fresh lab (3 nodes with etcd, client c1), `pavise
 * daemon` on n1..n3 (DaemonCluster, the same helper the daemon fault tests use) and three
 * failover packages, each with its own relocatable address and UDP echo service: db, app (up
 * on the same node as db: Serviceguard's same_node dependency) and web (preferring n2, with
 * failback_policy automatic: n1 joins first and gets every package, then web moves to n2 as soon
 * as n2 is up, and back to n2 after every fault that drove it away — planned moves in the mix,
 * and packages spread so that a fault on one node does not hit them all).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DaemonCluster, daemonClusterFile, echoService } from "../lab/daemon-cluster.js";
import { Lab } from "../lab/lab.js";
import { signalProcess } from "../lab/processes.js";
import { defaultLabSpec } from "../lab/spec.js";
import { until } from "../util/until.js";

export interface ChaosPackage {
  name: string;
  address: string;
  port: number;
  nodes: string[];
  /** The package it must run beside (dependency: up, same_node). */
  sameNodeAs?: string;
  /** failback_policy (default manual). */
  failback?: "automatic";
}

export const CHAOS_NODES = ["n1", "n2", "n3"] as const;
export const CHAOS_CLIENT = "c1";

export const CHAOS_PACKAGES: readonly ChaosPackage[] = [
  { name: "db", address: "198.18.1.61", port: 7611, nodes: ["n1", "n2", "n3"] },
  { name: "app", address: "198.18.1.62", port: 7612, nodes: ["n1", "n2", "n3"], sameNodeAs: "db" },
  { name: "web", address: "198.18.1.63", port: 7613, nodes: ["n2", "n3", "n1"], failback: "automatic" },
];

function packagesYaml(): string {
  return CHAOS_PACKAGES.map(
    (p) => `  - name: ${p.name}
    node_name: [${p.nodes.join(", ")}]
${p.failback ? `    failback_policy: ${p.failback}\n` : ""}${p.sameNodeAs ? `    dependencies:\n      - { package: ${p.sameNodeAs}, condition: up, location: same_node }\n` : ""}    ip_address:
      - { address: ${p.address}, subnet: public }
    services:
${echoService(p.port)}`,
  ).join("");
}

export interface ChaosCluster {
  lab: Lab;
  daemons: DaemonCluster;
  /** The cluster's name (its etcd prefix is /pavise/<name>/). */
  name: string;
  dir: string;
}

/** Brings up a fresh lab named `labName` and a daemon on every node; waits until all packages run. */
export async function startChaosCluster(labName: string): Promise<ChaosCluster> {
  await Lab.down(labName);
  const lab = await Lab.up(defaultLabSpec({ name: labName, etcd: true }));
  const dir = mkdtempSync(join(tmpdir(), `pavise-${labName}-`));
  writeFileSync(
    join(dir, "cluster.yaml"),
    daemonClusterFile(lab, { name: labName, packages: packagesYaml() }),
  );
  const daemons = new DaemonCluster(lab, dir);
  const cluster = { lab, daemons, name: labName, dir };
  try {
    for (const node of CHAOS_NODES) await daemons.startDaemon(node);
    await until(
      "every chaos package to start",
      () =>
        Promise.resolve(
          CHAOS_PACKAGES.every((p) =>
            CHAOS_NODES.some((n) => daemons.logged(n, "started", `package ${p.name} started`)),
          ),
        ),
      (yes) => yes,
      30_000,
    );
  } catch (error) {
    await stopChaosCluster(cluster);
    throw error;
  }
  return cluster;
}

/** Stops every daemon (SIGTERM, then SIGKILL) and takes the lab down; the logs stay in `dir` (runChaos removes it unless a fault broke a rule). */
export async function stopChaosCluster(cluster: ChaosCluster): Promise<void> {
  const { lab, daemons } = cluster;
  for (const proc of daemons.daemons.values()) {
    signalProcess(proc, "SIGCONT"); // a daemon left frozen cannot act on SIGTERM
    await lab.runtime.stop(proc, "SIGTERM").catch(() => undefined);
  }
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  for (const proc of daemons.daemons.values()) await lab.runtime.stop(proc).catch(() => undefined);
  await lab.down().catch(() => undefined);
}
