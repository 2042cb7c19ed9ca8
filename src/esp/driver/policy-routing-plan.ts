/**
 * Policy routing for the user-space ESP datapath, without I/O: which `ip rule`s and which routes
 * put the traffic of the remote traffic selectors into the TUN device, including traffic to the
 * peer's own address (host-to-host transport mode, a /24 that holds the peer, a 0.0.0.0/0 full
 * tunnel), while Pavise's own IKE and ESP-in-UDP packets to that same address still leave
 * through the LAN. policy-routing.ts runs `ip` with what this module decides.
 *
 * How (the same idea as strongSwan's routing table 220, without its socket mark, which Node's
 * dgram cannot set): the routes live in a routing table of Pavise's own, and two kinds of rule
 * sit in front of the main table (priority 32766):
 *
 *   P    from all ipproto udp sport 500  lookup main    Pavise's IKE (RFC 7296 §2)
 *   P    from all ipproto udp sport 4500 lookup main    IKE and ESP in UDP (RFC 3948)
 *   P+1  from all lookup T                              everything else: Pavise's table
 *
 * The port rules need Linux 4.17 (FRA_IP_PROTO, FRA_SPORT_RANGE). They deliberately do not say
 * `iif lo` (only what this host sends): the kernel dissects ports of received packets only when
 * a rule without `iif lo` asks for them, and its reverse-path check (rp_filter) looks the reverse
 * flow up through these rules with the ports swapped; so with them, ESP arriving from the peer
 * on UDP/4500 passes a strict check on the LAN interface. The price: forwarded packets of
 * someone else from UDP port 500 or 4500 take the main table too.
 *
 * Strict reverse-path filtering (rp_filter = 1) has a second victim no rule can spare: the
 * peer's ARP requests, checked against a route that now points into the TUN device. So while a
 * peer's own address is routed into the tunnel, the interface that leads to it is made loose
 * (2) if it was strict, and put back on close (see {@link needsLooseReversePath}).
 *
 * T defaults to 4500 and P to 4500: the NAT-T port, easy to recognise in `ip rule` output, far
 * from the tables others use (strongSwan 220, Tailscale 52, wg-quick 51820) and from the
 * reserved ones (0, 253 default, 254 main, 255 local). One `pavise ipsec serve` per network
 * namespace: a second one, even with its own table, would share the port rules and remove them
 * when it stops.
 */
import { isIP } from "node:net";
import type { TrafficSelector } from "../../ike/core/traffic-selector.js";
import { addressBytes, formatAddress } from "../../ike/config/traffic-selector-spec.js";
import { IKE_PORT, NAT_T_PORT } from "../../ike/core/udp-demux.js";
import { rangeToPrefixes } from "./tun-device.js";

/** Pavise's routing table for the remote selectors (`pavise ipsec serve --routing-table`). */
export const DEFAULT_ROUTING_TABLE = 4500;
/** Priority of the rules for Pavise's own IKE/ESP packets; the table's rule comes one after. */
export const DEFAULT_RULE_PRIORITY = 4500;

/** Table numbers the kernel reserves: unspecified, default, main, local. */
const RESERVED_TABLES = new Map([
  [0, "unspec"],
  [253, "default"],
  [254, "main"],
  [255, "local"],
]);

/** Why `table` cannot be Pavise's routing table, or undefined when it can. */
export function routingTableProblem(table: number): string | undefined {
  if (!Number.isInteger(table) || table < 1 || table > 0xffff_ffff) {
    return `routing table ${table} is not an integer in 1..4294967295`;
  }
  const reserved = RESERVED_TABLES.get(table);
  if (reserved !== undefined) return `routing table ${table} is the kernel's "${reserved}" table`;
  return undefined;
}

/** Why `priority` cannot be the rules' priority (P and P+1 must come before main at 32766). */
export function rulePriorityProblem(priority: number): string | undefined {
  if (!Number.isInteger(priority) || priority < 1 || priority > 32764) {
    return `rule priority ${priority} is not an integer in 1..32764 (before the main table's 32766)`;
  }
  return undefined;
}

/** One `ip rule`. */
export interface PolicyRule {
  family: 4 | 6;
  priority: number;
  /** Only UDP packets from this source port; absent: every packet. */
  udpSourcePort?: number;
  lookup: number | "main";
}

/** The rules of a datapath whose routes live in `table`, for both address families. */
export function policyRules(table: number, priority = DEFAULT_RULE_PRIORITY): PolicyRule[] {
  const rules: PolicyRule[] = [];
  for (const family of [4, 6] as const) {
    for (const port of [IKE_PORT, NAT_T_PORT]) {
      rules.push({ family, priority, udpSourcePort: port, lookup: "main" });
    }
    rules.push({ family, priority: priority + 1, lookup: table });
  }
  return rules;
}

/** The rule's selector and action as `ip rule add|del` takes them (after `ip -4|-6 rule add`). */
export function ruleArgs(rule: PolicyRule): string[] {
  const match =
    rule.udpSourcePort === undefined ? [] : ["ipproto", "udp", "sport", String(rule.udpSourcePort)];
  return ["priority", String(rule.priority), ...match, "lookup", String(rule.lookup)];
}

/** A route through the TUN device in Pavise's table. */
export interface TunRoute {
  family: 4 | 6;
  /** "198.18.1.0/24", "0.0.0.0/0", "2001:db8:0:0:0:0:0:0/32". */
  prefix: string;
  /** Preferred source address (`src`): where locally sent packets on this route come from. */
  src?: string;
}

/** What of a Child SA decides its routes (a subset of ChildSaKeys). */
export interface RoutedChildSa {
  localAddress: string;
  remoteAddress: string;
  localTs: readonly TrafficSelector[];
  remoteTs: readonly TrafficSelector[];
}

/**
 * The routes a Child SA needs: every address range of its remote selectors (protocols and
 * ports do not route, the SPD sorts them out), the peer's own address included; each with the
 * source address that puts a locally sent packet inside the local selectors (see
 * {@link routeSource}). `hostAddresses` are the addresses on this host's interfaces.
 */
export function childSaRoutes(sa: RoutedChildSa, hostAddresses: readonly string[]): TunRoute[] {
  const routes: TunRoute[] = [];
  const seen = new Set<string>();
  for (const ts of sa.remoteTs) {
    const src = routeSource(ts.family, sa.localTs, sa.localAddress, hostAddresses);
    for (const prefix of rangeToPrefixes(ts)) {
      const key = `${ts.family} ${prefix}`;
      if (seen.has(key)) continue;
      seen.add(key);
      routes.push(src === undefined ? { family: ts.family, prefix } : { family: ts.family, prefix, src });
    }
  }
  return routes;
}

/**
 * The source address for routes of one family: without one, the kernel takes the first
 * address it likes (the TUN has none), often outside the local selectors, and the SPD drops the
 * packet. The SA's own local address when a local selector holds it (transport mode, or a
 * tunnel whose local subnet contains this host), else the first address of this host inside a
 * local selector (tunnel mode with inner addresses on lo, a virtual IP); loopback (127/8, ::1)
 * and link-local addresses never, as packets from them cannot leave the host. Undefined when no
 * address fits: the kernel chooses, as before.
 */
export function routeSource(
  family: 4 | 6,
  localTs: readonly TrafficSelector[],
  localAddress: string,
  hostAddresses: readonly string[],
): string | undefined {
  const selectors = localTs.filter((ts) => ts.family === family);
  for (const candidate of [localAddress, ...hostAddresses]) {
    if (isIP(candidate) !== family) continue;
    const bytes = addressBytes(candidate);
    if (!usableSource(bytes)) continue;
    if (selectors.some((ts) => Buffer.compare(ts.start, bytes) <= 0 && Buffer.compare(bytes, ts.end) <= 0)) {
      return formatAddress(bytes);
    }
  }
  return undefined;
}

function usableSource(bytes: Uint8Array): boolean {
  if (bytes.length === 4) return bytes[0] !== 127 && !(bytes[0] === 169 && bytes[1] === 254);
  const loopback = bytes.every((byte, i) => byte === (i === 15 ? 1 : 0));
  const linkLocal = bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0x80;
  return !loopback && !linkLocal;
}

/** Whether the SA's remote selectors hold the peer's own (outer) address. */
export function routesPeer(sa: RoutedChildSa): boolean {
  const family = isIP(sa.remoteAddress);
  if (family === 0) return false;
  const peer = addressBytes(sa.remoteAddress);
  return sa.remoteTs.some(
    (ts) => ts.family === family && Buffer.compare(ts.start, peer) <= 0 && Buffer.compare(peer, ts.end) <= 0,
  );
}

/**
 * Whether the interface that leads to a peer routed into the tunnel must be made loose: the
 * kernel applies the larger of net.ipv4.conf.all.rp_filter and the interface's own value, and
 * only 1 (strict) refuses the peer's ARP requests. Setting the interface to 2 lifts that
 * whatever "all" says.
 */
export function needsLooseReversePath(all: number, device: number): boolean {
  return Math.max(all, device) === 1;
}

/**
 * The interfaces to make loose for a peer reached through `device`: that one, and every NIC
 * that stands in for it (`standIns`: groups such as a subnet's primary and standby NICs). Local
 * LAN failover moves the addresses, and with them the route to the peer, to a standby NIC
 * without telling the datapath; a standby left strict would refuse the peer's ARP requests
 * there, and once the peer's neighbour entry for the address went stale its traffic would stop.
 * Loosening the whole group when the peer is first routed keeps that from ever happening.
 */
export function interfacesToLoosen(device: string, standIns: readonly (readonly string[])[]): string[] {
  const all = [device];
  for (const group of standIns) {
    if (!group.includes(device)) continue;
    for (const nic of group) if (!all.includes(nic)) all.push(nic);
  }
  return all;
}

/** The key of a route in the table: one route per family and prefix. */
function routeKey(route: TunRoute): string {
  return `${route.family} ${route.prefix}`;
}

/**
 * The routes each installed Child SA wants, and the table that follows from them. Several SAs
 * may want the same prefix (a rekeyed SA and its successor always do): the prefix stays while
 * one of them is left, with the source address of the oldest.
 */
export class TunRouteBook {
  private readonly owners = new Map<number, readonly TunRoute[]>();

  /** Sets (or replaces) the routes of one owner, e.g. a Child SA by its inbound SPI. */
  set(owner: number, routes: readonly TunRoute[]): void {
    this.owners.set(owner, routes);
  }

  remove(owner: number): void {
    this.owners.delete(owner);
  }

  /** The table as it should be. */
  desired(): TunRoute[] {
    const table = new Map<string, TunRoute>();
    for (const routes of this.owners.values()) {
      for (const route of routes) if (!table.has(routeKey(route))) table.set(routeKey(route), route);
    }
    return [...table.values()];
  }
}

/** What to change to get from the routes `applied` to the routes `desired`. */
export function diffRoutes(
  applied: readonly TunRoute[],
  desired: readonly TunRoute[],
): { replace: TunRoute[]; remove: TunRoute[] } {
  const before = new Map(applied.map((route) => [routeKey(route), route]));
  const after = new Set(desired.map(routeKey));
  return {
    replace: desired.filter(
      (route) => before.get(routeKey(route))?.src !== route.src || !before.has(routeKey(route)),
    ),
    remove: applied.filter((route) => !after.has(routeKey(route))),
  };
}

/** `ip` arguments that add (or change) a route in `table` through the TUN device `tunName`. */
export function routeReplaceArgs(route: TunRoute, tunName: string, table: number): string[] {
  return [
    `-${route.family}`,
    "route",
    "replace",
    route.prefix,
    "dev",
    tunName,
    "table",
    String(table),
    ...(route.src === undefined ? [] : ["src", route.src]),
  ];
}

/** `ip` arguments that remove a route added with {@link routeReplaceArgs}. */
export function routeDeleteArgs(route: TunRoute, tunName: string, table: number): string[] {
  return [`-${route.family}`, "route", "del", route.prefix, "dev", tunName, "table", String(table)];
}
