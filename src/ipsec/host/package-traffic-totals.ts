/**
 * ESP traffic per package that only goes up (design §6, risk §12.7): a Child SA's counters live
 * in the datapath and vanish with the SA at every rekey and delete, so a package's total is the
 * sum of its retired SAs' last counters plus its live SAs' current ones. Pure: the host tells
 * it what it saw ({@link observe} at each scrape, {@link retire} when an SA goes, with its final
 * counters when the datapath still had them).
 *
 * Counters restart at zero when a package moves to another node: each node counts its own
 * (Prometheus' rate() takes resets in its stride).
 */
import type { SaCounters as EspSaCounters } from "../../esp/core/sad.js";
import type { SaCounters } from "../datapath.js";

/** A package's ESP totals: the engine's per-SA counters summed, plus invalid payloads (RFC 4303 §3.4). */
export interface TrafficTotals extends EspSaCounters {
  invalidPayloads: number;
}

/** One live Child SA as the host lists it. */
export interface LiveChildSa {
  /** The inbound SPI (hex), which names the SA on this node. */
  spiIn: string;
  counters: SaCounters | undefined;
}

const FIELDS = [
  "bytesIn",
  "packetsIn",
  "bytesOut",
  "packetsOut",
  "replayDrops",
  "integrityFailures",
  "policyDrops",
  "expiredDrops",
  "invalidPayloads",
] as const satisfies readonly (keyof TrafficTotals)[];

export function zeroTotals(): TrafficTotals {
  return {
    bytesIn: 0,
    packetsIn: 0,
    bytesOut: 0,
    packetsOut: 0,
    replayDrops: 0,
    integrityFailures: 0,
    policyDrops: 0,
    expiredDrops: 0,
    invalidPayloads: 0,
  };
}

/** The larger of each field: an SA's counters never go down, so a late or early read cannot undo one. */
function maxOf(a: TrafficTotals, b: SaCounters | undefined): TrafficTotals {
  if (!b) return a;
  const out = { ...a };
  for (const f of FIELDS) out[f] = Math.max(a[f], b[f] ?? 0);
  return out;
}

function add(into: TrafficTotals, more: TrafficTotals): void {
  for (const f of FIELDS) into[f] += more[f];
}

export class PackageTrafficTotals {
  private readonly retired = new Map<string, TrafficTotals>();
  /** The last counters seen of each live SA, per package. */
  private readonly live = new Map<string, Map<string, TrafficTotals>>();

  /**
   * The package's Child SAs now: each one's counters are noted; an SA noted before and absent
   * now is gone (its delete was missed, or came without final counters) and is retired with
   * what was last seen of it.
   */
  observe(pkg: string, sas: readonly LiveChildSa[]): void {
    const before = this.live.get(pkg) ?? new Map<string, TrafficTotals>();
    const now = new Map<string, TrafficTotals>();
    for (const sa of sas) now.set(sa.spiIn, maxOf(before.get(sa.spiIn) ?? zeroTotals(), sa.counters));
    for (const [spiIn, last] of before) if (!now.has(spiIn)) this.addRetired(pkg, last);
    this.live.set(pkg, now);
  }

  /** The SA is gone (rekeyed, deleted, its package stopped); `final` is its last counters if known. */
  retire(pkg: string, spiIn: string, final: SaCounters | undefined): void {
    const sas = this.live.get(pkg);
    const last = sas?.get(spiIn) ?? zeroTotals();
    sas?.delete(spiIn);
    this.addRetired(pkg, maxOf(last, final));
  }

  /** The package's totals since this process started. */
  totals(pkg: string): TrafficTotals {
    const sum = { ...(this.retired.get(pkg) ?? zeroTotals()) };
    for (const sa of this.live.get(pkg)?.values() ?? []) add(sum, sa);
    return sum;
  }

  /** Every package with traffic counted here. */
  packages(): string[] {
    return [...new Set([...this.retired.keys(), ...this.live.keys()])];
  }

  private addRetired(pkg: string, last: TrafficTotals): void {
    const sum = this.retired.get(pkg) ?? zeroTotals();
    add(sum, last);
    this.retired.set(pkg, sum);
  }
}
