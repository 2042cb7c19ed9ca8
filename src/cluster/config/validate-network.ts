import { isAbsolute } from "node:path";
import { formatIpv4, parseIpv4, parsePrefix, prefixesOverlap, type Ipv4Prefix } from "../../net/ipv4.js";
import { didYouMean } from "./did-you-mean.js";
import type { ClusterConfig, EtcdConfig } from "./model.js";
import { NAME_RULE, NIC_RULE, isName, isNicName } from "./names.js";
import type { ProblemList } from "./raw-reader.js";

/**
 * The cluster's own network: its name, etcd, the subnets and each node's interfaces on them
 * (NETWORK_INTERFACE, STANDBY_INTERFACE and HEARTBEAT_IP in Serviceguard's cluster file).
 */
export function validateNetwork(config: ClusterConfig, problems: ProblemList): SubnetPrefixes {
  if (!isName(config.name)) {
    problems.add(
      "name",
      config.name,
      `is not a valid cluster name: ${NAME_RULE}`,
      "write e.g. cluster_name: cluster1",
    );
  }
  validateEtcd(config.etcd, problems);
  const prefixes = validateSubnets(config, problems);
  validateNodes(config, prefixes, problems);
  return prefixes;
}

function validateEtcd(etcd: EtcdConfig, problems: ProblemList): void {
  if (etcd.endpoints.length === 0) {
    problems.add(
      "etcd.endpoints",
      etcd.endpoints,
      "lists no endpoint",
      "list every etcd member's client URL, e.g. [http://198.18.2.11:2379, http://198.18.2.12:2379]",
    );
  }
  const schemes = new Set<string>();
  etcd.endpoints.forEach((endpoint, i) => {
    const key = `etcd.endpoints[${i}]`;
    const url = parseUrl(endpoint);
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
      problems.add(key, endpoint, "is not an etcd client URL", "write e.g. http://198.18.2.11:2379");
      return;
    }
    if (url.port === "" || (url.pathname !== "/" && url.pathname !== "")) {
      problems.add(
        key,
        endpoint,
        "must be scheme://host:port with nothing after the port",
        `write ${url.protocol}//${url.hostname}:2379`,
      );
    }
    schemes.add(url.protocol);
    if (etcd.tls && url.protocol === "http:") {
      problems.add(
        key,
        endpoint,
        "is plain http, but etcd.tls is set",
        `write https://${url.host}, or remove etcd.tls`,
      );
    }
  });
  if (schemes.size > 1) {
    problems.add(
      "etcd.endpoints",
      etcd.endpoints,
      "mixes http and https",
      "every member of one etcd cluster serves clients the same way; use one scheme",
    );
  }
  if (etcd.tls) {
    for (const [field, key] of [
      ["ca", "ca"],
      ["cert", "cert"],
      ["key", "key"],
      ["passwordFile", "password_file"],
    ] as const) {
      const file = etcd.tls[field];
      if (file !== undefined && file !== "" && !isAbsolute(file)) {
        problems.add(
          `etcd.tls.${key}`,
          file,
          "must be an absolute path: every node reads this file, from wherever the daemon runs",
          `write e.g. /etc/pavise/${file.replace(/^(\.\/)+/, "")}`,
        );
      }
    }
  }
  if (!etcd.prefix.startsWith("/")) {
    problems.add("etcd.prefix", etcd.prefix, 'must start with "/"', `write prefix: /${etcd.prefix}`);
  }
}

export function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** Subnets by name, with their parsed prefix (undefined when the CIDR is wrong). */
export type SubnetPrefixes = Map<string, Ipv4Prefix | undefined>;

function validateSubnets(config: ClusterConfig, problems: ProblemList): SubnetPrefixes {
  const prefixes: SubnetPrefixes = new Map();
  const seen = new Map<string, number>();
  if (config.subnets.length === 0) {
    problems.add(
      "subnets",
      [],
      "lists no subnet",
      "add the LANs the nodes are on, e.g. [{ name: public, cidr: 198.18.1.0/24 }, { name: heartbeat, cidr: 198.18.2.0/24, heartbeat: yes }]",
    );
  }
  config.subnets.forEach((subnet, i) => {
    const key = `subnets[${i}]`;
    if (!isName(subnet.name)) {
      problems.add(
        `${key}.name`,
        subnet.name,
        `is not a valid subnet name: ${NAME_RULE}`,
        "write e.g. name: public",
      );
    } else if (seen.has(subnet.name)) {
      problems.add(
        `${key}.name`,
        subnet.name,
        `is used twice (also subnets[${seen.get(subnet.name)}])`,
        "give each subnet its own name",
      );
    } else {
      seen.set(subnet.name, i);
    }
    const prefix = parsePrefix(subnet.cidr);
    if (!prefix) {
      const hostBits = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(subnet.cidr);
      const address = hostBits ? parseIpv4(hostBits[1] ?? "") : undefined;
      const length = Number(hostBits?.[2]);
      const network =
        address !== undefined && length <= 32 ? `${networkOf(address, length)}/${length}` : undefined;
      problems.add(
        `${key}.cidr`,
        subnet.cidr,
        network
          ? "has host bits set: a subnet is written with its network address"
          : "is not an IPv4 network in CIDR form",
        network ? `write cidr: ${network}` : "write e.g. cidr: 198.18.1.0/24",
      );
    } else {
      for (const [other, otherPrefix] of prefixes) {
        if (otherPrefix && other !== subnet.name && prefixesOverlap(prefix, otherPrefix)) {
          problems.add(
            `${key}.cidr`,
            subnet.cidr,
            `overlaps subnet ${other}`,
            "give each subnet its own range",
          );
        }
      }
    }
    if (!prefixes.has(subnet.name)) prefixes.set(subnet.name, prefix);
    if (
      subnet.name !== "" &&
      !config.nodes.some((n) => n.interfaces.some((nic) => nic.subnet === subnet.name))
    ) {
      problems.add(
        key,
        subnet.name,
        "no node has an interface on it",
        `add { subnet: ${subnet.name}, primary: … } to the nodes' interfaces, or remove the subnet`,
      );
    }
  });
  return prefixes;
}

function networkOf(address: number, length: number): string {
  const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
  return formatIpv4((address & mask) >>> 0);
}

function validateNodes(config: ClusterConfig, prefixes: SubnetPrefixes, problems: ProblemList): void {
  const subnetNames = [...prefixes.keys()];
  const heartbeats = config.subnets.filter((s) => s.heartbeat).map((s) => s.name);
  const seen = new Map<string, number>();
  if (config.nodes.length === 0) {
    problems.add(
      "nodes",
      [],
      "lists no node",
      "add the cluster's nodes, e.g. [{ name: n1, interfaces: [{ subnet: public, primary: lan0 }] }]",
    );
  }
  config.nodes.forEach((node, i) => {
    const key = `nodes[${i}]`;
    if (!isName(node.name)) {
      problems.add(
        `${key}.name`,
        node.name,
        `is not a valid node name: ${NAME_RULE}`,
        "use the node's host name, e.g. n1",
      );
    } else if (seen.has(node.name)) {
      problems.add(
        `${key}.name`,
        node.name,
        `is used twice (also nodes[${seen.get(node.name)}])`,
        "give each node its own name",
      );
    } else {
      seen.set(node.name, i);
    }
    const nics = new Map<string, string>();
    const onSubnet = new Map<string, number>();
    node.interfaces.forEach((nic, j) => {
      const at = `${key}.interfaces[${j}]`;
      if (!prefixes.has(nic.subnet)) {
        problems.add(
          `${at}.subnet`,
          nic.subnet,
          `is not a subnet of this cluster${didYouMean(nic.subnet, subnetNames)}`,
          `use one of the subnets: ${subnetNames.join(", ") || "(none defined)"}`,
        );
      } else if (onSubnet.has(nic.subnet)) {
        problems.add(
          `${at}.subnet`,
          nic.subnet,
          `is listed twice for node ${node.name} (also interfaces[${onSubnet.get(nic.subnet)}])`,
          "give one entry per subnet, with one primary and its standby NICs",
        );
      }
      onSubnet.set(nic.subnet, j);
      const check = (nicName: string, nicKey: string, role: string): void => {
        if (!isNicName(nicName)) {
          problems.add(nicKey, nicName, `is not ${NIC_RULE}`, "write e.g. lan0");
          return;
        }
        const previous = nics.get(nicName);
        if (previous !== undefined) {
          problems.add(
            nicKey,
            nicName,
            `NIC ${nicName} of node ${node.name} is already used (${previous})`,
            "a NIC serves one subnet, once: give each role its own NIC",
          );
        } else {
          nics.set(nicName, `as ${role} on subnet ${nic.subnet}`);
        }
      };
      check(nic.primary, `${at}.primary`, "primary");
      nic.standby.forEach((standby, k) => check(standby, `${at}.standby[${k}]`, "standby"));
    });
    if (heartbeats.length > 0 && !node.interfaces.some((nic) => heartbeats.includes(nic.subnet))) {
      problems.add(
        `${key}.interfaces`,
        node.interfaces.map((nic) => nic.subnet),
        `node ${node.name || `#${i}`} has no interface on a heartbeat subnet (${heartbeats.join(", ")})`,
        `add { subnet: ${heartbeats[0]}, primary: hb0 } so it reaches etcd over the cluster's own LAN`,
      );
    }
  });
}
