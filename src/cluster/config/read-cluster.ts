import type { ConfigProblem } from "../../util/errors.js";
import { DEFAULT_ARP, DEFAULT_MEMBER_TIMEOUT_MS, defaultEtcdPrefix, defaultTiming } from "./defaults.js";
import type {
  ArpConfig,
  ClusterConfig,
  ClusterTiming,
  EtcdConfig,
  NodeConfig,
  NodeInterface,
  SubnetConfig,
} from "./model.js";
import { ProblemList, RawReader, isRecord, type Raw } from "./raw-reader.js";
import { readHooks } from "./read-hooks.js";
import { readApi } from "./read-api.js";
import { readPackages } from "./read-package.js";

/**
 * The shape of a cluster file: its keys, their types and defaults (defaults.ts), read into the
 * model. What the values mean together (references, addresses, timing rules) is checked
 * afterwards on the model (validate-cluster.ts).
 */
export interface ReadResult {
  config: ClusterConfig;
  problems: ConfigProblem[];
  /**
   * Key paths the file spells differently from the canonical ones used when the model is
   * validated (e.g. `packages[0].name` written as `packages[0].package_name`).
   */
  aliases: Map<string, string>;
}

export const TOP_KEYS = [
  "cluster_name",
  "name",
  "etcd",
  "timing",
  "arp",
  "network_auto_failback",
  "subnets",
  "nodes",
  "packages",
  "hooks",
  "api",
];
const ETCD_KEYS = ["endpoints", "tls", "prefix", "leader_away_from_packages"];
const TLS_KEYS = ["ca", "cert", "key", "user", "password_file"];
/** The keys of the cluster file's timing: section (the bench's --timing takes the same). */
export const TIMING_KEYS = [
  "member_timeout",
  "keepalive_interval",
  "fence_after",
  "event_loop_budget",
  "address_in_use_wait",
] as const;
export type TimingKey = (typeof TIMING_KEYS)[number];
const ARP_KEYS = ["count", "interval"];
const SUBNET_KEYS = ["name", "cidr", "heartbeat"];
const NODE_KEYS = ["name", "interfaces"];
const INTERFACE_KEYS = ["subnet", "primary", "standby"];

export function readClusterObject(raw: unknown): ReadResult {
  const problems = new ProblemList();
  const reader = new RawReader(problems);
  const aliases = new Map<string, string>();
  if (!isRecord(raw)) {
    // Nothing else can be said about a file that is not a mapping at all.
    if (raw === undefined || raw === null) {
      reader.problem("(top)", raw, "the file is empty", "start from examples/cluster.yaml");
    } else {
      reader.problem(
        "(top)",
        raw,
        "must be a mapping of cluster_name, etcd, subnets, nodes, packages …",
        "start from examples/cluster.yaml",
      );
    }
    return { config: readClusterObject({}).config, problems: problems.items, aliases };
  }
  const top = raw;
  reader.known(top, TOP_KEYS, "");

  const nameKey = reader.either(top, ["cluster_name", "name"], "");
  if (nameKey.key !== "name") aliases.set("name", nameKey.key);
  const name = reader.required({ [nameKey.key]: nameKey.value }, nameKey.key, "", "cluster1");

  const subnets = readSubnets(reader, top);
  const nodes = readNodes(reader, top);
  const api = readApi(reader, top.api);
  const config: ClusterConfig = {
    name,
    etcd: readEtcd(reader, top, name),
    timing: readTiming(reader, top),
    arp: readArp(reader, top),
    networkAutoFailback: reader.bool(top, "network_auto_failback", "", true),
    subnets,
    nodes,
    packages: readPackages(
      reader,
      top,
      nodes.map((n) => n.name),
      aliases,
    ),
    ...(api ? { api } : {}),
  };
  const hooks = readHooks(reader, top);
  if (hooks !== undefined) config.hooks = hooks;
  return { config, problems: problems.items, aliases };
}

function readEtcd(reader: RawReader, top: Raw, clusterName: string): EtcdConfig {
  const example = "{ endpoints: [http://198.18.2.11:2379] }";
  const raw = reader.mapping(top.etcd, "etcd", `etcd: ${example}`);
  if (top.etcd === undefined || top.etcd === null) {
    reader.problem(
      "etcd",
      top.etcd,
      "is missing: the cluster keeps its state in etcd",
      `add etcd: ${example}`,
    );
  }
  const e = raw ?? {};
  reader.known(e, ETCD_KEYS, "etcd");
  const endpoints = reader.strings(e, "endpoints", "etcd", "[http://198.18.2.11:2379]") ?? [];
  if (raw && (e.endpoints === undefined || e.endpoints === null)) {
    reader.problem(
      "etcd.endpoints",
      e.endpoints,
      "is missing",
      "add endpoints: [http://198.18.2.11:2379, …]",
    );
  }
  let tls: EtcdConfig["tls"];
  const tlsRaw = reader.mapping(e.tls, "etcd.tls", "tls: { ca: /etc/pavise/ca.crt, cert: …, key: … }");
  if (tlsRaw) {
    reader.known(tlsRaw, TLS_KEYS, "etcd.tls");
    tls = {
      ca: reader.required(tlsRaw, "ca", "etcd.tls", "/etc/pavise/etcd-ca.crt"),
      cert: reader.required(tlsRaw, "cert", "etcd.tls", "/etc/pavise/etcd-client.crt"),
      key: reader.required(tlsRaw, "key", "etcd.tls", "/etc/pavise/etcd-client.key"),
    };
    // etcd's authentication (etcdctl auth enable): who this client is, and its password's file.
    const user = reader.string(tlsRaw, "user", "etcd.tls", '"{node}"');
    const passwordFile = reader.string(
      tlsRaw,
      "password_file",
      "etcd.tls",
      "/etc/pavise/etcd/{node}.password",
    );
    if ((user === undefined) !== (passwordFile === undefined)) {
      const missing = user === undefined ? "user" : "password_file";
      reader.problem(
        `etcd.tls.${missing}`,
        undefined,
        "is missing: an etcd user needs both its name and the file holding its password",
        user === undefined
          ? 'add user: "{node}" (or the user\'s name)'
          : "add password_file: /etc/pavise/etcd/{node}.password",
      );
    }
    if (user !== undefined && passwordFile !== undefined) tls = { ...tls, user, passwordFile };
  }
  let prefix = reader.string(e, "prefix", "etcd", "/pavise/cluster1/") ?? defaultEtcdPrefix(clusterName);
  // A prefix is a directory of keys: "/pavise/c1" and "/pavise/c10" must not share keys.
  if (prefix !== "" && !prefix.endsWith("/")) prefix = `${prefix}/`;
  const leaderAwayFromPackages = reader.bool(e, "leader_away_from_packages", "etcd", true);
  return { endpoints, tls, prefix, leaderAwayFromPackages };
}

function readTiming(reader: RawReader, top: Raw): ClusterTiming {
  const t = reader.mapping(top.timing, "timing", "timing: { member_timeout: 2s }") ?? {};
  reader.known(t, TIMING_KEYS, "timing");
  const memberTimeoutMs = reader.duration(t, "member_timeout", "timing", {
    fallback: DEFAULT_MEMBER_TIMEOUT_MS,
    example: "2s",
  });
  const derived = defaultTiming(memberTimeoutMs);
  const eventLoopBudgetMs = reader.duration(t, "event_loop_budget", "timing", {
    fallback: derived.eventLoopBudgetMs,
    example: `${derived.eventLoopBudgetMs}ms`,
  });
  return {
    memberTimeoutMs,
    keepaliveIntervalMs: reader.duration(t, "keepalive_interval", "timing", {
      fallback: derived.keepaliveIntervalMs,
      example: `${derived.keepaliveIntervalMs}ms`,
    }),
    fenceAfterMs: reader.duration(t, "fence_after", "timing", {
      fallback: derived.fenceAfterMs,
      example: `${derived.fenceAfterMs}ms`,
    }),
    eventLoopBudgetMs,
    // The wait follows the budget the file chose (defaults.ts says why).
    addressInUseWaitMs: reader.duration(t, "address_in_use_wait", "timing", {
      fallback: eventLoopBudgetMs,
      example: `${eventLoopBudgetMs}ms`,
    }),
  };
}

function readArp(reader: RawReader, top: Raw): ArpConfig {
  const a = reader.mapping(top.arp, "arp", "arp: { count: 3, interval: 150ms }") ?? {};
  reader.known(a, ARP_KEYS, "arp");
  return {
    count: reader.integer(a, "count", "arp", DEFAULT_ARP.count, String(DEFAULT_ARP.count)),
    intervalMs: reader.duration(a, "interval", "arp", {
      fallback: DEFAULT_ARP.intervalMs,
      example: `${DEFAULT_ARP.intervalMs}ms`,
    }),
  };
}

function readSubnets(reader: RawReader, top: Raw): SubnetConfig[] {
  const list = reader.list(top, "subnets", "", "[{ name: public, cidr: 198.18.1.0/24 }]") ?? [];
  return list.map((entry, i): SubnetConfig => {
    const path = `subnets[${i}]`;
    const s = reader.mapping(entry, path, "{ name: public, cidr: 198.18.1.0/24 }") ?? {};
    reader.known(s, SUBNET_KEYS, path);
    return {
      name: reader.required(s, "name", path, "public"),
      cidr: reader.required(s, "cidr", path, "198.18.1.0/24"),
      heartbeat: reader.bool(s, "heartbeat", path, false),
    };
  });
}

function readNodes(reader: RawReader, top: Raw): NodeConfig[] {
  const example = "[{ name: n1, interfaces: [{ subnet: public, primary: lan0, standby: [lan1] }] }]";
  const list = reader.list(top, "nodes", "", example) ?? [];
  return list.map((entry, i): NodeConfig => {
    const path = `nodes[${i}]`;
    const n = reader.mapping(entry, path, "{ name: n1, interfaces: [...] }") ?? {};
    reader.known(n, NODE_KEYS, path);
    const name = reader.required(n, "name", path, "n1");
    const interfaces = (reader.list(n, "interfaces", path, "[{ subnet: public, primary: lan0 }]") ?? []).map(
      (raw, j): NodeInterface => {
        const at = `${path}.interfaces[${j}]`;
        const nic = reader.mapping(raw, at, "{ subnet: public, primary: lan0, standby: [lan1] }") ?? {};
        reader.known(nic, INTERFACE_KEYS, at);
        return {
          subnet: reader.required(nic, "subnet", at, "public"),
          primary: reader.required(nic, "primary", at, "lan0"),
          standby: reader.strings(nic, "standby", at, "[lan1]") ?? [],
        };
      },
    );
    return { name, interfaces };
  });
}
