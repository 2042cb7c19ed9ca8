import type { ChildSaKeys } from "../ike/core/events.js";
import type { SaCounters } from "./sa-status-types.js";

export type { SaCounters };

/**
 * The one interface between IKE and any datapath (DESIGN.md principle 4), in the spirit of a
 * kernel IPsec API (strongSwan's kernel_ipsec_t): install a Child SA (both directions and the
 * policies for its selectors), remove it. A user-space ESP datapath and, on hosts that have
 * it, a kernel XFRM backend implement it.
 */
export interface IpsecDatapath {
  installChildSa(sa: ChildSaKeys): void;
  removeChildSa(spiIn: number, spiOut: number): void;
  /** What is installed, for status output. */
  installed(): InstalledSa[];
  /** Traffic counters of an installed Child SA, by its inbound SPI. */
  counters(spiIn: number): SaCounters | undefined;
}

export interface InstalledSa {
  name: string;
  spiIn: number;
  spiOut: number;
  localAddress: string;
  remoteAddress: string;
  installedAt: number;
}

/**
 * A datapath that only records what IKE installs: what runs until the ESP datapath (TUN + ESP
 * in UDP) lands. Keys are kept only as long as the SA, and never printed.
 */
export class RecordingDatapath implements IpsecDatapath {
  private readonly sas = new Map<number, InstalledSa>();

  constructor(private readonly clock: () => number = Date.now) {}

  installChildSa(sa: ChildSaKeys): void {
    this.sas.set(sa.spiIn, {
      name: sa.name,
      spiIn: sa.spiIn,
      spiOut: sa.spiOut,
      localAddress: sa.localAddress,
      remoteAddress: sa.remoteAddress,
      installedAt: this.clock(),
    });
  }

  removeChildSa(spiIn: number): void {
    this.sas.delete(spiIn);
  }

  installed(): InstalledSa[] {
    return [...this.sas.values()];
  }

  /** Nothing flows through a recording datapath: its counters stay at zero. */
  counters(spiIn: number): SaCounters | undefined {
    return this.sas.has(spiIn) ? { bytesIn: 0, packetsIn: 0, bytesOut: 0, packetsOut: 0 } : undefined;
  }
}
