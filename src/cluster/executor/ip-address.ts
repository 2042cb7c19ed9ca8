/**
 * Relocatable addresses on NICs, through iproute2 (`ip -4 addr add|del ADDR/LEN dev NIC`).
 * Measured here: one `ip` call ≈1.8 ms, against ≈0.13 ms through rtnetlink (FACTS.md); a local
 * move is three calls plus one ARP, far inside the budget, so `ip` it is, without a native
 * dependency. Both directions are idempotent: an address already there, or already gone,
 * is what was asked for.
 *
 * No `noprefixroute`: on the primary NIC, which already holds the node's own address in the
 * subnet, a relocatable address is a secondary and gets no route of its own anyway; on a
 * standby NIC the first address moved there must bring the subnet route with it, or replies
 * would still be routed to the primary that lost its link. See nic-settings.ts for the sysctls
 * that make the rest safe (promote_secondaries, ignore_routes_with_linkdown).
 */

import { PaviseError } from "../../util/errors.js";
import { run } from "../../util/run.js";
import type { NodeNamespace } from "./node-namespace.js";

export type AddOutcome = "added" | "already-there";
export type RemoveOutcome = "removed" | "already-gone";

/** Whether iproute2's complaint means "the address is already there" (new and old kernels' words). */
export function isAlreadyThere(stderr: string): boolean {
  return /already assigned|File exists/i.test(stderr);
}

/** Whether iproute2's complaint means "no such address on this NIC". */
export function isAlreadyGone(stderr: string): boolean {
  return /Address not found|Cannot assign requested address/i.test(stderr);
}

export async function addAddress(
  ns: NodeNamespace,
  nic: string,
  address: string,
  prefixLength: number,
): Promise<AddOutcome> {
  const cidr = `${address}/${prefixLength}`;
  const result = await run(ns.ip(["-4", "addr", "add", cidr, "dev", nic]), { allowFailure: true });
  if (result.code === 0) return "added";
  if (isAlreadyThere(result.stderr)) return "already-there";
  throw new PaviseError(
    "EXECUTOR_ADDRESS_ADD_FAILED",
    `cannot add ${cidr} on ${nic} in ${ns.description}: ${result.stderr.trim()}`,
    {
      hint: `check that NIC ${nic} exists on this node (ip link show ${nic}) and that the package's ip_subnet names the right subnet`,
    },
  );
}

export async function removeAddress(
  ns: NodeNamespace,
  nic: string,
  address: string,
  prefixLength: number,
): Promise<RemoveOutcome> {
  const cidr = `${address}/${prefixLength}`;
  const result = await run(ns.ip(["-4", "addr", "del", cidr, "dev", nic]), { allowFailure: true });
  if (result.code === 0) return "removed";
  if (isAlreadyGone(result.stderr) || /Cannot find device/i.test(result.stderr)) return "already-gone";
  throw new PaviseError(
    "EXECUTOR_ADDRESS_REMOVE_FAILED",
    `cannot remove ${cidr} from ${nic} in ${ns.description}: ${result.stderr.trim()}`,
    { hint: `remove it by hand (ip addr del ${cidr} dev ${nic}) before the package runs anywhere else` },
  );
}

export interface AddressLocation {
  nic: string;
  prefixLength: number;
}

interface IpAddrJson {
  ifname?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

/** Every NIC of the namespace that holds the address, with the prefix length it has there. */
export function parseAddressLocations(json: string, address: string): AddressLocation[] {
  const links = JSON.parse(json) as IpAddrJson[];
  return links.flatMap((link) =>
    (link.addr_info ?? [])
      .filter((a) => a.family === "inet" && a.local === address && link.ifname !== undefined)
      .map((a) => ({ nic: link.ifname ?? "", prefixLength: a.prefixlen ?? 32 })),
  );
}

/** IPv4 addresses on a NIC, with prefix lengths (e.g. the node's own address on a primary NIC). */
export function parseNicAddresses(json: string, nic: string): { address: string; prefixLength: number }[] {
  const links = JSON.parse(json) as IpAddrJson[];
  return links
    .filter((link) => link.ifname === nic)
    .flatMap((link) =>
      (link.addr_info ?? []).flatMap((a) =>
        a.family === "inet" && a.local !== undefined
          ? [{ address: a.local, prefixLength: a.prefixlen ?? 32 }]
          : [],
      ),
    );
}

export async function showAddresses(ns: NodeNamespace): Promise<string> {
  const result = await run(ns.ip(["-j", "-4", "addr", "show"]));
  return result.stdout.trim() || "[]";
}

/** Removes the address from every NIC that holds it (whatever NIC or prefix length); returns those NICs. */
export async function removeAddressEverywhere(ns: NodeNamespace, address: string): Promise<string[]> {
  const locations = parseAddressLocations(await showAddresses(ns), address);
  const removed: string[] = [];
  for (const location of locations) {
    if ((await removeAddress(ns, location.nic, address, location.prefixLength)) === "removed") {
      removed.push(location.nic);
    }
  }
  return removed;
}
