/**
 * Whom the adoptive node initiates to, and when (docs/ipsec-packages-design.md §8). After a
 * takeover the node sends each recorded peer of the package an IKE_SA_INIT and then IKE_AUTH
 * with INITIAL_CONTACT (RFC 7296 §2.4, §3.10.1), so a client that ignores unauthenticated hints
 * and has no DPD (strongSwan 5.9 by default) drops its stale SAs for the package at once.
 *
 * A pure core on a clock it is given (STYLE: quinn-proto): no timers, no Math.random. The driver
 *   1. calls planContact(state, input) at the package's ipsec-contact step, at every nextCheckAt
 *      and after every outcome or hint, and initiates to each peer in `initiate`;
 *   2. reports each attempt's end with contactSucceeded / contactFailed (the IKE layer gives
 *      up on its own after its retransmissions, §8: 0.5 s × 1.5ⁿ, 3 tries);
 *   3. feeds unknown-SPI traffic from a recorded peer through contactHint.
 * Every call returns the next state; events go to the event log, the report to pavise status.
 *
 * Per peer: idle → initiating → contacted | backoff(until) → initiating … → gave-up.
 * Backoff doubles from `retryMs` to `retryMaxMs` with ±`jitter` (so a thousand peers that failed
 * together do not retry together), and after `giveUpMs` of failing the peer is given up:
 * kept in the registry, reported, revived by a later hint from it.
 */

export interface ContactSettings {
  /** First delay after a failed attempt (package ipsec.contact.retry). */
  retryMs: number;
  /** The delay doubles up to this (ipsec.contact.retry_max). */
  retryMaxMs: number;
  /** Failing this long since the first failure: give up (ipsec.contact.give_up). */
  giveUpMs: number;
  /** Handshakes in flight at most: each costs DH and signature work on the daemon's loop (ipsec.contact.parallel). */
  parallel: number;
  /** Each delay is scaled by a factor in [1 − jitter, 1 + jitter]. */
  jitter: number;
  /** An attempt with no outcome after this counts as failed, so a lost outcome never holds a slot for good. */
  attemptTimeoutMs: number;
  /** A hint starts at most one initiation per peer per this long (§8: against forged ESP). */
  hintIntervalMs: number;
  /** New initiations per second per package at most (§8). */
  startsPerSecond: number;
}

/** Design §3 and §8 defaults: contact { retry: 1s, retry_max: 60s, give_up: 10m, parallel: 32 }. */
export const DEFAULT_CONTACT_SETTINGS: ContactSettings = {
  retryMs: 1_000,
  retryMaxMs: 60_000,
  giveUpMs: 600_000,
  parallel: 32,
  jitter: 0.2,
  attemptTimeoutMs: 10_000,
  hintIntervalMs: 2_000,
  startsPerSecond: 100,
};

/** A recorded peer of the package (from the registry), as the plan needs it. */
export interface ContactPeer {
  /** The registry key's name (ipsecPeerName of the identity): unique per package. */
  name: string;
  id: string;
  address: string;
  /**
   * Why this node does not initiate to the peer, if it does not: a real NAT in front of it, or
   * the connection's policy (initiate: no, address outside remote_addrs). Such peers come back
   * through their own liveness checks (§9 kind 3) and are only reported.
   */
  notInitiated?: string;
}

/** What the plan remembers of one peer. No entry: never tried (idle). */
export type PeerAttempts =
  | { state: "initiating"; since: number; failures: number; firstFailureAt?: number; lastError?: string }
  | {
      state: "backoff";
      until: number;
      lastStart: number;
      failures: number;
      firstFailureAt: number;
      lastError: string;
    }
  | { state: "gave-up"; at: number; lastStart: number; failures: number; lastError: string }
  | { state: "contacted"; at: number; lastStart?: number; by: "us" | "peer" };

export interface ContactState {
  readonly peers: ReadonlyMap<string, PeerAttempts>;
  /** Start times within the last second (the startsPerSecond window). */
  readonly starts: readonly number[];
}

export const EMPTY_CONTACT_STATE: ContactState = { peers: new Map(), starts: [] };

export type ContactEvent =
  | { kind: "ipsec-peer-contacted"; peer: string; failures: number }
  | { kind: "ipsec-peer-unreachable"; peer: string; failures: number; error: string; retryInMs: number }
  | { kind: "ipsec-peer-gave-up"; peer: string; failures: number; error: string };

export interface PeerReport {
  name: string;
  id: string;
  address: string;
  state: "pending" | "initiating" | "contacted" | "retrying" | "gave-up" | "not-initiated";
  failures: number;
  lastError?: string;
  nextAttemptAt?: number;
  /** For not-initiated: why. */
  reason?: string;
}

export interface ContactReport {
  peers: PeerReport[];
  inFlight: number;
  contacted: number;
  retrying: number;
  gaveUp: number;
}

export interface ContactInput {
  peers: readonly ContactPeer[];
  /** Names of peers that hold an established IKE SA with the package on this node (they came to us). */
  established: ReadonlySet<string>;
  now: number;
  settings: ContactSettings;
}

export interface ContactPlan {
  state: ContactState;
  /** Initiate to these now, with INITIAL_CONTACT. */
  initiate: ContactPeer[];
  /** Call planContact again at this time (undefined: only an outcome or a hint changes anything). */
  nextCheckAt?: number;
  events: ContactEvent[];
  report: ContactReport;
}

export interface Outcome {
  state: ContactState;
  events: ContactEvent[];
}

/** The delay after the n-th failure (n ≥ 1): retry × 2ⁿ⁻¹ up to retryMax, jittered; random() in [0, 1). */
export function backoffDelay(failures: number, settings: ContactSettings, random: () => number): number {
  const base = Math.min(settings.retryMaxMs, settings.retryMs * 2 ** Math.min(failures - 1, 52));
  const factor = 1 + settings.jitter * (2 * random() - 1);
  return Math.max(1, Math.round(base * factor));
}

function failed(
  entry: PeerAttempts | undefined,
  name: string,
  error: string,
  now: number,
  settings: ContactSettings,
  random: () => number,
): { entry: PeerAttempts; event: ContactEvent } {
  const previous = entry?.state === "initiating" ? entry : undefined;
  const failures = (previous?.failures ?? 0) + 1;
  const firstFailureAt = previous?.firstFailureAt ?? now;
  const lastStart = previous?.since ?? now;
  if (now - firstFailureAt >= settings.giveUpMs) {
    return {
      entry: { state: "gave-up", at: now, lastStart, failures, lastError: error },
      event: { kind: "ipsec-peer-gave-up", peer: name, failures, error },
    };
  }
  const delay = backoffDelay(failures, settings, random);
  return {
    entry: { state: "backoff", until: now + delay, lastStart, failures, firstFailureAt, lastError: error },
    event: { kind: "ipsec-peer-unreachable", peer: name, failures, error, retryInMs: delay },
  };
}

/** Our initiation to `name` was answered and authenticated: the failure history is cleared. */
export function contactSucceeded(state: ContactState, name: string, now: number): Outcome {
  const entry = state.peers.get(name);
  const peers = new Map(state.peers);
  const lastStart = entry?.state === "initiating" ? entry.since : entry?.lastStart;
  peers.set(name, {
    state: "contacted",
    at: now,
    by: "us",
    ...(lastStart === undefined ? {} : { lastStart }),
  });
  const failures = entry && entry.state !== "contacted" ? entry.failures : 0;
  return { state: { ...state, peers }, events: [{ kind: "ipsec-peer-contacted", peer: name, failures }] };
}

/** Our initiation to `name` failed (no answer, refused, authentication failed). */
export function contactFailed(
  state: ContactState,
  name: string,
  error: string,
  now: number,
  settings: ContactSettings,
  random: () => number,
): Outcome {
  const entry = state.peers.get(name);
  if (entry?.state !== "initiating") return { state, events: [] }; // a late outcome of an attempt already timed out
  const { entry: next, event } = failed(entry, name, error, now, settings, random);
  const peers = new Map(state.peers);
  peers.set(name, next);
  return { state: { ...state, peers }, events: [event] };
}

/**
 * ESP or IKE for an unknown SPI came from a recorded peer: it lost its SAs with the package (or
 * holds stale ones). Revives a peer given up or waiting in backoff, and asks a contacted one
 * again — at most once per hintIntervalMs since the last start, so forged packets cannot make
 * us initiate in a loop (§8). A revived peer starts a fresh backoff history.
 */
export function contactHint(
  state: ContactState,
  name: string,
  now: number,
  settings: ContactSettings,
): ContactState {
  const entry = state.peers.get(name);
  if (!entry || entry.state === "initiating") return state;
  const lastStart = entry.lastStart;
  if (lastStart !== undefined && now - lastStart < settings.hintIntervalMs) return state;
  const peers = new Map(state.peers);
  peers.delete(name);
  return { ...state, peers };
}

function isDue(entry: PeerAttempts | undefined, now: number): boolean {
  return entry === undefined || (entry.state === "backoff" && entry.until <= now);
}

/** What to initiate now and when to look again. */
export function planContact(state: ContactState, input: ContactInput, random: () => number): ContactPlan {
  const { now, settings } = input;
  const events: ContactEvent[] = [];
  const present = new Set(input.peers.map((p) => p.name));
  const peers = new Map<string, PeerAttempts>();
  // A peer no longer in the registry is forgotten here too (if it comes back it starts afresh),
  // except while our handshake with it is in flight: that still holds a slot.
  for (const [name, entry] of state.peers) {
    if (present.has(name) || entry.state === "initiating") peers.set(name, entry);
  }

  for (const [name, entry] of peers) {
    if (entry.state !== "initiating" || now - entry.since < settings.attemptTimeoutMs) continue;
    const error = `no outcome within ${settings.attemptTimeoutMs} ms`;
    const { entry: next, event } = failed(entry, name, error, now, settings, random);
    if (present.has(name)) peers.set(name, next);
    else peers.delete(name);
    events.push(event);
  }
  for (const peer of input.peers) {
    const entry = peers.get(peer.name);
    if (input.established.has(peer.name) && entry?.state !== "initiating" && entry?.state !== "contacted") {
      // It came to us first (§8 "Skip"): nothing to do; our own attempt in flight still finishes.
      const lastStart = entry ? entry.lastStart : undefined;
      peers.set(peer.name, {
        state: "contacted",
        at: now,
        by: "peer",
        ...(lastStart === undefined ? {} : { lastStart }),
      });
    }
  }

  const starts = state.starts.filter((t) => now - t < 1000);
  let inFlight = [...peers.values()].filter((e) => e.state === "initiating").length;
  const due = input.peers
    .filter((p) => p.notInitiated === undefined && isDue(peers.get(p.name), now))
    .sort((a, b) => dueAt(peers.get(a.name)) - dueAt(peers.get(b.name)));
  const initiate: ContactPeer[] = [];
  for (const peer of due) {
    if (inFlight >= settings.parallel || starts.length >= settings.startsPerSecond) break;
    const entry = peers.get(peer.name);
    peers.set(peer.name, {
      state: "initiating",
      since: now,
      failures: entry?.state === "backoff" ? entry.failures : 0,
      ...(entry?.state === "backoff"
        ? { firstFailureAt: entry.firstFailureAt, lastError: entry.lastError }
        : {}),
    });
    starts.push(now);
    inFlight++;
    initiate.push(peer);
  }

  const next = { state: { peers, starts }, initiate, events, report: report(input.peers, peers) };
  const at = nextCheck(
    input.peers,
    peers,
    starts,
    initiate.length < due.length,
    inFlight < settings.parallel,
    settings,
  );
  return at === undefined ? next : { ...next, nextCheckAt: at };
}

function dueAt(entry: PeerAttempts | undefined): number {
  return entry?.state === "backoff" ? entry.until : -Infinity;
}

function nextCheck(
  all: readonly ContactPeer[],
  peers: ReadonlyMap<string, PeerAttempts>,
  starts: readonly number[],
  leftDue: boolean,
  slotFree: boolean,
  settings: ContactSettings,
): number | undefined {
  const times: number[] = [];
  for (const e of peers.values()) {
    if (e.state === "initiating") times.push(e.since + settings.attemptTimeoutMs);
  }
  for (const p of all) {
    const e = peers.get(p.name);
    if (e?.state === "backoff" && p.notInitiated === undefined) times.push(e.until);
  }
  // Held back by the per-second limit, not by the in-flight cap (an outcome frees that one).
  if (leftDue && slotFree && starts.length > 0) times.push(Math.min(...starts) + 1000);
  return times.length > 0 ? Math.min(...times) : undefined;
}

function report(all: readonly ContactPeer[], peers: ReadonlyMap<string, PeerAttempts>): ContactReport {
  const rows: PeerReport[] = all.map((p) => {
    const base = { name: p.name, id: p.id, address: p.address };
    const e = peers.get(p.name);
    if (p.notInitiated !== undefined && e?.state !== "contacted") {
      return { ...base, state: "not-initiated", failures: 0, reason: p.notInitiated };
    }
    if (!e) return { ...base, state: "pending", failures: 0 };
    switch (e.state) {
      case "initiating":
        return {
          ...base,
          state: "initiating",
          failures: e.failures,
          ...(e.lastError ? { lastError: e.lastError } : {}),
        };
      case "backoff":
        return {
          ...base,
          state: "retrying",
          failures: e.failures,
          lastError: e.lastError,
          nextAttemptAt: e.until,
        };
      case "gave-up":
        return { ...base, state: "gave-up", failures: e.failures, lastError: e.lastError };
      case "contacted":
        return { ...base, state: "contacted", failures: 0 };
    }
  });
  const count = (s: PeerReport["state"]): number => rows.filter((r) => r.state === s).length;
  return {
    peers: rows,
    inFlight: [...peers.values()].filter((e) => e.state === "initiating").length,
    contacted: count("contacted"),
    retrying: count("retrying"),
    gaveUp: count("gave-up"),
  };
}

/** The contact field of the peer's registry record (peer-record.ts) for pavise status on any node. */
export function registryContact(
  entry: PeerAttempts | undefined,
): { state: "ok" | "retrying" | "gave-up"; attempts: number; lastError?: string } | undefined {
  if (!entry || entry.state === "initiating") return undefined;
  if (entry.state === "contacted") return { state: "ok", attempts: 0 };
  return {
    state: entry.state === "backoff" ? "retrying" : "gave-up",
    attempts: entry.failures,
    lastError: entry.lastError,
  };
}
