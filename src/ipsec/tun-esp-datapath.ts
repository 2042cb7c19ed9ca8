import type { ChildSaKeys } from "../ike/core/events.js";
import { systemRandom } from "../ike/crypto/random.js";
import { EspEngine, type EspEndpoint, type EspEvent } from "../esp/core/esp-engine.js";
import { espIvSource } from "../esp/core/esp-iv.js";
import { PolicyRouting } from "../esp/driver/policy-routing.js";
import { setTunMtu, splitBatch, tunLinkUp, TunDevice } from "../esp/driver/tun-device.js";
import type { InstalledSa, IpsecDatapath, SaCounters } from "./datapath.js";

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
  /** Sends an ESP-in-UDP datagram from one of the IKE sockets. */
  send(from: EspEndpoint, to: EspEndpoint, datagram: Uint8Array): void;
  log(message: string): void;
}

/**
 * The user-space datapath `pavise ipsec serve` carries traffic with: the pure EspEngine between
 * a TUN device (inner packets; routes for the peers' traffic selectors point at it) and the IKE
 * endpoint's UDP sockets on port 4500 (outer ESP, RFC 3948).
 */
export class TunEspDatapath implements IpsecDatapath {
  private readonly engine = new EspEngine({ clock: Date.now, iv: espIvSource(systemRandom) });

  private constructor(
    private readonly tun: TunDevice,
    private readonly options: TunEspDatapathOptions,
    private readonly routing: PolicyRouting,
  ) {}

  static async open(options: TunEspDatapathOptions): Promise<TunEspDatapath> {
    const tun = TunDevice.open(options.tunName);
    let routing: PolicyRouting;
    try {
      await setTunMtu(tun.name, options.mtu);
      await tunLinkUp(tun.name);
      routing = await PolicyRouting.open({
        tunName: tun.name,
        table: options.routingTable,
        log: (message) => options.log(message),
      });
    } catch (error) {
      tun.close();
      throw error;
    }
    const datapath = new TunEspDatapath(tun, options, routing);
    tun.startReading((buffer, lengths) => datapath.outboundBatch(buffer, lengths));
    tun.unref();
    return datapath;
  }

  get tunName(): string {
    return this.tun.name;
  }

  installChildSa(keys: ChildSaKeys): void {
    this.engine.installChildSa(keys);
    this.routing.routeChildSa(keys.spiIn, keys);
  }

  removeChildSa(spiIn: number, spiOut?: number): void {
    this.engine.removeChildSa(spiIn, spiOut);
    // A rekeyed SA leaves its successor with the same selectors: its routes stay.
    this.routing.unroute(spiIn);
  }

  installed(): InstalledSa[] {
    return this.engine.installed();
  }

  counters(spiIn: number): SaCounters | undefined {
    return this.engine.counters(spiIn);
  }

  /** An ESP packet that arrived on a NAT-T socket. */
  inbound(datagram: Uint8Array, from: EspEndpoint): void {
    const result = this.engine.inbound(datagram, from, Date.now());
    if (result.kind === "deliver") this.tun.write(result.packet);
  }

  private outboundBatch(buffer: Buffer, lengths: Uint32Array): void {
    const now = Date.now();
    for (const packet of splitBatch(buffer, lengths)) {
      const result = this.engine.outbound(packet, now);
      if (result.kind === "send") this.options.send(result.from, result.to, result.datagram);
    }
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
    await this.routing.close();
    this.tun.close();
  }
}
