import { isAbsolute } from "node:path";
import { parseIpv4, prefixContains } from "../../net/ipv4.js";
import { didYouMean } from "./did-you-mean.js";
import type { ClusterConfig, PackageConfig } from "./model.js";
import { NAME_RULE, isName } from "./names.js";
import { validatePackageIpsec } from "./validate-package-ipsec.js";
import type { ProblemList } from "./raw-reader.js";
import { durationRange } from "./duration-range.js";
import { parseUrl, type SubnetPrefixes } from "./validate-network.js";

/**
 * Each package on its own and against the others: names, node lists, priorities, relocatable
 * addresses, monitored subnets, services, generic resources and scripts (cmcheckconf's package
 * checks). Dependencies are validate-dependencies.ts; a package's ipsec: section is
 * validate-package-ipsec.ts.
 */
export function validatePackages(
  config: ClusterConfig,
  prefixes: SubnetPrefixes,
  problems: ProblemList,
): void {
  const seen = new Map<string, number>();
  const priorities = new Map<number, string>();
  const addresses: AddressContext["addresses"] = new Map();
  const etcdHosts = new Set(config.etcd.endpoints.map((e) => parseUrl(e)?.hostname));
  config.packages.forEach((pkg, i) => {
    const key = `packages[${i}]`;
    if (!isName(pkg.name)) {
      problems.add(
        `${key}.name`,
        pkg.name,
        `is not a valid package name: ${NAME_RULE}`,
        "write e.g. name: web",
      );
    } else if (seen.has(pkg.name)) {
      problems.add(
        `${key}.name`,
        pkg.name,
        `is used twice (also packages[${seen.get(pkg.name)}])`,
        "give each package its own name",
      );
    } else {
      seen.set(pkg.name, i);
    }
    validateNodeList(config, pkg, key, problems);
    validatePriority(pkg, key, priorities, problems);
    validateMultiNode(pkg, key, problems);
    validateAddresses(config, pkg, key, { prefixes, addresses, etcdHosts }, problems);
    validateParts(config, pkg, key, prefixes, problems);
    validatePackageIpsec(config, pkg, key, prefixes, problems);
  });
}

function validateNodeList(
  config: ClusterConfig,
  pkg: PackageConfig,
  key: string,
  problems: ProblemList,
): void {
  const known = [...new Set(config.nodes.map((n) => n.name))];
  if (pkg.nodes.length === 0) {
    problems.add(
      `${key}.node_name`,
      pkg.nodes,
      "lists no node",
      'list the nodes it may run on, or write node_name: ["*"]',
    );
  }
  const seen = new Set<string>();
  pkg.nodes.forEach((node, j) => {
    const at = `${key}.node_name[${j}]`;
    if (!known.includes(node)) {
      problems.add(
        at,
        node,
        `is not a node of this cluster${didYouMean(node, known)}`,
        `use node names from nodes: ${known.join(", ") || "(none defined)"}`,
      );
    } else if (seen.has(node)) {
      problems.add(at, node, "is listed twice", "list each node once, in order of preference");
    }
    seen.add(node);
  });
}

/** priority: 1 … 3000, unique in the cluster, for failover packages with configured_node. */
function validatePriority(
  pkg: PackageConfig,
  key: string,
  priorities: Map<number, string>,
  problems: ProblemList,
): void {
  if (pkg.priority === undefined) return;
  const at = `${key}.priority`;
  if (pkg.priority < 1 || pkg.priority > 3000) {
    problems.add(
      at,
      pkg.priority,
      "must be from 1 (highest) to 3000 (lowest), or no_priority",
      "write e.g. priority: 100",
    );
    return;
  }
  if (pkg.type === "multi_node" || pkg.failoverPolicy !== "configured_node") {
    problems.add(
      at,
      pkg.priority,
      "applies only to failover packages whose failover_policy is configured_node",
      "remove priority, or use failover_policy: configured_node",
    );
  }
  const other = priorities.get(pkg.priority);
  if (other !== undefined) {
    problems.add(
      at,
      pkg.priority,
      `is also the priority of package ${other}: priorities must be unique in the cluster`,
      "give each package its own priority (steps of 20 leave room for new ones)",
    );
  } else {
    priorities.set(pkg.priority, pkg.name);
  }
}

/** A multi-node package runs on all its nodes at once: nothing about it can move. */
function validateMultiNode(pkg: PackageConfig, key: string, problems: ProblemList): void {
  if (pkg.type !== "multi_node") return;
  if (pkg.addresses.length > 0) {
    problems.add(
      `${key}.ip_address`,
      pkg.addresses.map((a) => a.address),
      "a multi_node package runs on several nodes at once, and a relocatable address can be on only one",
      "move the addresses to a failover package (it may depend on this one), or use package_type: failover",
    );
  }
  if (pkg.failoverPolicy !== "configured_node") {
    problems.add(
      `${key}.failover_policy`,
      pkg.failoverPolicy,
      "a multi_node package does not fail over",
      "remove failover_policy",
    );
  }
  if (pkg.failbackPolicy !== "manual") {
    problems.add(
      `${key}.failback_policy`,
      pkg.failbackPolicy,
      "a multi_node package does not fail back",
      "remove failback_policy",
    );
  }
}

interface AddressContext {
  prefixes: SubnetPrefixes;
  /** Address → who has it already (for collisions between packages). */
  addresses: Map<number, { package: string; name: string; at: string }>;
  etcdHosts: Set<string | undefined>;
}

function validateAddresses(
  config: ClusterConfig,
  pkg: PackageConfig,
  key: string,
  context: AddressContext,
  problems: ProblemList,
): void {
  const subnetNames = [...context.prefixes.keys()];
  const checkedSubnets = new Set<string>();
  pkg.addresses.forEach((entry, j) => {
    const at = `${key}.ip_address[${j}]`;
    const address = parseIpv4(entry.address);
    if (address === undefined) {
      problems.add(
        `${at}.address`,
        entry.address,
        "is not an IPv4 address",
        "write e.g. address: 198.18.1.50",
      );
    }
    const subnet = config.subnets.find((s) => s.name === entry.subnet);
    if (!subnet) {
      problems.add(
        `${at}.subnet`,
        entry.subnet,
        `is not a subnet of this cluster${didYouMean(entry.subnet, subnetNames)}`,
        `use one of the subnets: ${subnetNames.join(", ") || "(none defined)"}`,
      );
    } else if (subnet.heartbeat) {
      problems.add(
        `${at}.subnet`,
        entry.subnet,
        "is a heartbeat subnet: it carries the cluster's own traffic, not relocatable addresses",
        "put the address on a data subnet (heartbeat: no)",
      );
    }
    const prefix = subnet ? context.prefixes.get(subnet.name) : undefined;
    if (address !== undefined && prefix) {
      const size = 2 ** (32 - prefix.length);
      if (!prefixContains(prefix, address)) {
        problems.add(
          `${at}.address`,
          entry.address,
          `is not inside subnet ${entry.subnet} (${subnet?.cidr})`,
          `use a free address in ${subnet?.cidr}, or the subnet this address belongs to`,
        );
      } else if (
        prefix.length <= 30 &&
        (address === prefix.network || address === prefix.network + size - 1)
      ) {
        problems.add(
          `${at}.address`,
          entry.address,
          `is the ${address === prefix.network ? "network" : "broadcast"} address of ${subnet?.cidr}`,
          "use a host address of the subnet",
        );
      }
    }
    if (address !== undefined) {
      const owner = context.addresses.get(address);
      if (owner?.package === key) {
        problems.add(`${at}.address`, entry.address, `is listed twice (also ${owner.at})`, "list it once");
      } else if (owner !== undefined) {
        problems.add(
          `${at}.address`,
          entry.address,
          `is already used by package ${owner.name} (${owner.at}): two packages would hold one address`,
          "give each package its own addresses",
        );
      } else {
        context.addresses.set(address, { package: key, name: pkg.name, at });
      }
      if (context.etcdHosts.has(entry.address)) {
        problems.add(
          `${at}.address`,
          entry.address,
          "is the address of an etcd endpoint: a node's own address cannot relocate",
          "use a free address",
        );
      }
    }
    if (subnet && !checkedSubnets.has(subnet.name)) {
      checkedSubnets.add(subnet.name);
      missingInterfaces(config, pkg, subnet.name, `${at}.subnet`, problems);
    }
  });
}

/** Nodes in the package's node list that have no interface on a subnet it needs. */
function missingInterfaces(
  config: ClusterConfig,
  pkg: PackageConfig,
  subnet: string,
  key: string,
  problems: ProblemList,
): void {
  const missing = pkg.nodes.filter((name) => {
    const node = config.nodes.find((n) => n.name === name);
    return node !== undefined && !node.interfaces.some((nic) => nic.subnet === subnet);
  });
  if (missing.length === 0) return;
  const nodes = missing.join(", ");
  problems.add(
    key,
    subnet,
    `node${missing.length > 1 ? "s" : ""} ${nodes} in node_name ha${missing.length > 1 ? "ve" : "s"} no interface on subnet ${subnet}`,
    `add an interface on ${subnet} to ${nodes}, or take ${missing.length > 1 ? "them" : "it"} out of node_name`,
  );
}

function validateParts(
  config: ClusterConfig,
  pkg: PackageConfig,
  key: string,
  prefixes: SubnetPrefixes,
  problems: ProblemList,
): void {
  const subnetNames = [...prefixes.keys()];
  const monitored = new Set<string>();
  pkg.monitoredSubnets.forEach((subnet, j) => {
    const at = `${key}.monitored_subnet[${j}]`;
    if (!prefixes.has(subnet)) {
      problems.add(
        at,
        subnet,
        `is not a subnet of this cluster${didYouMean(subnet, subnetNames)}`,
        `use one of the subnets: ${subnetNames.join(", ") || "(none defined)"}`,
      );
    } else if (monitored.has(subnet)) {
      problems.add(at, subnet, "is listed twice", "list each monitored subnet once");
    } else {
      missingInterfaces(config, pkg, subnet, at, problems);
    }
    monitored.add(subnet);
  });

  const services = new Set<string>();
  pkg.services.forEach((service, j) => {
    const at = `${key}.services[${j}]`;
    uniqueName(service.name, `${at}.name`, services, "service", problems);
    if (service.command.trim() === "") {
      problems.add(`${at}.command`, service.command, "is blank", "write the command to run");
    }
    if (typeof service.restarts === "number" && service.restarts < 0) {
      problems.add(
        `${at}.restart`,
        service.restarts,
        "cannot be negative",
        "write restart: none, a count, or unlimited",
      );
    }
    durationRange(service.restartDelayMs, `${at}.restart_delay`, 0, 3_600_000, "1s", problems);
    durationRange(service.haltTimeoutMs, `${at}.halt_timeout`, 0, 3_600_000, "10s", problems);
  });

  const resources = new Set<string>();
  pkg.resources.forEach((resource, j) => {
    const at = `${key}.generic_resources[${j}]`;
    uniqueName(resource.name, `${at}.name`, resources, "generic resource", problems);
    if (resource.monitor) {
      if (resource.monitor.command.trim() === "") {
        problems.add(
          `${at}.monitor.command`,
          resource.monitor.command,
          "is blank",
          "write the command that checks it",
        );
      }
      durationRange(resource.monitor.intervalMs, `${at}.monitor.interval`, 100, 86_400_000, "10s", problems);
    }
  });

  for (const [field, script] of [
    ["start_script", pkg.startScript],
    ["halt_script", pkg.haltScript],
  ] as const) {
    if (!script) continue;
    if (script.command.trim() === "") {
      problems.add(
        `${key}.${field}.command`,
        script.command,
        "is blank",
        `write the command, e.g. /etc/pavise/${pkg.name || "pkg"}.sh`,
      );
    }
    durationRange(script.timeoutMs, `${key}.${field}.timeout`, 1, 86_400_000, "60s", problems);
  }
  if (pkg.logFile !== undefined && !isAbsolute(pkg.logFile)) {
    problems.add(
      `${key}.log_file`,
      pkg.logFile,
      "must be an absolute path: it is a file on whichever node runs the package",
      `write e.g. log_file: /var/log/pavise/${pkg.name || "pkg"}.log`,
    );
  }
}

function uniqueName(name: string, key: string, seen: Set<string>, what: string, problems: ProblemList): void {
  if (!isName(name)) {
    problems.add(key, name, `is not a valid ${what} name: ${NAME_RULE}`, "write e.g. name: httpd");
  } else if (seen.has(name)) {
    problems.add(key, name, `is used twice in this package`, `give each ${what} its own name`);
  }
  seen.add(name);
}
