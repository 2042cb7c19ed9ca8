import type { ClusterConfig, PackageConfig } from "../../src/cluster/config/model.js";

/**
 * A checked package configuration as the readers would make it from a minimal entry (the
 * defaults of src/cluster/config/defaults.ts), for tests that build the model directly.
 */
export function packageConfig(name: string, overrides: Partial<PackageConfig> = {}): PackageConfig {
  return {
    name,
    type: "failover",
    nodes: ["n1", "n2"],
    autoRun: true,
    failoverPolicy: "configured_node",
    failbackPolicy: "manual",
    priority: undefined,
    dependencies: [],
    addresses: [],
    monitoredSubnets: [],
    services: [],
    resources: [],
    startScript: undefined,
    haltScript: undefined,
    nodeFailFast: false,
    logFile: undefined,
    ...overrides,
  };
}

/** A checked three-node cluster (n1–n3, subnets public and heartbeat) with these packages. */
export function clusterConfigFixture(packages: PackageConfig[], name = "t"): ClusterConfig {
  return {
    name,
    etcd: { endpoints: [], tls: undefined, prefix: `/pavise/${name}/` },
    timing: { memberTimeoutMs: 1000, keepaliveIntervalMs: 166, fenceAfterMs: 600, eventLoopBudgetMs: 250 },
    arp: { count: 3, intervalMs: 150 },
    subnets: [
      { name: "public", cidr: "198.18.1.0/24", heartbeat: false },
      { name: "heartbeat", cidr: "198.18.2.0/24", heartbeat: true },
    ],
    nodes: ["n1", "n2", "n3"].map((node) => ({
      name: node,
      interfaces: [
        { subnet: "public", primary: "lan0", standby: ["lan1"] },
        { subnet: "heartbeat", primary: "hb0", standby: [] },
      ],
    })),
    packages,
  };
}
