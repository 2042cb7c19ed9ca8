/**
 * The cluster leader's side of etcd leader_away_from_packages: now and then (at most every
 * CHECK_EVERY_MS, one check at a time) it asks etcd who leads and, when etcd-leader-choice.ts
 * says so, hands etcd's leadership to a member on a node that runs no failover package. A failed
 * check or move is logged and tried again later; nothing else depends on it.
 */

import type { ClusterConfig } from "../config/model.js";
import type { EtcdClient, EtcdMember } from "../etcd/client.js";
import { etcdLeaderTarget } from "../membership/etcd-leader-choice.js";
import type { ClusterState } from "../state.js";

const CHECK_EVERY_MS = 2_000;
const MEMBERS_FRESH_MS = 30_000;

export interface SteeringOptions {
  client: EtcdClient;
  /** A cluster event (etcd's leader moved) or a problem for the daemon's log. */
  event: (kind: string, message: string, extra?: Record<string, unknown>) => void;
  problem: (message: string) => void;
}

export class EtcdLeaderSteering {
  private lastCheck = 0;
  private busy = false;
  private members: { list: EtcdMember[]; at: number } | undefined;

  constructor(private readonly options: SteeringOptions) {}

  /** Called by the leader after each round; cheap unless a failover package runs somewhere. */
  maybeSteer(config: ClusterConfig, state: ClusterState): void {
    if (config.etcd.leaderAwayFromPackages === false || this.busy) return;
    const owning = new Set(
      config.packages
        .filter((p) => p.type === "failover")
        .flatMap((p) => state.packages[p.name]?.runningOn ?? []),
    );
    if (owning.size === 0 || Date.now() - this.lastCheck < CHECK_EVERY_MS) return;
    this.lastCheck = Date.now();
    this.busy = true;
    const up = new Set(
      Object.values(state.nodes)
        .filter((n) => n.status !== "failed")
        .map((n) => n.name),
    );
    void this.steer(config, owning, up)
      .catch((err: unknown) =>
        this.options.problem(`etcd leader check: ${err instanceof Error ? err.message : String(err)}`),
      )
      .finally(() => (this.busy = false));
  }

  private async steer(config: ClusterConfig, owning: Set<string>, up: Set<string>): Promise<void> {
    const { client } = this.options;
    const status = await client.status();
    if (!this.members || Date.now() - this.members.at > MEMBERS_FRESH_MS) {
      this.members = { list: await client.memberList(), at: Date.now() };
    }
    const members = this.members.list;
    const target = etcdLeaderTarget({
      members,
      leaderId: status.leader,
      nodes: config.nodes.map((n) => n.name),
      owning,
      up,
    });
    if (!target) return;
    const leader = members.find((m) => m.id === status.leader);
    const endpoint = leader?.clientUrls[0];
    if (!leader || endpoint === undefined) return;
    const started = Date.now();
    await client.moveLeader(endpoint, target.id);
    this.members = undefined;
    this.options.event(
      "etcd-leader-moved",
      `etcd's leadership moved from ${leader.name} to ${target.name} in ${Date.now() - started} ms: ${target.reason}`,
      { from: leader.name, to: target.name },
    );
  }
}
