import { readFileSync, statSync } from "node:fs";
import type { PackageConfig, PackageIpsecConfig } from "../../cluster/config/model.js";
import { ipsecPeerName } from "../../cluster/membership/layout.js";
import type { SharedKey } from "../../ike/config/ipsec-config.js";
import { parseIdentity } from "../../ike/config/identity.js";
import { resolveConnections } from "../../ike/core/connection.js";
import type { IkeEvent, IkeSaSummary } from "../../ike/core/events.js";
import { IkeEndpoint } from "../../ike/core/ike-endpoint.js";
import { sharedKeyFor } from "../../ike/core/shared-keys.js";
import { IKE_PORT, NAT_T_PORT } from "../../ike/core/udp-demux.js";
import { systemRandom } from "../../ike/crypto/random.js";
import { PaviseError } from "../../util/errors.js";
import { type ContactEvent, type ContactReport, DEFAULT_CONTACT_SETTINGS } from "../contact/contact-plan.js";
import { type ContactTarget, PackageContact } from "../contact/package-contact.js";
import { MIN_PSK_OCTETS } from "../credentials/credential-check.js";
import { type EngineCounters, IpsecEngine } from "../ipsec-engine.js";
import { forgetAfterPeerDelete, type ObservedPeer } from "../registry/peer-upkeep.js";
import { readHostHealth } from "../status/host-health.js";
import type { IpsecHealthSnapshot } from "../status/ipsec-health.js";
import { DEFAULT_ROUTING_TABLE } from "../../esp/driver/policy-routing-plan.js";
import type { PeerRecord } from "../registry/peer-record.js";
import { describeSelector, spiText, type IkeSaStatus } from "../sa-status.js";
import { PackageTrafficTotals, type TrafficTotals } from "./package-traffic-totals.js";
import type { ExchangeCount } from "../../ike/core/exchange-counters.js";
import {
  contactSourceAddress,
  exposedToOthers,
  type PackageConnection,
  packageConnections,
  remoteAllowed,
  secretFilesOf,
  splitPackageConnection,
} from "./package-connections.js";

/** A contact retry announces the package's addresses again at most this often. */
const ANNOUNCE_INTERVAL_MS = 2_000;

export interface PackageIpsecHostOptions {
  /** "esp" (TUN + ESP in UDP/4500) or "record" (no traffic; no TUN addon). */
  datapath?: "esp" | "record";
  tunName?: string;
  routingTable?: number;
  /** Each subnet's primary and standby NICs on this node (rp_filter after local LAN failover). */
  standIns?: readonly (readonly string[])[];
  /** May anything leave from this package address now (the send gate, design §5)? */
  maySendFrom: (address: string) => boolean;
  /** A peer set up an SA with a running package: record it in the registry (design §7). */
  onPeerUp: (pkg: string, peer: ObservedPeer) => void;
  /**
   * A peer deleted its last IKE SA with a running package: it is done with us; forget it in the
   * registry (design §7). A client that re-authenticates sets up its new SA before deleting the
   * old one, so it is not forgotten.
   */
  onPeerGone: (pkg: string, remoteId: string) => void;
  /** Gratuitous ARP again for the package's addresses (a contact retry: PackageContactDriver.retrying). */
  announce: (pkg: string) => void;
  /** Contact progress for the event log (design §8). */
  onContactEvent: (pkg: string, event: ContactEvent, peer: ContactTarget | undefined, ms: number) => void;
  log: (level: "info" | "warn", message: string, pkg?: string) => void;
}

/** A package whose IPsec runs here: its connections and the contact under way. */
interface RunningPackage {
  pkg: PackageConfig & { ipsec: PackageIpsecConfig };
  connections: PackageConnection[];
  addresses: string[];
  contact: PackageContact | undefined;
}

/**
 * The cluster daemon's IPsec (docs/ipsec-packages-design.md §5): one IKE endpoint, one TUN/ESP
 * datapath and one set of sockets per `pavise daemon`, opened at daemon start on every node that
 * may run a package with `ipsec:` (warm standby), into which packages plug their connections
 * and addresses as they start (up), and out of which they go as they halt (down). The package
 * steps (package-steps.ts) call it in the order that keeps any non-owner from answering a
 * client: address → up → services → contact; services → down → address.
 */
export class PackageIpsecHost {
  private readonly running = new Map<string, RunningPackage>();
  private readonly sharedKeys = new Map<string, SharedKey[]>();
  private readonly announcedAt = new Map<string, number>();
  /** ESP traffic per package, whole through rekeys and deletes (design §6 metrics). */
  private readonly traffic = new PackageTrafficTotals();

  private constructor(
    private readonly engine: IpsecEngine,
    private readonly endpoint: IkeEndpoint,
    private readonly options: PackageIpsecHostOptions,
  ) {}

  static async open(options: PackageIpsecHostOptions): Promise<PackageIpsecHost> {
    const ref: { host?: PackageIpsecHost } = {};
    const endpoint = new IkeEndpoint({
      random: systemRandom,
      connections: [],
      sharedKey: (local, remote) =>
        sharedKeyFor([...(ref.host?.sharedKeys.values() ?? [])].flat(), local, remote),
    });
    const engine = await IpsecEngine.open({
      endpoint,
      addresses: [],
      datapath: options.datapath ?? IpsecEngine.defaultDatapath(),
      ...(options.tunName !== undefined ? { tunName: options.tunName } : {}),
      ...(options.routingTable !== undefined ? { routingTable: options.routingTable } : {}),
      ...(options.standIns !== undefined ? { standIns: options.standIns } : {}),
      onIkeEvent: (event) => ref.host?.onIkeEvent(event),
      onChildSaRetiring: (connection, spiIn, counters) => {
        const pkg = splitPackageConnection(connection)?.package;
        if (pkg !== undefined) ref.host?.traffic.retire(pkg, spiText(spiIn), counters);
      },
      onUnknownEsp: (spi, from) => ref.host?.hint(from.address, `ESP for unknown SPI ${spi.toString(16)}`),
      log: (level, message) => options.log(level, message),
      maySendFrom: (address) => options.maySendFrom(address),
    });
    const host = new PackageIpsecHost(engine, endpoint, options);
    ref.host = host;
    return host;
  }

  /**
   * The package's IPsec starts here (step ipsec-up, after its addresses are on this node):
   * credentials and PSKs are read from their files now (a node with missing or broken files
   * fails the start, with the file and what to do), connections loaded, 500 and 4500 bound on
   * each package address.
   */
  async up(pkg: PackageConfig): Promise<void> {
    if (!pkg.ipsec) return;
    const withIpsec = { ...pkg, ipsec: pkg.ipsec };
    this.warnExposedSecrets(pkg.name, pkg.ipsec);
    const connections = packageConnections(withIpsec);
    const resolved = resolveConnections({ connections: connections.map((c) => c.config), sharedKeys: [] });
    this.sharedKeys.set(pkg.name, readSharedKeys(pkg.name, connections));
    this.endpoint.setConnections(pkg.name, resolved);
    const addresses = [...new Set(connections.flatMap((c) => c.config.localAddrs))];
    this.running.set(pkg.name, { pkg: withIpsec, connections, addresses, contact: undefined });
    try {
      for (const address of addresses) await this.engine.addAddress(address);
    } catch (err) {
      await this.down(pkg.name, { tellPeers: false });
      throw err;
    }
    this.options.log(
      "info",
      `IPsec of ${pkg.name} listens on ${addresses.join(", ")} (IKE ${IKE_PORT}, ${NAT_T_PORT})`,
      pkg.name,
    );
  }

  /** A secret file others may read is used, and said loudly: refusing it would stop the package everywhere. */
  private warnExposedSecrets(pkgName: string, ipsec: PackageIpsecConfig): void {
    for (const file of secretFilesOf(ipsec)) {
      let mode: number;
      try {
        mode = statSync(file).mode;
      } catch {
        continue; // Missing: loading it fails the start with the file and the fix.
      }
      if (exposedToOthers(mode)) {
        this.options.log(
          "warn",
          `${file} (a secret of package ${pkgName}) may be read by others (mode ${(mode & 0o777).toString(8)}): chmod 600 ${file} on every node of the package`,
          pkgName,
        );
      }
    }
  }

  /**
   * Contacts every recorded peer of the package with INITIAL_CONTACT (step ipsec-contact, after
   * the services: design §8). Not awaited by the start: the package is up meanwhile.
   */
  contact(pkgName: string, records: readonly { name: string; record: PeerRecord }[]): void {
    const running = this.running.get(pkgName);
    if (!running) return;
    running.contact?.stop();
    const targets = records.flatMap((r) => this.target(running, r.name, r.record));
    // Kind-3 clients (design §9) are never contacted: say so once, with why, so an operator
    // knows their recovery rests on their own DPD.
    const skipped = targets.filter((t) => t.notInitiated !== undefined);
    if (skipped.length > 0) {
      this.options.log(
        "info",
        `package ${pkgName}: not initiating to ${skipped.length} recorded peer(s): ` +
          skipped.map((t) => `${t.id} (${t.address}): ${t.notInitiated}`).join("; "),
        pkgName,
      );
    }
    const settings = {
      ...DEFAULT_CONTACT_SETTINGS,
      retryMs: running.pkg.ipsec.contact.retryMs,
      retryMaxMs: running.pkg.ipsec.contact.retryMaxMs,
      giveUpMs: running.pkg.ipsec.contact.giveUpMs,
      parallel: running.pkg.ipsec.contact.parallel,
    };
    running.contact = new PackageContact(pkgName, targets, settings, {
      initiate: (target) => {
        const sa = this.endpoint.initiate(
          Date.now(),
          target.connection,
          {
            localAddress: target.localAddress,
            localPort: IKE_PORT,
            remoteAddress: target.address,
            remotePort: IKE_PORT,
          },
          { contact: true, ...(target.remoteId.kind === "any" ? {} : { remoteId: target.remoteId }) },
        );
        this.engine.pump();
        return Buffer.from(sa.initiatorSpi).toString("hex");
      },
      established: () => this.establishedPeers(pkgName),
      retrying: () => {
        // At most once per ANNOUNCE_INTERVAL_MS per package, however many peers retry.
        const now = Date.now();
        if (now - (this.announcedAt.get(pkgName) ?? -Infinity) < ANNOUNCE_INTERVAL_MS) return;
        this.announcedAt.set(pkgName, now);
        this.options.announce(pkgName);
      },
      event: (event, target, ms) => this.options.onContactEvent(pkgName, event, target, ms),
      random: Math.random,
    });
    running.contact.run();
  }

  /** One recorded peer as a contact target, with why it is not initiated to, if it is not. */
  private target(running: RunningPackage, name: string, record: PeerRecord): ContactTarget[] {
    const connection = running.connections.find(
      (c) => splitPackageConnection(c.config.name)?.connection === record.connection,
    );
    const remoteId = parseIdentity(record.id);
    const localAddress = connection ? contactSourceAddress(connection.config) : undefined;
    if (!connection || "error" in remoteId || localAddress === undefined) {
      this.options.log(
        "warn",
        `peer ${record.id} of ${running.pkg.name}: its connection ${record.connection} is no longer configured; not contacted`,
        running.pkg.name,
      );
      return [];
    }
    const notInitiated = !connection.initiate
      ? `connection ${record.connection} has initiate: no (the peer comes back through its own DPD)`
      : !remoteAllowed(connection.config, record.address)
        ? `${record.address} is outside remote_addrs of ${record.connection}`
        : record.natted
          ? "the peer is behind a NAT: its mapping pointed at the old node"
          : undefined;
    return [
      {
        name,
        id: record.id,
        address: record.address,
        connection: connection.config.name,
        remoteId,
        localAddress,
        ...(notInitiated ? { notInitiated } : {}),
      },
    ];
  }

  /**
   * The package's IPsec stops here (step ipsec-down, before its addresses go): its IKE SAs end —
   * with a DELETE each when `tellPeers` (halted for good), silently when it moves (the adoptive
   * node's INITIAL_CONTACT replaces them, and the client keeps sealing with its stale SA rather
   * than sending in the clear meanwhile: design §6) — its Child SAs leave the datapath and its
   * sockets close.
   */
  async down(pkgName: string, options: { tellPeers: boolean }): Promise<void> {
    const running = this.running.get(pkgName);
    if (options.tellPeers && running) {
      running.contact?.stop();
      this.endpoint.stopPackage(Date.now(), pkgName, { tellPeers: true });
      this.engine.pump();
      // The DELETEs are on their way out of the sockets before these close.
      await sleep(50);
    }
    this.stopNow(pkgName);
    if (running) {
      this.options.log(
        "info",
        `IPsec of ${pkgName} stopped${options.tellPeers ? " (peers told)" : ""}`,
        pkgName,
      );
    }
  }

  /** Stops a package's IPsec without a word, synchronously (a no-op for what down() already ended). */
  private stopNow(pkgName: string): void {
    const running = this.running.get(pkgName);
    running?.contact?.stop();
    this.endpoint.stopPackage(Date.now(), pkgName, { tellPeers: false });
    this.engine.pump();
    for (const address of running?.addresses ?? []) this.engine.removeAddress(address);
    this.running.delete(pkgName);
    this.sharedKeys.delete(pkgName);
  }

  /**
   * Stops every package's IPsec at once, synchronously (a fence: design §5): their SAs end
   * without a word, their Child SAs leave the datapath, their sockets close, their contact
   * stops. Called before the addresses are removed. The host stays open for the next session.
   */
  silenceAll(): void {
    for (const pkgName of [...this.running.keys()]) this.stopNow(pkgName);
  }

  /** The package whose IPsec listens on this address here, if any. */
  packageOf(address: string): string | undefined {
    for (const [name, running] of this.running) if (running.addresses.includes(address)) return name;
    return undefined;
  }

  /** The IKE SAs of one package (or all) on this node. */
  sas(pkgName?: string): IkeSaStatus[] {
    const all = this.engine.sas();
    return pkgName === undefined
      ? all
      : all.filter((sa) => splitPackageConnection(sa.connection)?.package === pkgName);
  }

  /**
   * A package's ESP totals on this node since the daemon started: its retired Child SAs' last
   * counters plus its live ones' (package-traffic-totals.ts). They only go up.
   */
  trafficTotals(pkgName: string): TrafficTotals {
    const live = this.sas(pkgName).flatMap((sa) =>
      sa.children.map((child) => ({ spiIn: child.spiIn, counters: child.counters })),
    );
    this.traffic.observe(pkgName, live);
    return this.traffic.totals(pkgName);
  }

  /** Packages whose IPsec ran here since the daemon started (their traffic totals stay). */
  trafficPackages(): string[] {
    return [...new Set([...this.traffic.packages(), ...this.running.keys()])];
  }

  /** IKE exchanges that ended here, by package connection (design §6 metrics). */
  exchangeCounts(): (ExchangeCount & { package: string })[] {
    return this.endpoint.exchangeCounts().flatMap((c) => {
      const owner = splitPackageConnection(c.connection);
      return owner ? [{ ...c, package: owner.package, connection: owner.connection }] : [];
    });
  }

  /** ESP for unknown SPIs, datagrams the send gate held back, the datapath's own counters. */
  engineCounters(): EngineCounters {
    return this.engine.counters();
  }

  contactReport(pkgName: string): ContactReport | undefined {
    return this.running.get(pkgName)?.contact?.report();
  }

  /** Which packages' IPsec runs here now. */
  runningPackages(): string[] {
    return [...this.running.keys()];
  }

  listensOn(address: string): boolean {
    return this.engine.listensOn(address);
  }

  /** The package's health snapshot for `pavise ipsec status` (design §10; status/host-health.ts). */
  health(pkg: PackageConfig & { ipsec: PackageIpsecConfig }, node: string): Promise<IpsecHealthSnapshot> {
    const running = this.running.get(pkg.name);
    return readHostHealth(pkg, {
      node,
      engine: this.engine,
      routingTable: this.options.routingTable ?? DEFAULT_ROUTING_TABLE,
      ...(running ? { running: { addresses: running.addresses, contact: running.contact?.report() } } : {}),
    });
  }

  async close(): Promise<void> {
    for (const running of this.running.values()) running.contact?.stop();
    await this.engine.close();
  }

  private establishedPeers(pkgName: string): Set<string> {
    const names = new Set<string>();
    for (const sa of this.endpoint.ikeSasOf(pkgName)) {
      if (sa.state !== "established") continue;
      names.add(ipsecPeerName(sa.summary().remoteId));
    }
    return names;
  }

  private onIkeEvent(event: IkeEvent): void {
    if (event.type === "log") {
      this.options.log(event.level, event.message);
      return;
    }
    if (event.type === "unknown-ike-spi") {
      this.hint(event.path.remoteAddress, "IKE request for an unknown SPI", event.path.localAddress);
      return;
    }
    // The endpoint acts on these itself (a liveness check of the SAs to that peer).
    if (event.type === "peer-state-lost-hint") return;
    const owner = splitPackageConnection(event.sa.connection);
    const running = owner ? this.running.get(owner.package) : undefined;
    if (!owner || !running) return;
    running.contact?.onIkeEvent(event);
    if (event.type === "ike-up" || event.type === "ike-down") {
      this.options.log(
        "info",
        describeIkeEvent(event.type, event.sa, event.type === "ike-down" ? event.reason : undefined),
        owner.package,
      );
    }
    if (event.type === "ike-down" && event.cause === "deleted-by-peer") {
      const remaining = this.endpoint
        .ikeSasOf(owner.package)
        .filter((sa) => !sa.isClosed && sa.summary().remoteId === event.sa.remoteId).length;
      if (forgetAfterPeerDelete(remaining)) this.options.onPeerGone(owner.package, event.sa.remoteId);
    }
    if (event.type === "child-up")
      this.options.onPeerUp(owner.package, this.observed(owner.connection, event.sa, event.child));
  }

  /** What the registry records of a peer whose Child SA just came up. */
  private observed(
    connection: string,
    sa: IkeSaSummary,
    child: Extract<IkeEvent, { type: "child-up" }>["child"],
  ): ObservedPeer {
    const ike = this.endpoint.ikeSas().find((s) => Buffer.from(s.initiatorSpi).toString("hex") === sa.spiI);
    const port = ike?.path.remotePort ?? NAT_T_PORT;
    return {
      id: sa.remoteId,
      connection,
      address: sa.remoteAddress,
      port,
      // The peer's port was mapped: a NAT in front of it (we only pretend one on our side).
      natted: port !== IKE_PORT && port !== NAT_T_PORT,
      children: [
        {
          name: child.name,
          localTs: child.localTs.map(describeSelector),
          remoteTs: child.remoteTs.map(describeSelector),
        },
      ],
      node: "",
    };
  }

  /**
   * Unknown-SPI traffic from a peer (design §8): the package that knows it contacts it again;
   * a peer no package has a record of is contacted when exactly one running package has a
   * connection that may initiate to its address, named in remote_addrs (a connection open to
   * any address never initiates to a stranger: forged ESP must not make us a reflector); its
   * identity is learnt in IKE_AUTH. ESP does
   * not say which local address it came to; an IKE request does.
   */
  private hint(remoteAddress: string, what: string, localAddress?: string): void {
    const candidates = [...this.running.values()].filter(
      (r) => r.contact !== undefined && (localAddress === undefined || r.addresses.includes(localAddress)),
    );
    const knowing = candidates.filter((r) => r.contact?.knows(remoteAddress));
    for (const running of knowing) {
      if (running.contact?.hint(remoteAddress)) {
        this.options.log("info", `${what} from ${remoteAddress}: contacting it again`, running.pkg.name);
      }
    }
    if (knowing.length > 0) return;
    const allowed = candidates.flatMap((running) =>
      running.connections
        .filter(
          (c) => c.initiate && c.config.remoteAddrs.length > 0 && remoteAllowed(c.config, remoteAddress),
        )
        .map((connection) => ({ running, connection })),
    );
    const [only] = allowed;
    if (allowed.length !== 1 || !only) return;
    const localFrom = localAddress ?? contactSourceAddress(only.connection.config);
    if (localFrom === undefined) return;
    this.options.log(
      "info",
      `${what} from ${remoteAddress}, a peer with no record: contacting it (connection ${only.connection.config.name})`,
      only.running.pkg.name,
    );
    only.running.contact?.addTarget({
      name: `address:${remoteAddress}`,
      id: "%any",
      address: remoteAddress,
      connection: only.connection.config.name,
      remoteId: { kind: "any" },
      localAddress: localFrom,
    });
  }
}

function describeIkeEvent(type: "ike-up" | "ike-down", sa: IkeSaSummary, reason: string | undefined): string {
  const who = `${sa.remoteId} (${sa.remoteAddress})`;
  return type === "ike-up"
    ? `IKE SA with ${who} established (${sa.initiator ? "we initiated" : "it initiated"}, ${sa.spiI}_i ${sa.spiR}_r)`
    : `IKE SA with ${who} down: ${reason ?? ""}`;
}

/** The PSKs of a package's connections, read now from their files (design §4: files on every node). */
function readSharedKeys(pkg: string, connections: readonly PackageConnection[]): SharedKey[] {
  const keys: SharedKey[] = [];
  for (const c of connections) {
    if (c.pskFile === undefined) continue;
    let text: string;
    try {
      text = readFileSync(c.pskFile, "utf8");
    } catch (err) {
      throw new PaviseError(
        "IPSEC_PSK_UNREADABLE",
        `cannot read the pre-shared key of ${c.config.name}: ${(err as Error).message}`,
        {
          where: {
            file: c.pskFile,
            key: `packages.${pkg}.ipsec.connections.${splitPackageConnection(c.config.name)?.connection ?? ""}.psk_file`,
          },
          hint: "put the key file on every node of the package's node_name (root, 0600)",
        },
      );
    }
    // One line of text; the line break an editor adds is not part of the key.
    const secret = Buffer.from(text.replace(/\r?\n$/, ""), "utf8");
    if (secret.length < MIN_PSK_OCTETS) {
      // The same rule as the IPsec monitor (credential-check.ts), so a node never starts with a
      // key the monitor would then call unusable.
      throw new PaviseError(
        "IPSEC_PSK_TOO_SHORT",
        `the pre-shared key of ${c.config.name} has ${secret.length} octets, fewer than ${MIN_PSK_OCTETS}`,
        {
          where: { file: c.pskFile },
          hint: "write at least 32 random bytes, e.g. head -c 32 /dev/urandom | base64 > FILE, on every node and every client",
        },
      );
    }
    keys.push({ ids: [c.config.local.id, c.config.remote.id], secret });
  }
  return keys;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
