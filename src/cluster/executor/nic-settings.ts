/**
 * Kernel settings every NIC that carries relocatable addresses needs, each found the hard way
 * in the lab:
 *
 * - promote_secondaries=1: without it, deleting the first address of a subnet on a NIC deletes
 *   every other address of that subnet with it — halting one package took another package's
 *   address off a standby NIC.
 * - ignore_routes_with_linkdown=1: a NIC that lost carrier (cable pulled, switch port dead) keeps
 *   its subnet route, marked `linkdown`, and by default the kernel still routes through it:
 *   with only the package address moved to the standby, its replies left through the dead
 *   primary. Moving the node's own addresses along removes that route too, but an address on
 *   the primary that Pavise does not know of would keep it.
 * - arp_ignore=1, arp_announce=2: answer ARP only on the NIC that holds the address and announce
 *   from it, so a standby NIC never answers for its primary's addresses (two MACs for one address).
 */

import { run } from "../../util/run.js";
import type { NodeNamespace } from "./node-namespace.js";

export function managedNicSysctls(nics: readonly string[]): string[] {
  return [...new Set(nics)].flatMap((nic) => [
    `net.ipv4.conf.${nic}.promote_secondaries=1`,
    `net.ipv4.conf.${nic}.ignore_routes_with_linkdown=1`,
    `net.ipv4.conf.${nic}.arp_ignore=1`,
    `net.ipv4.conf.${nic}.arp_announce=2`,
  ]);
}

export async function applyNicSettings(ns: NodeNamespace, nics: readonly string[]): Promise<void> {
  if (nics.length === 0) return;
  await run(ns.command(["sysctl", "-q", "-w", ...managedNicSysctls(nics)]));
}
