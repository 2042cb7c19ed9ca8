import { readFileSync } from "node:fs";
import { stringify } from "yaml";
import { describe, expect, it } from "vitest";
import {
  CLUSTER_CONFIG_INVALID,
  type ClusterConfigProblem,
  clusterConfigFromObject,
  parseClusterConfig,
  validateClusterConfig,
} from "../../src/cluster/config/cluster-config.js";
import type { ClusterConfig } from "../../src/cluster/config/model.js";
import { DEFAULT_ESP_PROPOSALS, DEFAULT_IKE_PROPOSALS } from "../../src/ike/config/read-connections.js";
import { PaviseError } from "../../src/util/errors.js";

const example = readFileSync(new URL("../../examples/cluster.yaml", import.meta.url), "utf8");

function problemsOf(text: string): ClusterConfigProblem[] {
  try {
    parseClusterConfig(text, "cluster.yaml");
  } catch (err) {
    if (err instanceof PaviseError && err.code === CLUSTER_CONFIG_INVALID) return err.problems;
    throw err;
  }
  throw new Error("expected CLUSTER_CONFIG_INVALID");
}

type Entry = Record<string, unknown>;
/** A cluster file as parsed YAML, typed just enough for the cases below to edit it. */
interface RawFile extends Entry {
  etcd?: { endpoints: string[]; tls?: Entry };
  subnets: Entry[];
  nodes: (Entry & { interfaces: Entry[] })[];
  packages: (Entry & { ip_address?: Entry[] })[];
}

/** The smallest valid file on the default lab: two nodes, one package. */
function minimal(): RawFile {
  return {
    cluster_name: "c1",
    etcd: { endpoints: ["http://198.18.2.11:2379"] },
    subnets: [
      { name: "public", cidr: "198.18.1.0/24" },
      { name: "heartbeat", cidr: "198.18.2.0/24", heartbeat: true },
    ],
    nodes: ["n1", "n2"].map((name) => ({
      name,
      interfaces: [
        { subnet: "public", primary: "lan0", standby: ["lan1"] },
        { subnet: "heartbeat", primary: "hb0" },
      ],
    })),
    packages: [{ name: "web", ip_address: [{ address: "198.18.1.50", subnet: "public" }] }],
  };
}

/** The ipsec: section of examples/cluster.yaml's web package: its own side, and swanctl's defaults. */
const webIpsecSide = {
  auth: "pubkey",
  id: { kind: "fqdn", value: "web.pavise.test" },
  certs: ["/etc/pavise/ipsec/web/web.crt"],
  cacerts: [],
  key: "/etc/pavise/ipsec/web/web.key",
  rsaPss: false,
};
const ikeLifetimeDefaults = {
  rekeyTimeMs: 14_400_000,
  overTimeMs: 1_440_000,
  randTimeMs: 1_440_000,
  retransmit: { timeoutMs: 4_000, base: 1.8, tries: 5 },
  keyingtries: 1,
};
const childDefaults = {
  mode: "tunnel",
  rekeyTimeMs: 3_600_000,
  lifeTimeMs: 3_960_000,
  randTimeMs: 360_000,
  rekeyBytes: 0,
  lifeBytes: 0,
  rekeyPackets: 0,
  lifePackets: 0,
  startAction: "none",
  dpdAction: "clear",
  closeAction: "none",
  replayWindow: 64,
};
const dynamicTs = { address: { kind: "dynamic" }, protocol: 0, portStart: 0, portEnd: 65535 };
const hostTs = (address: string): object => ({
  address: { kind: "range", family: 4, start: address, end: address },
  protocol: 0,
  portStart: 0,
  portEnd: 65535,
});

const node = (name: string): ClusterConfig["nodes"][number] => ({
  name,
  interfaces: [
    { subnet: "public", primary: "lan0", standby: ["lan1"] },
    { subnet: "heartbeat", primary: "hb0", standby: [] },
  ],
});

describe("cluster configuration file", () => {
  it("examples/cluster.yaml reads into exactly this model", () => {
    expect(parseClusterConfig(example, "examples/cluster.yaml")).toEqual({
      name: "pavise",
      etcd: {
        endpoints: ["http://198.18.2.11:2379", "http://198.18.2.12:2379", "http://198.18.2.13:2379"],
        tls: undefined,
        prefix: "/pavise/pavise/",
        leaderAwayFromPackages: true,
      },
      timing: {
        memberTimeoutMs: 2000,
        keepaliveIntervalMs: 333,
        fenceAfterMs: 1200,
        eventLoopBudgetMs: 500,
        addressInUseWaitMs: 500,
      },
      arp: { count: 3, intervalMs: 150 },
      networkAutoFailback: true,
      subnets: [
        { name: "public", cidr: "198.18.1.0/24", heartbeat: false },
        { name: "heartbeat", cidr: "198.18.2.0/24", heartbeat: true },
      ],
      nodes: [node("n1"), node("n2"), node("n3")],
      packages: [
        {
          name: "db",
          type: "failover",
          nodes: ["n2", "n3", "n1"],
          autoRun: true,
          failoverPolicy: "configured_node",
          failbackPolicy: "manual",
          priority: 20,
          dependencies: [],
          addresses: [{ address: "198.18.1.51", subnet: "public" }],
          monitoredSubnets: [],
          services: [
            {
              name: "kv",
              command:
                "mkdir -p /run/pavise-example/db && exec python3 -m http.server 5432 --bind 198.18.1.51 --directory /run/pavise-example/db",
              restarts: 3,
              restartDelayMs: 1000,
              haltTimeoutMs: 10_000,
              failFast: false,
            },
          ],
          resources: [{ name: "storage", monitor: undefined, initial: "up" }],
          startScript: undefined,
          haltScript: undefined,
          nodeFailFast: false,
          logFile: "/var/log/pavise/db.log",
        },
        {
          name: "web",
          type: "failover",
          nodes: ["n1", "n2", "n3"],
          autoRun: true,
          failoverPolicy: "configured_node",
          failbackPolicy: "automatic",
          priority: 40,
          dependencies: [{ name: "db_up", package: "db", condition: "up", location: "any_node" }],
          addresses: [{ address: "198.18.1.50", subnet: "public" }],
          monitoredSubnets: ["public"],
          services: [
            {
              name: "httpd",
              command:
                "exec python3 -m http.server 80 --bind 198.18.1.50 --directory /run/pavise-example/web",
              restarts: "unlimited",
              restartDelayMs: 1000,
              haltTimeoutMs: 10_000,
              failFast: false,
            },
          ],
          resources: [],
          startScript: { command: "mkdir -p /run/pavise-example/web", timeoutMs: 30_000 },
          haltScript: { command: "true", timeoutMs: 30_000 },
          nodeFailFast: false,
          logFile: "/var/log/pavise/web.log",
          ipsec: {
            local: webIpsecSide,
            contact: { retryMs: 1_000, retryMaxMs: 60_000, giveUpMs: 600_000, parallel: 32 },
            peersRetentionMs: 86_400_000,
            connections: [
              {
                connection: {
                  name: "clients",
                  localAddrs: [],
                  remoteAddrs: ["198.18.1.0/24"],
                  proposals: ["aes128gcm16-prfsha256-x25519"],
                  local: webIpsecSide,
                  remote: {
                    auth: "pubkey",
                    id: { kind: "any" },
                    certs: [],
                    cacerts: ["/etc/pavise/ipsec/clients-ca.crt"],
                    key: undefined,
                    rsaPss: false,
                  },
                  sendInitialContact: true,
                  fragmentation: true,
                  encap: true,
                  dpdDelayMs: 10_000,
                  ...ikeLifetimeDefaults,
                  children: [
                    {
                      ...childDefaults,
                      name: "net",
                      localTs: [dynamicTs],
                      remoteTs: [dynamicTs],
                      espProposals: ["aes128gcm16"],
                    },
                  ],
                },
                initiate: true,
                pskFile: undefined,
              },
              {
                connection: {
                  name: "legacy",
                  localAddrs: [],
                  remoteAddrs: ["198.18.1.120"],
                  proposals: DEFAULT_IKE_PROPOSALS,
                  local: webIpsecSide,
                  remote: {
                    auth: "psk",
                    id: { kind: "fqdn", value: "c2.pavise.test" },
                    certs: [],
                    cacerts: [],
                    key: undefined,
                    rsaPss: false,
                  },
                  sendInitialContact: true,
                  fragmentation: true,
                  encap: true,
                  dpdDelayMs: 30_000,
                  ...ikeLifetimeDefaults,
                  children: [
                    {
                      ...childDefaults,
                      name: "net",
                      localTs: [hostTs("198.18.1.50")],
                      remoteTs: [hostTs("198.18.1.120")],
                      espProposals: DEFAULT_ESP_PROPOSALS,
                    },
                  ],
                },
                initiate: false,
                pskFile: "/etc/pavise/ipsec/web/c2.psk",
              },
            ],
          },
        },
        {
          name: "exporter",
          type: "multi_node",
          nodes: ["n1", "n2", "n3"],
          autoRun: true,
          failoverPolicy: "configured_node",
          failbackPolicy: "manual",
          priority: undefined,
          dependencies: [],
          addresses: [],
          monitoredSubnets: [],
          services: [
            {
              name: "metrics",
              command:
                "mkdir -p /run/pavise-example/metrics && exec python3 -m http.server 9100 --directory /run/pavise-example/metrics",
              restarts: "unlimited",
              restartDelayMs: 1000,
              haltTimeoutMs: 10_000,
              failFast: false,
            },
          ],
          resources: [],
          startScript: undefined,
          haltScript: undefined,
          nodeFailFast: false,
          logFile: undefined,
        },
      ],
    });
  });

  it("fills in the documented defaults: 2s lease, renew every sixth, fence at 60 %, 3 ARPs 150 ms apart", () => {
    const config = clusterConfigFromObject(minimal());
    expect(config.timing).toEqual({
      memberTimeoutMs: 2000,
      keepaliveIntervalMs: 333,
      fenceAfterMs: 1200,
      eventLoopBudgetMs: 500,
      addressInUseWaitMs: 500,
    });
    expect(config.arp).toEqual({ count: 3, intervalMs: 150 });
    expect(config.etcd.prefix).toBe("/pavise/c1/");
    expect(config.packages[0]).toMatchObject({
      type: "failover",
      nodes: ["n1", "n2"], // node_name "*" by default: every node in file order
      autoRun: true,
      failoverPolicy: "configured_node",
      failbackPolicy: "manual",
      priority: undefined,
      nodeFailFast: false,
    });
  });

  it("derives the other timings from member_timeout when only it is given", () => {
    const raw = minimal();
    raw.timing = { member_timeout: "1s" };
    expect(clusterConfigFromObject(raw).timing).toEqual({
      memberTimeoutMs: 1000,
      keepaliveIntervalMs: 167,
      fenceAfterMs: 600,
      eventLoopBudgetMs: 250,
      addressInUseWaitMs: 250,
    });
  });

  it("address_in_use_wait follows event_loop_budget unless given; 0 turns it off", () => {
    const raw = minimal();
    raw.timing = { member_timeout: "1s", event_loop_budget: "200ms" };
    expect(clusterConfigFromObject(raw).timing.addressInUseWaitMs).toBe(200);
    raw.timing = { member_timeout: "1s", address_in_use_wait: "0s" };
    expect(clusterConfigFromObject(raw).timing.addressInUseWaitMs).toBe(0);
  });

  it("reads Serviceguard's spellings and shorthands: package_name, yes/no, a single node_name, restart none, a script as a string, all_nodes", () => {
    const raw = minimal();
    raw.packages = [
      {
        package_name: "a",
        node_name: "n2",
        auto_run: "no",
        priority: "no_priority",
        dependencies: [{ package: "b", condition: "down", location: "all_nodes" }],
        services: [{ name: "s", command: "sleep 1", restart: "none", fail_fast: "yes" }],
        start_script: "/etc/pavise/a.sh",
      },
      {
        name: "b",
        priority: 10,
        dependencies: [{ name: "not_a", package: "a", condition: "down", location: "any_node" }],
      },
    ];
    const [a, b] = clusterConfigFromObject(raw).packages;
    expect(a).toMatchObject({
      name: "a",
      nodes: ["n2"],
      autoRun: false,
      priority: undefined,
      dependencies: [{ name: "b", package: "b", condition: "down", location: "any_node" }],
      services: [{ name: "s", command: "sleep 1", restarts: 0, failFast: true }],
      startScript: { command: "/etc/pavise/a.sh", timeoutMs: 60_000 },
    });
    expect(b?.dependencies[0]?.name).toBe("not_a");
  });

  it("a configuration made in code validates like a file", () => {
    const config = clusterConfigFromObject(minimal());
    expect(validateClusterConfig(config)).toEqual([]);
    config.packages[0]!.addresses.push({ address: "198.18.1.50", subnet: "public" });
    expect(validateClusterConfig(config)).toEqual([
      expect.objectContaining({ key: "packages[0].ip_address[1].address", value: "198.18.1.50" }),
    ]);
  });
});

describe("cluster configuration problems", () => {
  it("reports every problem at once, in file order, each with file, line, key, value and fix", () => {
    const problems = problemsOf(`cluster_name: demo
etcd:
  endpoints: [http://198.18.2.11:2379]
timing:
  member_timeout: 2s
  fence_after: 3s
subnets:
  - { name: public, cidr: 198.18.1.0/24 }
  - { name: heartbeat, cidr: 198.18.2.0/24, heartbeat: yes }
nodes:
  - name: n1
    interfaces:
      - { subnet: public, primary: lan0 }
      - { subnet: heartbeat, primary: hb0 }
packages:
  - name: web
    node_name: [n1, n9]
    ip_address:
      - { address: 198.18.3.50, subnet: public }
    servces: []
  - name: web
`);
    expect(problems.map((p) => [p.line, p.key])).toEqual([
      [6, "timing.fence_after"],
      [17, "packages[0].node_name[1]"],
      [19, "packages[0].ip_address[0].address"],
      [20, "packages[0].servces"],
      [21, "packages[1].name"],
    ]);
    for (const problem of problems) {
      expect(problem.file).toBe("cluster.yaml");
      expect(problem.message).not.toBe("");
      expect(problem.hint).not.toBe("");
    }
    expect(problems[3]).toMatchObject({
      value: [],
      message: 'unknown key (did you mean "services"?)',
      hint: "rename it to services",
    });
  });

  it("a YAML syntax error is one problem with its line", () => {
    const problems = problemsOf("cluster_name: x\nnodes: [a\n");
    expect(problems).toEqual([expect.objectContaining({ file: "cluster.yaml", line: 3, key: "(yaml)" })]);
    expect(problems[0]?.message).toMatch(/^not valid YAML/);
  });

  it("an empty file or a list instead of a mapping is one problem, not dozens", () => {
    expect(problemsOf("")).toEqual([expect.objectContaining({ key: "(top)", message: "the file is empty" })]);
    expect(problemsOf("- a\n- b\n")).toHaveLength(1);
  });

  it("names the spelling the file used (package_name, cluster_name) in key paths", () => {
    const raw = minimal();
    raw.packages = [{ package_name: "bad name" }];
    const text = stringify(raw);
    expect(problemsOf(text)).toEqual([
      expect.objectContaining({
        key: "packages[0].package_name",
        value: "bad name",
        line: text.split("\n").findIndex((l) => l.includes("package_name")) + 1,
      }),
    ]);
  });

  it("a missing value is reported once, as missing, not again as invalid", () => {
    const raw = minimal();
    raw.packages[0]!.ip_address![0] = { address: "198.18.1.50" };
    raw.subnets[0] = { cidr: "198.18.1.0/24" };
    const problems = problemsOf(stringify(raw));
    expect(problems.filter((p) => p.key === "packages[0].ip_address[0].subnet")).toEqual([
      expect.objectContaining({ message: "is missing", hint: "add subnet: public" }),
    ]);
    expect(problems.filter((p) => p.key === "subnets[0].name")).toEqual([
      expect.objectContaining({ message: "is missing" }),
    ]);
  });

  // Each case: a change to the minimal file, then the key, value, message and fix it must produce.
  const cases: {
    what: string;
    change: (raw: RawFile) => void;
    key: string;
    value?: unknown;
    message: RegExp;
    hint: RegExp;
  }[] = [
    {
      what: "unknown top-level key, with a suggestion",
      change: (r) => (r.nodess = []),
      key: "nodess",
      message: /unknown key \(did you mean "nodes"\?\)/,
      hint: /rename it to nodes/,
    },
    {
      what: "unknown key without a close match",
      change: (r) => (r.packages[0]!.colour = "blue"),
      key: "packages[0].colour",
      value: "blue",
      message: /^unknown key$/,
      hint: /use one of: package_name, name, package_type/,
    },
    {
      what: "wrong type: a list where a mapping belongs",
      change: (r) => Object.assign(r, { etcd: ["http://198.18.2.11:2379"] }),
      key: "etcd",
      message: /must be a mapping/,
      hint: /endpoints/,
    },
    {
      what: "wrong type: yes/no",
      change: (r) => (r.packages[0]!.auto_run = "sometimes"),
      key: "packages[0].auto_run",
      value: "sometimes",
      message: /must be yes or no/,
      hint: /auto_run: yes/,
    },
    {
      what: "a choice outside its options, with the likely one as the fix",
      change: (r) => (r.packages[0]!.failover_policy = "configured-node"),
      key: "packages[0].failover_policy",
      value: "configured-node",
      message: /must be one of configured_node, min_package_node/,
      hint: /failover_policy: configured_node/,
    },
    {
      what: "not a duration",
      change: (r) => (r.timing = { member_timeout: "two seconds" }),
      key: "timing.member_timeout",
      value: "two seconds",
      message: /is not a duration/,
      hint: /member_timeout: 2s/,
    },
    {
      what: "member_timeout not in whole seconds (etcd leases)",
      change: (r) => (r.timing = { member_timeout: "1500ms" }),
      key: "timing.member_timeout",
      value: "1.5s",
      message: /whole number of seconds/,
      hint: /member_timeout: 2s/,
    },
    {
      what: "member_timeout in Serviceguard's microseconds",
      change: (r) => (r.timing = { member_timeout: 14000000 }),
      key: "timing.member_timeout",
      message: /from 1s to 300s/,
      hint: /Serviceguard's default is 14s/,
    },
    {
      what: "fence_after not below member_timeout",
      change: (r) => (r.timing = { member_timeout: "2s", fence_after: "2s" }),
      key: "timing.fence_after",
      value: "2s",
      message: /must be shorter than member_timeout \(2s\)/,
      hint: /fence_after: 1.2s/,
    },
    {
      what: "keepalive too slow to renew before fencing",
      change: (r) => (r.timing = { keepalive_interval: "1500ms" }),
      key: "timing.keepalive_interval",
      value: "1.5s",
      message: /too slow to renew the lease before the node fences itself \(fence_after 1.2s\)/,
      hint: /keepalive_interval: 600ms/,
    },
    {
      what: "event-loop budget that lets a stall outlast the lease",
      change: (r) => (r.timing = { event_loop_budget: "900ms" }),
      key: "timing.event_loop_budget",
      value: "900ms",
      message: /reaches member_timeout 2s/,
      hint: /event_loop_budget: 400ms/,
    },
    {
      what: "an address-in-use wait as long as the lease",
      change: (r) => (r.timing = { member_timeout: "1s", address_in_use_wait: "1s" }),
      key: "timing.address_in_use_wait",
      value: "1s",
      message: /must be from 0 to less than member_timeout \(1s\)/,
      hint: /default event_loop_budget, 250ms\).*address_in_use_wait: 0s to start packages without checking/,
    },
    {
      what: "no gratuitous ARP",
      change: (r) => (r.arp = { count: 0 }),
      key: "arp.count",
      value: 0,
      message: /from 1 to 100/,
      hint: /count: 3/,
    },
    {
      what: "subnet with host bits",
      change: (r) => (r.subnets[0]!.cidr = "198.18.1.1/24"),
      key: "subnets[0].cidr",
      value: "198.18.1.1/24",
      message: /host bits/,
      hint: /cidr: 198.18.1.0\/24/,
    },
    {
      what: "overlapping subnets",
      change: (r) => (r.subnets[1]!.cidr = "198.18.0.0/16"),
      key: "subnets[1].cidr",
      value: "198.18.0.0/16",
      message: /overlaps subnet public/,
      hint: /own range/,
    },
    {
      what: "duplicate subnet name",
      change: (r) => r.subnets.push({ name: "public", cidr: "198.18.3.0/24" }),
      key: "subnets[2].name",
      value: "public",
      message: /is used twice \(also subnets\[0\]\)/,
      hint: /own name/,
    },
    {
      what: "duplicate node name",
      change: (r) => (r.nodes[1]!.name = "n1"),
      key: "nodes[1].name",
      value: "n1",
      message: /is used twice \(also nodes\[0\]\)/,
      hint: /own name/,
    },
    {
      what: "node interface on an unknown subnet",
      change: (r) => (r.nodes[1]!.interfaces[0]!.subnet = "publc"),
      key: "nodes[1].interfaces[0].subnet",
      value: "publc",
      message: /is not a subnet of this cluster \(did you mean "public"\?\)/,
      hint: /public, heartbeat/,
    },
    {
      what: "NIC name reused on one node",
      change: (r) => (r.nodes[0]!.interfaces[1]!.primary = "lan1"),
      key: "nodes[0].interfaces[1].primary",
      value: "lan1",
      message: /NIC lan1 of node n1 is already used \(as standby on subnet public\)/,
      hint: /own NIC/,
    },
    {
      what: "NIC name too long for Linux",
      change: (r) => (r.nodes[0]!.interfaces[0]!.primary = "averyveryverylongnic"),
      key: "nodes[0].interfaces[0].primary",
      message: /Linux interface name/,
      hint: /lan0/,
    },
    {
      what: "node without a heartbeat interface",
      change: (r) => r.nodes[1]!.interfaces.pop(),
      key: "nodes[1].interfaces",
      message: /node n2 has no interface on a heartbeat subnet/,
      hint: /subnet: heartbeat, primary: hb0/,
    },
    {
      what: "package node that does not exist",
      change: (r) => (r.packages[0]!.node_name = ["n1", "n3"]),
      key: "packages[0].node_name[1]",
      value: "n3",
      message: /is not a node of this cluster/,
      hint: /n1, n2/,
    },
    {
      what: '"*" with other names',
      change: (r) => (r.packages[0]!.node_name = ["n1", "*"]),
      key: "packages[0].node_name[1]",
      value: "*",
      message: /must be the only entry/,
      hint: /node_name: \["\*"\]/,
    },
    {
      what: "package node without an interface on the address's subnet",
      change: (r) => (r.nodes[1]!.interfaces = [{ subnet: "heartbeat", primary: "hb0" }]),
      key: "packages[0].ip_address[0].subnet",
      value: "public",
      message: /node n2 in node_name has no interface on subnet public/,
      hint: /add an interface on public to n2, or take it out of node_name/,
    },
    {
      what: "duplicate package name",
      change: (r) => r.packages.push({ name: "web" }),
      key: "packages[1].name",
      value: "web",
      message: /is used twice \(also packages\[0\]\)/,
      hint: /own name/,
    },
    {
      what: "address outside its subnet",
      change: (r) => (r.packages[0]!.ip_address![0]!.address = "198.18.2.50"),
      key: "packages[0].ip_address[0].address",
      value: "198.18.2.50",
      message: /is not inside subnet public \(198.18.1.0\/24\)/,
      hint: /198.18.1.0\/24/,
    },
    {
      what: "not an address",
      change: (r) => (r.packages[0]!.ip_address![0]!.address = "198.18.1.500"),
      key: "packages[0].ip_address[0].address",
      value: "198.18.1.500",
      message: /is not an IPv4 address/,
      hint: /198.18.1.50/,
    },
    {
      what: "broadcast address",
      change: (r) => (r.packages[0]!.ip_address![0]!.address = "198.18.1.255"),
      key: "packages[0].ip_address[0].address",
      message: /broadcast address of 198.18.1.0\/24/,
      hint: /host address/,
    },
    {
      what: "address colliding with another package's",
      change: (r) =>
        r.packages.push({ name: "db", ip_address: [{ address: "198.18.1.50", subnet: "public" }] }),
      key: "packages[1].ip_address[0].address",
      value: "198.18.1.50",
      message: /already used by package web \(packages\[0\].ip_address\[0\]\)/,
      hint: /own addresses/,
    },
    {
      what: "address listed twice in one package",
      change: (r) => r.packages[0]!.ip_address!.push({ address: "198.18.1.50", subnet: "public" }),
      key: "packages[0].ip_address[1].address",
      value: "198.18.1.50",
      message: /is listed twice \(also packages\[0\].ip_address\[0\]\)/,
      hint: /once/,
    },
    {
      what: "priority on a min_package_node package",
      change: (r) => Object.assign(r.packages[0]!, { failover_policy: "min_package_node", priority: 10 }),
      key: "packages[0].priority",
      value: 10,
      message: /only to failover packages whose failover_policy is configured_node/,
      hint: /configured_node/,
    },
    {
      what: "exclusion with a different location on each side",
      change: (r) => {
        Object.assign(r.packages[0]!, { priority: 10, dependencies: [{ package: "db", condition: "down" }] });
        r.packages.push({
          name: "db",
          dependencies: [{ package: "web", condition: "down", location: "any_node" }],
        });
      },
      key: "packages[0].dependencies[0].location",
      value: "same_node",
      message: /db's exclusion of web uses location any_node: both sides must use the same/,
      hint: /same location/,
    },
    {
      what: "relocatable address on a heartbeat subnet",
      change: (r) => (r.packages[0]!.ip_address![0] = { address: "198.18.2.50", subnet: "heartbeat" }),
      key: "packages[0].ip_address[0].subnet",
      value: "heartbeat",
      message: /heartbeat subnet/,
      hint: /data subnet/,
    },
    {
      what: "relocatable address that is an etcd member's",
      change: (r) => (r.etcd!.endpoints = ["http://198.18.1.50:2379"]),
      key: "packages[0].ip_address[0].address",
      value: "198.18.1.50",
      message: /etcd endpoint/,
      hint: /free address/,
    },
    {
      what: "priority out of range",
      change: (r) => (r.packages[0]!.priority = 0),
      key: "packages[0].priority",
      value: 0,
      message: /from 1 \(highest\) to 3000/,
      hint: /priority: 100/,
    },
    {
      what: "priority used twice",
      change: (r) => {
        r.packages[0]!.priority = 20;
        r.packages.push({ name: "db", priority: 20 });
      },
      key: "packages[1].priority",
      value: 20,
      message: /also the priority of package web/,
      hint: /own priority/,
    },
    {
      what: "multi_node package with a relocatable address",
      change: (r) => (r.packages[0]!.package_type = "multi_node"),
      key: "packages[0].ip_address",
      value: ["198.18.1.50"],
      message: /multi_node package runs on several nodes at once/,
      hint: /failover package/,
    },
    {
      what: "multi_node package with a failback policy",
      change: (r) =>
        r.packages.push({ name: "mn", package_type: "multi_node", failback_policy: "automatic" }),
      key: "packages[1].failback_policy",
      value: "automatic",
      message: /does not fail back/,
      hint: /remove failback_policy/,
    },
    {
      what: "system_multi_node",
      change: (r) => (r.packages[0]!.package_type = "system_multi_node"),
      key: "packages[0].package_type",
      message: /not supported/,
      hint: /multi_node/,
    },
    {
      what: "dependency on an unknown package",
      change: (r) => (r.packages[0]!.dependencies = [{ package: "bd" }]),
      key: "packages[0].dependencies[0].package",
      value: "bd",
      message: /is not a package of this cluster/,
      hint: /web/,
    },
    {
      what: "dependency on itself",
      change: (r) => (r.packages[0]!.dependencies = [{ package: "web" }]),
      key: "packages[0].dependencies[0].package",
      value: "web",
      message: /cannot depend on itself/,
      hint: /remove/,
    },
    {
      what: "same_node dependency without a common node",
      change: (r) => {
        r.packages[0]!.node_name = ["n1"];
        r.packages[0]!.dependencies = [{ package: "db", location: "same_node" }];
        r.packages.push({ name: "db", node_name: ["n2"] });
      },
      key: "packages[0].dependencies[0].location",
      value: "same_node",
      message: /web \(n1\) and db \(n2\) have no node in common/,
      hint: /any_node/,
    },
    {
      what: "different_node dependency between packages bound to one node",
      change: (r) => {
        r.packages[0]!.node_name = ["n1"];
        r.packages[0]!.dependencies = [{ package: "db", location: "different_node" }];
        r.packages.push({ name: "db", node_name: ["n1"] });
      },
      key: "packages[0].dependencies[0].location",
      message: /never on different nodes/,
      hint: /another node/,
    },
    {
      what: "multi_node depending on a failover package",
      change: (r) =>
        r.packages.push({ name: "mn", package_type: "multi_node", dependencies: [{ package: "web" }] }),
      key: "packages[1].dependencies[0].package",
      value: "web",
      message: /multi_node package can depend only on multi_node packages/,
      hint: /failover package/,
    },
    {
      what: "min_package_node depending on a failover package",
      change: (r) =>
        r.packages.push({
          name: "b",
          failover_policy: "min_package_node",
          dependencies: [{ package: "web" }],
        }),
      key: "packages[1].dependencies[0].package",
      message: /min_package_node can depend only on multi_node/,
      hint: /configured_node/,
    },
    {
      what: "exclusion that is not mutual",
      change: (r) => {
        r.packages[0]!.priority = 10;
        r.packages[0]!.dependencies = [{ package: "db", condition: "down" }];
        r.packages.push({ name: "db" });
      },
      key: "packages[0].dependencies[0].condition",
      value: "down",
      message: /must be mutual, and db has no down dependency on web/,
      hint: /package: web, condition: down, location: same_node/,
    },
    {
      what: "exclusion without a priority on either side",
      change: (r) => {
        r.packages[0]!.dependencies = [{ package: "db", condition: "down" }];
        r.packages.push({ name: "db", dependencies: [{ package: "web", condition: "down" }] });
      },
      key: "packages[0].priority",
      value: "no_priority",
      message: /neither has a priority/,
      hint: /priority: 100/,
    },
    {
      what: "all_nodes with condition up",
      change: (r) => {
        r.packages[0]!.dependencies = [{ package: "db", location: "all_nodes" }];
        r.packages.push({ name: "db" });
      },
      key: "packages[0].dependencies[0].location",
      value: "all_nodes",
      message: /for condition down/,
      hint: /any_node/,
    },
    {
      what: "dependency cycle, named",
      change: (r) => {
        r.packages[0]!.dependencies = [{ package: "db", location: "any_node" }];
        r.packages.push(
          { name: "db", dependencies: [{ package: "cache", location: "any_node" }] },
          { name: "cache", dependencies: [{ package: "web", location: "any_node" }] },
        );
      },
      key: "packages[2].dependencies[0].package",
      value: "web",
      message: /dependency cycle: web → db → cache → web/,
      hint: /remove one/,
    },
    {
      what: "monitored subnet that does not exist",
      change: (r) => (r.packages[0]!.monitored_subnet = ["public", "backup"]),
      key: "packages[0].monitored_subnet[1]",
      value: "backup",
      message: /is not a subnet of this cluster/,
      hint: /public, heartbeat/,
    },
    {
      what: "service restart that is neither none, unlimited nor a count",
      change: (r) => (r.packages[0]!.services = [{ name: "s", command: "x", restart: "always" }]),
      key: "packages[0].services[0].restart",
      value: "always",
      message: /none, unlimited or a number/,
      hint: /restart: 3/,
    },
    {
      what: "two services with one name",
      change: (r) =>
        (r.packages[0]!.services = [
          { name: "s", command: "x" },
          { name: "s", command: "y" },
        ]),
      key: "packages[0].services[1].name",
      value: "s",
      message: /used twice in this package/,
      hint: /own name/,
    },
    {
      what: "service without a command",
      change: (r) => (r.packages[0]!.services = [{ name: "s" }]),
      key: "packages[0].services[0].command",
      message: /is missing/,
      hint: /command:/,
    },
    {
      what: "relative log file",
      change: (r) => (r.packages[0]!.log_file = "web.log"),
      key: "packages[0].log_file",
      value: "web.log",
      message: /absolute path/,
      hint: /\/var\/log\/pavise\/web.log/,
    },
    {
      what: "etcd endpoint that is no URL",
      change: (r) => (r.etcd!.endpoints = ["198.18.2.11:2379"]),
      key: "etcd.endpoints[0]",
      message: /not an etcd client URL/,
      hint: /http:\/\/198.18.2.11:2379/,
    },
    {
      what: "plain http with TLS set",
      change: (r) => (r.etcd!.tls = { ca: "/etc/ca.crt", cert: "/etc/c.crt", key: "/etc/c.key" }),
      key: "etcd.endpoints[0]",
      message: /plain http, but etcd.tls is set/,
      hint: /https:\/\/198.18.2.11:2379/,
    },
    {
      what: "no etcd",
      change: (r) => delete r.etcd,
      key: "etcd",
      message: /is missing/,
      hint: /endpoints/,
    },
    {
      what: "cluster_name and name both",
      change: (r) => (r.name = "c2"),
      key: "name",
      value: "c2",
      message: /given twice, as cluster_name and as name/,
      hint: /keep only one/,
    },
  ];

  it.each(cases)("$what", ({ change, key, value, message, hint }) => {
    const raw = minimal();
    change(raw);
    const problems = problemsOf(stringify(raw));
    const found = problems.filter((p) => p.key === key);
    expect(found, `problems: ${JSON.stringify(problems, null, 1)}`).toHaveLength(1);
    const [problem] = found;
    expect(problem?.message).toMatch(message);
    expect(problem?.hint).toMatch(hint);
    if (value !== undefined) expect(problem?.value).toEqual(value);
    // A key missing at the top has no line of its own; everything else points into the file.
    if (key.includes(".") || key.includes("[") || !problem?.message.startsWith("is missing")) {
      expect(problem?.line).toBeGreaterThan(0);
    }
  });

  it("all the cases above together are all reported in one run", () => {
    const raw = minimal();
    // Cases that change the same key in different ways cannot be combined; take one of each.
    const combined = [
      "unknown top-level key, with a suggestion",
      "wrong type: yes/no",
      "keepalive too slow to renew before fencing",
      "overlapping subnets",
      "NIC name reused on one node",
      "address outside its subnet",
      "dependency cycle, named",
      "relative log file",
    ];
    for (const what of combined) cases.find((c) => c.what === what)?.change(raw);
    const keys = problemsOf(stringify(raw)).map((p) => p.key);
    for (const what of combined) expect(keys).toContain(cases.find((c) => c.what === what)?.key);
  });

  it('names an empty key as "" (found by the fuzz)', () => {
    const problems = problemsOf(`"": stray\n${example}`);
    expect(problems.map((p) => [p.key, p.message])).toContainEqual(['""', "unknown key"]);
  });
});
