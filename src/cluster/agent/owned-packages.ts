import type { EtcdClient } from "../etcd/client.js";
import type { ClusterKeys } from "../membership/layout.js";
import type { MemberSession } from "../membership/member-session.js";
import { type AcquireResult, acquireOwnership, releaseOwnership } from "../membership/ownership.js";

/**
 * The owner keys one membership session holds, taken and given up through the agent's etcd
 * client — the same rules as MemberSession.acquire/release/mayRun (refused once the session
 * may not act; forgotten at once when it fences), but over the client the agent uses for
 * everything else, which has already moved off a member that went away. The session's own
 * client learns that only by timing out on it (1 s), in the middle of a takeover.
 */
export class OwnedPackages {
  private readonly held = new Set<string>();
  private fenced = false;

  constructor(
    private readonly client: EtcdClient,
    private readonly keys: ClusterKeys,
    private readonly session: MemberSession,
  ) {}

  /** Takes a package's owner key (exclusive: a failover package); refused once fenced. */
  async acquire(pkg: string, exclusive: boolean): Promise<AcquireResult> {
    if (this.fenced || !this.session.mayAct()) return { acquired: false, holders: [] };
    const result = await acquireOwnership(this.client, this.keys, {
      package: pkg,
      node: this.session.node,
      lease: this.session.lease.id,
      exclusive,
    });
    // A fence while the transaction was under way: the key dies with the lease, never run.
    if (result.acquired && !this.fenced && this.session.mayAct()) this.held.add(pkg);
    return result;
  }

  /**
   * Gives a package up (after halting it). The key counts as held until etcd has said so: when
   * the release fails (a dropped raft proposal during an election, an unreachable member), the
   * package stays held here, down, and the next round releases it again — otherwise its key
   * would outlive the package and no other node could take it while this one lives
   * (bug-release-lost-in-an-election, found by npm run soak:cluster).
   */
  async release(pkg: string): Promise<boolean> {
    if (this.fenced) {
      this.held.delete(pkg);
      return false;
    }
    const released = await releaseOwnership(this.client, this.keys, {
      package: pkg,
      node: this.session.node,
      lease: this.session.lease.id,
    });
    // Released, or the key is not this lease's any more: either way nothing is held here.
    this.held.delete(pkg);
    return released;
  }

  /** May it run (start, keep running) this package now: it holds the key and may act. */
  mayRun(pkg: string): boolean {
    return !this.fenced && this.held.has(pkg) && this.session.mayAct();
  }

  /** Called from the fence callback, synchronously: nothing is held any more. */
  fence(): void {
    this.fenced = true;
    this.held.clear();
  }

  get packages(): string[] {
    return [...this.held];
  }
}
