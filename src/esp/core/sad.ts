import type { ChildSaKeys } from "../../ike/core/events.js";
import { OutboundSequence, ReplayWindow, type ReplayCheck } from "./replay-window.js";
import type { Policy } from "./spd.js";

/**
 * The security association database (RFC 4301 §4.4.2): the installed Child SAs, found by the
 * SPI of arriving ESP packets (our inbound SPI) or, outbound, through the policy that chose
 * them. Each SA carries its replay window, its sequence counter, counters and its lifetime.
 *
 * Pure: the caller passes the time, and what the SAD has to say (lifetimes reached, packets
 * for SPIs it does not know) piles up as events that `takeEvents` hands over.
 *
 * Per packet, inbound: `inbound(spi, from, now)` → `checkReplay` → (ICV check and decryption,
 * elsewhere) → `integrityFailed` or `acceptInbound` → the policy check, `policyDropped` when
 * it fails. Outbound: `outboundFor(policy)` → `nextOutbound` → sequence number in
 * `sa.sequence.high/low`.
 *
 * Lifetimes (bytes and packets counted per direction, as each direction is its own SA in a
 * kernel; 0 means no limit): the packet that reaches a limit passes and raises the event;
 * once hard-expired an SA carries nothing more. The soft event comes before the hard one,
 * each at most once. The outbound sequence space counts too: its soft limit raises
 * "soft-expire", its exhaustion "hard-expire" (reason "sequence").
 */

export type LifetimeReason = "bytes" | "packets" | "time" | "sequence";

export type SadEvent =
  | { type: "soft-expire"; spiIn: number; reason: LifetimeReason }
  | { type: "hard-expire"; spiIn: number; reason: LifetimeReason }
  | { type: "unknown-spi"; spi: number; from: string };

export interface SaCounters {
  bytesIn: number;
  packetsIn: number;
  bytesOut: number;
  packetsOut: number;
  replayDrops: number;
  integrityFailures: number;
  /** Decrypted packets outside the SA's selectors. */
  policyDrops: number;
  /** Packets refused because the SA had hard-expired. */
  expiredDrops: number;
}

export interface SaInstallOptions {
  now: number;
  /** Absolute times of the soft and hard lifetime (IKE's rekeyAt / expireAt), if any. */
  softExpireAt?: number | undefined;
  hardExpireAt?: number | undefined;
  /** See `OutboundSequenceOptions.softLimit`. */
  sequenceSoftLimit?: number;
}

export interface SaEntry {
  readonly keys: ChildSaKeys;
  readonly replay: ReplayWindow;
  readonly sequence: OutboundSequence;
  readonly counters: SaCounters;
  readonly installedAt: number;
  readonly softExpireAt: number | undefined;
  readonly hardExpireAt: number | undefined;
  softExpired: boolean;
  hardExpired: boolean;
}

/** Unknown-SPI events: at most one per SPI in this many milliseconds (a flood stays a count). */
export const UNKNOWN_SPI_REPORT_INTERVAL_MS = 1000;
const UNKNOWN_SPI_MEMORY = 1024;

export class Sad {
  private readonly byInbound = new Map<number, SaEntry>();
  private events: SadEvent[] = [];
  private readonly unknownReported = new Map<number, number>();
  /** ESP packets for SPIs not installed (or already removed). */
  unknownSpiPackets = 0;

  install(keys: ChildSaKeys, options: SaInstallOptions): SaEntry {
    if (this.byInbound.has(keys.spiIn)) {
      throw new RangeError(`Sad.install: inbound SPI 0x${hex(keys.spiIn)} is already installed`);
    }
    const entry: SaEntry = {
      keys,
      replay: new ReplayWindow({ size: keys.replayWindow, esn: keys.esn }),
      sequence: new OutboundSequence({
        esn: keys.esn,
        ...(options.sequenceSoftLimit === undefined ? {} : { softLimit: options.sequenceSoftLimit }),
      }),
      counters: {
        bytesIn: 0,
        packetsIn: 0,
        bytesOut: 0,
        packetsOut: 0,
        replayDrops: 0,
        integrityFailures: 0,
        policyDrops: 0,
        expiredDrops: 0,
      },
      installedAt: options.now,
      softExpireAt: options.softExpireAt,
      hardExpireAt: options.hardExpireAt,
      softExpired: false,
      hardExpired: false,
    };
    this.byInbound.set(keys.spiIn, entry);
    this.unknownReported.delete(keys.spiIn);
    return entry;
  }

  remove(spiIn: number): boolean {
    return this.byInbound.delete(spiIn);
  }

  get(spiIn: number): SaEntry | undefined {
    return this.byInbound.get(spiIn);
  }

  list(): SaEntry[] {
    return [...this.byInbound.values()];
  }

  get size(): number {
    return this.byInbound.size;
  }

  /**
   * The SA an arriving ESP packet names, or undefined: unknown SPI (counted, reported) or an
   * SA past its hard lifetime (counted on it).
   */
  inbound(spi: number, from: string, now: number): SaEntry | undefined {
    const sa = this.byInbound.get(spi);
    if (!sa) {
      this.unknownSpiPackets++;
      this.reportUnknown(spi, from, now);
      return undefined;
    }
    this.checkTime(sa, now);
    if (sa.hardExpired) {
      sa.counters.expiredDrops++;
      return undefined;
    }
    return sa;
  }

  /** The replay check before the ICV check (nothing changes; rejections are counted). */
  checkReplay(sa: SaEntry, seqLow: number): ReplayCheck {
    const verdict = sa.replay.check(seqLow);
    if (!verdict.ok) sa.counters.replayDrops++;
    return verdict;
  }

  integrityFailed(sa: SaEntry): void {
    sa.counters.integrityFailures++;
  }

  /** An authenticated, decrypted packet: the window moves, counters and lifetime follow. */
  acceptInbound(sa: SaEntry, seq: { high: number; low: number }, bytes: number, now: number): void {
    sa.replay.commit(seq.high, seq.low);
    sa.counters.packetsIn++;
    sa.counters.bytesIn += bytes;
    this.checkVolume(sa, sa.counters.bytesIn, sa.counters.packetsIn);
    this.checkTime(sa, now);
  }

  policyDropped(sa: SaEntry): void {
    sa.counters.policyDrops++;
  }

  /** The SA a protect policy sends with: its newest SA that can still carry traffic. */
  outboundFor(policy: Policy): SaEntry | undefined {
    for (let i = policy.sas.length - 1; i >= 0; i--) {
      const sa = this.byInbound.get(policy.sas[i]!);
      if (sa && !sa.hardExpired) return sa;
    }
    return undefined;
  }

  /**
   * Takes the next outbound sequence number (then in `sa.sequence.high/low`) for a packet of
   * `bytes`; false when the SA can send nothing more (hard-expired, sequence space used up).
   */
  nextOutbound(sa: SaEntry, bytes: number, now: number): boolean {
    this.checkTime(sa, now);
    if (sa.hardExpired) {
      sa.counters.expiredDrops++;
      return false;
    }
    const status = sa.sequence.next();
    if (status === "exhausted") {
      sa.counters.expiredDrops++;
      this.expire(sa, "hard", "sequence");
      return false;
    }
    if (status === "rekey-needed") this.expire(sa, "soft", "sequence");
    sa.counters.packetsOut++;
    sa.counters.bytesOut += bytes;
    this.checkVolume(sa, sa.counters.bytesOut, sa.counters.packetsOut);
    return true;
  }

  /** Time-based lifetimes of all SAs. */
  tick(now: number): void {
    for (const sa of this.byInbound.values()) this.checkTime(sa, now);
  }

  /** When `tick` next has something to do, if ever. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    const consider = (at: number | undefined) => {
      if (at !== undefined && (next === undefined || at < next)) next = at;
    };
    for (const sa of this.byInbound.values()) {
      if (!sa.softExpired) consider(sa.softExpireAt);
      if (!sa.hardExpired) consider(sa.hardExpireAt);
    }
    return next;
  }

  takeEvents(): SadEvent[] {
    const events = this.events;
    this.events = [];
    return events;
  }

  private checkVolume(sa: SaEntry, bytes: number, packets: number): void {
    const limits = sa.keys.lifetime;
    if (!sa.softExpired) {
      if (reached(bytes, limits.softBytes)) this.expire(sa, "soft", "bytes");
      else if (reached(packets, limits.softPackets)) this.expire(sa, "soft", "packets");
    }
    if (!sa.hardExpired) {
      if (reached(bytes, limits.hardBytes)) this.expire(sa, "hard", "bytes");
      else if (reached(packets, limits.hardPackets)) this.expire(sa, "hard", "packets");
    }
  }

  private checkTime(sa: SaEntry, now: number): void {
    if (!sa.softExpired && sa.softExpireAt !== undefined && now >= sa.softExpireAt) {
      this.expire(sa, "soft", "time");
    }
    if (!sa.hardExpired && sa.hardExpireAt !== undefined && now >= sa.hardExpireAt) {
      this.expire(sa, "hard", "time");
    }
  }

  /** Raises soft or hard expiry once; a hard expiry also raises the soft one if still due. */
  private expire(sa: SaEntry, which: "soft" | "hard", reason: LifetimeReason): void {
    if (which === "hard" && sa.hardExpired) return;
    if (!sa.softExpired) {
      sa.softExpired = true;
      this.events.push({ type: "soft-expire", spiIn: sa.keys.spiIn, reason });
    }
    if (which === "hard") {
      sa.hardExpired = true;
      this.events.push({ type: "hard-expire", spiIn: sa.keys.spiIn, reason });
    }
  }

  private reportUnknown(spi: number, from: string, now: number): void {
    const last = this.unknownReported.get(spi);
    if (last !== undefined && now - last < UNKNOWN_SPI_REPORT_INTERVAL_MS) return;
    if (this.unknownReported.size >= UNKNOWN_SPI_MEMORY) this.unknownReported.clear();
    this.unknownReported.set(spi, now);
    this.events.push({ type: "unknown-spi", spi, from });
  }
}

function reached(value: number, limit: number): boolean {
  return limit > 0 && value >= limit;
}

function hex(spi: number): string {
  return (spi >>> 0).toString(16).padStart(8, "0");
}
