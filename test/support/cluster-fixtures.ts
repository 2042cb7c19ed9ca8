import { parseClusterConfig } from "../../src/cluster/config/cluster-config.js";
import type {
  ClusterConfig,
  ClusterTiming,
  PackageConfig,
  PackageIpsecConfig,
} from "../../src/cluster/config/model.js";

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

/** The timing of the fixtures: a 1 s lease, as the lab runs. */
export const FIXTURE_TIMING: ClusterTiming = {
  memberTimeoutMs: 1000,
  keepaliveIntervalMs: 166,
  fenceAfterMs: 600,
  eventLoopBudgetMs: 250,
  addressInUseWaitMs: 250,
};

/** The timing the executor's lab tests run with: a 2 s lease (the executor itself reads none of it). */
export const EXECUTOR_TEST_TIMING: ClusterTiming = {
  memberTimeoutMs: 2_000,
  keepaliveIntervalMs: 600,
  fenceAfterMs: 1_500,
  eventLoopBudgetMs: 500,
  addressInUseWaitMs: 500,
};

/** A checked three-node cluster (n1–n3, subnets public and heartbeat) with these packages. */
export function clusterConfigFixture(packages: PackageConfig[], name = "t"): ClusterConfig {
  return {
    name,
    etcd: { endpoints: [], tls: undefined, prefix: `/pavise/${name}/` },
    timing: FIXTURE_TIMING,
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

/**
 * A two-node cluster file whose package web carries an ipsec: section (identity, pubkey
 * credentials, one connection "clients"), as an operator writes it.
 */
export const IPSEC_CLUSTER_YAML = `cluster_name: c1
etcd:
  endpoints: [http://198.18.2.11:2379]
subnets:
  - { name: public, cidr: 198.18.1.0/24 }
  - { name: heartbeat, cidr: 198.18.2.0/24, heartbeat: yes }
nodes:
  - name: n1
    interfaces:
      - { subnet: public, primary: lan0 }
      - { subnet: heartbeat, primary: hb0 }
  - name: n2
    interfaces:
      - { subnet: public, primary: lan0 }
      - { subnet: heartbeat, primary: hb0 }
packages:
  - name: web
    node_name: [n1, n2]
    ip_address: [{ address: 198.18.1.50, subnet: public }]
    ipsec:
      identity: web.pavise.test
      credentials:
        auth: pubkey
        certs: [/etc/pavise/ipsec/web/web.crt]
        key: /etc/pavise/ipsec/web/web.key
      connections:
        clients:
          remote_addrs: [198.18.1.0/24]
          remote: { auth: pubkey, cacerts: [/etc/pavise/ipsec/clients-ca.crt] }
          children:
            net: { local_ts: [dynamic], remote_ts: [dynamic] }
`;

/** web's ipsec: section of IPSEC_CLUSTER_YAML, read by the real reader. */
export function packageIpsecFixture(): PackageIpsecConfig {
  const ipsec = parseClusterConfig(IPSEC_CLUSTER_YAML, "cluster.yaml").packages[0]?.ipsec;
  if (!ipsec) throw new Error("IPSEC_CLUSTER_YAML has no ipsec section");
  return ipsec;
}
