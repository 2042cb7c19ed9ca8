/**
 * When is a cluster settled after a fault? Every package that can run somewhere is up on
 * exactly one node — one owner key in etcd, its address on that node alone, its status "up"
 * there, beside the package it depends on (same_node) — and nothing of it is left anywhere
 * else; a package that can run nowhere (its service failed on every live node) holds no owner
 * key and no address. Pure: the caller reads etcd and the hosts' addresses and asks the client.
 *
 * "Can run" follows the scheduler's eligibility (eligibility.ts): a member node of the
 * package's list where the package has not failed (status "failed" stays until the node
 * leaves, or until its subnet is back), and, with a same_node dependency, where the package it
 * depends on can run too.
 */
import type { AddressHolder } from "../lab/probes/holders.js";
import type { ChaosPackage } from "./chaos-cluster.js";
import type { ClusterKeysSnapshot } from "./cluster-keys-reader.js";

/** What a fault leads us to expect of a settled cluster, beyond the general rules. */
export interface FaultExpectation {
  /** Nodes that must not be members now (daemon down, frozen or cut off from etcd). */
  absent: string[];
  /** Nodes that must be members now (every node, once a fault is healed). */
  present: string[];
  /** Nodes that must run no package (their public LAN is gone). */
  empty: string[];
  /** NICs that must hold no package address (a primary NIC without carrier: local LAN failover). */
  freeNics: { host: string; nic: string }[];
  /** Crashed hosts: their links are down, what they still hold does not count. */
  down: string[];
}

export const NO_EXPECTATION: FaultExpectation = {
  absent: [],
  present: [],
  empty: [],
  freeNics: [],
  down: [],
};

export interface SettleJudgement {
  problems: string[];
  /** package → the node it runs on, for the packages that must answer the client. */
  running: Map<string, string>;
}

export function judgeSettled(
  packages: readonly ChaosPackage[],
  keys: ClusterKeysSnapshot,
  holders: ReadonlyMap<string, AddressHolder[]>,
  expect: FaultExpectation,
): SettleJudgement {
  const problems: string[] = [];
  const running = new Map<string, string>();
  for (const node of expect.absent) if (keys.members.has(node)) problems.push(`${node} is still a member`);
  for (const node of expect.present) if (!keys.members.has(node)) problems.push(`${node} is not a member`);

  const eligible = (pkg: ChaosPackage): string[] =>
    pkg.nodes.filter((n) => keys.members.has(n) && keys.status.get(pkg.name)?.get(n) !== "failed");
  const canRunOn = (pkg: ChaosPackage): string[] => {
    const own = eligible(pkg);
    const partner = packages.find((p) => p.name === pkg.sameNodeAs);
    return partner ? own.filter((n) => eligible(partner).includes(n)) : own;
  };

  for (const pkg of packages) {
    const owners = keys.owners.get(pkg.name) ?? [];
    const held = (holders.get(pkg.address) ?? []).filter((h) => !expect.down.includes(h.host));
    const heldOn = [...new Set(held.map((h) => h.host))];
    if (canRunOn(pkg).length === 0) {
      if (owners.length > 0)
        problems.push(`${pkg.name} can run nowhere but is owned by ${owners.join(", ")}`);
      if (heldOn.length > 0)
        problems.push(`${pkg.name} can run nowhere but ${pkg.address} is on ${heldOn.join(", ")}`);
      continue;
    }
    if (owners.length !== 1) {
      problems.push(`${pkg.name} has ${owners.length} owners (${owners.join(", ") || "none"})`);
      continue;
    }
    const owner = owners[0]!;
    if (heldOn.length !== 1 || heldOn[0] !== owner) {
      problems.push(
        `${pkg.name} is owned by ${owner} but ${pkg.address} is on ${heldOn.join(", ") || "no node"}`,
      );
      continue;
    }
    const status = keys.status.get(pkg.name)?.get(owner);
    if (status !== "up") problems.push(`${pkg.name} is ${status ?? "unreported"} on ${owner}`);
    if (expect.empty.includes(owner)) problems.push(`${pkg.name} still runs on ${owner}`);
    for (const h of held) {
      if (expect.freeNics.some((f) => f.host === h.host && f.nic === h.nic)) {
        problems.push(`${pkg.address} is still on ${h.host} ${h.nic}`);
      }
    }
    running.set(pkg.name, owner);
  }
  for (const pkg of packages) {
    const partner = packages.find((p) => p.name === pkg.sameNodeAs);
    // A partner that is not settled is a problem of its own already.
    if (!partner || !running.has(pkg.name) || !running.has(partner.name)) continue;
    if (running.get(partner.name) !== running.get(pkg.name)) {
      problems.push(
        `${pkg.name} runs on ${running.get(pkg.name)} without ${partner.name} (on ${running.get(partner.name)})`,
      );
    }
  }
  return { problems, running };
}
