import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  contactFailed,
  contactHint,
  contactSucceeded,
  DEFAULT_CONTACT_SETTINGS,
  EMPTY_CONTACT_STATE,
  planContact,
  registryContact,
  type ContactEvent,
  type ContactPeer,
  type ContactSettings,
  type ContactState,
} from "../../src/ipsec/contact/contact-plan.js";
import { seededRandom } from "../support/seeded-random.js";

// The contact plan driven on a virtual clock: each peer either answers after `handshakeMs` or
// never; the driver calls planContact at every nextCheckAt and after every outcome, as the
// package's IPsec host will (docs/ipsec-packages-design.md §8).

const peers = (n: number): ContactPeer[] =>
  Array.from({ length: n }, (_, i) => ({
    name: `p${i}`,
    id: `c${i}.clients.pavise.test`,
    address: `198.18.1.${i + 1}`,
  }));

interface World {
  now: number;
  state: ContactState;
  events: (ContactEvent & { at: number })[];
  initiated: { name: string; at: number }[];
  maxInFlight: number;
}

/**
 * Runs until `until` ms. reachable(name, now) decides each attempt's fate when it starts; a
 * reachable peer answers after handshakeMs, an unreachable one fails after failMs (the IKE
 * layer's retransmissions running out) or, with failMs undefined, never reports at all.
 */
function run(
  all: ContactPeer[],
  options: {
    until: number;
    settings?: ContactSettings;
    seed?: number;
    reachable: (name: string, now: number) => boolean;
    handshakeMs?: number;
    failMs?: number | undefined;
    established?: Set<string>;
    world?: World;
  },
): World {
  const settings = options.settings ?? DEFAULT_CONTACT_SETTINGS;
  const random = seededRandom(options.seed ?? 1);
  const handshakeMs = options.handshakeMs ?? 200;
  const failMs = "failMs" in options ? options.failMs : 4_000;
  const w: World = options.world ?? {
    now: 0,
    state: EMPTY_CONTACT_STATE,
    events: [],
    initiated: [],
    maxInFlight: 0,
  };
  const pending: { at: number; name: string; ok: boolean }[] = [];
  let nextCheck: number | undefined = w.now;
  for (;;) {
    const due = Math.min(nextCheck ?? Infinity, ...pending.map((p) => p.at));
    if (due === Infinity || due > options.until) break;
    w.now = Math.max(w.now, due);
    for (const p of pending.filter((q) => q.at <= w.now)) {
      pending.splice(pending.indexOf(p), 1);
      const out = p.ok
        ? contactSucceeded(w.state, p.name, w.now)
        : contactFailed(w.state, p.name, "no answer to IKE_SA_INIT", w.now, settings, random);
      w.state = out.state;
      w.events.push(...out.events.map((e) => ({ ...e, at: w.now })));
    }
    const plan = planContact(
      w.state,
      { peers: all, established: options.established ?? new Set(), now: w.now, settings },
      random,
    );
    w.state = plan.state;
    w.events.push(...plan.events.map((e) => ({ ...e, at: w.now })));
    for (const p of plan.initiate) {
      w.initiated.push({ name: p.name, at: w.now });
      const ok = options.reachable(p.name, w.now);
      if (ok) pending.push({ at: w.now + handshakeMs, name: p.name, ok });
      else if (failMs !== undefined) pending.push({ at: w.now + failMs, name: p.name, ok });
    }
    w.maxInFlight = Math.max(w.maxInFlight, plan.report.inFlight);
    nextCheck = plan.nextCheckAt;
  }
  return w;
}

const gaps = (w: World, name: string): number[] => {
  const at = w.initiated.filter((i) => i.name === name).map((i) => i.at);
  return at.slice(1).map((t, i) => t - (at[i] as number));
};

describe("contact plan", () => {
  beforeEach(() => {
    vi.spyOn(Math, "random").mockImplementation(() => {
      throw new Error("the contact plan must take its randomness from the seeded source");
    });
  });
  afterEach(() => vi.restoreAllMocks());

  it("contacts every reachable peer once, at once", () => {
    const w = run(peers(5), { until: 60_000, reachable: () => true });
    expect(w.initiated).toEqual(peers(5).map((p) => ({ name: p.name, at: 0 })));
    expect(w.events.filter((e) => e.kind === "ipsec-peer-contacted")).toHaveLength(5);
    const plan = planContact(
      w.state,
      { peers: peers(5), established: new Set(), now: w.now, settings: DEFAULT_CONTACT_SETTINGS },
      seededRandom(1),
    );
    expect(plan.initiate).toEqual([]);
    expect(plan.nextCheckAt).toBeUndefined();
    expect(plan.report).toMatchObject({ contacted: 5, retrying: 0, gaveUp: 0, inFlight: 0 });
  });

  it("backs off exponentially from retry to retry_max with ±20 % jitter, then gives up", () => {
    const w = run(peers(1), { until: 3_600_000, reachable: () => false });
    const delays = w.events.filter((e) => e.kind === "ipsec-peer-unreachable").map((e) => e.retryInMs);
    const bases = delays.map((_, i) => Math.min(60_000, 1_000 * 2 ** i));
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(0.8 * (bases[i] as number));
      expect(d).toBeLessThanOrEqual(1.2 * (bases[i] as number));
    });
    expect(bases.slice(0, 8)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    // Each retry starts when its backoff ends (the attempt itself fails after 4 s).
    expect(gaps(w, "p0")).toEqual(delays.map((d) => d + 4_000));
    // Jitter is real: not every delay sits on its base.
    expect(delays.some((d, i) => Math.abs(d - (bases[i] as number)) > 10)).toBe(true);
    const gaveUp = w.events.filter((e) => e.kind === "ipsec-peer-gave-up");
    expect(gaveUp).toHaveLength(1);
    const firstFailure = w.events[0]?.at as number;
    expect((gaveUp[0]?.at as number) - firstFailure).toBeGreaterThanOrEqual(600_000);
    expect((gaveUp[0]?.at as number) - firstFailure).toBeLessThan(600_000 + 1.2 * 60_000 + 4_000);
    // Given up: no more attempts, reported, kept for a hint.
    expect(w.initiated.filter((i) => i.at > (gaveUp[0]?.at as number))).toEqual([]);
    const plan = planContact(
      w.state,
      { peers: peers(1), established: new Set(), now: w.now, settings: DEFAULT_CONTACT_SETTINGS },
      seededRandom(1),
    );
    expect(plan.report.peers[0]).toMatchObject({ state: "gave-up", lastError: "no answer to IKE_SA_INIT" });
    expect(registryContact(plan.state.peers.get("p0"))).toMatchObject({ state: "gave-up" });
  });

  it("the same seed gives the same schedule, another seed another", () => {
    const schedule = (seed: number): number[] =>
      run(peers(3), { until: 120_000, seed, reachable: () => false }).initiated.map((i) => i.at);
    expect(schedule(7)).toEqual(schedule(7));
    expect(schedule(7)).not.toEqual(schedule(8));
  });

  it("never has more than `parallel` handshakes in flight, and still reaches everyone", () => {
    // The per-second limit out of the way: this is about the in-flight cap alone.
    const settings = { ...DEFAULT_CONTACT_SETTINGS, parallel: 32, startsPerSecond: 10_000 };
    const w = run(peers(200), { until: 60_000, settings, handshakeMs: 300, reachable: () => true });
    expect(w.maxInFlight).toBe(32);
    expect(w.initiated.filter((i) => i.at === 0)).toHaveLength(32);
    expect(new Set(w.initiated.map((i) => i.name)).size).toBe(200);
    expect(w.initiated).toHaveLength(200);
    // 200 peers, 32 at a time, 300 ms each: ceil(200/32) = 7 rounds.
    expect(Math.max(...w.initiated.map((i) => i.at))).toBe(6 * 300);
  });

  it("starts at most startsPerSecond new handshakes in any second", () => {
    const settings = { ...DEFAULT_CONTACT_SETTINGS, parallel: 1000, startsPerSecond: 10 };
    const w = run(peers(25), { until: 60_000, settings, handshakeMs: 50, reachable: () => true });
    const starts = w.initiated.map((i) => i.at);
    for (const t of starts)
      expect(starts.filter((s) => s >= t && s < t + 1000).length).toBeLessThanOrEqual(10);
    expect(starts.filter((s) => s === 0)).toHaveLength(10);
    expect(Math.max(...starts)).toBe(2000);
  });

  it("an attempt whose outcome never comes frees its slot after attemptTimeoutMs and counts as a failure", () => {
    const settings = { ...DEFAULT_CONTACT_SETTINGS, parallel: 1 };
    const w = run(peers(2), { until: 10_500, settings, failMs: undefined, reachable: (n) => n === "p1" });
    expect(w.initiated.map((i) => [i.name, i.at])).toEqual([
      ["p0", 0],
      ["p1", 10_000],
    ]);
    expect(w.events[0]).toMatchObject({
      kind: "ipsec-peer-unreachable",
      peer: "p0",
      error: "no outcome within 10000 ms",
      at: 10_000,
    });
  });

  it("success clears the failure history: a later failure backs off from `retry` again", () => {
    let attempts = 0;
    const w = run(peers(1), { until: 60_000, reachable: () => ++attempts > 3 });
    const failures = w.events.filter((e) => e.kind === "ipsec-peer-unreachable");
    expect(failures.map((e) => e.failures)).toEqual([1, 2, 3]);
    expect(w.events.at(-1)).toMatchObject({ kind: "ipsec-peer-contacted", failures: 3 });
    expect(registryContact(w.state.peers.get("p0"))).toEqual({ state: "ok", attempts: 0 });
    // A minute later the peer's SAs go stale again (unknown SPI from it) and it is unreachable once more.
    w.now += 60_000;
    w.state = contactHint(w.state, "p0", w.now, DEFAULT_CONTACT_SETTINGS);
    const before = w.events.length;
    run(peers(1), { world: w, until: w.now + 5_000, reachable: () => false });
    expect(w.events.slice(before)[0]).toMatchObject({ kind: "ipsec-peer-unreachable", failures: 1 });
    const delay = (w.events.slice(before)[0] as { retryInMs: number }).retryInMs;
    expect(delay).toBeGreaterThanOrEqual(800);
    expect(delay).toBeLessThanOrEqual(1200);
  });

  it("a peer given up comes back with a hint; hints within 2 s of the last start are ignored", () => {
    const settings = { ...DEFAULT_CONTACT_SETTINGS, giveUpMs: 5_000 };
    const w = run(peers(1), { settings, until: 100_000, reachable: () => false });
    expect(w.state.peers.get("p0")?.state).toBe("gave-up");
    const tries = w.initiated.length;
    w.now += 60_000;
    w.state = contactHint(w.state, "p0", w.now, settings);
    run(peers(1), { world: w, settings, until: w.now + 1_000, reachable: () => true });
    expect(w.initiated).toHaveLength(tries + 1);
    expect(w.events.at(-1)).toMatchObject({ kind: "ipsec-peer-contacted" });
    // A second hint right after that start does nothing.
    const again = contactHint(w.state, "p0", (w.initiated.at(-1)?.at as number) + 1_999, settings);
    expect(again).toBe(w.state);
    const later = contactHint(w.state, "p0", (w.initiated.at(-1)?.at as number) + 2_000, settings);
    expect(later.peers.has("p0")).toBe(false);
  });

  it("a peer that leaves the registry and comes back starts afresh", () => {
    // Failures at 4 s, ≈9 s, ≈15 s, ≈23 s (±jitter): at 25 s it waits ≈8 s in backoff.
    const w = run(peers(1), { until: 25_000, reachable: () => false });
    const st = w.state.peers.get("p0");
    expect(st?.state).toBe("backoff");
    expect(st && st.state === "backoff" && st.failures).toBeGreaterThan(1);
    // Forgotten (its DELETE reached the old owner's record), then recorded again.
    const gone = planContact(
      w.state,
      { peers: [], established: new Set(), now: w.now, settings: DEFAULT_CONTACT_SETTINGS },
      seededRandom(1),
    );
    expect(gone.state.peers.size).toBe(0);
    expect(gone.nextCheckAt).toBeUndefined();
    const back = planContact(
      gone.state,
      { peers: peers(1), established: new Set(), now: w.now + 1, settings: DEFAULT_CONTACT_SETTINGS },
      seededRandom(1),
    );
    expect(back.initiate.map((p) => p.name)).toEqual(["p0"]);
    expect(back.state.peers.get("p0")).toMatchObject({ state: "initiating", failures: 0 });
  });

  it("skips peers that came to us first and reports those it may not initiate to", () => {
    const all: ContactPeer[] = [
      ...peers(2),
      { name: "nat", id: "c9", address: "198.18.1.9", notInitiated: "behind a NAT (§7)" },
    ];
    const plan = planContact(
      EMPTY_CONTACT_STATE,
      { peers: all, established: new Set(["p1"]), now: 0, settings: DEFAULT_CONTACT_SETTINGS },
      seededRandom(1),
    );
    expect(plan.initiate.map((p) => p.name)).toEqual(["p0"]);
    expect(plan.report.peers.map((r) => [r.name, r.state])).toEqual([
      ["p0", "initiating"],
      ["p1", "contacted"],
      ["nat", "not-initiated"],
    ]);
    expect(plan.report.peers[2]?.reason).toBe("behind a NAT (§7)");
  });

  it("reports retrying peers with their next attempt and last error", () => {
    const w = run(peers(1), { until: 4_000, reachable: () => false });
    const plan = planContact(
      w.state,
      { peers: peers(1), established: new Set(), now: w.now, settings: DEFAULT_CONTACT_SETTINGS },
      seededRandom(1),
    );
    const row = plan.report.peers[0];
    expect(row).toMatchObject({ state: "retrying", failures: 1, lastError: "no answer to IKE_SA_INIT" });
    expect(plan.nextCheckAt).toBe(row?.nextAttemptAt);
    expect(registryContact(plan.state.peers.get("p0"))).toEqual({
      state: "retrying",
      attempts: 1,
      lastError: "no answer to IKE_SA_INIT",
    });
  });
});
