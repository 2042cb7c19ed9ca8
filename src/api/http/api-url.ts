import type { ClusterConfig } from "../../cluster/config/model.js";
import { parseIpv4, parsePrefix, prefixContains } from "../../net/ipv4.js";
import { splitAddress } from "./api-server.js";

/**
 * The URL the other nodes and the console use to reach this node's API (its node record's
 * `apiUrl`, design §2 owner proxy, §8 "connection lost"). A listener on a named address is that
 * address. A wildcard listener (0.0.0.0) is reached at this node's own address on a heartbeat
 * subnet — the network the nodes share for the cluster's own traffic — else on the first subnet
 * the node is on. Undefined when the node has no address on any subnet of its configuration.
 * Pure: the node's addresses are given.
 */
export function apiUrlFor(
  config: ClusterConfig,
  node: string,
  localAddresses: readonly string[],
): string | undefined {
  const first = config.api?.listen[0];
  if (first === undefined) return undefined;
  const { host, port } = splitAddress(first);
  if (host !== "0.0.0.0" && host !== "::" && host !== "") return `https://${host}:${port}`;
  const own = config.nodes.find((n) => n.name === node);
  if (!own) return undefined;
  const subnets = own.interfaces
    .map((i) => config.subnets.find((s) => s.name === i.subnet))
    .filter((s) => s !== undefined);
  const ordered = [...subnets.filter((s) => s.heartbeat), ...subnets.filter((s) => !s.heartbeat)];
  for (const subnet of ordered) {
    const prefix = parsePrefix(subnet.cidr);
    if (!prefix) continue;
    const address = localAddresses.find((a) => {
      const parsed = parseIpv4(a);
      return parsed !== undefined && prefixContains(prefix, parsed);
    });
    if (address !== undefined) return `https://${address}:${port}`;
  }
  return undefined;
}
