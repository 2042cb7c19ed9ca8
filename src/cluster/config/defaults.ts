import type { ArpConfig, ClusterTiming } from "./model.js";

/**
 * What a cluster file may leave out, chosen so a Serviceguard administrator gets the behaviour
 * they expect and a node never keeps an address after its lease could have lapsed.
 * FACTS.md ("etcd") has the measurements behind the timing.
 */

/**
 * MEMBER_TIMEOUT: 2 s, the smallest lease etcd grants with its default Raft timing (heartbeat
 * 100 ms, election 1 s). 1 s works only with heartbeat 50 ms / election 500 ms (as the lab
 * runs etcd); Serviceguard's own default is 14 s. etcd leases are whole seconds.
 */
export const DEFAULT_MEMBER_TIMEOUT_MS = 2_000;

/**
 * The rest of the timing follows member_timeout unless given:
 * - keepalive_interval: a sixth of it. etcd needs 0.55–1.1 s to elect a new leader here
 *   (renewals fail meanwhile), so fence_after must exceed keepalive_interval plus that, or every
 *   node fences itself at each leader change (measured: test/integration/cluster-etcd-fence.test.ts;
 *   with member_timeout 1s and the lab's 50/500 ms Raft timing bench:failover's etcd-leader
 *   scenario saw the owner fence in every run; an election timeout of 250 ms avoided it in most:
 *   README, "What each topology and setting costs"); frequent renewals leave the most of
 *   fence_after for riding out an election;
 * - fence_after: 60 % of it, so a node stops its packages and drops their addresses well before
 *   the others may see its lease expire;
 * - event_loop_budget: a quarter of it; a stall longer than this fences the node as well, and
 *   fence_after + event_loop_budget stays below member_timeout, so a fence decision that comes
 *   late by a whole budget still comes before the lease can lapse;
 * - address_in_use_wait: event_loop_budget. A lease that lapses by itself was already given up by
 *   its holder (fence_after), but one that etcd ends early — revoked under a holder that renewed
 *   it in time, etcd issue 15247 (etcd before 3.4.28 / 3.5.11, Debian 12 ships 3.4.23) — reaches
 *   the holder and the next owner at the same revision. The holder drops its addresses as soon
 *   as its watch shows that (node-agent.ts); a holder in good health does that within one
 *   event_loop_budget, so every start waits up to that long for its addresses to stop
 *   answering ARP. A crashed or halted holder answers nothing: that costs one probe
 *   (address-probe.ts, ≈50 ms), not the wait.
 */
export function defaultTiming(memberTimeoutMs: number): ClusterTiming {
  const eventLoopBudgetMs = Math.round(memberTimeoutMs / 4);
  return {
    memberTimeoutMs,
    keepaliveIntervalMs: Math.round(memberTimeoutMs / 6),
    fenceAfterMs: Math.round(memberTimeoutMs * 0.6),
    eventLoopBudgetMs,
    addressInUseWaitMs: eventLoopBudgetMs,
  };
}

/**
 * Gratuitous ARP: a burst of 3, 150 ms apart. One GARP updates a peer's cache in ≈6 ms; without
 * one a peer kept the old MAC ≈11 s (FACTS.md); the repeats cover a lost packet.
 */
export const DEFAULT_ARP: ArpConfig = { count: 3, intervalMs: 150 };

/** Package defaults, as cmmakepkg writes them unless noted. */
export const PACKAGE_DEFAULTS = {
  type: "failover",
  /** node_name "*": every node, in the order of the nodes list. */
  nodes: "*",
  autoRun: true,
  failoverPolicy: "configured_node",
  failbackPolicy: "manual",
  nodeFailFast: false,
} as const;

/** Service defaults: service_restart none, service_halt_timeout 10 s. */
export const SERVICE_DEFAULTS = {
  restarts: 0,
  /**
   * Serviceguard restarts at once; a short pause keeps an "unlimited" service that fails on
   * start from spinning a core.
   */
  restartDelayMs: 1_000,
  haltTimeoutMs: 10_000,
  failFast: false,
} as const;

/**
 * Start and halt scripts: Serviceguard's default is no_timeout, but a hung halt script would
 * block a failover for ever, so Pavise always has one; raise it for slow starts.
 */
export const DEFAULT_SCRIPT_TIMEOUT_MS = 60_000;

/**
 * Generic resources start "down" on each node until their monitor or an operator says "up"
 * (Serviceguard: status unknown, and a package does not start on unknown); monitors run every
 * 10 s.
 */
export const RESOURCE_DEFAULTS = { initial: "down", monitorIntervalMs: 10_000 } as const;

/** Prefix of every etcd key of the cluster. */
export function defaultEtcdPrefix(clusterName: string): string {
  return `/pavise/${clusterName}/`;
}

/**
 * A package's ipsec: section (docs/ipsec-packages-design.md §8): the adoptive node retries a
 * peer after 1 s, doubling up to 60 s, gives up after 10 min, 32 contacts in flight; registry
 * entries of peers not seen for a day are removed.
 */
export const IPSEC_DEFAULTS = {
  contactRetryMs: 1_000,
  contactRetryMaxMs: 60_000,
  contactGiveUpMs: 600_000,
  contactParallel: 32,
  peersRetentionMs: 86_400_000,
} as const;
