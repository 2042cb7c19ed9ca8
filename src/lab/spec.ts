import { readYaml } from "../config/yaml.js";
import { type ConfigProblem, PaviseError } from "../util/errors.js";
import { LAB_RANGE, parsePrefix, prefixesOverlap, formatPrefix } from "../net/ipv4.js";

/**
 * What a lab is made of, as written in a lab file (YAML, snake_case keys) or built in code.
 * `planLab` (plan.ts) turns it into concrete namespaces, links and addresses.
 */
export interface LabSpec {
  /** Prefix of every namespace the lab makes; keeps labs apart. */
  name: string;
  subnets: SubnetSpec[];
  /** Cluster nodes: a primary and a standby NIC per data subnet, one NIC on each heartbeat subnet. */
  nodes: string[];
  /** Client hosts: one NIC on each data subnet. */
  clients: string[];
  etcd: EtcdSpec;
}

export interface SubnetSpec {
  name: string;
  cidr: string;
  /** A heartbeat subnet carries cluster traffic (etcd); clients are not on it. */
  heartbeat: boolean;
}

export interface EtcdSpec {
  /** Nodes that run an etcd member; empty for a lab without etcd. */
  members: string[];
  /** Client and peer TLS with certificates from a lab CA. */
  tls: boolean;
  /**
   * etcd's authentication (needs tls): once the members are healthy, the lab adds a root user,
   * the roles pavise-node, pavise-operator and pavise-monitor on the key prefix of a cluster
   * named after the lab, a user per node and the users operator and monitor, and runs
   * `etcdctl auth enable` (etcd-auth.ts).
   */
  auth: boolean;
  /** etcd --heartbeat-interval; FACTS.md: 50 ms lets etcd grant 1 s leases. */
  heartbeatIntervalMs: number;
  /** etcd --election-timeout; at least 5 × the heartbeat interval (etcd refuses less). */
  electionTimeoutMs: number;
  /**
   * etcd --pre-vote (off by default in etcd 3.4, on in the lab): a member that lost touch first asks whether it
   * could win before it starts an election, so one that merely missed heartbeats does not
   * depose a working leader (Raft thesis §9.6).
   */
  preVote: boolean;
}

/**
 * Where the lab's etcd members run: on the package nodes themselves, or on three hosts of their
 * own (q1–q3) that run no packages — like Serviceguard's quorum server on a separate system, so
 * a package node's crash never takes etcd's leader with it.
 */
export type EtcdPlacement = "colocated" | "separate";

export const SEPARATE_ETCD_HOSTS = ["q1", "q2", "q3"];

export const DEFAULT_LAB_NAME = "pavise";

/**
 * The default topology: 3 nodes, 2 clients, a public and a heartbeat LAN, 3 etcd members on the
 * nodes. With etcdPlacement "separate" the members run on q1–q3 instead, lab nodes with the same
 * NICs that a cluster file leaves out (labs/separate-etcd.yaml).
 */
export function defaultLabSpec(
  options: {
    name?: string;
    etcd?: boolean;
    etcdTls?: boolean;
    etcdAuth?: boolean;
    etcdPlacement?: EtcdPlacement;
  } = {},
): LabSpec {
  const packageNodes = ["n1", "n2", "n3"];
  const separate = options.etcdPlacement === "separate";
  const nodes = separate ? [...packageNodes, ...SEPARATE_ETCD_HOSTS] : packageNodes;
  return {
    name: options.name ?? DEFAULT_LAB_NAME,
    subnets: [
      { name: "public", cidr: "198.18.1.0/24", heartbeat: false },
      { name: "heartbeat", cidr: "198.18.2.0/24", heartbeat: true },
    ],
    nodes,
    clients: ["c1", "c2"],
    etcd: {
      members: options.etcd === false ? [] : separate ? SEPARATE_ETCD_HOSTS : nodes,
      tls: options.etcdTls ?? false,
      auth: options.etcdAuth ?? false,
      heartbeatIntervalMs: 50,
      electionTimeoutMs: 500,
      preVote: true,
    },
  };
}

const LAB_NAME = /^[a-z][a-z0-9]{0,11}$/;
// Switch ports are named "<host>-<nic>" and must fit Linux's 15-character interface names.
const HOST_NAME = /^[a-z][a-z0-9]{0,8}$/;
// Bridges are named "br-<subnet>".
const SUBNET_NAME = /^[a-z][a-z0-9]{0,11}$/;
export const MAX_HOSTS_PER_KIND = 16;
const RESERVED_HOST_NAMES = new Set(["switch"]);

type Raw = Record<string, unknown>;

function isRecord(value: unknown): value is Raw {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Collects problems with their key paths while a lab file is read. */
class ProblemList {
  readonly items: ConfigProblem[] = [];
  constructor(private readonly file: string | undefined) {}
  add(key: string, value: unknown, message: string, hint: string): void {
    this.items.push({ ...(this.file ? { file: this.file } : {}), key, value, message, hint });
  }
}

function unknownKeys(raw: Raw, allowed: readonly string[], path: string, problems: ProblemList): void {
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) {
      const at = path ? `${path}.${key}` : key;
      problems.add(at, raw[key], "unknown key", `remove it or use one of: ${allowed.join(", ")}`);
    }
  }
}

function readNameList(raw: Raw, key: string, fallback: string[], problems: ProblemList): string[] {
  const value = raw[key];
  if (value === undefined) return fallback;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    problems.add(key, value, "must be a list of host names", `write e.g. ${key}: [${fallback.join(", ")}]`);
    return [];
  }
  return value as string[];
}

function readPositiveInt(
  raw: Raw,
  key: string,
  path: string,
  fallback: number,
  problems: ProblemList,
): number {
  const value = raw[key];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    problems.add(
      `${path}.${key}`,
      value,
      "must be a positive whole number of milliseconds",
      `e.g. ${fallback}`,
    );
    return fallback;
  }
  return value;
}

/** Reads a lab file's parsed YAML into a LabSpec, reporting every problem at once. */
export function labSpecFromObject(raw: unknown, file?: string): LabSpec {
  const problems = new ProblemList(file);
  const defaults = defaultLabSpec();
  if (!isRecord(raw)) {
    throw new PaviseError("LAB_CONFIG_INVALID", "a lab file must be a YAML mapping", {
      where: file ? { file } : {},
      hint: "start from labs/default.yaml",
    });
  }
  unknownKeys(raw, ["name", "subnets", "nodes", "clients", "etcd"], "", problems);

  const name = raw.name === undefined ? defaults.name : raw.name;
  if (typeof name !== "string") problems.add("name", name, "must be a string", "e.g. name: pavise");

  let subnets = defaults.subnets;
  if (raw.subnets !== undefined) {
    if (!Array.isArray(raw.subnets)) {
      problems.add("subnets", raw.subnets, "must be a list", "see labs/default.yaml");
      subnets = [];
    } else {
      subnets = raw.subnets.map((entry: unknown, i): SubnetSpec => {
        const path = `subnets[${i}]`;
        if (!isRecord(entry)) {
          problems.add(
            path,
            entry,
            "must be a mapping with name and cidr",
            "e.g. { name: public, cidr: 198.18.1.0/24 }",
          );
          return { name: "", cidr: "", heartbeat: false };
        }
        unknownKeys(entry, ["name", "cidr", "heartbeat"], path, problems);
        const heartbeat = entry.heartbeat ?? false;
        if (typeof heartbeat !== "boolean")
          problems.add(`${path}.heartbeat`, heartbeat, "must be true or false", "heartbeat: true");
        return {
          name: typeof entry.name === "string" ? entry.name : String(entry.name),
          cidr: typeof entry.cidr === "string" ? entry.cidr : String(entry.cidr),
          heartbeat: heartbeat === true,
        };
      });
    }
  }

  const nodes = readNameList(raw, "nodes", defaults.nodes, problems);
  const clients = readNameList(raw, "clients", defaults.clients, problems);

  let etcd: EtcdSpec = { ...defaults.etcd, members: nodes };
  if (raw.etcd !== undefined) {
    if (!isRecord(raw.etcd)) {
      problems.add("etcd", raw.etcd, "must be a mapping", "e.g. etcd: { members: [n1, n2, n3] }");
    } else {
      const e = raw.etcd;
      unknownKeys(
        e,
        ["members", "tls", "auth", "heartbeat_interval_ms", "election_timeout_ms", "pre_vote"],
        "etcd",
        problems,
      );
      const members = e.members === undefined ? nodes : e.members;
      if (!Array.isArray(members) || members.some((m) => typeof m !== "string")) {
        problems.add("etcd.members", members, "must be a list of node names", "e.g. members: [n1, n2, n3]");
      }
      for (const key of ["tls", "auth", "pre_vote"] as const) {
        if (e[key] !== undefined && typeof e[key] !== "boolean") {
          problems.add(`etcd.${key}`, e[key], "must be true or false", `${key}: true`);
        }
      }
      etcd = {
        members: Array.isArray(members) ? members.filter((m): m is string => typeof m === "string") : [],
        tls: e.tls === true,
        auth: e.auth === true,
        heartbeatIntervalMs: readPositiveInt(
          e,
          "heartbeat_interval_ms",
          "etcd",
          defaults.etcd.heartbeatIntervalMs,
          problems,
        ),
        electionTimeoutMs: readPositiveInt(
          e,
          "election_timeout_ms",
          "etcd",
          defaults.etcd.electionTimeoutMs,
          problems,
        ),
        preVote: e.pre_vote !== false,
      };
    }
  }

  const spec: LabSpec = { name: typeof name === "string" ? name : "", subnets, nodes, clients, etcd };
  for (const problem of validateLabSpec(spec)) problems.items.push({ ...(file ? { file } : {}), ...problem });
  if (problems.items.length > 0) throw invalid(problems.items, file);
  return spec;
}

/** Parses the text of a lab file (YAML). */
export function parseLabSpec(text: string, file?: string): LabSpec {
  return labSpecFromObject(readYaml(text, file, "LAB_CONFIG_INVALID") ?? {}, file);
}

function invalid(problems: ConfigProblem[], file: string | undefined): PaviseError {
  const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
  return new PaviseError("LAB_CONFIG_INVALID", `lab configuration has ${count}`, {
    where: file ? { file } : {},
    problems,
  });
}

/**
 * Checks a spec made in code or read from a file: names that fit interface names, subnets inside
 * 198.18.0.0/15 that do not overlap, hosts that exist, etcd timing etcd accepts.
 */
export function validateLabSpec(spec: LabSpec): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (key: string, value: unknown, message: string, hint: string): void => {
    problems.push({ key, value, message, hint });
  };
  if (!LAB_NAME.test(spec.name)) {
    add(
      "name",
      spec.name,
      "must be 1–12 lower-case letters or digits, starting with a letter",
      "e.g. name: pavise",
    );
  }
  const seenSubnets = new Set<string>();
  const prefixes: { name: string; key: string; prefix: ReturnType<typeof parsePrefix> }[] = [];
  spec.subnets.forEach((subnet, i) => {
    const key = `subnets[${i}]`;
    if (!SUBNET_NAME.test(subnet.name)) {
      add(
        `${key}.name`,
        subnet.name,
        "must be 1–12 lower-case letters or digits, starting with a letter",
        "e.g. name: public",
      );
    } else if (seenSubnets.has(subnet.name)) {
      add(`${key}.name`, subnet.name, "is used twice", "give each subnet its own name");
    }
    seenSubnets.add(subnet.name);
    const prefix = parsePrefix(subnet.cidr);
    if (!prefix) {
      add(
        `${key}.cidr`,
        subnet.cidr,
        "is not an IPv4 network in CIDR form",
        "e.g. cidr: 198.18.1.0/24 (no host bits set)",
      );
      return;
    }
    if (prefix.length < LAB_RANGE.length || !prefixesOverlap(prefix, LAB_RANGE)) {
      add(
        `${key}.cidr`,
        subnet.cidr,
        `is outside ${formatPrefix(LAB_RANGE)}, the only range the lab may use`,
        "pick a subnet inside 198.18.0.0/15, e.g. 198.18.3.0/24",
      );
    } else if (prefix.length > 25) {
      add(
        `${key}.cidr`,
        subnet.cidr,
        "is too small: nodes get .11 upwards and clients .101 upwards",
        "use a /25 or larger (e.g. /24)",
      );
    }
    for (const other of prefixes) {
      if (other.prefix && prefixesOverlap(other.prefix, prefix)) {
        add(
          `${key}.cidr`,
          subnet.cidr,
          `overlaps ${other.key} (${other.name})`,
          "give each subnet its own range",
        );
      }
    }
    prefixes.push({ name: subnet.name, key, prefix });
  });
  if (!spec.subnets.some((s) => !s.heartbeat)) {
    add(
      "subnets",
      spec.subnets.map((s) => s.name),
      "needs at least one data subnet (heartbeat: false)",
      "add e.g. { name: public, cidr: 198.18.1.0/24 }",
    );
  }

  const hosts = new Set<string>();
  for (const [kind, list] of [
    ["nodes", spec.nodes],
    ["clients", spec.clients],
  ] as const) {
    if (list.length > MAX_HOSTS_PER_KIND) {
      add(
        kind,
        list.length,
        `at most ${MAX_HOSTS_PER_KIND} ${kind} fit the address plan`,
        `list ${MAX_HOSTS_PER_KIND} or fewer`,
      );
    }
    list.forEach((host, i) => {
      const key = `${kind}[${i}]`;
      if (!HOST_NAME.test(host) || RESERVED_HOST_NAMES.has(host)) {
        add(
          key,
          host,
          "must be 1–9 lower-case letters or digits, starting with a letter (not 'switch')",
          "e.g. n1 or c1",
        );
      } else if (hosts.has(host)) {
        add(key, host, "is used twice", "give each host its own name");
      }
      hosts.add(host);
    });
  }
  if (spec.nodes.length === 0)
    add("nodes", spec.nodes, "a lab needs at least one node", "e.g. nodes: [n1, n2, n3]");

  spec.etcd.members.forEach((member, i) => {
    if (!spec.nodes.includes(member)) {
      add(
        `etcd.members[${i}]`,
        member,
        "is not one of the nodes",
        `use node names: ${spec.nodes.join(", ")}`,
      );
    }
  });
  if (spec.etcd.auth && !spec.etcd.tls) {
    problems.push({
      key: "etcd.auth",
      value: true,
      message:
        "needs tls: true: etcd users prove who they are with a password, which must not cross the LAN in clear",
      hint: "add tls: true to etcd",
    });
  }
  if (spec.etcd.electionTimeoutMs < 5 * spec.etcd.heartbeatIntervalMs) {
    add(
      "etcd.election_timeout_ms",
      spec.etcd.electionTimeoutMs,
      "etcd needs an election timeout of at least 5 × the heartbeat interval",
      `set it to ${10 * spec.etcd.heartbeatIntervalMs} or more`,
    );
  }
  return problems;
}
