import type { ClusterConfig, PackageConfig, PackageIpsecConfig } from "../config/model.js";
import type { EtcdClient } from "../etcd/client.js";
import type { PackageIpsecDriver } from "../executor/package-drivers.js";
import type { ClusterKeys } from "../membership/layout.js";
import { PackageIpsecHost } from "../../ipsec/host/package-ipsec-host.js";

/** What `/metrics` reads of the IPsec host. */
export type IpsecMetricsSource = Pick<
  PackageIpsecHost,
  "trafficTotals" | "trafficPackages" | "exchangeCounts" | "engineCounters" | "sas" | "runningPackages"
>;
import type { ContactEvent } from "../../ipsec/contact/contact-plan.js";
import type { ContactTarget } from "../../ipsec/contact/package-contact.js";
import type { PeerRecord } from "../../ipsec/registry/peer-record.js";
import {
  forgetAllPeers,
  forgetPeers,
  listPeers,
  type OwnerGuard,
  recordPeers,
  type RegistryWrite,
} from "../../ipsec/registry/peer-registry.js";
import type { IpsecHealthSnapshot } from "../../ipsec/status/ipsec-health.js";
import { type ObservedPeer, recordAfterSetup, sweepPeers } from "../../ipsec/registry/peer-upkeep.js";

/** What the IPsec glue needs of the node agent. */
export interface AgentIpsecContext {
  node: string;
  client: EtcdClient;
  keys: ClusterKeys;
  /** The lease of the current membership session (undefined: not a member now). */
  lease(): string | undefined;
  /** May this node run the package now (it holds the owner key and may act)? */
  mayRun(pkg: string): boolean;
  log(event: string, message: string, extra?: Record<string, unknown>): void;
  /** Gratuitous ARP again for a package's addresses on this node. */
  announce(pkg: string, why: string): void;
  /** A line for the cluster's event log too. */
  event(kind: string, message: string, extra?: Record<string, unknown>): void;
}

/** How often a registry write etcd did not take is tried again, and how often at most. */
const REGISTRY_RETRY_MS = 250;
const REGISTRY_TRIES = 20;
/** How often the owner sweeps a package's registry (design §7: hourly). */
const SWEEP_MS = 3_600_000;

/**
 * The daemon's side of IPsec that moves with the package (docs/ipsec-packages-design.md §5–§8):
 * the node's PackageIpsecHost, the executor's ipsec steps on top of it, and the peer registry
 * in etcd — peers recorded as their SAs come up (only while this node owns the package: the
 * write is guarded on its owner key), read back at takeover for the contact.
 */
export class AgentIpsec implements PackageIpsecDriver {
  /** What this node last wrote or read per package and peer identity (to write only changes). */
  private readonly stored = new Map<string, Map<string, PeerRecord>>();
  /** The registry sweep of each package running here. */
  private readonly sweepers = new Map<string, NodeJS.Timeout>();

  private constructor(
    private readonly host: PackageIpsecHost,
    private readonly ctx: AgentIpsecContext,
  ) {}

  /** Opens the host when a package that may run here has ipsec: (warm standby on every such node). */
  static async open(config: ClusterConfig, ctx: AgentIpsecContext): Promise<AgentIpsec | undefined> {
    if (!config.packages.some((p) => p.ipsec && p.nodes.includes(ctx.node))) return undefined;
    const ref: { glue?: AgentIpsec } = {};
    const host = await PackageIpsecHost.open({
      // A peer's NIC made loose (strict rp_filter) takes its standby NICs with it: local LAN
      // failover moves the route to the peer there (design §11).
      standIns: (config.nodes.find((n) => n.name === ctx.node)?.interfaces ?? []).map((i) => [
        i.primary,
        ...i.standby,
      ]),
      maySendFrom: (address) => {
        const pkg = ref.glue?.host.packageOf(address);
        return pkg !== undefined && ctx.mayRun(pkg);
      },
      onPeerUp: (pkg, peer) => ref.glue?.peerUp(pkg, peer),
      onPeerGone: (pkg, remoteId) => ref.glue?.peerGone(pkg, remoteId),
      announce: (pkg) =>
        ctx.announce(pkg, "an IPsec peer did not answer: it may have missed the first announcement"),
      onContactEvent: (pkg, event, peer, ms) => ref.glue?.contactEvent(pkg, event, peer, ms),
      log: (level, message, pkg) =>
        ctx.log(level === "warn" ? "ipsec-problem" : "ipsec", message, pkg ? { package: pkg } : {}),
    });
    const glue = new AgentIpsec(host, ctx);
    ref.glue = glue;
    ctx.log("ipsec", "IPsec host open: IKE and ESP for packages with ipsec: (TUN pavise0)");
    return glue;
  }

  async up(pkg: PackageConfig): Promise<void> {
    await this.host.up(pkg);
    this.startSweeping(pkg);
  }

  /**
   * The owner's sweep of the package's registry (design §7, ipsec.peers_retention): peers not
   * seen for that long and without an SA here are forgotten; those with a live SA get a fresh
   * `seen`, so a client that keeps one SA for days through rekeys is never dropped.
   */
  private startSweeping(pkg: PackageConfig): void {
    this.stopSweeping(pkg.name);
    const retention = pkg.ipsec?.peersRetentionMs;
    if (retention === undefined) return;
    const timer = setInterval(() => void this.sweep(pkg.name, retention), Math.min(SWEEP_MS, retention / 2));
    timer.unref();
    this.sweepers.set(pkg.name, timer);
  }

  private stopSweeping(pkg: string): void {
    const timer = this.sweepers.get(pkg);
    if (timer) clearInterval(timer);
    this.sweepers.delete(pkg);
  }

  private async sweep(pkg: string, retentionMs: number): Promise<void> {
    if (!this.ctx.mayRun(pkg)) return;
    try {
      const list = await listPeers(this.ctx.client, this.ctx.keys, pkg);
      const live = new Set(
        this.host
          .sas(pkg)
          .filter((sa) => sa.state === "ESTABLISHED")
          .map((sa) => sa.remoteId),
      );
      const result = sweepPeers(
        list.peers.map((p) => p.record),
        Date.now(),
        retentionMs,
        live,
      );
      if (result.forget.length > 0) {
        for (const id of result.forget) this.stored.get(pkg)?.delete(id);
        await this.guarded(
          pkg,
          `forgetting ${result.forget.length} peer(s) not seen within peers_retention`,
          (guard) => forgetPeers(this.ctx.client, this.ctx.keys, guard, result.forget),
        );
      }
      if (result.refresh.length > 0) {
        for (const r of result.refresh) this.stored.get(pkg)?.set(r.id, r);
        await this.guarded(pkg, `refreshing ${result.refresh.length} peer(s) with a live SA`, (guard) =>
          recordPeers(this.ctx.client, this.ctx.keys, guard, result.refresh),
        );
      }
    } catch (err) {
      this.ctx.log("ipsec-problem", `package ${pkg}: sweeping its IPsec peers: ${describe(err)}`, {
        package: pkg,
      });
    }
  }

  /** Reads the package's recorded peers and contacts them (not awaited by the start). */
  contact(pkg: PackageConfig): void {
    void (async () => {
      const began = Date.now();
      for (let attempt = 0; attempt < REGISTRY_TRIES && this.ctx.mayRun(pkg.name); attempt++) {
        try {
          const list = await listPeers(this.ctx.client, this.ctx.keys, pkg.name);
          for (const problem of list.problems) this.ctx.log("ipsec-problem", problem, { package: pkg.name });
          this.stored.set(pkg.name, new Map(list.peers.map((p) => [p.record.id, p.record])));
          this.ctx.log(
            "ipsec",
            `package ${pkg.name}: ${list.peers.length} recorded IPsec peer(s) (registry read in ${Date.now() - began} ms)`,
            { package: pkg.name },
          );
          this.host.contact(
            pkg.name,
            list.peers.map((p) => ({ name: p.name, record: p.record })),
          );
          return;
        } catch (err) {
          this.ctx.log("ipsec-problem", `package ${pkg.name}: reading its IPsec peers: ${describe(err)}`);
          await sleep(REGISTRY_RETRY_MS);
        }
      }
    })();
  }

  /**
   * The package's IPsec stops here. Halted for good (`tellPeers`): its peers got a DELETE and are
   * forgotten in the registry too, while this node still owns the package (design §7) — no
   * node is to contact them. Moving: the records stay for the adoptive node.
   */
  async down(pkg: PackageConfig, tellPeers: boolean): Promise<void> {
    this.stopSweeping(pkg.name);
    await this.host.down(pkg.name, { tellPeers });
    if (!tellPeers) return;
    this.stored.delete(pkg.name);
    await this.guarded(pkg.name, "forgetting its IPsec peers (halted for good)", (guard) =>
      forgetAllPeers(this.ctx.client, this.ctx.keys, guard),
    );
  }

  /** A fence: every package's IPsec stops now, synchronously, before addresses go (design §5). */
  silenceAll(): void {
    for (const pkg of [...this.sweepers.keys()]) this.stopSweeping(pkg);
    this.host.silenceAll();
  }

  /** The package's IPsec health snapshot on this node, for `pavise ipsec status` (design §10). */
  health(pkg: PackageConfig & { ipsec: PackageIpsecConfig }): Promise<IpsecHealthSnapshot> {
    return this.host.health(pkg, this.ctx.node);
  }

  /** The host's read-only figures for `/metrics` (design §6). */
  get metrics(): IpsecMetricsSource {
    return this.host;
  }

  sas(pkg?: string): ReturnType<PackageIpsecHost["sas"]> {
    return this.host.sas(pkg);
  }

  counters(): ReturnType<PackageIpsecHost["engineCounters"]> {
    return this.host.engineCounters();
  }

  close(): Promise<void> {
    for (const pkg of [...this.sweepers.keys()]) this.stopSweeping(pkg);
    return this.host.close();
  }

  private peerUp(pkg: string, observed: ObservedPeer): void {
    const known = this.stored.get(pkg) ?? new Map<string, PeerRecord>();
    this.stored.set(pkg, known);
    const record = recordAfterSetup(known.get(observed.id), { ...observed, node: this.ctx.node }, Date.now());
    if (!record) return;
    known.set(record.id, record);
    void this.write(pkg, record);
  }

  private peerGone(pkg: string, remoteId: string): void {
    this.stored.get(pkg)?.delete(remoteId);
    void this.guarded(pkg, `forgetting peer ${remoteId} (it deleted its IKE SA)`, (guard) =>
      forgetPeers(this.ctx.client, this.ctx.keys, guard, [remoteId]),
    );
  }

  /** Writes a peer record (design §7). */
  private write(pkg: string, record: PeerRecord): Promise<boolean> {
    return this.guarded(
      pkg,
      `recording peer ${record.id} (${record.address})`,
      (guard) => recordPeers(this.ctx.client, this.ctx.keys, guard, [record]),
      () =>
        this.ctx.log(
          "ipsec-peer-recorded",
          `package ${pkg}: peer ${record.id} (${record.address}) recorded`,
          {
            package: pkg,
            peer: record.id,
          },
        ),
    );
  }

  /**
   * A registry write guarded on this node's owner key of the package (only the owner writes),
   * tried again while etcd drops it (an election) and the node still owns the package.
   */
  private async guarded(
    pkg: string,
    what: string,
    write: (guard: OwnerGuard) => Promise<RegistryWrite>,
    /** Says it is done (default: an ipsec-registry line). */
    done: () => void = () =>
      this.ctx.log("ipsec-registry", `package ${pkg}: ${what}: done`, { package: pkg }),
  ): Promise<boolean> {
    for (let attempt = 0; attempt < REGISTRY_TRIES; attempt++) {
      const lease = this.ctx.lease();
      if (lease === undefined || !this.ctx.mayRun(pkg)) return false;
      try {
        const result = await write({ package: pkg, node: this.ctx.node, lease });
        if (result.written) done();
        else
          this.ctx.log("ipsec-problem", `package ${pkg}: ${what}: refused: ${result.reason}`, {
            package: pkg,
          });
        return result.written;
      } catch (err) {
        this.ctx.log("ipsec-problem", `package ${pkg}: ${what}: ${describe(err)}; trying again`, {
          package: pkg,
        });
        await sleep(REGISTRY_RETRY_MS);
      }
    }
    return false;
  }

  /**
   * Keeps the peer's record saying how contacting it goes (`pavise status -v` on any node shows
   * it); a contacted peer's SA setup rewrites the record without it (recordAfterSetup).
   */
  private noteContact(pkg: string, peerId: string, contact: PeerRecord["contact"]): void {
    const record = this.stored.get(pkg)?.get(peerId);
    if (!record || JSON.stringify(record.contact) === JSON.stringify(contact)) return;
    const next: PeerRecord = { ...record };
    if (contact) next.contact = contact;
    else delete next.contact;
    this.stored.get(pkg)?.set(peerId, next);
    void this.write(pkg, next);
  }

  private contactEvent(pkg: string, event: ContactEvent, peer: ContactTarget | undefined, ms: number): void {
    if (peer && event.kind !== "ipsec-peer-contacted") {
      const lastError = event.error;
      this.noteContact(pkg, peer.id, {
        state: event.kind === "ipsec-peer-unreachable" ? "retrying" : "gave-up",
        attempts: event.failures,
        lastError,
      });
    }
    const who = peer ? `${peer.id} (${peer.address})` : event.peer;
    const extra = { package: pkg, peer: peer?.id ?? event.peer, ms };
    switch (event.kind) {
      case "ipsec-peer-contacted":
        this.ctx.event(
          event.kind,
          `package ${pkg}: IPsec peer ${who} contacted with INITIAL_CONTACT ${ms} ms after the package's IPsec started${event.failures > 0 ? ` (after ${event.failures} failed attempt(s))` : ""}`,
          extra,
        );
        return;
      case "ipsec-peer-unreachable":
        this.ctx.event(
          event.kind,
          `package ${pkg}: IPsec peer ${who} not reached (${event.error}); attempt ${event.failures + 1} in ${event.retryInMs} ms`,
          { ...extra, failures: event.failures, retryInMs: event.retryInMs },
        );
        return;
      case "ipsec-peer-gave-up":
        this.ctx.event(
          event.kind,
          `package ${pkg}: IPsec peer ${who} given up after ${event.failures} attempts (${event.error}); it comes back through its own liveness checks or a new SA`,
          { ...extra, failures: event.failures },
        );
        return;
    }
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
