import type { EspEvent } from "../esp/core/esp-engine.js";
import { tunAddonAvailable } from "../esp/driver/tun-device.js";
import type { IkeEvent } from "../ike/core/events.js";
import type { IkeEndpoint } from "../ike/core/ike-endpoint.js";
import { IkeSockets, type UdpPath } from "../ike/driver/ike-sockets.js";
import { RecordingDatapath, type IpsecDatapath, type SaCounters } from "./datapath.js";
import { DEFAULT_NAT_KEEPALIVE_MS, keepalivesDue, NAT_KEEPALIVE } from "./nat-keepalive.js";
import { describeIkeSa, type IkeSaStatus } from "./sa-status.js";
import { TunEspDatapath, type DatapathStats } from "./tun-esp-datapath.js";

export interface EngineCounters {
  unknownEspPackets: number;
  /** One-octet keepalives sent (RFC 3948 §2.3). */
  natKeepalivesSent: number;
  /** Datagrams the send gate held back (a package address this node may no longer use). */
  gatedDatagrams: number;
  /** With the ESP datapath. */
  datapath?: DatapathStats;
}

export interface IpsecEngineOptions {
  endpoint: IkeEndpoint;
  /** Addresses to listen on from the start (more come and go with addAddress/removeAddress). */
  addresses: readonly string[];
  /**
   * "esp": carry traffic (TUN + ESP in UDP/4500); "record": only record Child SAs (no TUN
   * addon, or a test that needs no traffic).
   */
  datapath: "esp" | "record";
  /** TUN device name for the ESP datapath (default pavise0). */
  tunName?: string;
  /** Pavise's routing table for the ESP datapath's routes (policy-routing-plan.ts). */
  routingTable?: number;
  /** NICs that stand in for each other (a subnet's primary and standby NICs: PolicyRouting). */
  standIns?: readonly (readonly string[])[];
  /** NAT keepalive interval (RFC 3948 §2.3; default 20 s); 0 turns them off. */
  natKeepaliveMs?: number;
  /** Every IKE event, after the engine has acted on it (Child SA installed or removed). */
  onIkeEvent: (event: IkeEvent) => void;
  /**
   * A Child SA is about to leave the datapath (child-down): its last counters, read just before
   * they vanish, so that traffic totals stay whole through rekeys and deletes (design §6).
   */
  onChildSaRetiring?: (connection: string, spiIn: number, counters: SaCounters | undefined) => void;
  /** ESP for an SPI the datapath does not know (RFC 7296 §1.5): a peer with stale SAs. */
  onUnknownEsp?: (spi: number, from: { address: string; port: number }) => void;
  log: (level: "info" | "warn", message: string) => void;
  /**
   * The send gate (docs/ipsec-packages-design.md §5): may anything leave from this local
   * address now? A daemon thawed after a freeze fires its due timers before it learns it was
   * fenced; this keeps them from transmitting from an address another node may own by now.
   */
  maySendFrom?: (address: string) => boolean;
}

/**
 * The pump of an IKE endpoint with its sockets and datapath, shared by `pavise ipsec serve`
 * (ipsec-daemon.ts) and the cluster daemon's package host (host/package-ipsec-host.ts): feeds
 * datagrams and time into the pure IkeEndpoint, sends what it produces, installs and removes
 * Child SAs in the datapath, feeds the datapath's lifetimes back to IKE, sends NAT keepalives,
 * and keeps one timer at the earliest deadline of the two.
 */
export class IpsecEngine {
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private keepalivesSent = 0;
  private unknownEsp = 0;
  private gated = 0;
  private sockets: IkeSockets | undefined;
  private closed = false;

  private constructor(
    readonly endpoint: IkeEndpoint,
    readonly datapath: IpsecDatapath,
    private readonly esp: TunEspDatapath | undefined,
    private readonly options: IpsecEngineOptions,
  ) {}

  static async open(options: IpsecEngineOptions): Promise<IpsecEngine> {
    // The datapath sends through the engine's sockets, which open after it.
    const ref: { engine?: IpsecEngine } = {};
    const esp =
      options.datapath === "esp"
        ? await TunEspDatapath.open({
            tunName: options.tunName ?? "pavise0",
            mtu: 1400,
            routingTable: options.routingTable,
            standIns: options.standIns,
            send: (from, to, datagrams) => ref.engine?.sendEsp(from, to, datagrams),
            log: (message, level) => options.log(level ?? "warn", message),
          })
        : undefined;
    const engine = new IpsecEngine(options.endpoint, esp ?? new RecordingDatapath(), esp, options);
    ref.engine = engine;
    try {
      engine.sockets = await IkeSockets.open(
        options.addresses,
        (path, datagram) => engine.onDatagram(path, datagram),
        {},
        { batchNatT: esp !== undefined },
      );
    } catch (error) {
      // Take the TUN device and the routing rules away again: nothing will use them.
      await esp?.close();
      throw error;
    }
    engine.scheduleKeepalives(options.natKeepaliveMs ?? DEFAULT_NAT_KEEPALIVE_MS);
    return engine;
  }

  /** "esp" when the TUN addon is built, "record" otherwise. */
  static defaultDatapath(): "esp" | "record" {
    return tunAddonAvailable() ? "esp" : "record";
  }

  /** Listens for IKE and ESP on one more local address. */
  async addAddress(address: string): Promise<void> {
    await this.sockets?.addAddress(address);
  }

  removeAddress(address: string): void {
    this.sockets?.removeAddress(address);
  }

  listensOn(address: string): boolean {
    return this.sockets?.listensOn(address) ?? false;
  }

  /** The TUN datapath, when traffic flows (absent with "record"). */
  get tunDatapath(): TunEspDatapath | undefined {
    return this.esp;
  }

  private onDatagram(path: UdpPath, datagram: Parameters<Parameters<typeof IkeSockets.open>[1]>[1]): void {
    if (datagram.kind === "ike") this.endpoint.handleDatagram(Date.now(), path, datagram.message);
    else if (datagram.kind === "esp" && this.esp) {
      this.esp.inbound(datagram.packet, { address: path.remoteAddress, port: path.remotePort });
    } else if (datagram.kind === "esp") this.unknownEsp += 1;
    this.pump();
  }

  private sendEsp(
    from: { address: string; port: number },
    to: { address: string; port: number },
    datagrams: readonly Uint8Array[],
  ): void {
    if (this.options.maySendFrom && !this.options.maySendFrom(from.address)) {
      this.gated += datagrams.length;
      return;
    }
    this.sockets?.sendEsp(from, to, datagrams);
  }

  /** Sends what the endpoint produced, reports its events, and re-arms the timer. */
  pump(): void {
    if (this.closed) return;
    for (let out = this.endpoint.pollTransmit(); out; out = this.endpoint.pollTransmit()) {
      if (this.options.maySendFrom && !this.options.maySendFrom(out.path.localAddress)) this.gated++;
      else this.sockets?.sendIke(out.path, out.message);
    }
    for (let event = this.endpoint.pollEvent(); event; event = this.endpoint.pollEvent()) {
      if (event.type === "child-up") this.datapath.installChildSa(event.child);
      if (event.type === "child-down") {
        this.options.onChildSaRetiring?.(
          event.sa.connection,
          event.spiIn,
          this.datapath.counters(event.spiIn),
        );
        this.datapath.removeChildSa(event.spiIn, event.spiOut);
      }
      this.options.onIkeEvent(event);
    }
    for (let event = this.esp?.pollEvent(); event; event = this.esp?.pollEvent()) this.onEspEvent(event);
    // Re-arm the timer only when the next deadline moved (not on every datagram).
    const ike = this.endpoint.pollTimeout();
    const esp = this.esp?.pollTimeout();
    const deadline = ike === undefined ? esp : esp === undefined ? ike : Math.min(ike, esp);
    if (deadline === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = deadline;
    if (deadline !== undefined) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.timerAt = undefined;
          this.endpoint.handleTimeout(Date.now());
          this.esp?.handleTimeout(Date.now());
          this.pump();
        },
        Math.max(0, deadline - Date.now()),
      );
    }
  }

  /** Sends NAT keepalives on encapsulated Child SA paths that were quiet for `intervalMs`. */
  private scheduleKeepalives(intervalMs: number, delayMs = intervalMs): void {
    if (intervalMs <= 0 || this.closed) return;
    this.keepaliveTimer = setTimeout(() => {
      const paths = this.endpoint.ikeSas().flatMap((sa) =>
        sa.childSas().flatMap((child) =>
          child.encap
            ? [
                {
                  from: { address: child.localAddress, port: child.encap.localPort },
                  to: { address: child.remoteAddress, port: child.encap.remotePort },
                },
              ]
            : [],
        ),
      );
      const now = Date.now();
      const plan = keepalivesDue(paths, (p) => this.sockets?.lastSent(p.from, p.to), now, intervalMs);
      for (const path of plan.send) {
        this.sendEsp(path.from, path.to, [NAT_KEEPALIVE]);
        this.keepalivesSent++;
      }
      this.scheduleKeepalives(intervalMs, Math.max(100, (plan.nextAt ?? now + intervalMs) - now));
    }, delayMs);
    this.keepaliveTimer.unref();
  }

  /** The datapath's lifetimes reach IKE: a soft limit rekeys the Child SA, a hard one deletes it. */
  private onEspEvent(event: EspEvent): void {
    if (event.type === "unknown-spi") {
      this.options.onUnknownEsp?.(event.spi, event.from);
      return;
    }
    const sa = this.endpoint.ikeSas().find((s) => s.childSas().some((c) => c.spiIn === event.spiIn));
    if (!sa) return;
    if (event.type === "soft-expire") this.endpoint.rekey(Date.now(), sa, event.spiIn);
    else this.endpoint.deleteChild(Date.now(), sa, event.spiIn, `${event.reason} lifetime reached`);
  }

  sas(): IkeSaStatus[] {
    const now = Date.now();
    return this.endpoint.ikeSas().map((sa) => describeIkeSa(sa, now, this.datapath));
  }

  /** Counters no SA accounts for: ESP for SPIs we do not have, and the datapath's own. */
  counters(): EngineCounters {
    const datapath = this.esp?.stats();
    return {
      unknownEspPackets: this.unknownEsp + (datapath?.unknownSpi ?? 0),
      natKeepalivesSent: this.keepalivesSent,
      gatedDatagrams: this.gated,
      ...(datapath ? { datapath } : {}),
    };
  }

  /**
   * Stops at once, synchronously: no timer fires and nothing is sent any more; the sockets close.
   * The TUN device and routing rules stay until close() (an async cleanup).
   */
  silence(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    this.timer = undefined;
    this.timerAt = undefined;
    this.sockets?.close();
  }

  /** Closes the sockets, the TUN device and the routing rules. */
  async close(): Promise<void> {
    this.silence();
    await this.esp?.close();
  }
}
