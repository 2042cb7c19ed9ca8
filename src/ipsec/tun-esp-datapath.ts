import type { ChildSaKeys } from "../ike/core/events.js";
import { addressBytes } from "../ike/config/traffic-selector-spec.js";
import { systemRandom } from "../ike/crypto/random.js";
import { EspEngine, type EspEndpoint, type EspEvent } from "../esp/core/esp-engine.js";
import { espIvSource } from "../esp/core/esp-iv.js";
import {
  addTunRoutes,
  removeTunRoutes,
  setTunMtu,
  splitBatch,
  tunLinkUp,
  TunDevice,
} from "../esp/driver/tun-device.js";
import type { InstalledSa, IpsecDatapath, SaCounters } from "./datapath.js";

export interface TunEspDatapathOptions {
  /** Name of the TUN device (one per daemon). */
  tunName: string;
  /** Inner MTU: room for ESP in UDP (about 73 octets with AES-GCM) below the outer 1500. */
  mtu: number;
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
  /** Remote selectors routed through the TUN, per inbound SPI. */
  private readonly routed = new Map<number, ChildSaKeys["remoteTs"]>();

  private constructor(
    private readonly tun: TunDevice,
    private readonly options: TunEspDatapathOptions,
  ) {}

  static async open(options: TunEspDatapathOptions): Promise<TunEspDatapath> {
    const tun = TunDevice.open(options.tunName);
    await setTunMtu(tun.name, options.mtu);
    await tunLinkUp(tun.name);
    const datapath = new TunEspDatapath(tun, options);
    tun.startReading((buffer, lengths) => datapath.outboundBatch(buffer, lengths));
    tun.unref();
    return datapath;
  }

  get tunName(): string {
    return this.tun.name;
  }

  installChildSa(keys: ChildSaKeys): void {
    this.engine.installChildSa(keys);
    // The peer's own (outer) address must not be routed into the tunnel, or the ESP-in-UDP
    // packets themselves would enter it; strongSwan uses policy routing with a fwmark for this.
    const peer = addressBytes(keys.remoteAddress);
    const routable = keys.remoteTs.filter(
      (ts) => !(Buffer.compare(ts.start, peer) <= 0 && Buffer.compare(peer, ts.end) <= 0),
    );
    if (routable.length < keys.remoteTs.length) {
      this.options.log(
        `${keys.name}: traffic to the peer's own address ${keys.remoteAddress} is not routed through ${this.tun.name}`,
      );
    }
    this.routed.set(keys.spiIn, routable);
    addTunRoutes(this.tun.name, routable).catch((err: unknown) =>
      this.options.log(`cannot route ${keys.name} through ${this.tun.name}: ${(err as Error).message}`),
    );
  }

  removeChildSa(spiIn: number, spiOut?: number): void {
    this.engine.removeChildSa(spiIn, spiOut);
    const remote = this.routed.get(spiIn);
    this.routed.delete(spiIn);
    // A rekeyed SA leaves its successor with the same selectors: keep the routes while one is left.
    const stillUsed = [...this.routed.values()].some(
      (other) => JSON.stringify(other) === JSON.stringify(remote),
    );
    if (remote && !stillUsed) {
      removeTunRoutes(this.tun.name, remote).catch((err: unknown) =>
        this.options.log(`cannot remove routes: ${(err as Error).message}`),
      );
    }
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

  close(): void {
    this.tun.close();
  }
}
