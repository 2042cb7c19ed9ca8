import { isIP } from "node:net";
import { readIpsecConfig, type IpsecConfig } from "../ike/config/ipsec-config.js";
import { resolveConnections } from "../ike/core/connection.js";
import type { IkeEvent } from "../ike/core/events.js";
import { IkeEndpoint } from "../ike/core/ike-endpoint.js";
import type { IkeSa } from "../ike/core/ike-sa.js";
import { sharedKeyFor } from "../ike/core/shared-keys.js";
import { IKE_PORT } from "../ike/core/udp-demux.js";
import { systemRandom } from "../ike/crypto/random.js";
import { IkeSockets, type UdpPath } from "../ike/driver/ike-sockets.js";
import { PaviseError } from "../util/errors.js";
import { RecordingDatapath, type IpsecDatapath } from "./datapath.js";
import { TunEspDatapath, type DatapathStats } from "./tun-esp-datapath.js";
import { DEFAULT_NAT_KEEPALIVE_MS, keepalivesDue, NAT_KEEPALIVE } from "./nat-keepalive.js";
import { tunAddonAvailable } from "../esp/driver/tun-device.js";
import type { EspEvent } from "../esp/core/esp-engine.js";
import { describeIkeSa, type IkeSaStatus } from "./sa-status.js";

export interface DaemonCounters {
  unknownEspPackets: number;
  /** One-octet keepalives sent (RFC 3948 §2.3). */
  natKeepalivesSent: number;
  /** With the ESP datapath. */
  datapath?: DatapathStats;
}

export interface IpsecDaemonOptions {
  configFile: string;
  /**
   * "esp": carry traffic (TUN + ESP in UDP/4500); "record": only record Child SAs. Default: "esp"
   * when the TUN addon is built, "record" (with a warning) otherwise.
   */
  datapath?: "esp" | "record";
  /** NAT keepalive interval (RFC 3948 §2.3; default 20 s); 0 turns them off. */
  natKeepaliveMs?: number;
  /** TUN device name for the ESP datapath (default pavise0). */
  tunName?: string;
  /** Pavise's routing table for the ESP datapath's routes (default 4500; see policy-routing-plan.ts). */
  routingTable?: number;
  /** Receives one line per event (human text or JSON). */
  log: (event: IkeEvent | { type: "started"; addresses: string[] }) => void;
}

/**
 * `pavise ipsec serve`: the IKE endpoint driver. Feeds datagrams and time into the pure
 * IkeEndpoint, sends what it produces, hands Child SAs to the datapath, and keeps one timer at
 * the endpoint's next deadline.
 */
export class IpsecDaemon {
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;
  private readonly waiters = new Set<(event: IkeEvent) => void>();
  private unknownEsp = 0;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private keepalivesSent = 0;
  private esp: TunEspDatapath | undefined;

  private constructor(
    private readonly endpoint: IkeEndpoint,
    private readonly config: IpsecConfig,
    private sockets: IkeSockets | undefined,
    private readonly datapath: IpsecDatapath,
    private readonly log: IpsecDaemonOptions["log"],
  ) {}

  static async start(options: IpsecDaemonOptions): Promise<IpsecDaemon> {
    const config = readIpsecConfig(options.configFile);
    const connections = resolveConnections(config, options.configFile);
    const addresses = [...new Set(config.connections.flatMap((c) => c.localAddrs))];
    if (addresses.length === 0) {
      throw new PaviseError("IPSEC_NO_ADDRESSES", "no connection names a local address to listen on", {
        where: { file: options.configFile, key: "connections.*.local_addrs" },
        hint: "set local_addrs: [ADDRESS] on each connection (Pavise answers IKE per address)",
      });
    }
    const endpoint = new IkeEndpoint({
      random: systemRandom,
      connections,
      sharedKey: (local, remote) => sharedKeyFor(config.sharedKeys, local, remote),
    });
    const mode = options.datapath ?? (tunAddonAvailable() ? "esp" : "record");
    let esp: TunEspDatapath | undefined;
    // The datapath sends through the daemon's sockets, which open after it.
    const ref: { daemon?: IpsecDaemon } = {};
    if (mode === "esp") {
      esp = await TunEspDatapath.open({
        tunName: options.tunName ?? "pavise0",
        mtu: 1400,
        routingTable: options.routingTable,
        send: (from, to, datagrams) => ref.daemon?.sockets?.sendEsp(from, to, datagrams),
        log: (message) => options.log({ type: "log", level: "warn", message }),
      });
    } else if (options.datapath === undefined) {
      options.log({
        type: "log",
        level: "warn",
        message:
          "the TUN addon is not built: Child SAs are recorded, no traffic flows (npm run build:native)",
      });
    }
    const daemon = new IpsecDaemon(endpoint, config, undefined, esp ?? new RecordingDatapath(), options.log);
    ref.daemon = daemon;
    daemon.esp = esp;
    try {
      daemon.sockets = await IkeSockets.open(
        addresses,
        (path, datagram) => daemon.onDatagram(path, datagram),
        {},
        { batchNatT: esp !== undefined },
      );
    } catch (error) {
      // Take the TUN device and the routing rules away again: nothing will use them.
      await esp?.close();
      throw error;
    }
    options.log({ type: "started", addresses });
    daemon.scheduleKeepalives(options.natKeepaliveMs ?? DEFAULT_NAT_KEEPALIVE_MS);
    for (const connection of config.connections) {
      if (connection.children.some((c) => c.startAction === "start")) daemon.startInitiate(connection.name);
    }
    return daemon;
  }

  private onDatagram(path: UdpPath, datagram: Parameters<Parameters<typeof IkeSockets.open>[1]>[1]): void {
    if (datagram.kind === "ike") this.endpoint.handleDatagram(Date.now(), path, datagram.message);
    else if (datagram.kind === "esp" && this.esp) {
      this.esp.inbound(datagram.packet, { address: path.remoteAddress, port: path.remotePort });
    } else if (datagram.kind === "esp") this.unknownEsp += 1;
    this.pump();
  }

  /** Sends what the endpoint produced, reports its events, and re-arms the timer. */
  private pump(): void {
    for (let out = this.endpoint.pollTransmit(); out; out = this.endpoint.pollTransmit()) {
      this.sockets?.sendIke(out.path, out.message);
    }
    for (let event = this.endpoint.pollEvent(); event; event = this.endpoint.pollEvent()) {
      if (event.type === "child-up") this.datapath.installChildSa(event.child);
      if (event.type === "child-down") this.datapath.removeChildSa(event.spiIn, event.spiOut);
      this.log(event);
      for (const waiter of this.waiters) waiter(event);
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

  private startInitiate(name: string): IkeSa {
    const connection = this.config.connections.find((c) => c.name === name);
    if (!connection) {
      throw new PaviseError("IPSEC_NO_SUCH_CONNECTION", `no connection named ${name}`, {
        hint: `connections are: ${this.config.connections.map((c) => c.name).join(", ")}`,
      });
    }
    const local = connection.localAddrs[0];
    const remote = connection.remoteAddrs[0];
    if (!local || !remote || isIP(remote) === 0) {
      throw new PaviseError(
        "IPSEC_CANNOT_INITIATE",
        `connection ${name} has no single remote address to initiate to`,
        {
          hint: "set remote_addrs to the peer's address (not a prefix or %any)",
        },
      );
    }
    const sa = this.endpoint.initiate(Date.now(), name, {
      localAddress: local,
      localPort: IKE_PORT,
      remoteAddress: remote,
      remotePort: IKE_PORT,
    });
    this.pump();
    return sa;
  }

  /** Sends NAT keepalives on encapsulated Child SA paths that were quiet for `intervalMs`. */
  private scheduleKeepalives(intervalMs: number, delayMs = intervalMs): void {
    if (intervalMs <= 0) return;
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
        this.sockets?.sendEsp(path.from, path.to, [NAT_KEEPALIVE]);
        this.keepalivesSent++;
      }
      this.scheduleKeepalives(intervalMs, Math.max(100, (plan.nextAt ?? now + intervalMs) - now));
    }, delayMs);
    this.keepaliveTimer.unref();
  }

  /** The datapath's lifetimes reach IKE: a soft limit rekeys the Child SA, a hard one deletes it. */
  private onEspEvent(event: EspEvent): void {
    if (event.type === "unknown-spi") {
      this.log({
        type: "log",
        level: "info",
        message: `ESP for unknown SPI ${event.spi.toString(16)} from ${event.from.address}`,
      });
      return;
    }
    const sa = this.endpoint.ikeSas().find((s) => s.childSas().some((c) => c.spiIn === event.spiIn));
    if (!sa) return;
    if (event.type === "soft-expire") this.endpoint.rekey(Date.now(), sa, event.spiIn);
    else this.endpoint.deleteChild(Date.now(), sa, event.spiIn, `${event.reason} lifetime reached`);
  }

  /** Initiates a connection and waits until its IKE SA is up (or failed). */
  initiate(name: string, timeoutMs = 30_000): Promise<IkeSaStatus> {
    const sa = this.startInitiate(name);
    return new Promise((resolve, reject) => {
      const done = (result: IkeSaStatus | PaviseError): void => {
        clearTimeout(timer);
        this.waiters.delete(listener);
        if (result instanceof PaviseError) reject(result);
        else resolve(result);
      };
      const listener = (event: IkeEvent): void => {
        if (event.type === "log" || event.type === "unknown-ike-spi") return;
        if (event.sa.spiI !== Buffer.from(sa.initiatorSpi).toString("hex")) return;
        if (event.type === "ike-down")
          done(new PaviseError("IPSEC_INITIATE_FAILED", `${name}: ${event.reason}`));
        else if (event.type === "child-up" || (event.type === "ike-up" && sa.childSas().length > 0))
          done(describeIkeSa(sa, Date.now(), this.datapath));
      };
      const timer = setTimeout(
        () => done(new PaviseError("IPSEC_INITIATE_TIMEOUT", `${name}: no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.add(listener);
    });
  }

  /** Rekeys every IKE SA of a connection (or, with `child`, those Child SAs); returns how many. */
  rekey(name: string, child?: string): number {
    let count = 0;
    for (const sa of this.endpoint
      .ikeSas()
      .filter((s) => s.connectionName === name && s.state === "established")) {
      if (child === undefined) {
        this.endpoint.rekey(Date.now(), sa);
        count++;
      } else {
        for (const c of sa.childSas().filter((c) => c.name === child)) {
          this.endpoint.rekey(Date.now(), sa, c.spiIn);
          count++;
        }
      }
    }
    this.pump();
    return count;
  }

  /** Deletes every IKE SA of a connection; returns how many. */
  terminate(name: string): number {
    const sas = this.endpoint.ikeSas().filter((sa) => sa.connectionName === name);
    for (const sa of sas) this.endpoint.deleteSa(Date.now(), sa);
    this.pump();
    return sas.length;
  }

  sas(): IkeSaStatus[] {
    const now = Date.now();
    return this.endpoint.ikeSas().map((sa) => describeIkeSa(sa, now, this.datapath));
  }

  /** Counters no SA accounts for: ESP for SPIs we do not have, and the datapath's own. */
  counters(): DaemonCounters {
    const datapath = this.esp?.stats();
    return {
      unknownEspPackets: this.unknownEsp + (datapath?.unknownSpi ?? 0),
      natKeepalivesSent: this.keepalivesSent,
      ...(datapath ? { datapath } : {}),
    };
  }

  /** Deletes every IKE SA (telling the peers), then closes the sockets. */
  async stop(graceMs = 1000): Promise<void> {
    for (const sa of this.endpoint.ikeSas()) this.endpoint.deleteSa(Date.now(), sa);
    this.pump();
    const deadline = Date.now() + graceMs;
    while (this.endpoint.ikeSas().some((sa) => !sa.isClosed) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (this.timer) clearTimeout(this.timer);
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    this.sockets?.close();
    await this.esp?.close();
  }
}
