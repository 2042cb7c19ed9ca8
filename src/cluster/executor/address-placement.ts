/**
 * Local LAN failover as a pure decision: given the node's NICs per subnet, which of them have
 * link, and which addresses the node holds where, say on which NIC each subnet's addresses must
 * be, which addresses must move, and which subnets have no NIC with link left (their packages
 * must fail over to another node). Serviceguard's rule: a subnet's addresses live on its
 * primary NIC (NETWORK_INTERFACE) while it has link, otherwise on the first standby with link;
 * all of a subnet's addresses move together, the node's own (stationary) ones first so that
 * they stay the subnet route's source address on the new NIC.
 *
 * Returning to the primary when its link comes back is optional (autoReturn) and waits until
 * the link has been up for returnAfterMs, so a flapping cable does not drag the addresses back
 * and forth; `recheckAt` says when to decide again.
 */

import type { NodeInterface } from "../config/model.js";

/** Owner of the node's own addresses (found on the primary NIC, not a package's). */
export const NODE_OWNER = "(node)";

export interface LinkStatus {
  up: boolean;
  /** When the link last changed (ms); a link never seen to change counts from its first sighting. */
  since: number;
}

export interface HeldAddress {
  address: string;
  subnet: string;
  /** The NIC that holds it now; undefined when it is not yet on any. */
  nic: string | undefined;
  /** The package it belongs to, or NODE_OWNER. */
  owner: string;
}

export interface ReturnPolicy {
  /** Move addresses back to the primary NIC when its link is back. */
  autoReturn: boolean;
  /** How long the primary's link must have been up before they move back. */
  returnAfterMs: number;
}

export const DEFAULT_RETURN_POLICY: ReturnPolicy = { autoReturn: false, returnAfterMs: 2_000 };

export type MoveReason =
  /** The address was on no NIC yet. */
  | "place"
  /** Its NIC lost link. */
  | "link-down"
  /** The primary's link is back (autoReturn). */
  | "primary-back"
  /** The subnet's other addresses are on another NIC that has link. */
  | "consolidate";

export interface AddressMove {
  address: string;
  subnet: string;
  owner: string;
  from: string | undefined;
  to: string;
  reason: MoveReason;
}

export interface SubnetPlacement {
  subnet: string;
  /** The NIC that carries the subnet's addresses; undefined when none has link. */
  nic: string | undefined;
  role: "primary" | "standby" | undefined;
}

export interface PlacementDecision {
  subnets: SubnetPlacement[];
  moves: AddressMove[];
  /** Subnets of the node (or of its addresses) without any NIC that has link. */
  down: string[];
  /** When to decide again (a pending return to the primary), if ever. */
  recheckAt: number | undefined;
}

function isUp(links: ReadonlyMap<string, LinkStatus>, nic: string): boolean {
  return links.get(nic)?.up === true;
}

/** Subnets on which the node has a NIC with link, in configuration order (NodeState.subnetsUp). */
export function subnetsWithLink(
  interfaces: readonly NodeInterface[],
  links: ReadonlyMap<string, LinkStatus>,
): string[] {
  return interfaces
    .filter((i) => [i.primary, ...i.standby].some((nic) => isUp(links, nic)))
    .map((i) => i.subnet);
}

/** The NIC a subnet's addresses belong on now, and when to look again. */
export function chooseSubnetNic(
  iface: NodeInterface,
  links: ReadonlyMap<string, LinkStatus>,
  heldOn: ReadonlySet<string>,
  policy: ReturnPolicy,
  now: number,
): { nic: string | undefined; recheckAt: number | undefined } {
  const candidates = [iface.primary, ...iface.standby];
  const current = candidates.find((nic) => heldOn.has(nic) && isUp(links, nic));
  if (current === undefined || current === iface.primary) {
    return { nic: current ?? candidates.find((nic) => isUp(links, nic)), recheckAt: undefined };
  }
  const primary = links.get(iface.primary);
  if (!policy.autoReturn || primary?.up !== true) return { nic: current, recheckAt: undefined };
  const dueAt = primary.since + policy.returnAfterMs;
  return now >= dueAt ? { nic: iface.primary, recheckAt: undefined } : { nic: current, recheckAt: dueAt };
}

export function placeAddresses(
  interfaces: readonly NodeInterface[],
  links: ReadonlyMap<string, LinkStatus>,
  addresses: readonly HeldAddress[],
  policy: ReturnPolicy,
  now: number,
): PlacementDecision {
  const subnetNames = [...new Set([...interfaces.map((i) => i.subnet), ...addresses.map((a) => a.subnet)])];
  const subnets: SubnetPlacement[] = [];
  const moves: AddressMove[] = [];
  const down: string[] = [];
  let recheckAt: number | undefined;

  for (const subnet of subnetNames) {
    const iface = interfaces.find((i) => i.subnet === subnet);
    const held = addresses.filter((a) => a.subnet === subnet);
    if (!iface) {
      // The node has no NIC on this subnet at all.
      subnets.push({ subnet, nic: undefined, role: undefined });
      down.push(subnet);
      continue;
    }
    const heldOn = new Set(held.flatMap((a) => (a.nic === undefined ? [] : [a.nic])));
    const choice = chooseSubnetNic(iface, links, heldOn, policy, now);
    if (choice.recheckAt !== undefined) recheckAt = Math.min(recheckAt ?? Infinity, choice.recheckAt);
    const nic = choice.nic;
    subnets.push({
      subnet,
      nic,
      role: nic === undefined ? undefined : nic === iface.primary ? "primary" : "standby",
    });
    if (nic === undefined) {
      down.push(subnet);
      continue;
    }
    const ordered = [
      ...held.filter((a) => a.owner === NODE_OWNER),
      ...held.filter((a) => a.owner !== NODE_OWNER),
    ];
    for (const a of ordered) {
      if (a.nic === nic) continue;
      moves.push({
        address: a.address,
        subnet,
        owner: a.owner,
        from: a.nic,
        to: nic,
        reason: moveReason(a.nic, nic, iface, links),
      });
    }
  }
  return { subnets, moves, down, recheckAt };
}

function moveReason(
  from: string | undefined,
  to: string,
  iface: NodeInterface,
  links: ReadonlyMap<string, LinkStatus>,
): MoveReason {
  if (from === undefined) return "place";
  if (!isUp(links, from)) return "link-down";
  if (to === iface.primary) return "primary-back";
  return "consolidate";
}
