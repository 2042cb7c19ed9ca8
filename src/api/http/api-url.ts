import { BlockList, isIP } from "node:net";
import type { SubnetConfig } from "../../cluster/config/model.js";

/** One of this host's addresses, as os.networkInterfaces() gives them. */
export interface LocalAddress {
  address: string;
  /** "IPv4" or "IPv6". */
  family: string;
  internal: boolean;
}

/**
 * The URL the other nodes and the console reach this node's API at, published in its node
 * record (design §2 owner proxy, §8 "other nodes' console URLs"). Pure.
 *
 * The port is the first `api.listen` entry's. Its host when that names one (an address or a
 * name); when it listens on every address (0.0.0.0, ::), this node's own address on a
 * heartbeat subnet: those carry no package addresses, so the choice cannot be an address that
 * moves to another node (a package's ip_address on a public subnet would). Undefined when there
 * is none: better no URL than a wrong one.
 */
export function apiUrlFor(
  listen: readonly string[],
  subnets: readonly SubnetConfig[],
  addresses: readonly LocalAddress[],
): string | undefined {
  const first = listen[0];
  if (first === undefined) return undefined;
  const match = /^\[?([^\]]*)\]?:(\d+)$/.exec(first);
  if (!match) return undefined;
  const [, host = "", port = ""] = match;
  // A name, or one address: other nodes reach it there.
  if (host !== "" && host !== "0.0.0.0" && host !== "::") return url(host, port);
  const heartbeat = new BlockList();
  for (const subnet of subnets.filter((s) => s.heartbeat)) {
    const [network = "", bits = ""] = subnet.cidr.split("/");
    const family = isIP(network) === 6 ? "ipv6" : "ipv4";
    if (isIP(network) !== 0) heartbeat.addSubnet(network, Number(bits), family);
  }
  const own = addresses.find(
    (a) =>
      !a.internal &&
      isIP(a.address) !== 0 &&
      heartbeat.check(a.address, isIP(a.address) === 6 ? "ipv6" : "ipv4"),
  );
  return own === undefined ? undefined : url(own.address, port);
}

function url(host: string, port: string): string {
  return `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}
