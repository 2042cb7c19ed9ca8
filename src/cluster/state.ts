/**
 * The cluster as etcd holds it, read back into one value: what the scheduler decides from
 * (with the configuration and the time) and what `pavise status` shows. Package states use
 * Serviceguard's words (cmviewcl), so people recognise them.
 */

/** up: holds its lease and runs; halted: left on purpose (pavise node halt); failed: lease gone. */
export type NodeStatus = "up" | "halted" | "failed";

export interface NodeState {
  name: string;
  status: NodeStatus;
  /** Subnets on which the node has a NIC with link (primary or standby). */
  subnetsUp: string[];
  /** Generic resources as reported on this node (name → up/down). */
  resources: Record<string, "up" | "down">;
  /** When the status last changed (ms since the epoch). */
  since: number;
  /** Halted by an operator (pavise node halt, cmhaltnode) rather than leaving on its own. */
  haltedByOperator?: boolean;
}

/** cmviewcl's package STATUS/STATE: what the owner reports. */
export type PackageStatus = "up" | "down" | "starting" | "halting" | "failing" | "failed";

export interface PackageState {
  name: string;
  status: PackageStatus;
  /** Nodes that run it (one for a failover package): they hold its ownership key. */
  runningOn: string[];
  /** Global package switching (cmmodpkg -e / -d): may it be started or moved automatically? */
  switching: boolean;
  /** Node switching (cmmodpkg -n / -e -n): nodes it may not run on until re-enabled. */
  disabledNodes: string[];
  /** Nodes where it failed (a service ran out of restarts, a script failed): not eligible there. */
  failedOn: string[];
  /** An operator halted it (pavise pkg halt): stays down until run again. */
  haltedByOperator: boolean;
  /** Maintenance mode: never started, halted or moved by the cluster. */
  maintenance: boolean;
  /**
   * The node an operator asked for (cmrunpkg -n, pavise pkg move): a failover package runs
   * there while it is eligible, whatever its policies say; elsewhere by its policies.
   */
  requestedNode?: string | undefined;
  /** When its status last changed. */
  since: number;
}

export interface ClusterState {
  nodes: Record<string, NodeState>;
  packages: Record<string, PackageState>;
  /** Placement the cluster leader wrote last (package → nodes), if any. */
  placements: Record<string, string[]>;
}
