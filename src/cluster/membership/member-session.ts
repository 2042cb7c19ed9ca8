import type { ClusterTiming, EtcdConfig } from "../config/model.js";
import { EtcdClient } from "../etcd/client.js";
import type { FenceEvent } from "./fence-guard.js";
import type { KeepAliveWorkerMessage } from "./keepalive-worker.js";
import { campaign, resign, type CampaignResult } from "./leader.js";
import { ClusterKeys } from "./layout.js";
import { NodeLease } from "./node-lease.js";
import { publishNode, withdrawNode } from "./node-registry.js";
import { acquireOwnership, releaseOwnership, type AcquireResult } from "./ownership.js";
import { SelfFence, type FenceObserver } from "./self-fence.js";

export interface MemberSessionOptions {
  etcd: EtcdConfig;
  /** The lease and fence timing (address_in_use_wait is the agent's, not the session's). */
  timing: Omit<ClusterTiming, "addressInUseWaitMs">;
  node: string;
  /**
   * Kept between the fence deadline and the earliest moment etcd may expire the lease, on top
   * of timing.fenceAfterMs (default: the event-loop budget plus the tick, what a late timer costs).
   */
  safetyMarginMs?: number;
  /** More fields for the node key (status, subnets, resources). */
  record?: Record<string, unknown>;
  /** See SelfFence: halt packages and drop addresses at once, then call end({ revoke: true }). */
  onFence: (event: FenceEvent) => void;
  onLeaseMessage?: (message: KeepAliveWorkerMessage) => void;
  /** Told of each renewal and loop tick (metrics); see SelfFence. */
  fenceObserver?: FenceObserver;
}

/**
 * One node's membership of the cluster, from joining to leaving: an etcd client, the node's
 * lease kept by a worker thread, the fence guard and the node key. Ownership and leadership are
 * taken through it, so it can refuse them once fenced, and it answers "may I run this package
 * now?" (mayRun) from the guard and the keys it took.
 *
 * A fenced session is over: the daemon halts everything, calls end({ revoke: true }) — which
 * revokes the lease, so the others may take over at once — and starts a new session.
 *
 * What etcd does that the timing must allow for (measured in the lab, 50/500 ms Raft timing,
 * test/integration/cluster-etcd-fence.test.ts):
 * - When the etcd leader fails, no member confirms a renewal until a new leader is elected:
 *   usually 550–1100 ms here, once more than 1.4 s on a loaded machine. fence_after must exceed
 *   keepalive_interval plus that, or an etcd leader change fences every node: with a 1 s lease
 *   (fence after 600 ms) it does; a 3 s lease (fence after 1.8 s) rode it out but for that
 *   once; the test uses 5 s (fence after 3 s). Expect about twice that with etcd's default timing.
 * - A leader cut off from its quorum keeps confirming renewals by itself until it steps down
 *   (up to ≈650 ms after here). That is safe: the next leader extends every lease by an
 *   election timeout on promotion, so the lease outlives the deadline counted from the send.
 */
export class MemberSession {
  private constructor(
    readonly node: string,
    readonly client: EtcdClient,
    readonly lease: NodeLease,
    readonly fence: SelfFence,
    readonly keys: ClusterKeys,
    /** Packages whose key this session took (cleared by the fence). */
    private readonly held: Set<string>,
    /**
     * The etcd revision at which this session wrote its node key: a later deletion of that key
     * means the lease is gone; an earlier one belongs to a previous session.
     */
    readonly joinedRevision: number,
  ) {}

  static async start(options: MemberSessionOptions): Promise<MemberSession> {
    const keys = new ClusterKeys(options.etcd.prefix);
    keys.node(options.node);
    const { timing } = options;
    const fenceOptions = {
      fenceAfterMs: timing.fenceAfterMs,
      // What a late timer can cost: the budget, plus the tick that would have noticed.
      safetyMarginMs:
        options.safetyMarginMs ?? timing.eventLoopBudgetMs + tickInterval(timing.eventLoopBudgetMs),
      eventLoopBudgetMs: timing.eventLoopBudgetMs,
      tickIntervalMs: tickInterval(timing.eventLoopBudgetMs),
    };
    const client = new EtcdClient({ endpoints: options.etcd.endpoints, tls: options.etcd.tls });
    let lease: NodeLease | undefined;
    let fence: SelfFence | undefined;
    try {
      lease = await NodeLease.start({
        endpoints: options.etcd.endpoints,
        tls: options.etcd.tls,
        ttlMs: timing.memberTimeoutMs,
        keepaliveIntervalMs: timing.keepaliveIntervalMs,
        fence: fenceOptions,
        ...(options.onLeaseMessage ? { onMessage: options.onLeaseMessage } : {}),
      });
      const held = new Set<string>();
      fence = new SelfFence(lease, {
        ...fenceOptions,
        observer: options.fenceObserver,
        onFence: (event) => {
          held.clear();
          options.onFence(event);
        },
      });
      fence.start();
      const joinedRevision = await publishNode(client, keys, {
        ...options.record,
        name: options.node,
        lease: lease.id,
        since: Date.now(),
      });
      return new MemberSession(options.node, client, lease, fence, keys, held, joinedRevision);
    } catch (err) {
      fence?.stop();
      await lease?.stop();
      client.close();
      throw err;
    }
  }

  /** The lease is known to be gone by other means than the keep-alive: fence now (self-fence.ts). */
  leaseGone(detail: string): void {
    this.fence.leaseGone(detail);
  }

  /** May this node act as an owner now (lease provably valid, event loop within budget)? */
  mayAct(): boolean {
    return this.fence.mayAct();
  }

  /** May it run (start, keep running) this package now: it holds the key and may act. */
  mayRun(pkg: string): boolean {
    return this.held.has(pkg) && this.fence.mayAct();
  }

  /** Takes a package's owner key (exclusive unless multi-node); refused once fenced. */
  async acquire(pkg: string, options: { exclusive?: boolean } = {}): Promise<AcquireResult> {
    if (!this.fence.mayAct()) return { acquired: false, holders: [] };
    const result = await acquireOwnership(this.client, this.keys, {
      package: pkg,
      node: this.node,
      lease: this.lease.id,
      exclusive: options.exclusive ?? true,
    });
    // A fence while the transaction was under way cleared `held`; the key dies with the lease.
    if (result.acquired && this.fence.mayAct()) this.held.add(pkg);
    return result;
  }

  /** Gives a package up (after halting it). */
  async release(pkg: string): Promise<boolean> {
    this.held.delete(pkg);
    return releaseOwnership(this.client, this.keys, { package: pkg, node: this.node, lease: this.lease.id });
  }

  /** Packages this session holds (and may run while mayAct()). */
  get packages(): string[] {
    return [...this.held];
  }

  async campaign(): Promise<CampaignResult> {
    if (!this.fence.mayAct()) return { leader: false, holder: undefined };
    return campaign(this.client, this.keys, { node: this.node, lease: this.lease.id });
  }

  async resign(): Promise<boolean> {
    return resign(this.client, this.keys, { lease: this.lease.id });
  }

  /** Leaves on purpose while staying alive: the node key goes, the lease and owner keys stay. */
  async withdraw(): Promise<boolean> {
    return withdrawNode(this.client, this.keys, { name: this.node, lease: this.lease.id });
  }

  /**
   * Leaves: stops the fence, and either revokes the lease (every key of this session goes at
   * once: call it only once the packages are halted) or just stops renewing it. Says whether
   * etcd confirmed a revoke: without quorum it cannot, and the lease then lapses by itself.
   */
  async end(options: { revoke: boolean }): Promise<{ revoked: boolean; error?: string }> {
    this.fence.stop();
    this.held.clear();
    try {
      if (options.revoke) return await this.lease.revoke();
      await this.lease.stop();
      return { revoked: false };
    } finally {
      this.client.close();
    }
  }
}

/** The fence tick: a quarter of the event-loop budget, at most 50 ms. */
function tickInterval(budgetMs: number): number {
  return Math.max(1, Math.min(50, Math.floor(budgetMs / 4)));
}
