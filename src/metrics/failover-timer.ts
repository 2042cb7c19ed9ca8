import { moveCause } from "./event-causes.js";

/**
 * How long failovers take, as the cluster leader sees them (design §6
 * `pavise_failover_duration_seconds{cause}`). Pure: the leader feeds it each cluster snapshot
 * it reads (`observe`) and each placement change it plans (`planned`), with its monotonic
 * clock in ms, so there is no clock skew between nodes.
 *
 * - t0, node-failed: the leader sees a failover package's owner key vanish while that node's
 *   key is gone too (its lease lapsed: Serviceguard's node failure after member_timeout), not
 *   released by a planned move.
 * - t0, package-failed: the owner's report turns `failed` (a service ran out of
 *   service_restart, a script failed…).
 * - t0, operator: the leader plans a move for an operator (cmhaltnode, cmrunpkg -n, pavise pkg
 *   move), by the same rule as the move counter (event-causes.ts `moveCause`); a start that
 *   takes a package over from a node an operator halted (`takeoverFrom`, halted) too.
 * - t1: the new owner (another node holding the owner key) reports `up`.
 *
 * Only the leader can time both ends. A sample whose start this node did not see as leader is
 * lost: the leader changed in between, as when the leader's own node failed (documented in
 * design §6). The first cause seen for a package wins until it is up again elsewhere.
 */
export type FailoverCause = "node-failed" | "package-failed" | "operator";

export const FAILOVER_CAUSES: readonly FailoverCause[] = ["node-failed", "package-failed", "operator"];

/** What the leader read from etcd in one round (ClusterSnapshot, narrowed). */
export interface FailoverRound {
  /** This node holds the leader key and schedules. */
  leading: boolean;
  /** Owner keys present. */
  owners: readonly { package: string; node: string }[];
  /** Package reports present. */
  reports: readonly { package: string; node: string; status: string }[];
  /** Node keys present, by name, with the status each publishes. A missing node lost its lease. */
  nodes: Readonly<Record<string, { readonly [field: string]: unknown }>>;
  /** Failover packages (package_type failover): only they move from one node to another. */
  isFailover: (pkg: string) => boolean;
}

/** A placement change the leader planned (its `plan-*` event fields). */
export interface PlannedChange {
  kind: string;
  package: string;
  reason: string;
  from?: string | undefined;
  takeoverFrom?: string | undefined;
  takeoverFromStatus?: string | undefined;
}

export interface FailoverSample {
  package: string;
  cause: FailoverCause;
  seconds: number;
  from: string;
  to: string;
}

interface Pending {
  cause: FailoverCause;
  since: number;
  from: string;
  /** The old node let go of it (its owner key is gone) since t0. */
  left: boolean;
}

export interface FailoverTimerOptions {
  /**
   * A failover still not done after this long is dropped, not timed: it is an outage (no node
   * may run it), and a start much later (an operator's run) says nothing about failover.
   */
  maxPendingMs?: number;
}

export class FailoverTimer {
  private readonly pending = new Map<string, Pending>();
  private readonly maxPendingMs: number;
  /** The previous round, while this node led in it. */
  private before: { owners: Set<string>; failedReports: Set<string> } | undefined;
  private leading = false;
  /** Timings dropped: leader changes, packages never up again within maxPendingMs. */
  lost = 0;

  constructor(options: FailoverTimerOptions = {}) {
    this.maxPendingMs = options.maxPendingMs ?? 10 * 60_000;
  }

  /** Packages being timed now, with their cause (for tests and logs). */
  timing(): Record<string, FailoverCause> {
    return Object.fromEntries([...this.pending].map(([pkg, p]) => [pkg, p.cause]));
  }

  /** A change the leader planned (call with each `plan-move` / `plan-start` it writes). */
  planned(now: number, change: PlannedChange): void {
    const operatorMove = change.kind === "move" && moveCause(change.reason) === "operator";
    const operatorTakeover =
      change.kind === "start" &&
      typeof change.takeoverFrom === "string" &&
      change.takeoverFromStatus === "halted";
    if (!operatorMove && !operatorTakeover) return;
    const from = operatorMove ? change.from : change.takeoverFrom;
    if (from === undefined) return;
    this.begin(change.package, { cause: "operator", since: now, from, left: false });
  }

  /** One round of the leader's reading; returns the failovers that finished in it. */
  observe(now: number, round: FailoverRound): FailoverSample[] {
    if (!round.leading) {
      // Whatever was being timed started under this node's leadership, which is over.
      this.lost += this.pending.size;
      this.pending.clear();
      this.before = undefined;
      this.leading = false;
      return [];
    }
    const owners = new Set(round.owners.map((o) => key(o.package, o.node)));
    const failedReports = new Set(
      round.reports.filter((r) => r.status === "failed").map((r) => key(r.package, r.node)),
    );
    const before = this.leading ? this.before : undefined;
    this.leading = true;
    this.before = { owners, failedReports };
    if (before) this.noteStarts(now, round, before, owners, failedReports);
    return this.noteEnds(now, round, owners);
  }

  private noteStarts(
    now: number,
    round: FailoverRound,
    before: { owners: Set<string>; failedReports: Set<string> },
    owners: Set<string>,
    failedReports: Set<string>,
  ): void {
    for (const entry of failedReports) {
      if (before.failedReports.has(entry)) continue;
      const [pkg, node] = split(entry);
      if (round.isFailover(pkg))
        this.begin(pkg, { cause: "package-failed", since: now, from: node, left: false });
    }
    for (const entry of before.owners) {
      if (owners.has(entry)) continue;
      const [pkg, node] = split(entry);
      const record = round.nodes[node];
      // Released by a node that is still there: a planned move or a halt, not a failure.
      const leaseGone = record === undefined || record.status === "failed";
      if (leaseGone && round.isFailover(pkg))
        this.begin(pkg, { cause: "node-failed", since: now, from: node, left: true });
    }
  }

  private noteEnds(now: number, round: FailoverRound, owners: Set<string>): FailoverSample[] {
    const samples: FailoverSample[] = [];
    for (const [pkg, p] of this.pending) {
      if (!owners.has(key(pkg, p.from))) p.left = true;
      const upOn = round.reports
        .filter((r) => r.package === pkg && r.status === "up" && owners.has(key(pkg, r.node)))
        .map((r) => r.node);
      const to = upOn.find((node) => node !== p.from);
      if (to !== undefined) {
        samples.push({ package: pkg, cause: p.cause, seconds: (now - p.since) / 1000, from: p.from, to });
        this.pending.delete(pkg);
      } else if ((p.left && upOn.includes(p.from)) || now - p.since > this.maxPendingMs) {
        // Up again where it was (that node came back first), or not up for far too long:
        // nothing failed over.
        this.lost++;
        this.pending.delete(pkg);
      }
    }
    return samples;
  }

  private begin(pkg: string, p: Pending): void {
    if (!this.pending.has(pkg)) this.pending.set(pkg, p);
  }
}

function key(pkg: string, node: string): string {
  return `${pkg}\u0000${node}`;
}

function split(entry: string): [string, string] {
  const at = entry.indexOf("\u0000");
  return [entry.slice(0, at), entry.slice(at + 1)];
}
