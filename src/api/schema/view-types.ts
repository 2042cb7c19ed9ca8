/**
 * The shapes `pavise status --json` prints and the HTTP API answers with (docs/operator-surfaces-
 * design.md §2, §5): the cluster, its nodes and packages as cmviewcl shows them. Types only,
 * and importing only files without imports, so the browser console can `import type` them
 * without pulling in Node code. status-render.ts builds them (and re-exports them).
 */

import type { NodeStatus, PackageStatus } from "../../cluster/state.js";
import type { PeerRecord } from "../../ipsec/registry/peer-record.js";
import type { IkeSaStatus } from "../../ipsec/sa-status-types.js";

export type { ChildSaStatus, IkeSaStatus, SaCounters } from "../../ipsec/sa-status-types.js";

/** How one etcd member answered a status request. */
export interface EtcdMemberAnswer {
  endpoint: string;
  reachable: boolean;
  /** The member's ID (hex or decimal, as etcd gave it). */
  memberId?: string;
  /** The leader the member knows, "0" for none. */
  leader?: string;
  error?: string;
}

/** A package's IPsec (its ipsec: section): its identity and the peers the cluster recorded. */
export interface PackageIpsecView {
  identity: string;
  peers: {
    id: string;
    address: string;
    connection: string;
    /** The node that recorded it (the owner when its SA came up). */
    recordedBy: string;
    /** How contacting it after the last takeover went ("ok" when it came back). */
    contact: PeerRecord["contact"];
  }[];
}

export interface EtcdView {
  endpoints: EtcdMemberAnswer[];
  reachable: number;
  members: number;
  /** A majority of the configured members answered and agree there is a leader. */
  quorum: boolean;
  /** Endpoint of the member that leads etcd's Raft, when one answered as leader. */
  leaderEndpoint: string | undefined;
}

export interface NodeView {
  name: string;
  status: NodeStatus;
  /** When it joined or last changed (ms since the epoch); undefined when not known. */
  since: number | undefined;
  subnetsUp: string[];
  /** Halted by an operator (pavise node halt), by whom when known. */
  haltedByOperator: boolean;
  haltedBy: string | undefined;
}

export interface AddressView {
  address: string;
  subnet: string;
  /** Node that holds it (the owner), or undefined while the package runs nowhere. */
  node: string | undefined;
  /** NIC on that node: as the owner reported it, else the subnet's primary NIC in the configuration. */
  nic: string | undefined;
  /** "reported" (by the owner's daemon) or "configured" (the primary NIC, assumed). */
  nicFrom: "reported" | "configured" | undefined;
}

export interface PackageView {
  name: string;
  /** package_type (PackageType in the configuration model). */
  type: "failover" | "multi_node";
  /** cmviewcl STATUS. */
  status: PackageStatus;
  /** cmviewcl STATE: running while a node holds its ownership key. */
  state: "running" | "halted";
  /** Nodes running it (one for a failover package). */
  nodes: string[];
  /** auto_run / package switching. */
  switching: boolean;
  /** Node switching disabled on these nodes (cmmodpkg -d -n). */
  disabledNodes: string[];
  /** Halted by an operator (pavise pkg halt): stays down until run again. */
  haltedByOperator: boolean;
  maintenance: boolean;
  /** The node an operator asked for (pavise pkg run --node / move). */
  requestedNode: string | undefined;
  /** Who changed the operator flags last, when known. */
  changedBy: string | undefined;
  /** Where the leader placed it, when that differs from where it runs. */
  placedOn: string[] | undefined;
  /** Should it run (switching on, not halted by an operator, not in maintenance)? */
  shouldRun: boolean;
  since: number | undefined;
  addresses: AddressView[];
  services: string[];
  failedOn: { node: string; reason: string | undefined }[];
  dependencies: { name: string; package: string; condition: string; location: string; met: boolean }[];
  /** Present for a package with ipsec:. */
  ipsec?: PackageIpsecView;
}

export interface StatusView {
  cluster: {
    name: string;
    /** up while at least one node is up. */
    status: "up" | "down";
    /** The node holding the leader key (writes placements), undefined while none does. */
    leader: string | undefined;
    revision: number;
  };
  etcd: EtcdView;
  nodes: NodeView[];
  packages: PackageView[];
  /** Every package that should run runs (the exit status: 0 when true). */
  healthy: boolean;
}

/**
 * One entry of the cluster's event log as the API and the console show it (`pavise events
 * --json`): the event as its writer recorded it plus the etcd revision it was written at, which
 * orders the log cluster-wide and is the SSE event id (design §7, §9).
 */
export interface EventView {
  /** ms since the epoch, the writer's wall clock. */
  time: number;
  node: string;
  kind: string;
  message: string;
  revision: number;
  package?: string;
  [extra: string]: unknown;
}

/** A node's NIC on one subnet (GET /v1/nodes: node-detail.ts says how link is known). */
export interface NicDetail {
  subnet: string;
  nic: string;
  /** NETWORK_INTERFACE (primary) or a standby for local LAN failover. */
  role: "primary" | "standby";
  link: "up" | "down" | "unknown";
  /** The subnet's addresses are on this NIC now (reported by the owner; else the primary). */
  carrying: boolean;
}

export interface NodeResourceDetail {
  status: "up" | "down";
  /** The operator who set it (pavise resource set, cmsetresource); absent: the monitor's. */
  setBy?: string;
}

export interface NodeDetail extends NodeView {
  leader: boolean;
  nics: NicDetail[];
  resources: Record<string, NodeResourceDetail>;
  /** Packages running here. */
  packages: string[];
  /** The node's API (its node record's apiUrl); absent while it does not serve one. */
  apiUrl: string | undefined;
}

/** One service of a package on one node (GET /v1/packages/{p}, package-detail.ts). */
export interface ServiceDetail {
  name: string;
  /** The node it runs on; undefined while the package runs nowhere. */
  node: string | undefined;
  /** Restarts since the package started there; undefined when the report does not say. */
  restarts: number | undefined;
  /** running, restarting, failed, halted, starting; "unknown" when the report does not say. */
  state: string;
}

export interface NodeChoice {
  node: string;
  eligible: boolean;
  /** Why it may not run there now (the scheduler's reason). */
  why?: string;
}

export interface PackageDetail extends Omit<PackageView, "services"> {
  services: ServiceDetail[];
  /** node → resource → status on that node. */
  resources: Record<string, Record<string, NodeResourceDetail>>;
  /** Its node_name list in order of preference, each with whether it could run there now. */
  nodeChoices: NodeChoice[];
}

/** `GET /v1/packages/{pkg}/log` (design §5). */
export interface LogTail {
  node: string;
  file: string;
  lines: string[];
}

/** `GET /v1/packages/{pkg}/ipsec`: the registry's peers, and the owner's live SAs. */
export interface PackageIpsecDetail extends PackageIpsecView {
  sas: IkeSaStatus[];
  /** The node that answered for the SAs (the owner). */
  from: string;
}
