/**
 * Whether this node may still act as an owner, decided from what it knows and nothing else: the
 * pure core of self-fencing (DESIGN.md principle 2). No clock, no timers, no I/O: every input
 * carries the time (monotonic milliseconds) and the driver (self-fence.ts) calls, in any order:
 *
 *   handleRenewal(now, renewal)      etcd confirmed the lease (grant or keep-alive)
 *   handleRenewalFailure(now, f)     a renewal failed (unreachable, no leader, lease gone)
 *   handleLoopTick(now, lagMs)       the main event loop ran at `now`, `lagMs` late
 *   handleTimeout(now)               at pollTimeout(), or whenever
 *   release(now)                     the node gives its lease up on purpose
 *
 * then asks mayAct(now) before every action an owner takes, and drains pollEvent() (the one
 * FenceEvent) and pollTimeout() (when to call handleTimeout next).
 *
 * The rule. etcd expires a lease TTL after the leader handled its last renewal, on the leader's
 * clock; the leader handled it after we sent it. So the lease cannot expire before
 * `sentAt + TTL` of any renewal etcd confirmed — counted from when the request was SENT, never
 * from when the answer came, because we cannot know how long it sat in queues on the way. The
 * node may act until
 *
 *   deadline = sentAt(last confirmed renewal) + min(fenceAfterMs, minTTL − safetyMarginMs)
 *
 * where minTTL is the smallest TTL etcd ever reported for this lease, and the margin covers what
 * the fence itself takes (halting packages, dropping addresses), clock rate differences and a
 * late timer. A confirmation that reaches the node after the deadline it would have extended
 * rescues nothing: at the deadline the node did not know, so it fenced. A renewal etcd refuses
 * (lease not found) fences at once.
 *
 * The same holds for the event loop: a node whose main thread did not run for longer than its
 * budget cannot have watched its deadline (the keep-alive worker may well have kept the lease:
 * both are right), so it fences too.
 *
 * Fencing is for good: once fenced, this guard never grants authority again. The node halts its
 * packages, drops their addresses, and starts over with a new lease and a new guard.
 */

export type FenceReason =
  /** The deadline passed without a confirmed renewal: etcd unreachable, no quorum, answers too late. */
  | "lease-unconfirmed"
  /** etcd said the lease does not exist (expired or revoked). */
  | "lease-lost"
  /** The main event loop did not run (or ran late) for longer than its budget. */
  | "event-loop-stall"
  /** The node gave up its lease on purpose (halt, shutdown). */
  | "released";

export interface FenceGuardOptions {
  /** fenceAfterMs: how long after a confirmed renewal was sent the node may act on it. */
  fenceAfterMs: number;
  /** Kept between the fence deadline and the earliest moment etcd may expire the lease. */
  safetyMarginMs: number;
  /** Event-loop lag that counts as a stall (eventLoopBudgetMs). */
  eventLoopBudgetMs: number;
  /** How often the driver's loop tick runs: a tick is overdue after this plus the budget. */
  tickIntervalMs: number;
}

/** A renewal etcd confirmed: sent at `sentAt`, answered (seen by the node) at `receivedAt`. */
export interface Renewal {
  sentAt: number;
  /** Default: the `now` of handleRenewal. */
  receivedAt?: number;
  /** TTL etcd reported (ms); 0 or less means the lease is gone. */
  ttlMs: number;
}

export type RenewalFailureKind = "unreachable" | "no-leader" | "timeout" | "lease-not-found";

export type Authority =
  | { kind: "unconfirmed" }
  | { kind: "owner"; until: number }
  | { kind: "fenced"; reason: FenceReason; at: number; detectedAt: number; detail: string };

export interface FenceEvent {
  reason: FenceReason;
  /** When authority ended: the deadline, or when the stall overran its budget. */
  at: number;
  /** When the guard learnt it (the `now` of the input that fenced). */
  detectedAt: number;
  /** The earliest moment etcd may expire the lease (sentAt + minTTL of the last confirmation). */
  earliestExpiry: number | undefined;
  detail: string;
}

export interface FenceGuardStats {
  renewals: number;
  failures: number;
  consecutiveFailures: number;
  /** Renewals that came after the guard had fenced, or were sent "in the future" (ignored). */
  ignoredRenewals: number;
  lastSentAt: number | undefined;
  minTtlMs: number | undefined;
  maxLagMs: number;
  /** Longest time between two loop ticks. */
  maxTickGapMs: number;
  /** Longest time between the sends of two consecutive confirmed renewals. */
  maxRenewalGapMs: number;
}

export class FenceGuard {
  private state: Authority = { kind: "unconfirmed" };
  private lastSentAt: number | undefined;
  private minTtlMs: number | undefined;
  private lastTick: number;
  private clock: number;
  private event: FenceEvent | undefined;
  private readonly counters = { renewals: 0, failures: 0, consecutiveFailures: 0, ignoredRenewals: 0 };
  private maxLagMs = 0;
  private maxTickGapMs = 0;
  private maxRenewalGapMs = 0;

  constructor(
    private readonly options: FenceGuardOptions,
    /** The guard's start: counts as the first loop tick. */
    start: number,
  ) {
    for (const key of ["fenceAfterMs", "eventLoopBudgetMs", "tickIntervalMs"] as const) {
      if (!(options[key] > 0)) throw new RangeError(`${key} must be more than 0, not ${options[key]}`);
    }
    if (!(options.safetyMarginMs >= 0)) {
      throw new RangeError(`safetyMarginMs must be 0 or more, not ${options.safetyMarginMs}`);
    }
    this.lastTick = start;
    this.clock = start;
  }

  // ---- inputs

  handleRenewal(now: number, renewal: Renewal): void {
    now = this.tick(now);
    const receivedAt = Math.min(renewal.receivedAt ?? now, now);
    if (this.state.kind === "fenced" || renewal.sentAt > receivedAt) {
      this.counters.ignoredRenewals += 1;
      this.advance(now);
      return;
    }
    if (renewal.ttlMs <= 0) {
      this.handleRenewalFailure(now, { kind: "lease-not-found", detail: "etcd reported TTL 0" });
      return;
    }
    // Too late: at its deadline the node did not know of this renewal, so it had to fence then.
    if (this.state.kind === "owner" && receivedAt >= this.state.until) {
      this.fence(
        "lease-unconfirmed",
        this.state.until,
        now,
        `a renewal was confirmed at ${receivedAt.toFixed(1)}, after the deadline ${this.state.until.toFixed(1)}`,
      );
      this.advance(now);
      return;
    }
    this.counters.renewals += 1;
    this.counters.consecutiveFailures = 0;
    this.minTtlMs = Math.min(this.minTtlMs ?? Infinity, renewal.ttlMs);
    if (this.lastSentAt !== undefined) {
      this.maxRenewalGapMs = Math.max(this.maxRenewalGapMs, renewal.sentAt - this.lastSentAt);
    }
    this.lastSentAt = Math.max(this.lastSentAt ?? -Infinity, renewal.sentAt);
    const until =
      this.lastSentAt + Math.min(this.options.fenceAfterMs, this.minTtlMs - this.options.safetyMarginMs);
    if (receivedAt >= until) {
      // Sent so long ago that it proves nothing about the present.
      this.fence(
        "lease-unconfirmed",
        until,
        now,
        `a renewal sent at ${renewal.sentAt.toFixed(1)} was answered too late`,
      );
    } else {
      this.state = { kind: "owner", until };
    }
    this.advance(now);
  }

  handleRenewalFailure(now: number, failure: { kind: RenewalFailureKind; detail?: string }): void {
    now = this.tick(now);
    this.counters.failures += 1;
    this.counters.consecutiveFailures += 1;
    this.advance(now);
    if (failure.kind === "lease-not-found") {
      this.fence("lease-lost", now, now, failure.detail ?? "etcd no longer has the lease");
    }
  }

  /** The main loop ran at `now`; `lagMs` is how late its timer fired (or a lag sample). */
  handleLoopTick(now: number, lagMs = 0): void {
    now = this.tick(now);
    // First judge the silence that ends now, then count the tick.
    this.advance(now);
    this.maxTickGapMs = Math.max(this.maxTickGapMs, now - this.lastTick);
    this.maxLagMs = Math.max(this.maxLagMs, lagMs);
    if (lagMs > this.options.eventLoopBudgetMs) {
      this.fence(
        "event-loop-stall",
        now - lagMs + this.options.eventLoopBudgetMs,
        now,
        `event loop ${lagMs.toFixed(0)} ms late (budget ${this.options.eventLoopBudgetMs} ms)`,
      );
    }
    this.lastTick = Math.max(this.lastTick, now);
  }

  handleTimeout(now: number): void {
    this.advance(this.tick(now));
  }

  release(now: number): void {
    now = this.tick(now);
    this.advance(now);
    this.fence("released", now, now, "the lease was given up");
  }

  // ---- outputs

  /** What the node may do at `now` (after judging every deadline up to `now`). */
  authority(now: number): Authority {
    this.advance(this.tick(now));
    return this.state;
  }

  /** May the node act as an owner at `now`? Ask before every owner action. */
  mayAct(now: number): boolean {
    return this.authority(now).kind === "owner";
  }

  /** When handleTimeout must be called next (the lease deadline or the stall deadline). */
  pollTimeout(): number | undefined {
    if (this.state.kind === "fenced") return undefined;
    const stall = this.stallDeadline();
    return this.state.kind === "owner" ? Math.min(this.state.until, stall) : stall;
  }

  /** The fence, once, after it happened. */
  pollEvent(): FenceEvent | undefined {
    const event = this.event;
    this.event = undefined;
    return event;
  }

  /** The earliest moment etcd may expire the lease, from what was confirmed. */
  get earliestExpiry(): number | undefined {
    return this.lastSentAt === undefined || this.minTtlMs === undefined
      ? undefined
      : this.lastSentAt + this.minTtlMs;
  }

  get stats(): FenceGuardStats {
    return {
      ...this.counters,
      lastSentAt: this.lastSentAt,
      minTtlMs: this.minTtlMs,
      maxLagMs: this.maxLagMs,
      maxTickGapMs: this.maxTickGapMs,
      maxRenewalGapMs: this.maxRenewalGapMs,
    };
  }

  // ---- internals

  /** Time never runs backwards here, whatever the caller passes (a clock that jumped back). */
  private tick(now: number): number {
    if (!Number.isFinite(now)) throw new RangeError(`now must be a finite number, not ${now}`);
    this.clock = Math.max(this.clock, now);
    return this.clock;
  }

  private stallDeadline(): number {
    return this.lastTick + this.options.tickIntervalMs + this.options.eventLoopBudgetMs;
  }

  /** Fences if a deadline has passed by `now`; the earlier of the two is the reason. */
  private advance(now: number): void {
    if (this.state.kind === "fenced") return;
    const stall = this.stallDeadline();
    const lease = this.state.kind === "owner" ? this.state.until : Infinity;
    if (now < lease && now <= stall) return;
    if (lease <= stall) {
      this.fence("lease-unconfirmed", lease, now, "no renewal was confirmed before the deadline");
    } else {
      this.fence(
        "event-loop-stall",
        stall,
        now,
        `event loop did not run for ${(now - this.lastTick).toFixed(0)} ms (budget ${this.options.eventLoopBudgetMs} ms)`,
      );
    }
  }

  private fence(reason: FenceReason, at: number, detectedAt: number, detail: string): void {
    if (this.state.kind === "fenced") return;
    this.state = { kind: "fenced", reason, at, detectedAt, detail };
    this.event = { reason, at, detectedAt, earliestExpiry: this.earliestExpiry, detail };
  }
}
