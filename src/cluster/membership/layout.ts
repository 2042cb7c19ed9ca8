/**
 * Every key Pavise keeps in etcd, in one place. All live under the cluster's prefix
 * (etcd.prefix, by default "/pavise/<cluster name>/"; it ends with "/"):
 *
 *   <prefix>config                    the applied cluster configuration (pavise config apply):
 *                                     JSON AppliedConfig (src/cluster/config/applied-config.ts)
 *   <prefix>config-history/<n>        every applied revision, n zero-padded (config get --revision)
 *   <prefix>nodes/<node>              JSON NodeRecord, bound to the node's lease: present while
 *                                     the node is a member; gone ≈TTL after it fails. A node
 *                                     that leaves on purpose (SIGTERM) rewrites it bound to no
 *                                     lease with status "halted" (node-registry.ts retireNode),
 *                                     so it shows halted, not failed, until it joins again
 *   <prefix>owners/<package>/<node>   the node owns the package (may start it, runs it), bound to
 *                                     that node's lease, so ownership dies with its owner. A
 *                                     failover package has at most one key under
 *                                     owners/<package>/: it is taken by a transaction that needs
 *                                     the whole prefix empty (ownership.ts). A multi-node package
 *                                     has one per node that runs it. Value: JSON OwnerRecord.
 *   <prefix>leader                    the node that writes placements: taken by a transaction
 *                                     on create_revision == 0, bound to its lease (leader.ts)
 *   <prefix>placements                JSON package → nodes, written only by the leader, with a
 *                                     transaction that checks it still holds <prefix>leader
 *   <prefix>status/<package>/<node>   JSON PackageReport: how the package fares on that node
 *                                     (starting, up, halting, failed) and the NICs its
 *                                     addresses are on, written by that node's daemon, bound to
 *                                     its lease; "failed" stays until the node leaves (or, for a
 *                                     failure of a subnet, until the subnet has link again), so
 *                                     the leader keeps the package off it (failedOn)
 *   <prefix>events/<time>-<node>-<n>  the event log: JSON ClusterEvent, one key per event; the
 *                                     key sorts by the writer's wall clock (13-digit ms), the
 *                                     key's mod revision gives the cluster-wide order
 *   <prefix>ipsec/peers/<package>/<h> an IPsec peer that set up an IKE SA with the package (issue
 *                                     #6, docs/ipsec-packages-design.md §7): JSON PeerRecord
 *                                     (src/ipsec/registry/peer-record.ts). h = ipsecPeerName(remote
 *                                     IKE identity): identities may hold "/" and any byte. Bound
 *                                     to no lease, so the list outlives the owner's crash and the
 *                                     adoptive node can contact each peer; written and deleted only
 *                                     in a transaction that needs this node's owner key of the
 *                                     package (peer-registry.ts)
 *
 * Operator intent (pavise pkg / node / resource): written by the CLI, bound to no lease — it
 * outlives the nodes and the daemons — and changed only read-modify-write, in a transaction
 * that compares the key's mod_revision (operator/intent-store.ts), so two operators never
 * overwrite each other's change:
 *
 *   <prefix>admin/packages/<package>  JSON PackageIntent: package switching (cmmodpkg -e/-d),
 *                                     disabled nodes (cmmodpkg -d -n), halted by an operator
 *                                     (cmhaltpkg), maintenance, the node asked for (cmrunpkg -n,
 *                                     pavise pkg move); absent: the configuration's defaults
 *   <prefix>admin/nodes/<node>        JSON NodeIntent: halted by an operator (cmhaltnode); the
 *                                     node's daemon publishes status halted and stays running
 *   <prefix>resources/<node>/<name>   JSON ResourceSetting: a generic resource's status on that
 *                                     node as set by an operator (cmsetresource); it overrides
 *                                     what the node's daemon reports
 *
 * Names of nodes and packages are checked at the configuration boundary; here a name that
 * would break the layout (empty, or with "/") is refused with the name in the error.
 */

import { createHash } from "node:crypto";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** RFC 4648 §6 base32, lower case: only letters and digits, so the name fits NAME. */
const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
/** 26 base32 characters = 130 bits of SHA-256: no two identities of one package collide in practice. */
const PEER_NAME_LENGTH = 26;
const PEER_NAME = new RegExp(`^[a-z2-7]{${PEER_NAME_LENGTH}}$`);

/**
 * The key name of an IPsec peer: base32(SHA-256(remote identity))[:26]. The identity is the
 * text form the IKE layer prints (RFC 7296 §3.5: an FQDN, address, email or DN, any of which may
 * hold "/"), so the same peer always lands on the same key whichever node records it.
 */
export function ipsecPeerName(remoteId: string): string {
  if (remoteId.length === 0) throw new TypeError("IPsec peer identity must not be empty");
  const digest = createHash("sha256").update(remoteId, "utf8").digest();
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < PEER_NAME_LENGTH) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
    if (out.length === PEER_NAME_LENGTH) break;
  }
  return out;
}

export interface NodeRecord {
  name: string;
  /** The lease the key is bound to (decimal). */
  lease: string;
  /** When the node joined (ms since the epoch, the node's wall clock). */
  since: number;
  /** Whatever else the daemon reports (status, subnets up, resources). */
  [extra: string]: unknown;
}

export interface OwnerRecord {
  node: string;
  lease: string;
  /** When ownership was taken (ms since the epoch, the owner's wall clock). */
  since: number;
}

export interface ClusterEvent {
  /** ms since the epoch, the writer's wall clock. */
  time: number;
  node: string;
  kind: string;
  message: string;
  [extra: string]: unknown;
}

/** What a node's daemon reports about one package it runs or ran (status/<package>/<node>). */
export interface PackageReport {
  package: string;
  node: string;
  status: "starting" | "up" | "halting" | "failed";
  /** Why it failed, for the event log and pavise status. */
  reason?: string;
  /** When this status began (ms since the epoch, the node's wall clock). */
  since: number;
  /** The package's addresses on this node and the NIC each is on now (local LAN failover moves them). */
  addresses?: { address: string; nic: string }[];
  /** Each service's restarts and state on this node (agent/service-facts.ts). */
  services?: { name: string; restarts: number; state: string }[];
}

/** Who changed an operator key, and when: kept in the key so pavise status can say it. */
export interface ChangedBy {
  /** user@host of the operator. */
  by?: string;
  /** ms since the epoch, the operator's wall clock. */
  at?: number;
}

/** admin/packages/<package>: what operators asked of a package. Missing fields: the defaults. */
export interface PackageIntent extends ChangedBy {
  /** Package switching; absent: auto_run. */
  switching?: boolean;
  disabledNodes?: string[];
  halted?: boolean;
  maintenance?: boolean;
  /** Run it there while that node is eligible (cmrunpkg -n, pavise pkg move). */
  requestedNode?: string;
}

/** admin/nodes/<node>. */
export interface NodeIntent extends ChangedBy {
  halted: boolean;
}

/** resources/<node>/<name>. */
export interface ResourceSetting extends ChangedBy {
  status: "up" | "down";
}

function checkName(what: string, name: string): string {
  if (!NAME.test(name)) {
    throw new TypeError(
      `${what} ${JSON.stringify(name)} cannot be part of an etcd key: use letters, digits, ".", "_", "-"`,
    );
  }
  return name;
}

export class ClusterKeys {
  constructor(readonly prefix: string) {
    if (!prefix.startsWith("/") || !prefix.endsWith("/")) {
      throw new TypeError(`etcd prefix ${JSON.stringify(prefix)} must start and end with "/"`);
    }
  }

  /** The default prefix of a cluster. */
  static forCluster(name: string): ClusterKeys {
    return new ClusterKeys(`/pavise/${checkName("cluster name", name)}/`);
  }

  get config(): string {
    return `${this.prefix}config`;
  }

  /** Applied revision n of the configuration (kept for `pavise config get --revision`). */
  configRevision(n: number): string {
    if (!Number.isSafeInteger(n) || n < 1)
      throw new TypeError(`configuration revision ${n} must be 1 or more`);
    return `${this.prefix}config-history/${String(n).padStart(10, "0")}`;
  }

  get nodesPrefix(): string {
    return `${this.prefix}nodes/`;
  }

  node(name: string): string {
    return `${this.nodesPrefix}${checkName("node name", name)}`;
  }

  get ownersPrefix(): string {
    return `${this.prefix}owners/`;
  }

  /** Every owner key of one package (the prefix a failover acquisition needs empty). */
  packageOwners(pkg: string): string {
    return `${this.ownersPrefix}${checkName("package name", pkg)}/`;
  }

  owner(pkg: string, node: string): string {
    return `${this.packageOwners(pkg)}${checkName("node name", node)}`;
  }

  get leader(): string {
    return `${this.prefix}leader`;
  }

  get placements(): string {
    return `${this.prefix}placements`;
  }

  get statusPrefix(): string {
    return `${this.prefix}status/`;
  }

  /** The report of one package on one node. */
  status(pkg: string, node: string): string {
    return `${this.statusPrefix}${checkName("package name", pkg)}/${checkName("node name", node)}`;
  }

  get eventsPrefix(): string {
    return `${this.prefix}events/`;
  }

  event(time: number, node: string, n: number): string {
    return `${this.eventsPrefix}${String(Math.floor(time)).padStart(13, "0")}-${checkName("node name", node)}-${n}`;
  }

  get adminPackagesPrefix(): string {
    return `${this.prefix}admin/packages/`;
  }

  adminPackage(pkg: string): string {
    return `${this.adminPackagesPrefix}${checkName("package name", pkg)}`;
  }

  get adminNodesPrefix(): string {
    return `${this.prefix}admin/nodes/`;
  }

  adminNode(node: string): string {
    return `${this.adminNodesPrefix}${checkName("node name", node)}`;
  }

  /** Every operator key of packages and nodes (one get). */
  get adminPrefix(): string {
    return `${this.prefix}admin/`;
  }

  get resourcesPrefix(): string {
    return `${this.prefix}resources/`;
  }

  resource(node: string, name: string): string {
    return `${this.resourcesPrefix}${checkName("node name", node)}/${checkName("resource name", name)}`;
  }

  get ipsecPeersPrefix(): string {
    return `${this.prefix}ipsec/peers/`;
  }

  /** Every recorded IPsec peer of one package (the adoptive node reads this prefix). */
  packageIpsecPeers(pkg: string): string {
    return `${this.ipsecPeersPrefix}${checkName("package name", pkg)}/`;
  }

  /** The record of one peer, by its remote IKE identity. */
  ipsecPeer(pkg: string, remoteId: string): string {
    return `${this.packageIpsecPeers(pkg)}${ipsecPeerName(remoteId)}`;
  }

  /** The package and peer name (ipsecPeerName) an ipsec/peers/ key names, or undefined. */
  parseIpsecPeer(key: string): { package: string; peer: string } | undefined {
    const pair = namePair(key, this.ipsecPeersPrefix);
    return pair && PEER_NAME.test(pair[1]) ? { package: pair[0], peer: pair[1] } : undefined;
  }

  /** The package an admin/packages/ key names, or undefined. */
  parseAdminPackage(key: string): string | undefined {
    return singleName(key, this.adminPackagesPrefix);
  }

  /** The node an admin/nodes/ key names, or undefined. */
  parseAdminNode(key: string): string | undefined {
    return singleName(key, this.adminNodesPrefix);
  }

  /** The node and resource a resources/ key names, or undefined. */
  parseResource(key: string): { node: string; name: string } | undefined {
    const pair = namePair(key, this.resourcesPrefix);
    return pair && { node: pair[0], name: pair[1] };
  }

  /** The node a nodes/ key names, or undefined for a key that is not one. */
  parseNode(key: string): string | undefined {
    if (!key.startsWith(this.nodesPrefix)) return undefined;
    const name = key.slice(this.nodesPrefix.length);
    return NAME.test(name) ? name : undefined;
  }

  /** The package and node an owners/ key names, or undefined. */
  parseOwner(key: string): { package: string; node: string } | undefined {
    if (!key.startsWith(this.ownersPrefix)) return undefined;
    const [pkg, node, ...rest] = key.slice(this.ownersPrefix.length).split("/");
    if (rest.length > 0 || pkg === undefined || node === undefined || !NAME.test(pkg) || !NAME.test(node)) {
      return undefined;
    }
    return { package: pkg, node };
  }

  /** The package and node a status/ key names, or undefined. */
  parseStatus(key: string): { package: string; node: string } | undefined {
    if (!key.startsWith(this.statusPrefix)) return undefined;
    const [pkg, node, ...rest] = key.slice(this.statusPrefix.length).split("/");
    if (rest.length > 0 || pkg === undefined || node === undefined || !NAME.test(pkg) || !NAME.test(node)) {
      return undefined;
    }
    return { package: pkg, node };
  }
}

function singleName(key: string, prefix: string): string | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const name = key.slice(prefix.length);
  return NAME.test(name) ? name : undefined;
}

function namePair(key: string, prefix: string): [string, string] | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const [a, b, ...rest] = key.slice(prefix.length).split("/");
  if (rest.length > 0 || a === undefined || b === undefined || !NAME.test(a) || !NAME.test(b))
    return undefined;
  return [a, b];
}
