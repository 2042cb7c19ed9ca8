import {
  DEFAULT_SCRIPT_TIMEOUT_MS,
  PACKAGE_DEFAULTS,
  RESOURCE_DEFAULTS,
  SERVICE_DEFAULTS,
} from "./defaults.js";
import type {
  GenericResourceConfig,
  PackageConfig,
  PackageDependency,
  RelocatableAddress,
  ScriptConfig,
  ServiceConfig,
} from "./model.js";
import { keyPath, type Raw, type RawReader } from "./raw-reader.js";
import { readPackageAccess } from "./read-api.js";
import { readPackageIpsec } from "./read-package-ipsec.js";

/** The packages of a cluster file: keys and types as cmmakepkg names them, defaults from defaults.ts. */
const PACKAGE_KEYS = [
  "package_name",
  "name",
  "package_type",
  "node_name",
  "auto_run",
  "failover_policy",
  "failback_policy",
  "priority",
  "dependencies",
  "ip_address",
  "monitored_subnet",
  "services",
  "generic_resources",
  "start_script",
  "halt_script",
  "node_fail_fast",
  "log_file",
  "ipsec",
  "access",
];
const DEPENDENCY_KEYS = ["name", "package", "condition", "location"];
const ADDRESS_KEYS = ["address", "subnet"];
const SERVICE_KEYS = ["name", "command", "restart", "restart_delay", "halt_timeout", "fail_fast"];
const RESOURCE_KEYS = ["name", "monitor", "initial"];
const MONITOR_KEYS = ["command", "interval"];
const SCRIPT_KEYS = ["command", "timeout"];

export function readPackages(
  reader: RawReader,
  top: Raw,
  nodeNames: string[],
  aliases: Map<string, string>,
): PackageConfig[] {
  const list = reader.list(top, "packages", "", "[{ name: web, node_name: [n1, n2] }]") ?? [];
  return list.map((entry, i) => readPackage(reader, entry, `packages[${i}]`, nodeNames, aliases));
}

function readPackage(
  reader: RawReader,
  entry: unknown,
  path: string,
  nodeNames: string[],
  aliases: Map<string, string>,
): PackageConfig {
  const p = reader.mapping(entry, path, "{ name: web, node_name: [n1, n2] }") ?? {};
  reader.known(p, PACKAGE_KEYS, path);
  const nameKey = reader.either(p, ["package_name", "name"], path);
  if (nameKey.key !== "name") aliases.set(`${path}.name`, `${path}.${nameKey.key}`);
  const type = readType(reader, p, path);
  const name = reader.required({ [nameKey.key]: nameKey.value }, nameKey.key, path, "web");
  const addresses = (
    reader.list(p, "ip_address", path, "[{ address: 198.18.1.50, subnet: public }]") ?? []
  ).map((raw, j) => readAddress(reader, raw, `${path}.ip_address[${j}]`));
  const ipsec = readPackageIpsec(reader, p.ipsec, keyPath(path, "ipsec"), name, addresses);
  const access = readPackageAccess(reader, p, path);
  return {
    name,
    type,
    nodes: readNodeNames(reader, p, path, nodeNames),
    autoRun: reader.bool(p, "auto_run", path, PACKAGE_DEFAULTS.autoRun),
    failoverPolicy: reader.choice(
      p,
      "failover_policy",
      path,
      ["configured_node", "min_package_node"] as const,
      PACKAGE_DEFAULTS.failoverPolicy,
    ),
    failbackPolicy: reader.choice(
      p,
      "failback_policy",
      path,
      ["manual", "automatic"] as const,
      PACKAGE_DEFAULTS.failbackPolicy,
    ),
    priority: readPriority(reader, p, path),
    dependencies: (reader.list(p, "dependencies", path, "[{ package: db }]") ?? []).map((raw, j) =>
      readDependency(reader, raw, `${path}.dependencies[${j}]`),
    ),
    addresses,
    monitoredSubnets: reader.strings(p, "monitored_subnet", path, "[public]") ?? [],
    services: (reader.list(p, "services", path, "[{ name: httpd, command: … }]") ?? []).map((raw, j) =>
      readService(reader, raw, `${path}.services[${j}]`),
    ),
    resources: (reader.list(p, "generic_resources", path, "[{ name: sfp }]") ?? []).map((raw, j) =>
      readResource(reader, raw, `${path}.generic_resources[${j}]`),
    ),
    startScript: readScript(reader, p, "start_script", path),
    haltScript: readScript(reader, p, "halt_script", path),
    nodeFailFast: reader.bool(p, "node_fail_fast", path, PACKAGE_DEFAULTS.nodeFailFast),
    logFile: reader.string(p, "log_file", path, "/var/log/pavise/web.log"),
    ...(ipsec ? { ipsec } : {}),
    ...(access ? { access } : {}),
  };
}

function readType(reader: RawReader, p: Raw, path: string): PackageConfig["type"] {
  if (p.package_type === "system_multi_node") {
    reader.problem(
      keyPath(path, "package_type"),
      p.package_type,
      "system multi-node packages are not supported",
      "use package_type: multi_node",
    );
    return "multi_node";
  }
  return reader.choice(p, "package_type", path, ["failover", "multi_node"] as const, PACKAGE_DEFAULTS.type);
}

/** node_name: names in order of preference, or "*" (alone) for every node in file order. */
function readNodeNames(reader: RawReader, p: Raw, path: string, nodeNames: string[]): string[] {
  const names = reader.strings(p, "node_name", path, "[n1, n2]") ?? [PACKAGE_DEFAULTS.nodes];
  const star = names.indexOf("*");
  if (star === -1) return names;
  if (names.length > 1) {
    reader.problem(
      Array.isArray(p.node_name) ? `${path}.node_name[${star}]` : `${path}.node_name`,
      "*",
      '"*" stands for every node and must be the only entry',
      'write node_name: ["*"] or list the nodes in order of preference',
    );
  }
  return [...new Set(nodeNames)];
}

/** priority: 1 (highest) … 3000, or no_priority. */
function readPriority(reader: RawReader, p: Raw, path: string): number | undefined {
  const value = p.priority;
  if (value === undefined || value === null || value === "no_priority") return undefined;
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  reader.problem(
    keyPath(path, "priority"),
    value,
    "must be a whole number from 1 (highest) to 3000, or no_priority",
    "write e.g. priority: 100",
  );
  return undefined;
}

function readDependency(reader: RawReader, raw: unknown, path: string): PackageDependency {
  const d = reader.mapping(raw, path, "{ package: db, condition: up, location: same_node }") ?? {};
  reader.known(d, DEPENDENCY_KEYS, path);
  const pkg = reader.required(d, "package", path, "db");
  const condition = reader.choice(d, "condition", path, ["up", "down"] as const, "up");
  // Serviceguard's all_nodes (a DOWN dependency meant cluster-wide) is any_node in the model.
  let location: PackageDependency["location"];
  if (d.location === "all_nodes") {
    location = "any_node";
    if (condition === "up") {
      reader.problem(
        keyPath(path, "location"),
        d.location,
        "all_nodes is for condition down (the other package down everywhere)",
        "write location: any_node for an up dependency",
      );
    }
  } else {
    location = reader.choice(
      d,
      "location",
      path,
      ["same_node", "different_node", "any_node", "all_nodes"] as const,
      "same_node",
    ) as PackageDependency["location"];
  }
  return { name: reader.string(d, "name", path, "db_up") ?? pkg, package: pkg, condition, location };
}

function readAddress(reader: RawReader, raw: unknown, path: string): RelocatableAddress {
  const a = reader.mapping(raw, path, "{ address: 198.18.1.50, subnet: public }") ?? {};
  reader.known(a, ADDRESS_KEYS, path);
  return {
    address: reader.required(a, "address", path, "198.18.1.50"),
    subnet: reader.required(a, "subnet", path, "public"),
  };
}

function readService(reader: RawReader, raw: unknown, path: string): ServiceConfig {
  const s = reader.mapping(raw, path, "{ name: httpd, command: /usr/sbin/httpd -f }") ?? {};
  reader.known(s, SERVICE_KEYS, path);
  return {
    name: reader.required(s, "name", path, "httpd"),
    command: reader.required(s, "command", path, "/usr/sbin/httpd -f"),
    restarts: readRestarts(reader, s, path),
    restartDelayMs: reader.duration(s, "restart_delay", path, {
      fallback: SERVICE_DEFAULTS.restartDelayMs,
      example: "1s",
    }),
    haltTimeoutMs: reader.duration(s, "halt_timeout", path, {
      fallback: SERVICE_DEFAULTS.haltTimeoutMs,
      example: "10s",
    }),
    failFast: reader.bool(s, "fail_fast", path, SERVICE_DEFAULTS.failFast),
  };
}

/** service_restart: none, unlimited or a count. */
function readRestarts(reader: RawReader, s: Raw, path: string): ServiceConfig["restarts"] {
  const value = s.restart;
  if (value === undefined || value === null || value === "none") return SERVICE_DEFAULTS.restarts;
  if (value === "unlimited") return "unlimited";
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  reader.problem(
    keyPath(path, "restart"),
    value,
    "must be none, unlimited or a number of restarts",
    "write e.g. restart: 3",
  );
  return SERVICE_DEFAULTS.restarts;
}

function readResource(reader: RawReader, raw: unknown, path: string): GenericResourceConfig {
  const r = reader.mapping(raw, path, "{ name: sfp, monitor: { command: …, interval: 10s } }") ?? {};
  reader.known(r, RESOURCE_KEYS, path);
  const name = reader.required(r, "name", path, "sfp");
  const m = reader.mapping(
    r.monitor,
    `${path}.monitor`,
    "monitor: { command: /usr/local/bin/check, interval: 10s }",
  );
  let monitor: GenericResourceConfig["monitor"];
  if (m) {
    const at = `${path}.monitor`;
    reader.known(m, MONITOR_KEYS, at);
    monitor = {
      command: reader.required(m, "command", at, "/usr/local/bin/check-sfp"),
      intervalMs: reader.duration(m, "interval", at, {
        fallback: RESOURCE_DEFAULTS.monitorIntervalMs,
        example: "10s",
      }),
    };
  }
  return {
    name,
    monitor,
    initial: reader.choice(r, "initial", path, ["up", "down"] as const, RESOURCE_DEFAULTS.initial),
  };
}

/** start_script / halt_script: { command, timeout }, or just the command. */
function readScript(reader: RawReader, p: Raw, key: string, path: string): ScriptConfig | undefined {
  const value = p[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return { command: value, timeoutMs: DEFAULT_SCRIPT_TIMEOUT_MS };
  const at = keyPath(path, key);
  const s = reader.mapping(value, at, `${key}: { command: /etc/pavise/web.sh, timeout: 60s }`);
  if (!s) return undefined;
  reader.known(s, SCRIPT_KEYS, at);
  return {
    command: reader.required(s, "command", at, "/etc/pavise/web.sh"),
    timeoutMs: reader.duration(s, "timeout", at, { fallback: DEFAULT_SCRIPT_TIMEOUT_MS, example: "60s" }),
  };
}
