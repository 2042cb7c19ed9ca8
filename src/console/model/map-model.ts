/**
 * The console's map page (design §8 `#/`): the StatusView laid out as one column per node, in
 * the configuration's order: its state, the leader badge, its etcd member, its NICs per subnet
 * and the packages it runs with their addresses. Packages that run nowhere are listed apart.
 * Pure: the view (and the NICs from GET /v1/nodes, when read) in, plain data out.
 */

import type { EtcdMemberAnswer, PackageView, StatusView } from "../../api/schema/view-types.js";
import type { NicDetail, NodeDetail } from "./api-shapes.js";
import { type Badge, nodeBadge, packageBadge } from "./state-badge.js";

export interface EtcdMemberBadge {
  endpoint: string;
  /** "etcd leader", "etcd member" or "etcd unreachable". */
  text: string;
  reachable: boolean;
  leader: boolean;
}

export interface NicLine {
  nic: string;
  role: NicDetail["role"];
  /** The subnet's addresses are on this NIC now. */
  carrying: boolean;
  /** "link up", "link down", or "" when not known ("unknown" or not reported). */
  linkText: string;
  linkUp: boolean | undefined;
}

export interface NicGroup {
  subnet: string;
  /** The node reports a NIC with link on this subnet (NodeView.subnetsUp). */
  up: boolean;
  nics: NicLine[];
}

export interface AddressLine {
  address: string;
  subnet: string;
  nic: string | undefined;
  /** "198.18.1.50 on lan0 (public)". */
  text: string;
}

export interface PackageCard {
  name: string;
  badge: Badge;
  state: PackageView["state"];
  addresses: AddressLine[];
  /** Short facts worth seeing on the map: "switching disabled", "maintenance", … */
  notes: string[];
}

export interface NodeColumn {
  name: string;
  badge: Badge;
  failed: boolean;
  leader: boolean;
  /** Only when the member's endpoint names this node (host = node name or one of its addresses). */
  etcd: EtcdMemberBadge | undefined;
  notes: string[];
  nicGroups: NicGroup[];
  packages: PackageCard[];
}

export interface ClusterMap {
  name: string;
  statusText: string;
  leader: string | undefined;
  healthy: boolean;
  /** "all packages that should run are running" or "some packages that should run are not running". */
  healthText: string;
  revision: number;
  /** "etcd: 2 of 3 members reachable, quorum" / "… no quorum". */
  etcdText: string;
  etcdQuorum: boolean;
  etcdMembers: EtcdMemberBadge[];
  columns: NodeColumn[];
  /** Packages running on no node. */
  notRunning: PackageCard[];
}

export function clusterMap(view: StatusView, details: readonly NodeDetail[] = []): ClusterMap {
  const members = view.etcd.endpoints.map((answer) => memberBadge(answer, view.etcd.leaderEndpoint));
  const columns = view.nodes.map((node): NodeColumn => {
    const detail = details.find((d) => d.name === node.name);
    const badge = nodeBadge(node.status);
    const notes: string[] = [];
    if (node.haltedByOperator) notes.push(`halted by ${node.haltedBy ?? "an operator"}`);
    return {
      name: node.name,
      badge,
      failed: node.status === "failed",
      leader: view.cluster.leader === node.name,
      etcd: members.find((m) => endpointNames(m.endpoint, node.name, detail)),
      notes,
      nicGroups: nicGroups(node.subnetsUp, detail?.nics),
      packages: view.packages
        .filter((p) => p.nodes.includes(node.name))
        .map((p) => packageCard(p, node.name)),
    };
  });
  return {
    name: view.cluster.name,
    statusText: `cluster ${view.cluster.status}`,
    leader: view.cluster.leader,
    healthy: view.healthy,
    healthText: view.healthy
      ? "all packages that should run are running"
      : "some packages that should run are not running",
    revision: view.cluster.revision,
    etcdText: `etcd: ${view.etcd.reachable} of ${view.etcd.members} members reachable, ${
      view.etcd.quorum ? "quorum" : "no quorum"
    }`,
    etcdQuorum: view.etcd.quorum,
    etcdMembers: members,
    columns,
    notRunning: view.packages.filter((p) => p.nodes.length === 0).map((p) => packageCard(p, undefined)),
  };
}

/** A package as a card in a node's column (node set) or in the "not running" list. */
export function packageCard(pkg: PackageView, node: string | undefined): PackageCard {
  const addresses = pkg.addresses
    .filter((a) => node === undefined || a.node === undefined || a.node === node)
    .map((a): AddressLine => ({
      address: a.address,
      subnet: a.subnet,
      nic: a.nic,
      text:
        a.nic !== undefined && node !== undefined
          ? `${a.address} on ${a.nic} (${a.subnet})`
          : `${a.address} (${a.subnet})`,
    }));
  return {
    name: pkg.name,
    badge: packageBadge(pkg.status),
    state: pkg.state,
    addresses,
    notes: packageNotes(pkg),
  };
}

/** The operator flags of a package, in words (cmviewcl's AUTO_RUN, maintenance, …). */
export function packageNotes(pkg: PackageView): string[] {
  const notes: string[] = [];
  if (!pkg.switching) notes.push("switching disabled");
  if (pkg.maintenance) notes.push("maintenance");
  if (pkg.haltedByOperator) notes.push("halted by operator");
  if (pkg.disabledNodes.length > 0) notes.push(`not on ${pkg.disabledNodes.join(", ")}`);
  if (pkg.failedOn.length > 0) notes.push(`failed on ${pkg.failedOn.map((f) => f.node).join(", ")}`);
  if (pkg.placedOn !== undefined) notes.push(`placed on ${pkg.placedOn.join(", ")}`);
  const unmet = pkg.dependencies.filter((d) => !d.met).map((d) => d.package);
  if (unmet.length > 0) notes.push(`waits for ${unmet.join(", ")}`);
  return notes;
}

function memberBadge(answer: EtcdMemberAnswer, leaderEndpoint: string | undefined): EtcdMemberBadge {
  const leader = answer.reachable && answer.endpoint === leaderEndpoint;
  const text = !answer.reachable ? "etcd unreachable" : leader ? "etcd leader" : "etcd member";
  return { endpoint: answer.endpoint, text, reachable: answer.reachable, leader };
}

/**
 * Does an etcd endpoint URL name this node: its host is the node's name or the host of its API
 * URL?
 */
function endpointNames(endpoint: string, node: string, detail: NodeDetail | undefined): boolean {
  const host = hostOf(endpoint);
  if (host === undefined) return false;
  if (host === node) return true;
  return detail?.apiUrl !== undefined && hostOf(detail.apiUrl) === host;
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return undefined;
  }
}

/**
 * NICs grouped by subnet. Without the node detail only the subnets with link are known
 * (NodeView.subnetsUp), so each shows as a group without NIC names.
 */
function nicGroups(subnetsUp: readonly string[], nics: readonly NicDetail[] | undefined): NicGroup[] {
  if (nics === undefined || nics.length === 0) {
    return subnetsUp.map((subnet) => ({ subnet, up: true, nics: [] }));
  }
  const groups: NicGroup[] = [];
  for (const nic of nics) {
    let group = groups.find((g) => g.subnet === nic.subnet);
    if (group === undefined) {
      group = { subnet: nic.subnet, up: subnetsUp.includes(nic.subnet), nics: [] };
      groups.push(group);
    }
    const linkUp = nic.link === "up" ? true : nic.link === "down" ? false : undefined;
    group.nics.push({
      nic: nic.nic,
      role: nic.role,
      carrying: nic.carrying === true,
      linkUp,
      linkText: linkUp === undefined ? "" : linkUp ? "link up" : "link down",
    });
  }
  // Primary first within a subnet, as cmviewcl lists them.
  for (const g of groups) g.nics.sort((a, b) => (a.role === b.role ? 0 : a.role === "primary" ? -1 : 1));
  return groups;
}
