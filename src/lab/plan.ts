import { formatIpv4, parsePrefix } from "../net/ipv4.js";
import { defaultEtcdPrefix } from "../cluster/config/defaults.js";
import type { LabSpec } from "./spec.js";

/** The concrete lab a spec describes: every namespace, bridge, NIC and address. Pure. */
export interface LabPlan {
  name: string;
  /** Namespace that holds the LAN bridges: the lab's "switch". */
  switchNamespace: string;
  bridges: PlannedBridge[];
  hosts: PlannedHost[];
  etcd: PlannedEtcd;
}

export interface PlannedBridge {
  subnet: string;
  cidr: string;
  /** Interface name of the bridge inside the switch namespace. */
  name: string;
}

export type HostKind = "node" | "client";
export type NicRole = "primary" | "standby" | "heartbeat" | "client";

export interface PlannedHost {
  name: string;
  kind: HostKind;
  namespace: string;
  nics: PlannedNic[];
}

export interface PlannedNic {
  /** Interface name inside the host. */
  name: string;
  subnet: string;
  role: NicRole;
  /** IPv4 address without prefix; a standby NIC has none (as in Serviceguard). */
  address: string | undefined;
  prefixLength: number;
  mac: string;
  /** The veth end plugged into the bridge, inside the switch namespace. */
  switchPort: string;
}

export interface PlannedEtcd {
  tls: boolean;
  /** etcd's authentication, for the cluster named after the lab; undefined: off. */
  auth: PlannedEtcdAuth | undefined;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  preVote: boolean;
  members: PlannedEtcdMember[];
}

export interface PlannedEtcdAuth {
  /** The key prefix the roles cover: a cluster named after the lab (etcd.prefix's default). */
  prefix: string;
  /** One etcd user per node, named after it (role pavise-node). */
  nodeUsers: string[];
}

export interface PlannedEtcdMember {
  name: string;
  host: string;
  address: string;
  clientUrl: string;
  peerUrl: string;
}

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
const FIRST_NODE_HOST_NUMBER = 11;
const FIRST_CLIENT_HOST_NUMBER = 101;

function mac(kind: HostKind, hostIndex: number, nicIndex: number): string {
  // Locally administered unicast (0x02), 'P' for Pavise, then who it is: readable in tcpdump.
  const bytes = [0x02, 0x50, kind === "node" ? 0x0a : 0x0c, hostIndex + 1, nicIndex, 0x01];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * Lays out a validated spec. NIC names follow the Serviceguard habit of lanN: on the k-th data
 * subnet a node has primary lan(2k) and standby lan(2k+1); heartbeat subnets get hbN; clients
 * get ethN on each data subnet. Nodes are .11 upwards, clients .101 upwards in every subnet.
 */
export function planLab(spec: LabSpec): LabPlan {
  const dataSubnets = spec.subnets.filter((s) => !s.heartbeat);
  const heartbeatSubnets = spec.subnets.filter((s) => s.heartbeat);
  const addressIn = (cidr: string, hostNumber: number): { address: string; prefixLength: number } => {
    const prefix = parsePrefix(cidr);
    if (!prefix) throw new TypeError(`planLab: invalid cidr ${cidr}; validate the spec first`);
    return { address: formatIpv4(prefix.network + hostNumber), prefixLength: prefix.length };
  };

  const hosts: PlannedHost[] = [];
  spec.nodes.forEach((host, i) => {
    const nics: PlannedNic[] = [];
    const add = (name: string, subnet: string, role: NicRole, cidr: string, withAddress: boolean): void => {
      const { address, prefixLength } = addressIn(cidr, FIRST_NODE_HOST_NUMBER + i);
      nics.push({
        name,
        subnet,
        role,
        address: withAddress ? address : undefined,
        prefixLength,
        mac: mac("node", i, nics.length),
        switchPort: `${host}-${name}`,
      });
    };
    dataSubnets.forEach((subnet, k) => {
      add(`lan${2 * k}`, subnet.name, "primary", subnet.cidr, true);
      add(`lan${2 * k + 1}`, subnet.name, "standby", subnet.cidr, false);
    });
    heartbeatSubnets.forEach((subnet, k) => add(`hb${k}`, subnet.name, "heartbeat", subnet.cidr, true));
    hosts.push({ name: host, kind: "node", namespace: `${spec.name}-${host}`, nics });
  });
  spec.clients.forEach((host, j) => {
    const nics = dataSubnets.map((subnet, k): PlannedNic => {
      const { address, prefixLength } = addressIn(subnet.cidr, FIRST_CLIENT_HOST_NUMBER + j);
      const name = `eth${k}`;
      return {
        name,
        subnet: subnet.name,
        role: "client",
        address,
        prefixLength,
        mac: mac("client", j, k),
        switchPort: `${host}-${name}`,
      };
    });
    hosts.push({ name: host, kind: "client", namespace: `${spec.name}-${host}`, nics });
  });

  const etcdSubnet = heartbeatSubnets[0] ?? dataSubnets[0];
  const scheme = spec.etcd.tls ? "https" : "http";
  const members = spec.etcd.members.map((member): PlannedEtcdMember => {
    const host = hosts.find((h) => h.name === member);
    const nic = host?.nics.find((n) => n.subnet === etcdSubnet?.name && n.address !== undefined);
    if (!nic?.address)
      throw new TypeError(`planLab: etcd member ${member} has no address; validate the spec first`);
    return {
      name: member,
      host: member,
      address: nic.address,
      clientUrl: `${scheme}://${nic.address}:${ETCD_CLIENT_PORT}`,
      peerUrl: `${scheme}://${nic.address}:${ETCD_PEER_PORT}`,
    };
  });

  return {
    name: spec.name,
    switchNamespace: `${spec.name}-switch`,
    bridges: spec.subnets.map((s) => ({ subnet: s.name, cidr: s.cidr, name: `br-${s.name}` })),
    hosts,
    etcd: {
      tls: spec.etcd.tls,
      auth: spec.etcd.auth ? { prefix: defaultEtcdPrefix(spec.name), nodeUsers: [...spec.nodes] } : undefined,
      heartbeatIntervalMs: spec.etcd.heartbeatIntervalMs,
      electionTimeoutMs: spec.etcd.electionTimeoutMs,
      preVote: spec.etcd.preVote,
      members,
    },
  };
}
