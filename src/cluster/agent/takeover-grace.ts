import type { ClusterKeys } from "../membership/layout.js";
import type { WatchEvent } from "../etcd/wire.js";

/** Packages whose owner's lease ended in one watch batch, and whose it was. */
export interface LeaseEnd {
  node: string;
  packages: string[];
}

/**
 * timing.takeover_grace (defaults.ts): after a node's lease ends, its packages' addresses are
 * not added anywhere else for the grace, so that a holder whose lease etcd ended early (revoked
 * under it, etcd issue 15247) has dropped them first. Both learn of the end at the same revision;
 * without the grace nothing orders the holder's drop before the next owner's add (a CI run saw
 * an address on two nodes for 8 ms).
 *
 * A lease ends when the node key goes: node keys are deleted only with their lease (leaving
 * rewrites it). The owner keys deleted at the same revision are the packages that node held. An
 * owner key deleted alone was released by its holder after it halted the package: no grace.
 *
 * Pure: fed with watch batches and the monotonic time they arrived.
 */
export class TakeoverGrace {
  /** Package → monotonic time before which its addresses may not be added here. */
  private readonly until = new Map<string, { at: number; from: string }>();

  constructor(
    private readonly keys: ClusterKeys,
    private readonly graceMs: number,
  ) {}

  /** A watch batch arrived at `now`: which leases ended in it, with the packages they held. */
  observe(events: readonly WatchEvent[], now: number): LeaseEnd[] {
    if (this.graceMs <= 0) return [];
    const ends: LeaseEnd[] = [];
    for (const event of events) {
      if (event.type !== "delete") continue;
      const node = this.keys.parseNode(event.kv.key);
      if (node === undefined) continue;
      const packages = events
        .filter((e) => e.type === "delete" && e.kv.modRevision === event.kv.modRevision)
        .map((e) => this.keys.parseOwner(e.kv.key))
        .filter((owner) => owner?.node === node)
        .map((owner) => owner!.package);
      for (const pkg of packages) this.until.set(pkg, { at: now + this.graceMs, from: node });
      ends.push({ node, packages });
    }
    return ends;
  }

  /** How long a start of `pkg` must still wait here, and whose lease ended (undefined: none). */
  remaining(pkg: string, now: number): { ms: number; from: string } | undefined {
    const entry = this.until.get(pkg);
    if (!entry) return undefined;
    if (entry.at <= now) {
      this.until.delete(pkg);
      return undefined;
    }
    return { ms: entry.at - now, from: entry.from };
  }
}
