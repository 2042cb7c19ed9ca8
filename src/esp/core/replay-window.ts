/**
 * ESP sequence numbers (RFC 4303 §3.3.3, §3.4.3 and Appendix A): the receiver's anti-replay
 * window and the sender's counter.
 *
 * The window is checked before the integrity check and moved only after it passed
 * (strongSwan's esp_context does the same): `check` never changes state, `commit` is called
 * with what `check` returned once the ICV was verified. A forged packet can then neither move
 * the window nor mark a sequence number as seen.
 *
 * Sequence numbers are 64 bits with ESN and 32 bits without; they are kept as two unsigned
 * 32-bit halves (`high`, `low`) so that no per-packet bigint is needed. The bitmap is circular:
 * sequence number s is bit (s mod B) of a Uint32Array of B bits, B the window size rounded up
 * to a power of two (at least 32). B divides 2^32, so only the low half indexes it.
 *
 * An accepted `ReplayCheck` and an `OutboundSequence` both have the `{ high, low }` shape that
 * esp-transform's `EspSequenceNumber` takes.
 */

export const DEFAULT_REPLAY_WINDOW = 64;
export const MAX_REPLAY_WINDOW = 4096;

const TWO_32 = 0x1_0000_0000;
const MAX_U32 = 0xffff_ffff;
/** With anti-replay disabled (size 0), ESN inference still needs a window: take the half-space. */
const INFERENCE_WITHOUT_WINDOW = 0x8000_0000;

/** What `check` decided: the full sequence number to authenticate and commit, or why not. */
export type ReplayCheck =
  { ok: true; high: number; low: number } | { ok: false; reason: "replayed" | "too-old" };

/** A 64-bit sequence number from its halves (for logs and tests; the datapath keeps the halves). */
export function sequence64(high: number, low: number): bigint {
  return (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
}

export interface ReplayWindowOptions {
  /** Packets the window spans, 0 (anti-replay off, as strongSwan's replay_window = 0) to 4096. */
  size?: number;
  /** Extended sequence numbers (RFC 4303 §2.2.1): 64-bit counters, the high half inferred. */
  esn?: boolean;
}

/** Plain data of a window, for SA replication. */
export interface ReplayWindowSnapshot {
  size: number;
  esn: boolean;
  topHigh: number;
  topLow: number;
  bitmap: number[];
}

export class ReplayWindow {
  readonly size: number;
  readonly esn: boolean;
  /** T: the highest authenticated sequence number so far (0: nothing received yet). */
  private topHigh = 0;
  private topLow = 0;
  private readonly bits: Uint32Array;
  /** B - 1, B the bitmap's size in bits. */
  private readonly mask: number;

  constructor(options: ReplayWindowOptions = {}) {
    const size = options.size ?? DEFAULT_REPLAY_WINDOW;
    if (!Number.isInteger(size) || size < 0 || size > MAX_REPLAY_WINDOW) {
      throw new RangeError(
        `ReplayWindow: size must be a whole number from 0 to ${MAX_REPLAY_WINDOW}, got ${size}`,
      );
    }
    this.size = size;
    this.esn = options.esn ?? false;
    let bitCount = 32;
    while (bitCount < size) bitCount *= 2;
    this.bits = new Uint32Array(bitCount / 32);
    this.mask = bitCount - 1;
  }

  /** The highest authenticated sequence number (0 before the first packet). */
  get top(): { high: number; low: number } {
    return { high: this.topHigh, low: this.topLow };
  }

  /**
   * Decides about a received packet's sequence number field (the low 32 bits on the wire),
   * without changing anything. With ESN, the high half is inferred as in Appendix A2.2;
   * the result carries the full number, which goes into the ICV check and then `commit`.
   */
  check(seqLow: number): ReplayCheck {
    const low = seqLow >>> 0;
    const high = this.esn ? this.inferHigh(low) : 0;
    if (high < 0) return { ok: false, reason: "too-old" };
    if (this.size === 0) return { ok: true, high, low };
    if (high === 0 && low === 0) return { ok: false, reason: "too-old" };
    if (this.isAhead(high, low)) return { ok: true, high, low };
    if (this.distanceBelowTop(high, low) >= this.size) return { ok: false, reason: "too-old" };
    if (this.isSet(low)) return { ok: false, reason: "replayed" };
    return { ok: true, high, low };
  }

  /**
   * Records an authenticated packet: moves the window when the number lies ahead of it and
   * marks the number as seen. Only for what `check` accepted and the ICV confirmed; a number
   * that fell out of the window meanwhile is ignored.
   */
  commit(high: number, low: number): void {
    high >>>= 0;
    low >>>= 0;
    if (this.isAhead(high, low)) {
      this.clearAhead(high, low);
      this.topHigh = high;
      this.topLow = low;
      this.mark(low);
      return;
    }
    if (this.distanceBelowTop(high, low) < this.size) this.mark(low);
  }

  snapshot(): ReplayWindowSnapshot {
    return {
      size: this.size,
      esn: this.esn,
      topHigh: this.topHigh,
      topLow: this.topLow,
      bitmap: [...this.bits],
    };
  }

  static restore(s: ReplayWindowSnapshot): ReplayWindow {
    const window = new ReplayWindow({ size: s.size, esn: s.esn });
    if (s.bitmap.length !== window.bits.length) {
      throw new RangeError(
        `ReplayWindow.restore: bitmap has ${s.bitmap.length} words, expected ${window.bits.length}`,
      );
    }
    window.topHigh = s.topHigh >>> 0;
    window.topLow = s.topLow >>> 0;
    window.bits.set(s.bitmap);
    return window;
  }

  /**
   * Appendix A2.2: with T = Th:Tl and W the window, Bl = Tl - W + 1 (mod 2^32) is the low half
   * of the window's bottom. If the window does not span a wrap of the low half (Tl >= W - 1),
   * a number at or above Bl is in the current epoch and one below it in the next; otherwise a
   * number at or above Bl is in the previous epoch and one below it in the current. Returns -1
   * when that would put the number below zero (nothing precedes epoch 0).
   */
  private inferHigh(low: number): number {
    const w = this.size === 0 ? INFERENCE_WITHOUT_WINDOW : this.size;
    const th = this.topHigh;
    const tl = this.topLow;
    const bottom = (tl - w + 1) >>> 0;
    if (tl >= w - 1) {
      if (low >= bottom) return th;
      return th === MAX_U32 ? -1 : th + 1;
    }
    if (low >= bottom) return th - 1;
    return th;
  }

  private isAhead(high: number, low: number): boolean {
    return high > this.topHigh || (high === this.topHigh && low > this.topLow);
  }

  /** T - s for s at or below T; exact while it matters (below the window size). */
  private distanceBelowTop(high: number, low: number): number {
    return (this.topHigh - high) * TWO_32 + (this.topLow - low);
  }

  private isSet(low: number): boolean {
    const bit = low & this.mask;
    return ((this.bits[bit >>> 5]! >>> (bit & 31)) & 1) === 1;
  }

  private mark(low: number): void {
    const bit = low & this.mask;
    this.bits[bit >>> 5]! |= 1 << (bit & 31);
  }

  /** Clears the bits of T+1 .. s: they held numbers that have now left the window. */
  private clearAhead(high: number, low: number): void {
    const shift = (high - this.topHigh) * TWO_32 + (low - this.topLow);
    const bitCount = this.mask + 1;
    if (shift >= bitCount) {
      this.bits.fill(0);
      return;
    }
    let pos = (this.topLow + 1) & this.mask;
    let left = shift;
    while (left > 0) {
      if ((pos & 31) === 0 && left >= 32) {
        this.bits[pos >>> 5] = 0;
        pos = (pos + 32) & this.mask;
        left -= 32;
      } else {
        this.bits[pos >>> 5]! &= ~(1 << (pos & 31));
        pos = (pos + 1) & this.mask;
        left -= 1;
      }
    }
  }
}

/** What `OutboundSequence.next` reports. */
export type OutboundStatus = "ok" | "rekey-needed" | "exhausted";

export interface OutboundSequenceOptions {
  esn?: boolean;
  /**
   * From which low half on (in the last epoch with ESN) every packet reports "rekey-needed",
   * so IKE has the rest of the space to rekey. Default: 0xF0000000 (2^28 packets left).
   */
  softLimit?: number;
}

export const DEFAULT_SEQUENCE_SOFT_LIMIT = 0xf000_0000;

/**
 * The sender's counter (RFC 4303 §3.3.3): 0 at SA creation, the first packet carries 1.
 * Without ESN it must not cycle: after 2^32 - 1 the SA can send nothing more and must be
 * replaced. With ESN the same holds at 2^64 - 1.
 */
export class OutboundSequence {
  readonly esn: boolean;
  readonly softLimit: number;
  /** The number last assigned by `next` (0 before the first packet). */
  high = 0;
  low = 0;

  constructor(options: OutboundSequenceOptions = {}) {
    this.esn = options.esn ?? false;
    const softLimit = options.softLimit ?? DEFAULT_SEQUENCE_SOFT_LIMIT;
    if (!Number.isInteger(softLimit) || softLimit < 1 || softLimit > MAX_U32) {
      throw new RangeError(
        `OutboundSequence: softLimit must be a whole number from 1 to ${MAX_U32}, got ${softLimit}`,
      );
    }
    this.softLimit = softLimit;
  }

  /**
   * Assigns the next sequence number (then in `high`, `low`). "exhausted" assigns nothing: the
   * packet must not be sent. "rekey-needed" assigns a number and asks for a new SA.
   */
  next(): OutboundStatus {
    if (this.low === MAX_U32) {
      if (!this.esn || this.high === MAX_U32) return "exhausted";
      this.high += 1;
      this.low = 0;
    } else {
      this.low += 1;
    }
    const lastEpoch = !this.esn || this.high === MAX_U32;
    return lastEpoch && this.low >= this.softLimit ? "rekey-needed" : "ok";
  }

  /** Continues from a given number (the last one sent), e.g. after a takeover; never goes back. */
  resumeAfter(high: number, low: number): void {
    high >>>= 0;
    low >>>= 0;
    if (!this.esn && high !== 0)
      throw new RangeError("OutboundSequence.resumeAfter: high must be 0 without ESN");
    if (high > this.high || (high === this.high && low > this.low)) {
      this.high = high;
      this.low = low;
    }
  }

  snapshot(): { esn: boolean; softLimit: number; high: number; low: number } {
    return { esn: this.esn, softLimit: this.softLimit, high: this.high, low: this.low };
  }
}
