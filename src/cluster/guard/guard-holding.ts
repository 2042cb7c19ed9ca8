/**
 * What the guardian must be told this node holds, from the executor's view. Written ahead: a
 * package being started (or halted, or up) counts with every address it may have on this node,
 * on every NIC of the address's subnet — so that a daemon killed between `ip addr add` and its
 * report still leaves no address behind. An address the executor reports placed counts on its
 * NIC first and on every other NIC of its subnet too: local LAN failover and
 * network_auto_failback move it on their own, and a daemon frozen in the middle of such a move
 * has not told the guardian where it went (bug-guardian-missed-an-address-moved-back: the soak
 * saw app's address stay on n1's lan0 for 15 s while the guardian removed it from lan1).
 * Removing an address from a NIC that does not have it costs one failed `ip` call.
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
  const subnetNics = (subnet: string): string[] => {
    const iface = input.node.interfaces.find((i) => i.subnet === subnet);
    return iface ? [iface.primary, ...iface.standby] : [];
  };
  const placed = new Set<string>();
  for (const h of input.held) {
    if (h.owner === NODE_OWNER || h.nic === undefined) continue;
    const prefixLength = prefix.get(h.subnet);
    if (prefixLength === undefined) continue;
    placed.add(h.address);
    for (const nic of [h.nic, ...subnetNics(h.subnet)]) {
      push({ package: h.owner, address: h.address, prefixLength, nic });
    }
  }
  for (const name of input.active) {
    const pkg = input.config.packages.find((p) => p.name === name);
    for (const a of pkg?.addresses ?? []) {
      if (placed.has(a.address)) continue;
      const prefixLength = prefix.get(a.subnet);
      if (prefixLength === undefined) continue;
      for (const nic of subnetNics(a.subnet)) {
        push({ package: name, address: a.address, prefixLength, nic });
      }
    }
  }
  const groups = [...input.groups].sort((a, b) => a.pgid - b.pgid);
  return { addresses, groups };
}
