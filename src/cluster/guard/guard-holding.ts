/**
 * What the guardian must be told this node holds, from the executor's view. Written ahead: a
 * package being started (or halted, or up) counts with every address it may have on this node,
 * on every NIC of the address's subnet, until the executor reports where it is — so that a
 * daemon killed between `ip addr add` and its report still leaves no address behind. Removing
 * an address from a NIC that does not have it costs one failed `ip` call.
 */

import type { ClusterConfig, NodeConfig } from "../config/model.js";
import { type HeldAddress, NODE_OWNER } from "../executor/address-placement.js";
import type { GuardAddress, GuardGroup, GuardHolding } from "./guard-core.js";

export interface GuardHoldingInput {
  config: Pick<ClusterConfig, "subnets" | "packages">;
  node: NodeConfig;
  /** The executor's addresses (NodeAddresses.held()). */
  held: readonly HeldAddress[];
  /** Packages that are not down here, or that a step is starting or halting. */
  active: readonly string[];
  /** Every running service's process group. */
  groups: readonly GuardGroup[];
}

export function guardHolding(input: GuardHoldingInput): GuardHolding {
  const prefix = new Map(input.config.subnets.map((s) => [s.name, Number(s.cidr.split("/")[1])]));
  const addresses: GuardAddress[] = [];
  const seen = new Set<string>();
  const push = (a: GuardAddress): void => {
    const key = `${a.address} ${a.nic}`;
    if (seen.has(key)) return;
    seen.add(key);
    addresses.push(a);
  };
  const placed = new Set<string>();
  for (const h of input.held) {
    if (h.owner === NODE_OWNER || h.nic === undefined) continue;
    const prefixLength = prefix.get(h.subnet);
    if (prefixLength === undefined) continue;
    placed.add(h.address);
    push({ package: h.owner, address: h.address, prefixLength, nic: h.nic });
  }
  for (const name of input.active) {
    const pkg = input.config.packages.find((p) => p.name === name);
    for (const a of pkg?.addresses ?? []) {
      if (placed.has(a.address)) continue;
      const iface = input.node.interfaces.find((i) => i.subnet === a.subnet);
      const prefixLength = prefix.get(a.subnet);
      if (!iface || prefixLength === undefined) continue;
      for (const nic of [iface.primary, ...iface.standby]) {
        push({ package: name, address: a.address, prefixLength, nic });
      }
    }
  }
  const groups = [...input.groups].sort((a, b) => a.pgid - b.pgid);
  return { addresses, groups };
}
