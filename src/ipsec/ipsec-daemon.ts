import { isIP } from "node:net";
import { readIpsecConfig, type IpsecConfig } from "../ike/config/ipsec-config.js";
import { resolveConnections } from "../ike/core/connection.js";
import type { IkeEvent } from "../ike/core/events.js";
import { IkeEndpoint } from "../ike/core/ike-endpoint.js";
import type { IkeSa } from "../ike/core/ike-sa.js";
import { sharedKeyFor } from "../ike/core/shared-keys.js";
import { IKE_PORT } from "../ike/core/udp-demux.js";
import { systemRandom } from "../ike/crypto/random.js";
import { PaviseError } from "../util/errors.js";
import { IpsecEngine, type EngineCounters } from "./ipsec-engine.js";
import { ReestablishPlan } from "./reestablish-plan.js";
import { describeIkeSa, type IkeSaStatus } from "./sa-status.js";

export type DaemonCounters = EngineCounters;

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
 * `pavise ipsec serve`: one IKE endpoint with the connections of one file, driven by the
 * IpsecEngine (sockets, datapath, timers), plus what the CLI asks of it (initiate, rekey,
 * terminate, status), and the connections it sets up again by itself (start_action,
 * dpd_action, close_action, keyingtries: reestablish-plan.ts).
 */
export class IpsecDaemon {
  private readonly waiters = new Set<(event: IkeEvent) => void>();
  private engine!: IpsecEngine;
  private readonly plan: ReestablishPlan;
  private planTimer: NodeJS.Timeout | undefined;
  private stopping = false;

  private constructor(
    private readonly endpoint: IkeEndpoint,
    private readonly config: IpsecConfig,
    private readonly log: IpsecDaemonOptions["log"],
  ) {
    this.plan = new ReestablishPlan(config.connections);
  }

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
    // start_action start needs one peer address to initiate to: say so before anything opens.
    for (const connection of config.connections) {
      const remote = connection.remoteAddrs[0];
      if (
        connection.children.some((c) => c.startAction === "start") &&
        (connection.localAddrs.length === 0 || remote === undefined || isIP(remote) === 0)
      ) {
        throw new PaviseError(
          "IPSEC_CANNOT_INITIATE",
          `connection ${connection.name} has start_action start but no single remote address to initiate to`,
          {
            where: { file: options.configFile, key: `connections.${connection.name}.remote_addrs` },
            hint: "set remote_addrs to the peer's address (not a prefix or %any), or remove start_action",
          },
        );
      }
    }
    const endpoint = new IkeEndpoint({
      random: systemRandom,
      connections,
      sharedKey: (local, remote) => sharedKeyFor(config.sharedKeys, local, remote),
    });
    const mode = options.datapath ?? IpsecEngine.defaultDatapath();
    if (mode === "record" && options.datapath === undefined) {
      options.log({
        type: "log",
        level: "warn",
        message:
          "the TUN addon is not built: Child SAs are recorded, no traffic flows (npm run build:native)",
      });
    }
    const daemon = new IpsecDaemon(endpoint, config, options.log);
    daemon.engine = await IpsecEngine.open({
      endpoint,
      addresses,
      datapath: mode,
      ...(options.tunName !== undefined ? { tunName: options.tunName } : {}),
      ...(options.routingTable !== undefined ? { routingTable: options.routingTable } : {}),
      ...(options.natKeepaliveMs !== undefined ? { natKeepaliveMs: options.natKeepaliveMs } : {}),
      onIkeEvent: (event) => {
        options.log(event);
        for (const waiter of daemon.waiters) waiter(event);
        daemon.plan.onIkeEvent(Date.now(), event);
        daemon.armPlan();
      },
      onUnknownEsp: (spi, from) =>
        options.log({
          type: "log",
          level: "info",
          message: `ESP for unknown SPI ${spi.toString(16)} from ${from.address}`,
        }),
      log: (level, message) => options.log({ type: "log", level, message }),
    });
    options.log({ type: "started", addresses });
    for (const connection of config.connections) {
      if (connection.children.some((c) => c.startAction === "start"))
        daemon.plan.start(Date.now(), connection.name);
    }
    daemon.armPlan();
    return daemon;
  }

  /**
   * Runs the reestablish plan on its own timer, never inside the engine's event loop (its
   * initiations produce events of their own).
   */
  private armPlan(): void {
    if (this.planTimer) clearTimeout(this.planTimer);
    this.planTimer = undefined;
    const at = this.plan.pollTimeout();
    if (at === undefined || this.stopping) return;
    this.planTimer = setTimeout(() => this.runPlan(), Math.max(0, at - Date.now()));
  }

  private runPlan(): void {
    this.planTimer = undefined;
    const now = Date.now();
    for (let out = this.plan.poll(now); out; out = this.plan.poll(now)) {
      if (out.kind === "log") this.log({ type: "log", level: out.level, message: out.message });
      else if (out.kind === "create-child") {
        const sa = this.endpoint
          .ikeSas()
          .find((s) => Buffer.from(s.initiatorSpi).toString("hex") === out.spiI);
        if (sa) this.endpoint.createChild(now, sa, out.child);
      } else if (out.kind === "cancel") {
        const sa = this.endpoint
          .ikeSas()
          .find((s) => Buffer.from(s.initiatorSpi).toString("hex") === out.spiI);
        if (sa) this.endpoint.deleteSa(now, sa);
      } else {
        try {
          const sa = this.startInitiate(out.connection, {
            local: out.localAddress,
            remote: out.remoteAddress,
          });
          this.plan.attemptStarted(now, out.key, { spiI: Buffer.from(sa.initiatorSpi).toString("hex") });
        } catch (error) {
          this.plan.attemptStarted(now, out.key, { error: (error as Error).message });
        }
      }
    }
    this.pump();
    this.armPlan();
  }

  private pump(): void {
    this.engine.pump();
  }

  private startInitiate(name: string, to: { local?: string | undefined; remote?: string } = {}): IkeSa {
    const connection = this.config.connections.find((c) => c.name === name);
    if (!connection) {
      throw new PaviseError("IPSEC_NO_SUCH_CONNECTION", `no connection named ${name}`, {
        hint: `connections are: ${this.config.connections.map((c) => c.name).join(", ")}`,
      });
    }
    const local = to.local ?? connection.localAddrs[0];
    const remote = to.remote ?? connection.remoteAddrs[0];
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
        if (event.type === "log" || event.type === "unknown-ike-spi" || event.type === "peer-state-lost-hint")
          return;
        if (event.sa.spiI !== Buffer.from(sa.initiatorSpi).toString("hex")) return;
        if (event.type === "ike-down")
          done(new PaviseError("IPSEC_INITIATE_FAILED", `${name}: ${event.reason}`));
        else if (event.type === "child-up" || (event.type === "ike-up" && sa.childSas().length > 0))
          done(describeIkeSa(sa, Date.now(), this.engine.datapath));
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
    return this.engine.sas();
  }

  /** Counters no SA accounts for: ESP for SPIs we do not have, and the datapath's own. */
  counters(): DaemonCounters {
    return this.engine.counters();
  }

  /** Deletes every IKE SA (telling the peers), then closes the sockets. */
  async stop(graceMs = 1000): Promise<void> {
    this.stopping = true;
    if (this.planTimer) clearTimeout(this.planTimer);
    for (const sa of this.endpoint.ikeSas()) this.endpoint.deleteSa(Date.now(), sa);
    this.pump();
    const deadline = Date.now() + graceMs;
    while (this.endpoint.ikeSas().some((sa) => !sa.isClosed) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.engine.close();
  }
}
