import type { PackageConfig } from "../../src/cluster/config/model.js";

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
