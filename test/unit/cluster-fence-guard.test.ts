import { describe, expect, it } from "vitest";
import { FenceGuard, type FenceGuardOptions } from "../../src/cluster/membership/fence-guard.js";
import { seededRandom } from "../support/seeded-random.js";

// Lab timing: a 1 s lease (etcd with 50/500 ms Raft timing), renewed every 333 ms.
const TTL = 1000;
const OPTIONS: FenceGuardOptions = {
  fenceAfterMs: 700,
  safetyMarginMs: 200,
  eventLoopBudgetMs: 150,
  tickIntervalMs: 50,
};

/** A guard at t=0 whose grant was sent at 0 and answered at 5; the loop ticks every 50 ms up to `upTo`. */
function granted(options: FenceGuardOptions = OPTIONS): FenceGuard {
  const guard = new FenceGuard(options, 0);
  guard.handleRenewal(5, { sentAt: 0, ttlMs: TTL });
  return guard;
}

/** Ticks the loop every tickIntervalMs from `from` (exclusive) to `to` (inclusive), on time. */
function tickUntil(guard: FenceGuard, from: number, to: number, every = OPTIONS.tickIntervalMs): void {
  for (let t = from + every; t <= to; t += every) guard.handleLoopTick(t, 0);
}

describe("fence guard: the lease deadline", () => {
  it("grants nothing before etcd confirmed a lease", () => {
    const guard = new FenceGuard(OPTIONS, 0);
    expect(guard.mayAct(10)).toBe(false);
    expect(guard.authority(10)).toEqual({ kind: "unconfirmed" });
    expect(guard.pollEvent()).toBeUndefined();
  });

  it("counts from when the renewal was SENT, not when the answer came", () => {
    const guard = new FenceGuard(OPTIONS, 0);
    tickUntil(guard, 0, 300);
    // Sent at 0, answered at 300: the lease may expire at 1000 on etcd's side, whatever the delay.
    guard.handleRenewal(300, { sentAt: 0, ttlMs: TTL });
    expect(guard.authority(300)).toEqual({ kind: "owner", until: 700 });
  });

  it("the deadline is min(fenceAfter, TTL − margin) after the send", () => {
    // fenceAfter binds (700 < 1000 − 200).
    expect(granted().pollTimeout()).toBe(50 + 150 + 0); // the stall deadline comes first: tick at 0
    const guard = granted();
    tickUntil(guard, 0, 600);
    expect(guard.authority(600)).toEqual({ kind: "owner", until: 700 });
    // The margin binds (1000 − 400 < 900).
    const tight = granted({ ...OPTIONS, fenceAfterMs: 900, safetyMarginMs: 400 });
    tickUntil(tight, 0, 550);
    expect(tight.authority(550)).toEqual({ kind: "owner", until: 600 });
  });

  it("fences exactly at the deadline when no renewal is confirmed (etcd unreachable)", () => {
    const guard = granted();
    tickUntil(guard, 0, 650);
    guard.handleRenewalFailure(340, { kind: "unreachable" });
    guard.handleRenewalFailure(680, { kind: "timeout" });
    expect(guard.mayAct(699.9)).toBe(true);
    expect(guard.mayAct(700)).toBe(false);
    expect(guard.pollEvent()).toMatchObject({
      reason: "lease-unconfirmed",
      at: 700,
      detectedAt: 700,
      earliestExpiry: 1000,
    });
    expect(guard.stats.failures).toBe(2);
  });

  it("a renewal answered just before the deadline extends it", () => {
    const guard = granted();
    tickUntil(guard, 0, 650);
    guard.handleRenewal(699.9, { sentAt: 340, ttlMs: TTL });
    expect(guard.authority(699.9)).toEqual({ kind: "owner", until: 1040 });
    tickUntil(guard, 650, 1000);
    expect(guard.mayAct(1000)).toBe(true);
  });

  it("a renewal answered at or after the deadline rescues nothing (late answer)", () => {
    const guard = granted();
    tickUntil(guard, 0, 650);
    // Sent at 340 (in time), but the answer reached the node at 700: at 700 it did not know.
    guard.handleRenewal(700, { sentAt: 340, ttlMs: TTL });
    expect(guard.mayAct(700)).toBe(false);
    const event = guard.pollEvent();
    expect(event).toMatchObject({ reason: "lease-unconfirmed", at: 700 });
    // And nothing after that brings authority back.
    guard.handleRenewal(800, { sentAt: 750, ttlMs: TTL });
    expect(guard.mayAct(800)).toBe(false);
    expect(guard.stats.ignoredRenewals).toBe(1);
    expect(guard.pollEvent()).toBeUndefined();
  });

  it("judges a renewal by when the worker saw it, even if the main thread hears of it later", () => {
    const guard = granted();
    tickUntil(guard, 0, 650);
    // The worker got the answer at 690; the main thread reads it at 720 (nobody asked in between).
    guard.handleRenewal(720, { sentAt: 340, receivedAt: 690, ttlMs: TTL });
    expect(guard.authority(720)).toEqual({ kind: "owner", until: 1040 });
    // The same renewal, but seen by the worker at 705: too late.
    const late = granted();
    tickUntil(late, 0, 650);
    late.handleRenewal(720, { sentAt: 340, receivedAt: 705, ttlMs: TTL });
    expect(late.authority(720)).toMatchObject({ kind: "fenced", reason: "lease-unconfirmed", at: 700 });
  });

  it("once asked and refused, a renewal from before the deadline does not undo the fence", () => {
    const guard = granted();
    tickUntil(guard, 0, 700);
    expect(guard.mayAct(701)).toBe(false);
    guard.handleRenewal(702, { sentAt: 340, receivedAt: 690, ttlMs: TTL });
    expect(guard.mayAct(702)).toBe(false);
  });

  it("a renewal answered after its own window proves nothing", () => {
    const guard = new FenceGuard(OPTIONS, 0);
    tickUntil(guard, 0, 800);
    // Grant sent at 0, answered at 800 (> 0 + 700): never had authority.
    guard.handleRenewal(800, { sentAt: 0, ttlMs: TTL });
    expect(guard.authority(800)).toMatchObject({ kind: "fenced", reason: "lease-unconfirmed", at: 700 });
  });

  it("answers out of order never move the deadline back", () => {
    const guard = granted();
    tickUntil(guard, 0, 600);
    guard.handleRenewal(600, { sentAt: 500, ttlMs: TTL });
    guard.handleRenewal(610, { sentAt: 340, ttlMs: TTL });
    expect(guard.authority(610)).toEqual({ kind: "owner", until: 1200 });
  });

  it("uses the smallest TTL etcd ever reported", () => {
    const guard = granted({ ...OPTIONS, fenceAfterMs: 5000 });
    tickUntil(guard, 0, 300);
    guard.handleRenewal(300, { sentAt: 290, ttlMs: 600 });
    expect(guard.authority(300)).toEqual({ kind: "owner", until: 290 + 600 - 200 });
    guard.handleRenewal(320, { sentAt: 310, ttlMs: 5000 });
    expect(guard.authority(320)).toEqual({ kind: "owner", until: 310 + 600 - 200 });
    expect(guard.stats.minTtlMs).toBe(600);
  });

  it("fences at once when etcd says the lease is gone (TTL 0 or not found)", () => {
    const a = granted();
    a.handleRenewal(100, { sentAt: 90, ttlMs: 0 });
    expect(a.authority(100)).toMatchObject({ kind: "fenced", reason: "lease-lost", at: 100 });
    const b = granted();
    b.handleRenewalFailure(120, { kind: "lease-not-found" });
    expect(b.pollEvent()).toMatchObject({ reason: "lease-lost", at: 120, detectedAt: 120 });
  });

  it("ignores a renewal 'sent' after it was answered", () => {
    const guard = granted();
    guard.handleRenewal(100, { sentAt: 150, ttlMs: TTL });
    expect(guard.authority(100)).toEqual({ kind: "owner", until: 700 });
    expect(guard.stats.ignoredRenewals).toBe(1);
  });

  it("quorum loss: renewals fail from 400 on; the fence comes a margin before etcd could expire the lease", () => {
    const guard = granted();
    let t = 0;
    for (; t <= 333; t += 50) guard.handleLoopTick(t, 0);
    guard.handleRenewal(336, { sentAt: 333, ttlMs: TTL });
    for (; t <= 2000 && guard.mayAct(t); t += 1) {
      if (t % 50 === 0) guard.handleLoopTick(t, 0);
      if (t % 100 === 0 && t > 400) guard.handleRenewalFailure(t, { kind: "no-leader" });
    }
    const event = guard.pollEvent()!;
    expect(event.reason).toBe("lease-unconfirmed");
    expect(event.at).toBe(1033);
    // etcd handled the renewal no earlier than 333: its lease lives at least until 1333.
    expect(event.earliestExpiry).toBe(1333);
    expect(event.earliestExpiry! - event.at).toBeGreaterThanOrEqual(OPTIONS.safetyMarginMs);
  });
});

describe("fence guard: the event loop", () => {
  it("a lag sample over the budget fences, even while the lease is valid", () => {
    const guard = granted();
    guard.handleLoopTick(50, 20);
    guard.handleLoopTick(100, 150);
    expect(guard.mayAct(100)).toBe(true);
    guard.handleLoopTick(400, 250);
    expect(guard.authority(400)).toMatchObject({ kind: "fenced", reason: "event-loop-stall", at: 300 });
    expect(guard.stats.maxLagMs).toBe(250);
  });

  it("a tick that does not come (a stalled loop) fences at tick + budget — the worker may keep the lease", () => {
    const guard = granted();
    tickUntil(guard, 0, 300);
    // The worker renews throughout (it runs in its own thread)...
    guard.handleRenewal(2000, { sentAt: 333, receivedAt: 336, ttlMs: TTL });
    // ...but the main thread was silent from 300 to 2000: the first thing it learns is the fence.
    const authority = guard.authority(2000);
    expect(authority).toMatchObject({ kind: "fenced", reason: "event-loop-stall", at: 300 + 50 + 150 });
  });

  it("names the earlier cause when the lease deadline and the stall both passed", () => {
    const guard = granted();
    tickUntil(guard, 0, 600);
    // Silent from 600: stall deadline 800, lease deadline 700.
    expect(guard.authority(5000)).toMatchObject({ kind: "fenced", reason: "lease-unconfirmed", at: 700 });
    const other = granted();
    tickUntil(other, 0, 300);
    // Silent from 300: stall deadline 500 comes before the lease deadline 700.
    expect(other.authority(5000)).toMatchObject({ kind: "fenced", reason: "event-loop-stall", at: 500 });
  });

  it("pollTimeout is the earlier of the lease and stall deadlines", () => {
    const guard = granted();
    tickUntil(guard, 0, 600);
    expect(guard.pollTimeout()).toBe(700);
    guard.handleRenewal(610, { sentAt: 600, ttlMs: TTL });
    expect(guard.pollTimeout()).toBe(800);
    guard.handleTimeout(800);
    expect(guard.pollTimeout()).toBe(800);
    guard.handleTimeout(800.5);
    expect(guard.pollTimeout()).toBeUndefined();
    expect(guard.pollEvent()?.reason).toBe("event-loop-stall");
  });
});

describe("fence guard: clocks", () => {
  it("a clock that jumps back changes nothing and never revives authority", () => {
    const guard = granted();
    tickUntil(guard, 0, 600);
    expect(guard.mayAct(600)).toBe(true);
    expect(guard.mayAct(100)).toBe(true); // treated as 600
    guard.handleLoopTick(50, 0); // as 600 again
    expect(guard.mayAct(701)).toBe(false);
    expect(guard.mayAct(0)).toBe(false);
  });

  it("a clock that jumps forward (a suspended machine) fences", () => {
    const guard = granted();
    tickUntil(guard, 0, 200);
    guard.handleLoopTick(60_000, 0);
    expect(guard.authority(60_000)).toMatchObject({ kind: "fenced", reason: "event-loop-stall", at: 400 });
  });

  it("refuses a time that is not a number", () => {
    const guard = granted();
    expect(() => guard.mayAct(Number.NaN)).toThrow(/finite/);
  });
});

describe("fence guard: the end", () => {
  it("release fences for good and reports once", () => {
    const guard = granted();
    guard.release(100);
    expect(guard.mayAct(100)).toBe(false);
    expect(guard.pollEvent()).toMatchObject({ reason: "released", at: 100 });
    expect(guard.pollEvent()).toBeUndefined();
    guard.handleRenewal(150, { sentAt: 140, ttlMs: TTL });
    expect(guard.mayAct(150)).toBe(false);
  });

  it("checks its options", () => {
    expect(() => new FenceGuard({ ...OPTIONS, fenceAfterMs: 0 }, 0)).toThrow(/fenceAfterMs/);
    expect(() => new FenceGuard({ ...OPTIONS, safetyMarginMs: -1 }, 0)).toThrow(/safetyMarginMs/);
    expect(() => new FenceGuard({ ...OPTIONS, eventLoopBudgetMs: Number.NaN }, 0)).toThrow(
      /eventLoopBudgetMs/,
    );
  });
});

/**
 * A simulated etcd and a simulated node on one virtual clock. etcd's leader expires the lease
 * TTL after it handled the last renewal; a renewal is handled some time after it is sent (or
 * lost), answered some time after that (or lost), and refused once the lease has expired. The
 * node renews every interval (at once after a failure), its loop ticks with random lag and
 * occasional stalls. Whatever happens, whenever the guard lets the node act, the lease is alive
 * on etcd's side for at least the safety margin more.
 */
describe("fence guard against a simulated etcd (seeded)", () => {
  function simulate(seed: number): { acts: number; fences: number; minLeadMs: number } {
    const random = seededRandom(seed);
    const interval = 333;
    const margin = OPTIONS.safetyMarginMs;
    const guard = new FenceGuard(OPTIONS, 0);
    // etcd side
    let expiry = -Infinity; // lease expiry on the leader's clock (= ours: one virtual clock)
    let granted = false;
    // in-flight messages: [time it happens, what]
    const pending: { at: number; run: (now: number) => void }[] = [];
    const later = (at: number, run: (now: number) => void): void => void pending.push({ at, run });
    // node side
    let nextRenewal = 0;
    let nextTick = 50;
    let stalledUntil = 0;
    let minLead = Infinity;
    let acts = 0;
    // Network weather changes every ~500 ms: fine, slow, lossy, or etcd without quorum.
    let weather: "fine" | "slow" | "lossy" | "down" = "fine";
    const delay = (): number =>
      weather === "fine" ? random() * 3 : weather === "slow" ? random() * 600 : random() * 50;
    const lost = (): boolean => weather === "down" || (weather === "lossy" && random() < 0.5);

    for (let t = 0; t < 20_000; t += 1) {
      if (t % 500 === 0) {
        const r = random();
        weather = r < 0.55 ? "fine" : r < 0.7 ? "slow" : r < 0.85 ? "lossy" : "down";
      }
      // Deliver what is due (etcd handling requests, answers reaching the worker).
      pending.sort((a, b) => a.at - b.at);
      while (pending.length > 0 && pending[0]!.at <= t) pending.shift()!.run(t);
      // The worker sends a renewal (it runs in its own thread: main-thread stalls do not stop it).
      if (t >= nextRenewal) {
        const sentAt = t;
        nextRenewal = t + interval;
        if (!lost()) {
          later(t + delay(), (handledAt) => {
            const alive = !granted || handledAt < expiry;
            granted = true;
            if (alive) expiry = Math.max(expiry, handledAt + TTL);
            const ttlMs = alive ? TTL : 0;
            if (!lost()) later(handledAt + delay(), (now) => guard.handleRenewal(now, { sentAt, ttlMs }));
          });
        } else {
          later(t + 100, (now) => guard.handleRenewalFailure(now, { kind: "unreachable" }));
          nextRenewal = t + 100;
        }
      }
      // The main loop: ticks unless stalled; now and then a lag spike or a long stall.
      if (t >= stalledUntil && t >= nextTick) {
        const r = random();
        const lag = r < 0.002 ? 100 + random() * 2000 : random() * 5;
        stalledUntil = t + lag;
        guard.handleLoopTick(t, Math.max(0, t - nextTick));
        nextTick = t + OPTIONS.tickIntervalMs;
      }
      // The node acts whenever it can (checking first, as the daemon must).
      if (t >= stalledUntil && guard.mayAct(t)) {
        acts += 1;
        minLead = Math.min(minLead, expiry - t);
        expect(expiry - t).toBeGreaterThanOrEqual(margin);
      }
      // A fenced node starts over with a new lease and a new guard after a pause.
      const event = guard.pollEvent();
      if (event) {
        expect(event.earliestExpiry === undefined || event.at <= event.earliestExpiry - margin).toBe(true);
        return { acts, fences: 1, minLeadMs: minLead };
      }
    }
    return { acts, fences: 0, minLeadMs: minLead };
  }

  it("never lets the node act within the margin of the lease's expiry, over 300 seeded runs", () => {
    let acts = 0;
    let fences = 0;
    let minLead = Infinity;
    for (let seed = 1; seed <= 300; seed++) {
      const result = simulate(seed);
      acts += result.acts;
      fences += result.fences;
      minLead = Math.min(minLead, result.minLeadMs);
    }
    // The runs exercised both sides: long stretches of authority, and fences.
    expect(acts).toBeGreaterThan(100_000);
    expect(fences).toBeGreaterThan(100);
    expect(minLead).toBeGreaterThanOrEqual(OPTIONS.safetyMarginMs);
  }, 60_000); // a fixed number of runs: slow on a loaded machine, never a timing assertion
});
