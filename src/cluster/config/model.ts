/**
 * The cluster configuration after it was read and checked: what the scheduler, the node daemon
 * and the executor work from. Names and meanings follow Serviceguard's cluster and package
 * configuration files (cmquerycl / cmmakepkg), in snake_case in the YAML file
 * (`pavise config check` reads it: cluster-config.ts) and camelCase here.
 *
 * Every duration is in milliseconds; every list is in the order the file gives.
 */

import type { AuthConfig, ConnectionConfig } from "../../ike/config/read-connections.js";
import type { ApiConfig, PackageAccess } from "./api-model.js";

export type * from "./api-model.js";

export interface ClusterConfig {
  /** CLUSTER_NAME. */
  name: string;
  etcd: EtcdConfig;
  timing: ClusterTiming;
  /** Gratuitous ARP after an address is added or moved, and again after a partition heals. */
  arp: ArpConfig;
  /**
   * NETWORK_AUTO_FAILBACK (default yes, as in Serviceguard): after a local LAN failover, the
   * addresses go back to the primary NIC once its link has been up for a while.
   */
  networkAutoFailback?: boolean;
  subnets: SubnetConfig[];
  nodes: NodeConfig[];
  packages: PackageConfig[];
  /** Commands run on events (the `hooks:` section; absent when the file has none). */
  hooks?: HookConfig[] | undefined;
  /** The HTTP API and console (api-model.ts); absent: no API. */
  api?: ApiConfig | undefined;
}

/**
 * A command the daemon runs when it writes an event (Pacemaker's alert agents: one `alert` with
 * its `path`, `timeout`, a `select` of kinds and its `recipient`s). The node that writes the
 * event runs it (src/cluster/events/hook-plan.ts); it never holds the daemon up.
 */
export interface HookConfig {
  name: string;
  /** `/bin/sh -c` command line, with the event in its environment (PAVISE_EVENT_*). */
  command: string;
  /** Event kinds it runs for; ["all"] for every kind. Default: PACKAGE_STATE_KINDS. */
  events: string[];
  /** Only events of these packages (events that name no package, e.g. node-failed, still run it). */
  packages?: string[] | undefined;
  /** Run once per recipient (PAVISE_EVENT_RECIPIENT), or once without one when empty. */
  recipients: string[];
  /** Killed (its process group: SIGTERM, SIGKILL 2 s later) when it runs longer. Default 30 s. */
  timeoutMs: number;
}

export interface EtcdConfig {
  /** Client URLs, e.g. http://198.18.2.11:2379. */
  endpoints: string[];
  /**
   * Client TLS (files in PEM); absent for plain HTTP. With etcd's authentication on, also the etcd
   * user and the file holding its password (etcd/gateway-auth.ts). Any of them may hold "{node}",
   * which a daemon replaces with its node's name (etcd-credentials.ts): one certificate and one
   * user per node.
   */
  tls?:
    | { ca: string; cert: string; key: string; user?: string | undefined; passwordFile?: string | undefined }
    | undefined;
  /** Prefix of every key Pavise writes (default "/pavise/<cluster name>/"). */
  prefix: string;
  /**
   * leader_away_from_packages (default yes): the cluster leader moves etcd's leadership off a
   * node that runs a failover package, to a member on a node that runs none, so that crashing
   * that node does not also cost an etcd election (etcd-leader-choice.ts). Members are matched
   * to nodes by name (etcd --name = the node's name).
   */
  leaderAwayFromPackages?: boolean;
}

export interface ClusterTiming {
  /**
   * MEMBER_TIMEOUT: the TTL of each node's etcd lease. A node whose lease lapses is failed and
   * its packages may start elsewhere. etcd grants leases of 1 s only with fast Raft timing
   * (heartbeat 50 ms, election 500 ms; FACTS.md).
   */
  memberTimeoutMs: number;
  /** How often the lease is renewed (default a third of memberTimeoutMs). */
  keepaliveIntervalMs: number;
  /**
   * A node that could not confirm its lease for this long fences itself: halts its packages and
   * drops their addresses. Must be safely shorter than memberTimeoutMs.
   */
  fenceAfterMs: number;
  /** Event-loop lag that counts as a stall (the daemon then fences itself as well). */
  eventLoopBudgetMs: number;
  /**
   * Before a failover package starts, its addresses must not answer ARP; the start waits this
   * long for one that does to fall silent, then fails ("address in use"). Default
   * event_loop_budget: the time a live holder has to drop them when etcd ended its lease early
   * (a revoke, etcd issue 15247). 0: no check.
   */
  addressInUseWaitMs: number;
}

export interface ArpConfig {
  /** Gratuitous ARP packets per burst. */
  count: number;
  intervalMs: number;
}

export interface SubnetConfig {
  name: string;
  /** CIDR, e.g. 198.18.1.0/24. */
  cidr: string;
  /** Carries the cluster's own traffic (etcd) only; no relocatable addresses. */
  heartbeat: boolean;
}

export interface NodeConfig {
  /** NODE_NAME. */
  name: string;
  /** One entry per subnet the node is on. */
  interfaces: NodeInterface[];
}

export interface NodeInterface {
  subnet: string;
  /** The NIC that normally carries the subnet (NETWORK_INTERFACE). */
  primary: string;
  /** NICs the subnet's addresses move to when the primary's link fails (local LAN failover). */
  standby: string[];
}

export type PackageType = "failover" | "multi_node";
/** failover_policy: the first up node in the list, or the eligible node running fewest packages. */
export type FailoverPolicy = "configured_node" | "min_package_node";
/** failback_policy: whether a package returns to a more preferred node when it comes back. */
export type FailbackPolicy = "manual" | "automatic";

export interface PackageConfig {
  /** package_name. */
  name: string;
  /** package_type. */
  type: PackageType;
  /** node_name, in order of preference ("*" already expanded to every node in file order). */
  nodes: string[];
  /** auto_run: start when the cluster starts, and fail over (package switching enabled). */
  autoRun: boolean;
  failoverPolicy: FailoverPolicy;
  failbackPolicy: FailbackPolicy;
  /**
   * priority: 1 (highest) … 3000 (lowest); undefined is no_priority, below every number. A
   * higher-priority package may halt a lower one to get a node it needs.
   */
  priority: number | undefined;
  dependencies: PackageDependency[];
  /** ip_address with ip_subnet: added on the subnet's NIC of the node that runs the package. */
  addresses: RelocatableAddress[];
  /** monitored_subnet: the package runs only on nodes where each is up. */
  monitoredSubnets: string[];
  services: ServiceConfig[];
  /** generic_resource_name: the package runs only on nodes where each is up. */
  resources: GenericResourceConfig[];
  /** run_script / halt_script equivalents: run before addresses and services / after them. */
  startScript: ScriptConfig | undefined;
  haltScript: ScriptConfig | undefined;
  /** node_fail_fast_enabled: when the package fails, its node leaves the cluster at once. */
  nodeFailFast: boolean;
  /** script_log_file equivalent: where the package's scripts and services write. */
  logFile: string | undefined;
  /**
   * IPsec that moves with the package (docs/ipsec-packages-design.md §3): the node that runs it
   * answers and initiates IKE with the package's identity on the package's addresses. Failover
   * packages only.
   */
  ipsec?: PackageIpsecConfig | undefined;
  /** access: users who are PACKAGE_ADMIN of this package only (api-model.ts). */
  access?: PackageAccess[] | undefined;
}

export interface PackageIpsecConfig {
  /**
   * The package's own side, the same in every connection: its IKE identity (default: the first
   * ip_address) and credentials, by file path. Files live on each node of node_name; the
   * cluster file holds no secret because `pavise config apply` stores it in etcd.
   */
  local: AuthConfig;
  /** How the adoptive node contacts the peers of the registry (design §8). */
  contact: PackageIpsecContact;
  /** Registry entries of peers not seen this long are removed. */
  peersRetentionMs: number;
  connections: PackageIpsecConnection[];
}

export interface PackageIpsecContact {
  /** First retry after a failed contact, doubled up to retryMaxMs. */
  retryMs: number;
  retryMaxMs: number;
  /** A peer not reached for this long is reported and no longer tried. */
  giveUpMs: number;
  /** Contacts in flight at once. */
  parallel: number;
}

export interface PackageIpsecConnection {
  /**
   * swanctl vocabulary, read by read-connections.ts. `local` is the package's (above); empty
   * `localAddrs` means all the package's addresses (IKE listens there only while it runs).
   */
  connection: ConnectionConfig;
  /**
   * May the adoptive node initiate to this connection's peers (those in the registry whose
   * address is inside remote_addrs; any recorded peer when remote_addrs is empty)? No for
   * clients that come back through their own DPD (design §9, kind 3).
   */
  initiate: boolean;
  /** The pre-shared key file for psk authentication (either side), absolute path. */
  pskFile: string | undefined;
}

export interface PackageDependency {
  /** dependency_name. */
  name: string;
  /** The package depended on. */
  package: string;
  /** dependency_condition: the other package must be up (or down). */
  condition: "up" | "down";
  /** dependency_location. */
  location: "same_node" | "different_node" | "any_node";
}

export interface RelocatableAddress {
  /** IPv4 address, e.g. 198.18.1.50. */
  address: string;
  /** Name of the subnet it belongs to (its prefix length comes from there). */
  subnet: string;
}

export interface ServiceConfig {
  /** service_name. */
  name: string;
  /** service_cmd: run with /bin/sh -c. */
  command: string;
  /** service_restart: how often it is restarted before the package fails ("unlimited" or N). */
  restarts: number | "unlimited";
  /** Pause before a restart. */
  restartDelayMs: number;
  /** service_halt_timeout: SIGTERM, then SIGKILL after this long. */
  haltTimeoutMs: number;
  /** service_fail_fast_enabled: when it fails for good, the node leaves the cluster at once. */
  failFast: boolean;
}

export interface GenericResourceConfig {
  /** generic_resource_name. */
  name: string;
  /** Optional command that reports it (exit 0: up); otherwise an operator sets it. */
  monitor: { command: string; intervalMs: number } | undefined;
  /** Status on a node before anyone said otherwise. */
  initial: "up" | "down";
}

export interface ScriptConfig {
  /** Run with /bin/sh -c, with PAVISE_PACKAGE and PAVISE_NODE in its environment. */
  command: string;
  /** run_script_timeout / halt_script_timeout. */
  timeoutMs: number;
}
