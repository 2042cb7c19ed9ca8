import {
  createHistogram,
  monitorEventLoopDelay,
  type IntervalHistogram,
  type RecordableHistogram,
} from "node:perf_hooks";
import { monotonicMs } from "../etcd/monotonic-clock.js";
import { FenceGuard, type Authority, type FenceEvent, type FenceGuardStats } from "./fence-guard.js";
import type { NodeLease } from "./node-lease.js";

/**
 * Told of each sample as the fence takes it, for metrics (operator-surfaces design §6): only
 * counts and records, never decides. Times in ms.
 */
export interface FenceObserver {
  /** A renewal etcd confirmed: answered `latencyMs` after it was sent (receivedAt − sentAt). */
  renewal(latencyMs: number): void;
  /** A renewal that failed (unreachable, no leader, timeout). */
  renewalFailure(): void;
  /** The loop tick ran `lagMs` late. */
  loopLag(lagMs: number): void;
}

export interface SelfFenceOptions {
  /** timing.fenceAfterMs. */
  fenceAfterMs: number;
  /** Kept between the fence deadline and the earliest moment etcd may expire the lease. */
  safetyMarginMs: number;
  /** timing.eventLoopBudgetMs. */
  eventLoopBudgetMs: number;
  /** How often the loop tick runs (the worker's guard must use the same). */
  tickIntervalMs: number;
  /**
   * Called once, synchronously, from whatever noticed the fence first (a tick, the deadline
   * timer, or a mayAct() call): halt the packages and drop their addresses now, then revoke the
   * lease (NodeLease.revoke) so others may take over.
   */
  onFence: (event: FenceEvent) => void;
  observer?: FenceObserver | undefined;
}

/**
 * The thin driver of FenceGuard in the daemon's main thread: a timer tick measures the event
 * loop (timer drift, and the max of monitorEventLoopDelay since the last tick) and beats the
 * heartbeat the keep-alive worker watches; every tick, every mayAct() and a timer at the guard's
 * deadline feed it what the worker confirmed since (read synchronously from shared memory).
 */
export class SelfFence {
  readonly guard: FenceGuard;
  readonly tickIntervalMs: number;
  private seenRenewals = 0;
  private seenFailures = 0;
  private seenLost = false;
  private lastTickAt: number;
  private tickTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly histogram: IntervalHistogram;
  private readonly resolutionMs: number;
  /** Every lag sample since the start, in µs: the figures for status and metrics. */
  private readonly lags: RecordableHistogram = createHistogram();
  private fenceEvent: FenceEvent | undefined;
  private running = false;

  constructor(
    private readonly lease: NodeLease,
    private readonly options: SelfFenceOptions,
  ) {
    this.tickIntervalMs = options.tickIntervalMs;
    const now = monotonicMs();
    this.lastTickAt = now;
    this.guard = new FenceGuard(
      {
        fenceAfterMs: options.fenceAfterMs,
        safetyMarginMs: options.safetyMarginMs,
        eventLoopBudgetMs: options.eventLoopBudgetMs,
        tickIntervalMs: this.tickIntervalMs,
      },
      now,
    );
    this.resolutionMs = Math.max(1, Math.min(10, this.tickIntervalMs));
    this.histogram = monitorEventLoopDelay({ resolution: this.resolutionMs });
    this.lease.beat(now);
    this.sync(now);
  }

  /** Starts the tick. The guard has the lease's grant already. */
  start(): this {
    if (this.running) return this;
    this.running = true;
    this.histogram.enable();
    this.schedule();
    return this;
  }

  /** May this node act as an owner right now? Ask before every owner action. */
  mayAct(): boolean {
    const now = monotonicMs();
    this.sync(now);
    const ok = this.guard.mayAct(now);
    this.drain();
    return ok;
  }

  authority(): Authority {
    const now = monotonicMs();
    this.sync(now);
    const authority = this.guard.authority(now);
    this.drain();
    return authority;
  }

  /**
   * Something other than the keep-alive showed the lease is gone (an etcd answer "lease not
   * found" to another request, the node key deleted under it): fence now rather than at the
   * next renewal. etcd 3.4 before 3.4.28 can revoke a lease its holder renews in time — a
   * leader that stalled and came back revokes what it thinks expired (etcd issue 15247).
   */
  leaseGone(detail: string): void {
    if (this.fenceEvent) return;
    this.guard.handleRenewalFailure(monotonicMs(), { kind: "lease-not-found", detail });
    this.drain();
  }

  /** The fence, if it happened. */
  get fenced(): FenceEvent | undefined {
    return this.fenceEvent;
  }

  /** The guard's counters, and the event-loop lag measured at each tick (p50, p99, max in ms). */
  get stats(): FenceGuardStats & { lagP50Ms: number; lagP99Ms: number; lagMaxMs: number; ticks: number } {
    const ms = (us: number): number => (this.lags.count > 0 ? us / 1000 : 0);
    return {
      ...this.guard.stats,
      lagP50Ms: ms(this.lags.percentile(50)),
      lagP99Ms: ms(this.lags.percentile(99)),
      lagMaxMs: ms(this.lags.max),
      ticks: this.lags.count,
    };
  }

  stop(): void {
    this.running = false;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.histogram.disable();
  }

  private tick(): void {
    const now = monotonicMs();
    const drift = now - (this.lastTickAt + this.tickIntervalMs);
    // Delays the histogram saw since the last tick. It samples with a timer of `resolution` ms
    // and records the whole interval between samples (measured: ≈10.1 ms when idle at 10 ms).
    const sampled = this.histogram.count > 0 ? this.histogram.max / 1e6 - this.resolutionMs : 0;
    this.histogram.reset();
    this.lastTickAt = now;
    this.lease.beat(now);
    this.sync(now);
    const lag = Math.max(0, drift, sampled);
    this.lags.record(Math.max(1, Math.round(lag * 1000)));
    this.options.observer?.loopLag(lag);
    this.guard.handleLoopTick(now, lag);
    this.drain();
    if (this.running) this.schedule();
  }

  private schedule(): void {
    this.tickTimer = setTimeout(() => this.tick(), this.tickIntervalMs);
  }

  /** Feeds the guard whatever the worker confirmed, failed or lost since the last time. */
  private sync(now: number): void {
    const { snapshot, renewals } = this.lease.read(this.seenRenewals);
    for (const r of renewals) {
      this.guard.handleRenewal(now, { sentAt: r.sentAt, receivedAt: r.receivedAt, ttlMs: r.ttlMs });
      this.options.observer?.renewal(r.receivedAt - r.sentAt);
    }
    this.seenRenewals = snapshot.renewals;
    for (; this.seenFailures < snapshot.failures; this.seenFailures++) {
      this.guard.handleRenewalFailure(now, { kind: "unreachable" });
      this.options.observer?.renewalFailure();
    }
    if (snapshot.lost && !this.seenLost) {
      this.seenLost = true;
      this.guard.handleRenewalFailure(now, {
        kind: "lease-not-found",
        detail: "etcd no longer has the lease",
      });
    }
  }

  /** Hands out the fence (once) and re-arms the deadline timer. */
  private drain(): void {
    const event = this.guard.pollEvent();
    if (event) {
      this.fenceEvent = event;
      this.stop();
      this.options.onFence(event);
      return;
    }
    if (!this.running) return;
    const at = this.guard.pollTimeout();
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    if (at !== undefined) {
      this.deadlineTimer = setTimeout(
        () => {
          const now = monotonicMs();
          this.sync(now);
          this.guard.handleTimeout(now);
          this.drain();
        },
        Math.max(0, at - monotonicMs()),
      );
    }
  }
}
