/**
 * What the keep-alive worker and the main thread share without messages: a SharedArrayBuffer
 * the worker writes after every renewal and the main thread reads synchronously whenever it is
 * about to act — so a renewal the worker has seen is never stuck behind a busy main thread's
 * message queue — plus the main thread's heartbeat, which the worker reads to see it stall.
 *
 * Renewals are kept in a ring of the last `capacity` ones, so the main thread's fence guard is
 * fed every renewal in the order the worker saw them, with the worker's own timestamps (a guard
 * fed only the latest could take a renewal that came in time for a late one). The ring is sized
 * so that overrunning it takes a main-thread stall longer than its budget, which fences anyway.
 *
 * The worker's fields change together, so they are written under a sequence lock: the counter is
 * odd while a write is under way, and a reader retries until it read the same even counter
 * before and after.
 */

export interface RenewalRecord {
  /** Number of this renewal, from 1 (the grant). */
  seq: number;
  sentAt: number;
  receivedAt: number;
  ttlMs: number;
}

export interface LeaseSnapshot {
  /** Confirmed renewals so far (the grant counts). */
  renewals: number;
  /** Failed renewal attempts so far, and in a row; when the last one failed. */
  failures: number;
  consecutiveFailures: number;
  lastFailureAt: number;
  /** etcd said the lease is gone (at lostAt). */
  lost: boolean;
  lostAt: number;
  /** The longest the worker saw the main thread's heartbeat stand still. */
  maxMainSilenceMs: number;
  /** The worker has stopped (revoked, or told to stop). */
  stopped: boolean;
}

const FIELDS = [
  "renewals",
  "failures",
  "consecutiveFailures",
  "lastFailureAt",
  "lost",
  "lostAt",
  "maxMainSilenceMs",
  "stopped",
] as const;
type Field = (typeof FIELDS)[number];

const SEQ = 0;
const ENTRY = 3;

export class SharedLeaseState {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  private readonly seq: Int32Array;
  private readonly data: Float64Array;
  private readonly mainTick: number;
  private readonly ring: number;

  /** A new state for `capacity` renewals, or a view of one the other thread made. */
  constructor(from: number | SharedArrayBuffer) {
    if (typeof from === "number") {
      if (!Number.isInteger(from) || from < 1)
        throw new RangeError(`capacity must be 1 or more, not ${from}`);
      this.buffer = new SharedArrayBuffer(8 + 8 * (FIELDS.length + 1 + ENTRY * from));
    } else {
      this.buffer = from;
    }
    const slots = (this.buffer.byteLength - 8) / 8;
    this.capacity = (slots - FIELDS.length - 1) / ENTRY;
    this.seq = new Int32Array(this.buffer, 0, 2);
    this.data = new Float64Array(this.buffer, 8, slots);
    this.mainTick = FIELDS.length;
    this.ring = FIELDS.length + 1;
  }

  /** Worker: changes some fields at once, and appends a renewal if given. */
  update(change: Partial<LeaseSnapshot>, renewal?: Omit<RenewalRecord, "seq">): void {
    Atomics.add(this.seq, SEQ, 1);
    for (const [key, value] of Object.entries(change) as [Field, number | boolean][]) {
      this.data[FIELDS.indexOf(key)] = typeof value === "boolean" ? (value ? 1 : 0) : value;
    }
    if (renewal) {
      const n = this.data[0]! + 1;
      this.data[0] = n;
      const at = this.ring + ((n - 1) % this.capacity) * ENTRY;
      this.data[at] = renewal.sentAt;
      this.data[at + 1] = renewal.receivedAt;
      this.data[at + 2] = renewal.ttlMs;
    }
    Atomics.add(this.seq, SEQ, 1);
  }

  /**
   * Main thread: a consistent copy of the worker's fields, and the renewals after `afterSeq`
   * still in the ring (oldest first; fewer than asked for if the ring was overrun).
   */
  read(afterSeq = Infinity): { snapshot: LeaseSnapshot; renewals: RenewalRecord[] } {
    for (;;) {
      const before = Atomics.load(this.seq, SEQ);
      if (before % 2 !== 0) continue;
      const values = FIELDS.map((_, i) => this.data[i]!);
      const total = values[0]!;
      const renewals: RenewalRecord[] = [];
      for (let n = Math.max(afterSeq + 1, total - this.capacity + 1, 1); n <= total; n++) {
        const at = this.ring + ((n - 1) % this.capacity) * ENTRY;
        renewals.push({
          seq: n,
          sentAt: this.data[at]!,
          receivedAt: this.data[at + 1]!,
          ttlMs: this.data[at + 2]!,
        });
      }
      if (Atomics.load(this.seq, SEQ) !== before) continue;
      const fields = Object.fromEntries(FIELDS.map((f, i) => [f, values[i]])) as Record<Field, number>;
      return { snapshot: { ...fields, lost: fields.lost === 1, stopped: fields.stopped === 1 }, renewals };
    }
  }

  /** Main thread: "I ran at `now`". One 8-byte field with one writer needs no lock. */
  beat(now: number): void {
    this.data[this.mainTick] = now;
  }

  /** Worker: when the main thread last ran (0 before its first beat). */
  lastBeat(): number {
    return this.data[this.mainTick]!;
  }
}
