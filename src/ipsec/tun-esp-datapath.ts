import type { ChildSaKeys } from "../ike/core/events.js";
import { systemRandom } from "../ike/crypto/random.js";
import {
  EspEngine,
  type EspEndpoint,
  type EspEngineCounters,
  type EspEvent,
} from "../esp/core/esp-engine.js";
import { espIvSource } from "../esp/core/esp-iv.js";
import { PolicyRouting } from "../esp/driver/policy-routing.js";
import { setTunMtu, splitBatch, tunLinkUp, TunDevice, type TunCounters } from "../esp/driver/tun-device.js";
import type { InstalledSa, IpsecDatapath, SaCounters } from "./datapath.js";

/** `pavise ipsec sas --json` → counters.datapath. */
export interface DatapathStats extends EspEngineCounters {
  tun: TunCounters;
}

export interface TunEspDatapathOptions {
  /** Name of the TUN device (one per daemon). */
  tunName: string;
  /** Inner MTU: room for ESP in UDP (about 73 octets with AES-GCM) below the outer 1500. */
  mtu: number;
  /**
   * Pavise's routing table for the remote selectors (policy-routing-plan.ts; default 4500):
   * `ip rule`s send everything but Pavise's own IKE/ESP packets through it, so a selector may
   * hold the peer's own address (transport mode, full tunnels).
   */
  routingTable?: number | undefined;
  /** NICs that stand in for each other, for the rp_filter of a routed peer (PolicyRouting). */
  standIns?: readonly (readonly string[])[] | undefined;
  /** Sends ESP-in-UDP datagrams from one of the IKE sockets to one peer. */
  send(from: EspEndpoint, to: EspEndpoint, datagrams: Uint8Array[]): void;
  log(message: string, level?: "info" | "warn"): void;
}

/**
 * The user-space datapath `pavise ipsec serve` carries traffic with: the pure EspEngine between
 * a TUN device (inner packets; routes for the peers' traffic selectors point at it) and the IKE
 * endpoint's UDP sockets on port 4500 (outer ESP, RFC 3948).
 */
export class TunEspDatapath implements IpsecDatapath {
  private readonly engine = new EspEngine({ clock: Date.now, iv: espIvSource(systemRandom) });
  /** Each installed SA's policy (name, peer, selectors), to recognise a rekeyed SA's successor. */
  private readonly policies = new Map<number, string>();
  /** Rekeyed SAs still accepting late inbound packets, by inbound SPI. */
  private readonly lingering = new Map<number, NodeJS.Timeout>();
  /** Decrypted packets waiting for the end of this I/O phase, to be written in one batch. */
  private delivered: Uint8Array[] = [];
  private flushScheduled = false;

  private constructor(
    private readonly tun: TunDevice,
    private readonly options: TunEspDatapathOptions,
    private readonly routing: PolicyRouting,
  ) {}

  static async open(options: TunEspDatapathOptions): Promise<TunEspDatapath> {
    const tun = TunDevice.open(options.tunName, { offload: true });
    let routing: PolicyRouting;
    try {
      await setTunMtu(tun.name, options.mtu);
      await tunLinkUp(tun.name);
      routing = await PolicyRouting.open({
        tunName: tun.name,
        table: options.routingTable,
        standIns: options.standIns,
        log: (message, level) => options.log(message, level),
      });
    } catch (error) {
      tun.close();
      throw error;
    }
    const datapath = new TunEspDatapath(tun, options, routing);
    tun.startReading((buffer, lengths) => datapath.outboundBatch(buffer, lengths), {
      // The device deleted under us (`ip link del`): the reader stops with EBADF. That must not
      // take the whole daemon down (heartbeat, other packages); `pavise ipsec status` reports
      // it (IPSEC_DATAPATH_DOWN) and the package moves.
      onError: (error) => {
        datapath.readerError = error.message;
        options.log(`${error.message}: no traffic leaves through ${tun.name} any more`);
      },
    });
    tun.unref();
    return datapath;
  }

  get tunName(): string {
    return this.tun.name;
  }

  installChildSa(keys: ChildSaKeys): void {
    this.engine.installChildSa(keys);
    this.policies.set(keys.spiIn, policyKey(keys));
    this.routing.routeChildSa(keys.spiIn, keys);
  }

  /**
   * Removes a Child SA. One that was rekeyed (a successor with the same policy is installed)
   * keeps accepting inbound packets for REKEYED_LINGER_MS, for those the peer sent before it
   * switched (strongSwan's delete_rekeyed_delay); outbound already uses the successor.
   */
  removeChildSa(spiIn: number, spiOut?: number): void {
    const policy = this.policies.get(spiIn);
    const succeeded =
      policy !== undefined && [...this.policies].some(([other, key]) => other !== spiIn && key === policy);
    this.policies.delete(spiIn);
    if (succeeded && !this.lingering.has(spiIn)) {
      const timer = setTimeout(() => this.removeNow(spiIn, spiOut), REKEYED_LINGER_MS);
      timer.unref();
      this.lingering.set(spiIn, timer);
      return;
    }
    this.removeNow(spiIn, spiOut);
  }

  private removeNow(spiIn: number, spiOut?: number): void {
    const timer = this.lingering.get(spiIn);
    if (timer) clearTimeout(timer);
    this.lingering.delete(spiIn);
    this.engine.removeChildSa(spiIn, spiOut);
    // A rekeyed SA leaves its successor with the same selectors: its routes stay.
    this.routing.unroute(spiIn);
  }

  installed(): InstalledSa[] {
    return this.engine.installed();
  }

  /** Why the TUN reader stopped, if it did (the device was deleted or broke). */
  readerError: string | undefined;

  /** Inbound SPIs of rekeyed SAs still accepting late packets (IKE no longer has them). */
  lingeringSpis(): number[] {
    return [...this.lingering.keys()];
  }

  /** Counters of the datapath as a whole: what no SA can account for, and the TUN device's. */
  stats(): DatapathStats {
    return { ...this.engine.engineStats(), tun: { ...this.tun.counters } };
  }

  counters(spiIn: number): SaCounters | undefined {
    return this.engine.counters(spiIn);
  }

  /**
   * An ESP packet that arrived on a NAT-T socket. Decrypted packets are written once the
   * datagrams of this wake-up are all in (setImmediate runs after the poll phase), so segments
   * of one TCP flow reach the kernel as one write (TunDevice offload).
   */
  inbound(datagram: Uint8Array, from: EspEndpoint): void {
    const result = this.engine.inbound(datagram, from, Date.now());
    if (result.kind !== "deliver") return;
    this.delivered.push(result.packet);
    if (this.delivered.length >= 1024) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.delivered.length === 0 || this.tun.closed) return;
    const packets = this.delivered;
    this.delivered = [];
    this.tun.writeBatch(packets);
  }

  /** Seals what one TUN wake-up read; consecutive packets for one peer leave in one send. */
  private outboundBatch(buffer: Buffer, lengths: Uint32Array): void {
    const now = Date.now();
    let run: Uint8Array[] = [];
    let from: EspEndpoint | undefined;
    let to: EspEndpoint | undefined;
    for (const packet of splitBatch(buffer, lengths)) {
      const result = this.engine.outbound(packet, now);
      if (result.kind !== "send") continue;
      if (from && to && !(sameEndpoint(from, result.from) && sameEndpoint(to, result.to))) {
        this.options.send(from, to, run);
        run = [];
      }
      from = result.from;
      to = result.to;
      run.push(result.datagram);
    }
    if (from && to && run.length > 0) this.options.send(from, to, run);
  }

  handleTimeout(now: number): void {
    this.engine.handleTimeout(now);
  }

  pollTimeout(): number | undefined {
    return this.engine.pollTimeout();
  }

  pollEvent(): EspEvent | undefined {
    return this.engine.pollEvent();
  }

  /** Removes the routes and rules, then the TUN device. */
  async close(): Promise<void> {
    for (const spiIn of [...this.lingering.keys()]) this.removeNow(spiIn);
    await this.routing.close();
    this.tun.close();
  }
}

/** How long a rekeyed SA still accepts inbound packets (strongSwan: delete_rekeyed_delay = 5 s). */
const REKEYED_LINGER_MS = 5000;

function policyKey(keys: ChildSaKeys): string {
  const ts = (list: ChildSaKeys["localTs"]): string =>
    list
      .map(
        (t) =>
          `${t.protocol}:${Buffer.from(t.start).toString("hex")}-${Buffer.from(t.end).toString("hex")}:${t.portStart}-${t.portEnd}`,
      )
      .join(",");
  return `${keys.name}|${keys.remoteAddress}|${keys.mode}|${ts(keys.localTs)}|${ts(keys.remoteTs)}`;
}

function sameEndpoint(a: EspEndpoint, b: EspEndpoint): boolean {
  return a === b || (a.port === b.port && a.address === b.address);
}
