/**
 * The node agent behind `pavise daemon`: it ties membership (MemberSession), the leader's
 * scheduling, this node's reconciliation and the executor together. It decides nothing itself:
 * the scheduler (pure) decides where packages run, reconcile() (pure) decides this node's
 * steps; the agent reads etcd, carries the steps out and reports.
 *
 * - Membership: one MemberSession at a time. When it fences, every package address is removed
 *   at once, then every package halted, the session ended with a revoke (so the others may take
 *   over at once), a fresh guardian started (src/cluster/guard/) and a new session started.
 * - Leader: every node campaigns when the leader key is gone; the one that holds it schedules
 *   from the cluster state whenever a key under the prefix changes (debounced) and writes the
 *   placements, only while it still holds the key (writePlacements checks it).
 * - Reconcile: on every change (and once a second, to be sure), this node's steps from the
 *   placements, the owner keys and the executor; a start takes the owner key first.
 * - Reports: status/<package>/<node> (layout.ts) says starting, up, halting or failed, and on
 *   which NIC each address is (again when a local LAN failover moves one); a package the
 *   executor reports as failed is reported so the leader moves it, and halted here. A failure
 *   caused by a subnet without link is forgotten once the subnet has link again.
 * - Halted by an operator (admin/nodes/<node>, pavise node halt): the node key says "halted"
 *   and the daemon keeps running, in the cluster; the leader moves its packages away. When the
 *   operator runs it again (pavise node run) the key says "up" again.
 * - Leaving (SIGTERM): the node key says "halted", so the leader moves its packages; they halt
 *   here (dependents first), their keys go, the node key goes, the lease is revoked.
 * - Starting: package addresses found on the node were left by an earlier run and are removed
 *   before joining.
 *
 * All etcd traffic but the lease (its worker) and joining goes through one client with a short
 * per-member timeout, so that a member that went away costs a takeover a quarter of a lease
 * once, not a second on every client (owner keys too: owned-packages.ts).
 */

import type { ClusterConfig } from "../config/model.js";
import { EtcdClient } from "../etcd/client.js";
import { EtcdError } from "../etcd/errors.js";
import type { EtcdWatch } from "../etcd/watch.js";
import { monotonicMs } from "../etcd/monotonic-clock.js";
import { DEFAULT_RETURN_POLICY, NODE_OWNER } from "../executor/address-placement.js";
import { type ExecutorEvent, NodeExecutor } from "../executor/node-executor.js";
import type { ChangeResult } from "../executor/package-runner.js";
import { DaemonGuard } from "../guard/daemon-guard.js";
import { guardHolding } from "../guard/guard-holding.js";
import type { FenceEvent, FenceGuardStats } from "../membership/fence-guard.js";
import type { FenceObserver } from "../membership/self-fence.js";
import { campaign, writePlacements } from "../membership/leader.js";
import { type ClusterEvent, ClusterKeys, type PackageReport } from "../membership/layout.js";
import { reportsServiceChange, serviceFactAfter, type ServiceFact } from "./service-facts.js";
import { MemberSession } from "../membership/member-session.js";
import { appendEvent, publishNode, retireNode } from "../membership/node-registry.js";
import { updateIntent } from "../operator/intent-store.js";
import type { PackageIntent } from "../membership/layout.js";
import { schedule } from "../scheduler/scheduler.js";
import type { PlanAction } from "../scheduler/plan.js";
import { type ClusterSnapshot, clusterStateFrom, readSnapshot } from "./cluster-state.js";
import type { ClusterState, NodeStatus } from "../state.js";
import { leadershipStep } from "./leadership.js";
import { OwnedPackages } from "./owned-packages.js";
import { type LocalState, reconcile, type ReconcileStep } from "./reconcile.js";
import { monitoredResources, ResourceMonitors } from "./resource-monitors.js";
import { failFastReason } from "./fail-fast.js";
import { type AddressCheckResult, waitForAddressesFree } from "./address-check.js";
import { EtcdLeaderSteering } from "./etcd-leader-steering.js";
import { AgentIpsec } from "./agent-ipsec.js";
import type { EngineCounters } from "../../ipsec/ipsec-engine.js";
import type { IkeSaStatus } from "../../ipsec/sa-status.js";
import { EventSink } from "../events/event-sink.js";
import { IpsecHealthLog, ipsecHealthSnapshots } from "./ipsec-health-source.js";
import type { IpsecHealthSnapshot } from "../../ipsec/status/ipsec-health.js";

/** One line of the daemon's log: what happened, on which node, when. */
export interface AgentLogLine {
  at: number;
  node: string;
  event: string;
  message: string;
  [extra: string]: unknown;
}

export interface NodeAgentOptions {
  config: ClusterConfig;
  node: string;
  /** Package logs (default /var/log/pavise). */
  logDirectory?: string;
  log: (line: AgentLogLine) => void;
  /** How long changes are gathered before the leader schedules and the node reconciles (default 5 ms). */
  debounceMs?: number;
  /** Reconcile this often even without a change (default 1000 ms). */
  resyncMs?: number;
  /**
   * Start a guardian process that removes this node's package addresses and kills its services
   * if the daemon dies without leaving (SIGKILL, crash): src/cluster/guard/. Its log lines go to
   * the daemon's stdout, as JSON when `json`.
   */
  guard?: { json: boolean };
  /**
   * A package with node_fail_fast or a service with fail_fast failed here: the agent has dropped
   * this node's addresses, killed its services and revoked its lease; the daemon should exit.
   */
  onFailFast?: (reason: string) => void;
  /** Told of each lease renewal and event-loop tick of every session (metrics, design §6). */
  fenceObserver?: FenceObserver;
  /**
   * This node's API URL (`https://198.18.2.11:7443`), published in its node record: the other
   * nodes forward SA and log reads to it (api/routes/owner-proxy.ts), the console lists it.
   */
  apiUrl?: string;
  /** Told after each fresh read of the cluster, leader or not (the failover timer, design §6). */
  roundObserver?: (round: AgentRound) => void;
}

/** One fresh read of the cluster by this node, and whether it leads (schedules) now. */
export interface AgentRound {
  /** When the snapshot was read (monotonic ms). */
  at: number;
  leading: boolean;
  snapshot: ClusterSnapshot;
  isFailover: (pkg: string) => boolean;
}

/** What `/metrics` reads from the agent at scrape time (design §6); a copy, read only. */
export interface AgentMetricsFacts {
  /** This node holds its lease and is not fenced. */
  member: boolean;
  leader: boolean;
  /** The cluster as this node last read it (undefined before the first read). */
  state: ClusterState | undefined;
  /** The current session's fence guard figures (undefined between sessions). */
  lease: FenceGuardStats | undefined;
  /** IPsec of the packages with ipsec: here (undefined when none may run here). */
  ipsec: AgentIpsec | undefined;
}

export class NodeAgent {
  private readonly client: EtcdClient;
  private readonly keys: ClusterKeys;
  private readonly events: EventSink;
  private session: MemberSession | undefined;
  /** The owner keys the current session holds. */
  private owned: OwnedPackages | undefined;
  private leader = false;
  /** Fenced, and not a member again yet (GET /v1/health). */
  private fencedNow = false;
  /** Node statuses as the leader last saw them, for node-failed/-halted/-up events. */
  private readonly nodeStatusSeen = new Map<string, NodeStatus>();
  private leaving = false;
  /** Packages whose fulfilled node request the leader is clearing now. */
  private readonly clearingRequests = new Set<string>();
  /** An operator halted this node (admin/nodes/<node>), as last published in the node key. */
  private operatorHalted = false;
  private stopped = false;
  private snapshot: ClusterSnapshot | undefined;
  private readonly busy = new Set<string>();
  private readonly failedHere = new Map<string, string>();
  /** Packages of failedHere that failed because this subnet had no NIC with link left here. */
  private readonly failedForSubnet = new Map<string, string>();
  /** The last report written per package, so that a moved address is reported with the same status. */
  private readonly lastReports = new Map<string, PackageReport>();
  /** Per package, its services' restarts and state here (written into its report). */
  private readonly serviceFacts = new Map<string, Map<string, ServiceFact>>();
  private watch: EtcdWatch | undefined;
  private watchLoop: Promise<void> | undefined;
  private kickTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private dirty = false;
  private joining: Promise<void> | undefined;
  private exclusive: Map<string, boolean>;
  private guard: DaemonGuard | undefined;
  private readonly monitors: ResourceMonitors;
  private failingFast = false;
  private readonly etcdLeader: EtcdLeaderSteering;
  /** When the current session began: a leader this fresh waits for the others (lead). */
  private joinedAt = 0;
  private reformationNoted = false;
  /** IPsec of the packages with ipsec: (absent when none may run here). */
  private ipsec: AgentIpsec | undefined;
  private ipsecOpenProblem: string | undefined;
  private readonly ipsecHealthLog = new IpsecHealthLog((event, message, extra) =>
    this.log(event, message, extra),
  );

  private constructor(
    private readonly options: NodeAgentOptions,
    private readonly executor: NodeExecutor,
  ) {
    this.client = new EtcdClient({
      endpoints: options.config.etcd.endpoints,
      tls: options.config.etcd.tls,
      // A member that does not answer within a quarter of the lease is of no use to a failover
      // that must finish within about one lease: move on to the next (the default waits 1 s).
      attemptTimeoutMs: Math.min(1000, Math.max(250, Math.floor(options.config.timing.memberTimeoutMs / 4))),
    });
    this.keys = new ClusterKeys(options.config.etcd.prefix);
    this.events = new EventSink({
      node: options.node,
      cluster: () => this.options.config,
      client: this.client,
      keys: this.keys,
      log: (kind, message, extra) => this.log(kind, message, extra),
      logDirectory: options.logDirectory,
    });
    this.exclusive = new Map(options.config.packages.map((p) => [p.name, p.type === "failover"]));
    this.etcdLeader = new EtcdLeaderSteering({
      client: this.client,
      event: (kind, message, extra) => this.event(kind, message, extra),
      problem: (message) => this.log("problem", message),
    });
    this.monitors = new ResourceMonitors(monitoredResources(options.config, options.node), {
      node: options.node,
      onChange: (name, status, detail) => {
        this.event(`resource-${status}`, `resource ${name} is ${status} on ${options.node} (${detail})`, {
          resource: name,
        });
        void this.publishRecord().catch((err: unknown) => this.nodeKeyProblem(err));
      },
    });
  }

  static async start(options: NodeAgentOptions): Promise<NodeAgent> {
    // The executor reports from its start on; the agent exists once the executor does.
    const sink: { agent?: NodeAgent } = {};
    // The guardian first: nothing may run here before it watches.
    const problems: string[] = [];
    const guard = options.guard
      ? DaemonGuard.start({
          node: options.node,
          json: options.guard.json,
          deadlineMs: options.config.timing.fenceAfterMs,
          onProblem: (message) => (sink.agent ? sink.agent.log("problem", message) : problems.push(message)),
          onSilenced: (message) => sink.agent?.log("guard-ended", message),
        })
      : undefined;
    const executor = await NodeExecutor.start({
      config: options.config,
      nodeName: options.node,
      ...(options.logDirectory !== undefined ? { logDirectory: options.logDirectory } : {}),
      returnPolicy: {
        ...DEFAULT_RETURN_POLICY,
        autoReturn: options.config.networkAutoFailback !== false,
      },
      onEvent: (event) => sink.agent?.onExecutorEvent(event),
      // Package addresses only while this node may act as an owner (node-addresses.ts).
      mayHoldPackageAddresses: () => sink.agent?.mayHoldPackageAddresses() ?? false,
    });
    // A copy: the configuration changes when one is applied (applyConfig).
    const agent = new NodeAgent({ ...options }, executor);
    agent.guard = guard;
    sink.agent = agent;
    for (const message of problems) agent.log("problem", message);
    agent.log("starting", `node ${options.node} of cluster ${options.config.name}`);
    // Without its IPsec a node still serves every other package; those with ipsec: fail to
    // start here (step ipsec-up says why) and run elsewhere.
    agent.ipsec = await AgentIpsec.open(options.config, {
      node: options.node,
      client: agent.client,
      keys: agent.keys,
      lease: () => agent.session?.lease.id,
      mayRun: (pkg) => agent.owned?.mayRun(pkg) === true,
      log: (event, message, extra) => agent.log(event, message, extra),
      event: (kind, message, extra) => agent.event(kind, message, extra),
      announce: (pkg, why) => {
        agent.log("announce", `gratuitous ARP again for ${pkg}'s addresses: ${why}`, { package: pkg });
        void executor.addresses
          .announce(pkg)
          .catch((err: unknown) => agent.log("problem", `announce: ${describe(err)}`));
      },
    }).catch((err: unknown) => {
      agent.ipsecOpenProblem = describe(err);
      agent.log("problem", `IPsec could not start: ${describe(err)}; packages with ipsec: cannot run here`);
      return undefined;
    });
    if (agent.ipsec) executor.setIpsec(agent.ipsec);
    await agent.removeLeftoverAddresses();
    agent.startWatch();
    agent.monitors.start();
    // Not awaited: joining retries until etcd answers, and SIGTERM must work meanwhile.
    void agent.join();
    agent.resyncTimer = setInterval(() => agent.kick(), options.resyncMs ?? 1000);
    return agent;
  }

  /**
   * A new daemon owns nothing yet, so a package address on this node was left by an earlier run
   * (a daemon killed, a node that came back): it goes before the node joins, or the node would
   * answer ARP for an address another node owns.
   */
  private async removeLeftoverAddresses(): Promise<void> {
    for (const pkg of this.options.config.packages) {
      for (const { address } of pkg.addresses) {
        const removed = await this.executor.addresses.remove(pkg.name, address);
        if (removed.length > 0) {
          this.log(
            "cleanup",
            `removed ${address} (package ${pkg.name}) from ${removed.join(", ")}: left by an earlier run`,
          );
        }
      }
    }
  }

  /** IPsec health snapshots of one package or all with ipsec: here (`pavise ipsec status`, design §10). */
  async ipsecHealth(pkg: string | undefined): Promise<IpsecHealthSnapshot[]> {
    const snapshots = await ipsecHealthSnapshots(
      {
        config: this.options.config,
        node: this.options.node,
        ipsec: this.ipsec,
        openProblem: this.ipsecOpenProblem,
      },
      pkg,
    );
    this.ipsecHealthLog.note(snapshots);
    return snapshots;
  }

  /** The package SAs on this node and the datapath's counters (`pavise ipsec sas`). */
  ipsecSas(pkg?: string): { sas: IkeSaStatus[]; counters: EngineCounters | undefined } {
    return { sas: this.ipsec?.sas(pkg) ?? [], counters: this.ipsec?.counters() };
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /** GET /v1/health (design §5): a member, fenced (until it joins again), the leader. */
  health(): { member: boolean; fenced: boolean; leader: boolean } {
    const session = this.session;
    const member = session !== undefined && session.fence.fenced === undefined;
    return { member, fenced: this.fencedNow || (session !== undefined && !member), leader: this.leader };
  }

  /** What `/metrics` reads now (design §6). */
  metricsFacts(): AgentMetricsFacts {
    const session = this.session;
    return {
      member: session !== undefined && session.fence.fenced === undefined,
      leader: this.leader,
      state: this.snapshot ? clusterStateFrom(this.options.config, this.snapshot) : undefined,
      lease: session?.fence.stats,
      ipsec: this.ipsec,
    };
  }

  /**
   * Switches to a new cluster configuration (pavise config apply, config-follower.ts): the
   * leader schedules with it from the next round, and this node changes only what differs for
   * the packages it runs (the executor). Resolves with what each package here did.
   */
  async applyConfig(next: ClusterConfig): Promise<Map<string, ChangeResult>> {
    this.options.config = next;
    this.exclusive = new Map(next.packages.map((p) => [p.name, p.type === "failover"]));
    this.monitors.reconfigure(monitoredResources(next, this.options.node));
    // The guardian hears of new addresses before they are added (it is written ahead).
    this.updateGuard();
    const results = await this.executor.reconfigure(next);
    this.updateGuard();
    this.kick();
    return results;
  }

  /**
   * Leaves the cluster cleanly (SIGTERM): says so in the node key, halts every package here,
   * releases the keys, withdraws and revokes the lease. Resolves once done.
   */
  async leave(timeoutMs = 60_000): Promise<void> {
    if (this.leaving) return;
    this.leaving = true;
    this.log("leaving", "halting this node's packages");
    await this.publishRecord().catch((err: unknown) => this.nodeKeyProblem(err));
    this.kick();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && !this.allDown()) await sleep(20);
    if (!this.allDown()) this.log("problem", "packages still up when leaving: halting them now");
    await this.haltEverything();
    // A join under way ends by itself now (leaving); its session, if it got one, ends here.
    if (this.joining) await this.joining;
    const session = this.session;
    this.session = undefined;
    this.owned = undefined;
    if (session) {
      await retireNode(
        this.client,
        this.keys,
        { name: this.options.node, lease: session.lease.id },
        { ...this.record(), since: Date.now() },
      ).catch(() => false);
      await session
        .end({ revoke: true })
        .catch((err: unknown) => this.log("problem", `revoke: ${describe(err)}`));
    }
    await this.stop();
    this.log("left", `node ${this.options.node} left the cluster`);
  }

  /** Stops everything this agent runs (not the packages: leave() halts those first). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.kickTimer) clearTimeout(this.kickTimer);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.monitors.stop();
    this.watch?.close();
    await this.watchLoop;
    await this.refreshing;
    if (this.joining) await this.joining;
    if (this.session) await this.session.end({ revoke: false }).catch(() => undefined);
    this.session = undefined;
    this.owned = undefined;
    await this.executor.stop();
    await this.ipsec?.close();
    this.client.close();
    this.events.stop();
    // What still runs now runs on purpose (stop() keeps packages): the guardian leaves quietly.
    this.guard?.release();
  }

  // ---- membership

  private join(): Promise<void> {
    this.joining ??= (async () => {
      for (let attempt = 0; !this.stopped && !this.leaving; attempt++) {
        // A guardian that ended (it acted on a stall while this node was not a member, or it
        // failed) is replaced before the node may take anything.
        if (this.guard?.gone) this.replaceGuard();
        let fencedEarly: FenceEvent | undefined;
        let session: MemberSession | undefined;
        const joinedWith = JSON.stringify(this.record());
        // Filled in once the session exists; the fence may come before that.
        const ref: { owned?: OwnedPackages } = {};
        try {
          session = await MemberSession.start({
            etcd: { ...this.options.config.etcd, endpoints: this.endpointsFromCurrent() },
            timing: this.options.config.timing,
            node: this.options.node,
            record: JSON.parse(joinedWith) as Record<string, unknown>,
            ...(this.options.fenceObserver ? { fenceObserver: this.options.fenceObserver } : {}),
            onFence: (event) => {
              ref.owned?.fence();
              if (session) void this.onFenced(session, event);
              else fencedEarly = event;
            },
          });
        } catch (err) {
          this.log("problem", `cannot join the cluster: ${describe(err)}`, { attempt });
          await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 5)));
          continue;
        }
        const owned = new OwnedPackages(this.client, this.keys, session);
        ref.owned = owned;
        if (fencedEarly) owned.fence();
        this.session = session;
        this.owned = owned;
        this.fencedNow = fencedEarly !== undefined;
        this.joinedAt = Date.now();
        this.reformationNoted = false;
        this.log("joined", `lease ${session.lease.id}`);
        // A resource or subnet that changed while joining was not in the record joined with.
        if (JSON.stringify(this.record()) !== joinedWith) {
          void this.publishRecord().catch((err: unknown) => this.nodeKeyProblem(err));
        }
        if (fencedEarly) {
          void this.onFenced(session, fencedEarly);
          return;
        }
        void this.campaign();
        this.kick();
        return;
      }
    })().finally(() => {
      this.joining = undefined;
    });
    return this.joining;
  }

  /**
   * The endpoints, beginning with the one the agent's client talks to now: after a fence, a new
   * session that began with a member that is gone would wait for it to time out first.
   */
  private endpointsFromCurrent(): string[] {
    const endpoints = this.options.config.etcd.endpoints;
    const i = endpoints.indexOf(this.client.transport.currentEndpoint);
    return i <= 0 ? endpoints : [...endpoints.slice(i), ...endpoints.slice(0, i)];
  }

  private async onFenced(session: MemberSession, event: FenceEvent): Promise<void> {
    if (this.session !== session) return;
    this.session = undefined;
    this.owned = undefined;
    this.leader = false;
    this.fencedNow = true;
    this.log("fenced", `${event.reason}: ${event.detail}; dropping addresses and halting packages`, {
      reason: event.reason,
    });
    const failFast = this.options.config.packages.find(
      (p) => p.nodeFailFast && this.localState(p.name) !== "down",
    );
    if (failFast) {
      return this.failFast(session, `fenced while running ${failFast.name}, which has node_fail_fast`);
    }
    // No hook starts until the packages are halted and the addresses dropped (design §9).
    this.events.hooks.hold();
    await this.haltEverything();
    this.events.hooks.release();
    // The reports died with the lease; a new session starts with a clean slate.
    this.failedHere.clear();
    this.failedForSubnet.clear();
    this.lastReports.clear();
    const ended = await session
      .end({ revoke: true })
      .catch((err: unknown): { revoked: boolean; error?: string } => ({
        revoked: false,
        error: describe(err),
      }));
    this.replaceGuard();
    // Say so when etcd did not confirm the revoke (no quorum, say): the old lease and its keys
    // then stay until it lapses, and a takeover waits for that (bug fence-done-claimed-revoke).
    this.log(
      "fence-done",
      ended.revoked
        ? "packages halted, lease revoked; joining again"
        : `packages halted; the lease was not revoked (${ended.error ?? "etcd did not confirm"}), it lapses by itself; joining again`,
    );
    // A join still finishing (a fence during MemberSession.start) ends without a session.
    if (this.joining) await this.joining;
    if (!this.stopped && !this.leaving && !this.session) await this.join();
  }

  /**
   * The node leaves the cluster at once (node_fail_fast / service fail_fast; Serviceguard halts
   * the node): addresses dropped, every service group killed without waiting for its halt
   * timeout, halt scripts not run, the lease revoked so another node takes over now, and the
   * daemon told to exit. Its guardian then finds nothing left to remove.
   */
  private async failFast(session: MemberSession, reason: string): Promise<void> {
    if (this.failingFast) return;
    this.failingFast = true;
    this.session = undefined;
    this.owned = undefined;
    this.leader = false;
    this.log("fail-fast", `${reason}: this node leaves the cluster at once`);
    this.ipsec?.silenceAll();
    const held = this.executor.addresses.held().filter((a) => a.owner !== NODE_OWNER);
    await Promise.all(
      held.map((a) => this.executor.addresses.remove(a.owner, a.address).catch(() => undefined)),
    );
    for (const pkg of this.options.config.packages) {
      for (const service of this.executor.supervisors(pkg.name)) {
        const pgid = service.pid;
        // halt() ends its restarts; the SIGKILL does not wait for service_halt_timeout.
        void service.halt();
        if (pgid !== undefined) killGroup(pgid);
      }
    }
    await appendEvent(this.client, this.keys, {
      node: this.options.node,
      kind: "node-fail-fast",
      message: `node ${this.options.node} left the cluster at once: ${reason}`,
    }).catch(() => undefined);
    await session
      .end({ revoke: true })
      .catch((err: unknown) => this.log("problem", `revoke after fail-fast: ${describe(err)}`));
    this.stopped = true;
    this.options.onFailFast?.(reason);
  }

  /** IPsec silenced, addresses removed (in parallel), then every package halted (in parallel). */
  private async haltEverything(): Promise<void> {
    this.ipsec?.silenceAll();
    const held = this.executor.addresses.held().filter((a) => a.owner !== NODE_OWNER);
    await Promise.all(
      held.map((a) => this.executor.addresses.remove(a.owner, a.address).catch(() => undefined)),
    );
    await Promise.all(
      this.executor
        .packageNames()
        .filter((p) => this.localState(p) !== "down")
        .map(async (p) => {
          const result = await this.executor.haltPackage(p).catch(() => undefined);
          if (result) this.log("halted", `package ${p} (${result.ms} ms)`, { package: p });
        }),
    );
    this.updateGuard();
  }

  /**
   * After a fence (or before joining, when the guardian has ended) nothing is held here: the
   * guardian is replaced by a fresh one, since one that acted on a frozen daemon's silence has
   * ended (guard-core.ts) and this node must not rejoin unguarded.
   */
  private replaceGuard(): void {
    const guardOptions = this.options.guard;
    if (!this.guard || !guardOptions) return;
    this.guard.release();
    this.guard = DaemonGuard.start({
      node: this.options.node,
      json: guardOptions.json,
      deadlineMs: this.options.config.timing.fenceAfterMs,
      onProblem: (message) => this.log("problem", message),
      onSilenced: (message) => this.log("guard-ended", message),
    });
    this.updateGuard();
  }

  /** Tells the guardian what this node holds now (written ahead for packages being started). */
  private updateGuard(): void {
    if (!this.guard) return;
    const packages = this.executor.packageNames();
    this.guard.hold(
      guardHolding({
        config: this.options.config,
        node: this.options.config.nodes.find((n) => n.name === this.options.node)!,
        held: this.executor.addresses.held(),
        active: packages.filter((p) => this.busy.has(p) || this.localState(p) !== "down"),
        groups: packages.flatMap((p) =>
          this.executor
            .supervisors(p)
            .flatMap((s) => (s.pid !== undefined ? [{ package: p, service: s.name, pgid: s.pid }] : [])),
        ),
      }),
    );
  }

  private async campaign(): Promise<void> {
    const session = this.session;
    if (!session || this.leader || this.leaving) return;
    try {
      // Through the agent's client, which has already left a member that went away (the
      // session's own client may still be waiting for it); the same guard as session.campaign.
      if (!session.mayAct()) return;
      const result = await campaign(this.client, this.keys, {
        node: this.options.node,
        lease: session.lease.id,
      });
      if (result.leader && this.session === session && !this.leader) {
        this.leader = true;
        this.log("leader", `node ${this.options.node} is the cluster leader`);
        this.kick();
      }
    } catch (err) {
      this.log("problem", `campaign: ${describe(err)}`);
    }
  }

  private record(): Record<string, unknown> {
    return {
      status: this.leaving || this.operatorHalted ? "halted" : "up",
      subnetsUp: this.executor.addresses.subnetsUp(),
      resources: this.monitors.statuses(),
      ...(this.options.apiUrl !== undefined ? { apiUrl: this.options.apiUrl } : {}),
    };
  }

  private async publishRecord(): Promise<void> {
    const session = this.session;
    if (!session) return;
    try {
      await publishNode(this.client, this.keys, {
        ...this.record(),
        name: this.options.node,
        lease: session.lease.id,
        since: Date.now(),
      });
    } catch (err) {
      this.noteEtcdError(session, err);
      throw err;
    }
  }

  // ---- watching etcd

  private startWatch(): void {
    // A member that went away keeps a watch silent: ask after its health often.
    const watch = this.client.watch(this.keys.prefix, { prefix: true, healthCheckMs: 250 });
    this.watch = watch;
    this.watchLoop = (async () => {
      try {
        for await (const batch of watch) {
          if (batch.kind !== "events") {
            if (batch.kind === "resumed") {
              this.log("watch", `resumed on ${batch.endpoint}: ${batch.reason}`);
              // Back from a partition with the addresses still held: say again where they are.
              this.announceAgain("etcd watch resumed");
            }
            this.kick();
            continue;
          }
          const changes = batch.events.filter((e) => !e.kv.key.startsWith(this.keys.eventsPrefix));
          // My node key is deleted only with my lease (leaving rewrites it, it never deletes
          // it): the others may take my packages from this revision on. Fence now.
          const mine = this.keys.node(this.options.node);
          const deleted = changes.find((e) => e.type === "delete" && e.kv.key === mine);
          const session = this.session;
          // A deletion older than this session's node key is a previous session's lease ending
          // (a lagging watch replays it): not this one.
          if (deleted && session && deleted.kv.modRevision > session.joinedRevision) {
            this.leaseGone(
              session,
              `this node's key was deleted at revision ${deleted.kv.modRevision}: its lease is gone`,
            );
          }
          if (changes.some((e) => e.type === "delete" && e.kv.key === this.keys.leader)) {
            this.leader = false;
            void this.campaign();
          }
          if (changes.length > 0) this.kick();
        }
      } catch (err) {
        if (!this.stopped) this.log("problem", `watch ended: ${describe(err)}`);
      }
    })();
  }

  /**
   * May this node hold package addresses now (NodeAddresses asks before it adds or moves one)?
   * Only with a membership session that may act: asking judges the lease and the event loop at
   * this instant, so the first question after a freeze already says no (and fences).
   */
  mayHoldPackageAddresses(): boolean {
    return this.session?.mayAct() ?? false;
  }

  /** address-check.ts: a failover package's addresses answer no ARP before it starts here. */
  private checkAddressesFree(pkg: string): Promise<AddressCheckResult> {
    const waitMs = this.options.config.timing.addressInUseWaitMs;
    // A multi-node package runs on each node at once: nothing to hand over. 0: no check.
    if (this.exclusive.get(pkg) === false || waitMs <= 0) return Promise.resolve({ go: true });
    return waitForAddressesFree({
      probe: () => this.executor.addressesInUse(pkg),
      waitMs,
      now: monotonicMs,
      sleep,
      stopped: () => this.stopped,
      log: (event, message) => this.log(event, `package ${pkg}: ${message}`, { package: pkg }),
    });
  }

  private kick(): void {
    if (this.stopped || this.kickTimer) return;
    this.kickTimer = setTimeout(() => {
      this.kickTimer = undefined;
      void this.refresh();
    }, this.options.debounceMs ?? 5);
  }

  /** One round: read the keys, schedule if leader, reconcile. One round at a time. */
  private async refresh(): Promise<void> {
    if (this.refreshing) {
      this.dirty = true;
      return;
    }
    this.refreshing = (async () => {
      do {
        this.dirty = false;
        let fresh = false;
        try {
          this.snapshot = await readSnapshot(this.client, this.keys);
          const readAt = monotonicMs();
          fresh = true;
          await this.followOperatorHalt(this.snapshot);
          // The watch may lag (its member gone): a missing leader key is seen here too. The
          // snapshot may also predate this node's own campaign (leadership.ts).
          const step = leadershipStep({
            leaderLease: this.snapshot.leaderLease,
            ownLease: this.session?.lease.id,
            leading: this.leader,
          });
          if (step === "campaign") await this.campaign();
          else if (step === "follow") this.leader = false;
          else if (step === "lead" && this.session?.mayAct()) {
            this.leader = true;
            this.log("leader", `node ${this.options.node} is the cluster leader (it holds the leader key)`);
          }
          if (this.leader) {
            // This node reconciles against what it has just written, not the placements it
            // replaced (bug leader-reconciled-replaced-placements: it started a package the same
            // round it had placed it elsewhere, then halted it again).
            const written = await this.lead(this.snapshot);
            if (written) this.snapshot = { ...this.snapshot, placements: written };
          } else this.noteNodesUp(this.snapshot);
          this.options.roundObserver?.({
            at: readAt,
            leading: this.leader,
            snapshot: this.snapshot,
            isFailover: (pkg) => this.exclusive.get(pkg) === true,
          });
        } catch (err) {
          this.log("problem", `reading the cluster: ${describe(err)}`);
          // The client has moved on to the next member: try again soon, not at the next resync.
          setTimeout(() => this.kick(), 20);
        }
        this.reconcileNow(fresh);
      } while (this.dirty && !this.stopped);
    })().finally(() => {
      this.refreshing = undefined;
    });
    await this.refreshing;
  }

  /** Publishes status halted / up when an operator halted or ran this node (cmhaltnode, cmrunnode). */
  private async followOperatorHalt(snapshot: ClusterSnapshot): Promise<void> {
    const intent = snapshot.nodeIntents[this.options.node];
    const halted = intent?.halted === true;
    const published = snapshot.nodes[this.options.node]?.status === "halted";
    if (halted === this.operatorHalted && (this.leaving || halted === published || !this.session)) return;
    if (halted !== this.operatorHalted) {
      this.operatorHalted = halted;
      this.log(
        halted ? "operator-halt" : "operator-run",
        halted
          ? `node halted by ${intent?.by ?? "an operator"}: its packages move away, the daemon keeps running`
          : "node run by an operator: up again",
      );
    }
    await this.publishRecord().catch((err: unknown) => this.nodeKeyProblem(err));
  }

  /** Schedules and writes the placements if they changed; returns what it wrote. */
  private async lead(snapshot: ClusterSnapshot): Promise<Record<string, string[]> | undefined> {
    const session = this.session;
    if (!session || !session.mayAct()) return undefined;
    const state = clusterStateFrom(this.options.config, snapshot);
    if (this.awaitingReformation(state)) return undefined;
    this.reportNodeChanges(state.nodes);
    this.clearFulfilledRequests(state);
    this.etcdLeader.maybeSteer(this.options.config, state);
    const plan = schedule(this.options.config, state, Date.now());
    if (snapshot.placements && JSON.stringify(plan.placements) === JSON.stringify(snapshot.placements))
      return undefined;
    const written = await writePlacements(
      this.client,
      this.keys,
      { lease: session.lease.id },
      plan.placements,
    );
    if (!written) {
      this.leader = false;
      this.log("not-leader", "the leader key is no longer mine");
      return undefined;
    }
    this.log("placements", JSON.stringify(plan.placements), { placements: plan.placements });
    for (const action of plan.actions) {
      const where = action.kind === "move" ? `${action.from} -> ${action.to}` : action.node;
      this.event(`plan-${action.kind}`, `${action.kind} ${action.package} ${where}: ${action.reason}`, {
        package: action.package,
        reason: action.reason,
        ...(action.kind === "move" ? { from: action.from, to: action.to } : {}),
        ...takeoverFields(action, snapshot.placements?.[action.package], state, this.exclusive),
      });
    }
    return plan.placements;
  }

  /**
   * A leader that has itself only just joined (a cold start, or every node rejoining after etcd
   * lost quorum and they all fenced) does not know yet whether a node without a key failed or is
   * on its way: it waits up to member_timeout from its own join, or until every node is there,
   * before it schedules (Serviceguard too waits for the nodes when a cluster forms). Meanwhile
   * the placements written before stay, and nodes run what they hold. A leader that has been a
   * member longer than that — the failover case — schedules at once.
   */
  private awaitingReformation(state: ClusterState): boolean {
    const waitUntil = this.joinedAt + this.options.config.timing.memberTimeoutMs;
    const absent = Object.values(state.nodes)
      .filter((n) => n.status === "failed")
      .map((n) => n.name);
    if (absent.length === 0 || Date.now() >= waitUntil) return false;
    if (!this.reformationNoted) {
      this.reformationNoted = true;
      this.log(
        "forming",
        `waiting up to ${waitUntil - Date.now()} ms for ${absent.join(", ")} to join before scheduling`,
      );
    }
    setTimeout(() => this.kick(), waitUntil - Date.now() + 5);
    return true;
  }

  /**
   * A node request (cmrunpkg -n, pavise pkg move) is carried out once, as in Serviceguard: when
   * the package is up on the node asked for, the leader drops the request, so that the package
   * later fails over and stays by its policies rather than return there. The change is
   * read-modify-write and only if the request is still the same one.
   */
  private clearFulfilledRequests(state: ClusterState): void {
    for (const pkg of Object.values(state.packages)) {
      const node = pkg.requestedNode;
      if (node === undefined || this.clearingRequests.has(pkg.name)) continue;
      if (pkg.status !== "up" || pkg.runningOn.length !== 1 || pkg.runningOn[0] !== node) continue;
      this.clearingRequests.add(pkg.name);
      void updateIntent<PackageIntent>(this.client, this.keys.adminPackage(pkg.name), (current) => {
        if (current?.requestedNode !== node) return current;
        const { requestedNode: _done, ...rest } = current;
        return rest;
      })
        .then(() =>
          this.log("request-done", `package ${pkg.name} runs on ${node} as requested`, { package: pkg.name }),
        )
        .catch((err: unknown) =>
          this.log("problem", `clearing the node request of ${pkg.name}: ${describe(err)}`),
        )
        .finally(() => this.clearingRequests.delete(pkg.name));
    }
  }

  /**
   * A follower remembers which nodes it saw up, so that when it becomes leader because the
   * leader's node failed, it still reports that failure (the failed status is left for the
   * leader to note).
   */
  private noteNodesUp(snapshot: ClusterSnapshot): void {
    for (const [name, node] of Object.entries(clusterStateFrom(this.options.config, snapshot).nodes)) {
      if (node.status === "up") this.nodeStatusSeen.set(name, "up");
    }
  }

  /**
   * The leader tells the event log when a node fails, leaves or comes back (cmviewcl's node
   * STATUS changes), so `pavise events` explains the moves that follow. A status never seen
   * before is only noted.
   */
  private reportNodeChanges(nodes: ClusterState["nodes"]): void {
    for (const [name, node] of Object.entries(nodes)) {
      const before = this.nodeStatusSeen.get(name);
      this.nodeStatusSeen.set(name, node.status);
      if (before === undefined || before === node.status) continue;
      const what =
        node.status === "failed"
          ? `node ${name} failed (its lease lapsed)`
          : node.status === "halted"
            ? node.haltedByOperator
              ? `node ${name} halted by an operator (pavise node halt)`
              : `node ${name} halted (left the cluster on purpose)`
            : `node ${name} is up`;
      this.event(`node-${node.status}`, what, { subject: name });
    }
  }

  // ---- reconciling this node

  private localState(pkg: string): LocalState {
    return this.executor.runner(pkg).state.kind;
  }

  private allDown(): boolean {
    return (
      this.busy.size === 0 &&
      (this.owned?.packages.length ?? 0) === 0 &&
      this.executor.packageNames().every((p) => this.localState(p) === "down")
    );
  }

  /**
   * Carries out this node's steps. From a snapshot that could not be read again (`fresh`
   * false) nothing new is started: the placements count as unknown, so what runs keeps running
   * and a leaving node still halts.
   */
  private reconcileNow(fresh: boolean): void {
    const session = this.session;
    const snapshot = this.snapshot;
    if (!session || !snapshot || this.stopped) return;
    this.forgetSubnetFailures(session);
    const owners: Record<string, string[]> = {};
    for (const o of snapshot.owners) (owners[o.package] ??= []).push(o.node);
    const upOn: Record<string, string[]> = {};
    for (const r of snapshot.reports) {
      if (r.status === "up" && owners[r.package]?.includes(r.node)) (upOn[r.package] ??= []).push(r.node);
    }
    const local: Record<string, LocalState> = {};
    for (const p of this.executor.packageNames()) local[p] = this.localState(p);
    const steps = reconcile({
      node: this.options.node,
      packages: this.options.config.packages.map((p) => ({
        name: p.name,
        exclusive: p.type === "failover",
        dependencies: p.dependencies,
      })),
      placements: fresh ? snapshot.placements : undefined,
      owners,
      upOn,
      held: this.owned?.packages ?? [],
      local,
      busy: [...this.busy],
      failedHere: [...this.failedHere.keys()],
      mayAct: session.mayAct(),
      leaving: this.leaving,
    });
    if (steps.length === 0) return;
    for (const step of steps) this.busy.add(step.package);
    this.updateGuard();
    // Halts and releases one by one, in reconcile's order (dependents first); then the starts
    // all at once: each start reconcile gives is ready now (what it needs is up already), so
    // independent packages do not wait for each other after a failover.
    void (async () => {
      for (const step of steps.filter((s) => s.kind !== "start")) await this.runStep(session, step);
      await Promise.all(steps.filter((s) => s.kind === "start").map((step) => this.runStep(session, step)));
      this.kick();
    })();
  }

  private async runStep(session: MemberSession, step: ReconcileStep): Promise<void> {
    try {
      await this.carryOut(session, step);
    } catch (err) {
      this.log("problem", `${step.kind} ${step.package}: ${describe(err)}`, { package: step.package });
    } finally {
      this.busy.delete(step.package);
      this.updateGuard();
    }
  }

  private async carryOut(session: MemberSession, step: ReconcileStep): Promise<void> {
    const pkg = step.package;
    if (this.session !== session) return;
    switch (step.kind) {
      case "start": {
        const owned = this.owned;
        if (!owned) return;
        const acquired = await owned.acquire(pkg, this.exclusive.get(pkg) ?? true);
        if (!acquired.acquired) {
          const holders = acquired.holders.map((h) => h.node).join(", ") || "nobody (not allowed to act)";
          this.log("waiting", `package ${pkg}: ownership held by ${holders}`, { package: pkg });
          return;
        }
        if (!owned.mayRun(pkg) || this.session !== session) return;
        const free = await this.checkAddressesFree(pkg);
        if (!owned.mayRun(pkg) || this.session !== session) return;
        if (!free.go) {
          if (free.problem) await this.fail(session, pkg, free.problem);
          return;
        }
        this.log("starting", `package ${pkg}: ${step.reason}`, { package: pkg });
        await this.report(session, pkg, "starting");
        const result = await this.executor.startPackage(pkg);
        // Fenced meanwhile: the fence halted it; that is no failure of the package.
        if (this.session !== session) return;
        if (result.ok) {
          await this.report(session, pkg, "up");
          this.event("started", `package ${pkg} started in ${result.ms} ms`, { package: pkg, ms: result.ms });
        } else {
          const reason = `${result.problem.step}: ${result.problem.message}`;
          await this.fail(session, pkg, reason);
        }
        return;
      }
      case "halt": {
        this.log("halting", `package ${pkg}: ${step.reason}`, { package: pkg });
        if (!this.failedHere.has(pkg)) await this.report(session, pkg, "halting");
        const result = await this.executor.haltPackage(pkg, { tellPeers: this.haltedForGood(pkg) });
        const problems = result.problems.map((p) => `${p.step}: ${p.message}`);
        if (!this.failedHere.has(pkg)) await this.clearReport(session, pkg);
        if (this.session === session && this.owned?.packages.includes(pkg)) await this.owned.release(pkg);
        this.event(
          "halted",
          `package ${pkg} halted in ${result.ms} ms${problems.length ? ` (${problems.join("; ")})` : ""}`,
          {
            package: pkg,
            ms: result.ms,
          },
        );
        return;
      }
      case "release":
        await this.owned?.release(pkg);
        // A halt whose report could not be cleared (etcd electing) left it saying "halting".
        if (!this.failedHere.has(pkg)) await this.clearReport(session, pkg);
        this.log("released", `package ${pkg}: ${step.reason}`, { package: pkg });
        return;
    }
  }

  /**
   * Whether a package halting here will run nowhere (an operator halted it, or no node may run
   * it): then its IPsec peers are told (DELETE). A package that moves or fails over ends its SAs
   * without a word: the adoptive node's INITIAL_CONTACT replaces them (design §6).
   */
  private haltedForGood(pkg: string): boolean {
    if (this.failedHere.has(pkg) || this.leaving) return false;
    const placed = this.snapshot?.placements?.[pkg];
    return placed !== undefined && !placed.some((node) => node !== this.options.node);
  }

  /** `cause`: the service that failed for good, or the subnet left without link, if either. */
  private async fail(
    session: MemberSession,
    pkg: string,
    reason: string,
    cause: { service?: string | undefined; subnet?: string | undefined } = {},
  ): Promise<void> {
    if (this.failedHere.has(pkg) || this.session !== session) return;
    const failFast = failFastReason(this.options.config, pkg, cause.service);
    if (failFast) return this.failFast(session, `${reason}; ${failFast}`);
    this.failedHere.set(pkg, reason);
    if (cause.subnet !== undefined) this.failedForSubnet.set(pkg, cause.subnet);
    this.event("package-failed", `package ${pkg} failed on ${this.options.node}: ${reason}`, {
      package: pkg,
      ...(cause.service !== undefined ? { service: cause.service } : {}),
      ...(cause.subnet !== undefined ? { subnet: cause.subnet } : {}),
    });
    await this.report(session, pkg, "failed", reason);
    this.kick();
  }

  /**
   * A package that failed here only because a subnet lost every NIC (monitored_subnet, or the
   * subnet of one of its addresses) may run here again once that subnet has link and the package
   * is down here: its "failed" report goes, so the leader counts this node again (Serviceguard
   * counts a node whose subnet recovered as available again: failback_policy automatic brings
   * the package back to it). A package that failed for another reason stays failed here.
   */
  private forgetSubnetFailures(session: MemberSession): void {
    const up = this.executor.addresses.subnetsUp();
    for (const [pkg, subnet] of this.failedForSubnet) {
      if (!up.includes(subnet) || this.busy.has(pkg) || this.localState(pkg) !== "down") continue;
      this.failedForSubnet.delete(pkg);
      this.failedHere.delete(pkg);
      this.lastReports.delete(pkg);
      this.log("recovered", `package ${pkg} may run here again: subnet ${subnet} has link again`, {
        package: pkg,
      });
      void this.clearReport(session, pkg).then(() => this.kick());
    }
  }

  private async report(
    session: MemberSession,
    pkg: string,
    status: PackageReport["status"],
    reason?: string,
    since = Date.now(),
  ): Promise<void> {
    const addresses = this.executor.addresses
      .held()
      .filter((a) => a.owner === pkg && a.nic !== undefined)
      .map((a) => ({ address: a.address, nic: a.nic! }));
    // A new start counts restarts from zero.
    if (status === "starting") this.serviceFacts.delete(pkg);
    const services = [...(this.serviceFacts.get(pkg)?.values() ?? [])];
    const report: PackageReport = {
      package: pkg,
      node: this.options.node,
      status,
      ...(reason !== undefined ? { reason } : {}),
      since,
      ...(addresses.length > 0 ? { addresses } : {}),
      ...(services.length > 0 ? { services } : {}),
    };
    this.lastReports.set(pkg, report);
    try {
      await this.client.put(this.keys.status(pkg, this.options.node), JSON.stringify(report), {
        lease: session.lease.id,
      });
    } catch (err) {
      this.log("problem", `report ${pkg} ${status}: ${describe(err)}`, { package: pkg });
      this.noteEtcdError(session, err);
      // A report etcd dropped (a leadership change drops proposals) would leave the package
      // "starting" for good in pavise status: written again until it lands or is superseded.
      setTimeout(() => {
        if (this.session === session && this.lastReports.get(pkg) === report && !this.stopped) {
          void this.report(session, pkg, status, reason, since);
        }
      }, REPORT_RETRY_MS);
    }
  }

  private async clearReport(session: MemberSession, pkg: string): Promise<void> {
    const key = this.keys.status(pkg, this.options.node);
    this.lastReports.delete(pkg);
    try {
      await this.client.txn({
        compare: [{ key, target: "lease", op: "==", value: session.lease.id }],
        success: [{ op: "delete", key }],
        failure: [],
      });
    } catch (err) {
      this.log("problem", `clear report ${pkg}: ${describe(err)}`, { package: pkg });
    }
  }

  // ---- executor events

  private onExecutorEvent(event: ExecutorEvent): void {
    this.updateGuard();
    switch (event.kind) {
      case "package-failed": {
        const session = this.session;
        // Without a session (fenced) everything is being halted anyway; nobody to report to.
        if (session) void this.fail(session, event.package, event.reason, event);
        else this.log("package-failed", `package ${event.package}: ${event.reason} (while fenced)`);
        return;
      }
      case "service": {
        this.log(
          "service",
          `package ${event.package} service ${event.service}: ${JSON.stringify(event.event)}`,
          { package: event.package, service: event.service, change: event.event.kind },
        );
        const facts = this.serviceFacts.get(event.package) ?? new Map<string, ServiceFact>();
        this.serviceFacts.set(event.package, facts);
        facts.set(event.service, serviceFactAfter(event.service, facts.get(event.service), event.event));
        const last = this.lastReports.get(event.package);
        const session = this.session;
        if (session && last?.status === "up" && reportsServiceChange(event.event)) {
          void this.report(session, event.package, last.status, last.reason, last.since);
        }
        return;
      }
      case "subnet-down":
      case "subnet-up":
        this.log(event.kind, `subnet ${event.subnet}`);
        if (event.kind === "subnet-up") this.announceAgain(`subnet ${event.subnet} up`);
        void this.publishRecord().catch((err: unknown) => this.nodeKeyProblem(err));
        return;
      case "address-moved": {
        this.log(
          event.kind,
          `${event.address} ${event.from ?? "-"} -> ${event.to} (${event.reason}, ${event.tookMs} ms)`,
        );
        // pavise status shows the NIC the owner reported: report the package again, same status.
        const last = this.lastReports.get(event.owner);
        const session = this.session;
        if (session && last?.status === "up") {
          void this.report(session, event.owner, last.status, last.reason, last.since);
        }
        return;
      }
      case "link-changed":
        this.log(event.kind, `${event.nic} ${event.up ? "up" : "down"}`);
        return;
      case "problem":
        this.log("problem", event.message);
        return;
    }
  }

  /** The session's lease is gone (seen other than by the keep-alive): it fences at once. */
  private leaseGone(session: MemberSession, detail: string): void {
    if (this.session !== session || this.leaving) return;
    this.log("lease-gone", detail);
    session.leaseGone(detail);
  }

  private nodeKeyProblem(err: unknown): void {
    this.log("problem", `node key: ${describe(err)}`);
  }

  /** An etcd answer "lease not found" to a request made with a session's lease means the same. */
  private noteEtcdError(session: MemberSession, err: unknown): void {
    if (err instanceof EtcdError && err.code === "ETCD_LEASE_NOT_FOUND") this.leaseGone(session, err.message);
  }

  /**
   * Gratuitous ARP for every package address held here, again (DESIGN.md: a burst, and again
   * after a partition heals): peers that missed the first burst learn where the address is.
   */
  private announceAgain(why: string): void {
    if (this.executor.addresses.held().every((a) => a.owner === NODE_OWNER)) return;
    this.log("announce", `gratuitous ARP again for the package addresses here: ${why}`);
    void this.executor.addresses
      .announce()
      .catch((err: unknown) => this.log("problem", `announce: ${describe(err)}`));
  }

  // ---- output

  private log(event: string, message: string, extra: Record<string, unknown> = {}): void {
    this.options.log({ at: Date.now(), node: this.options.node, event, message, ...extra });
  }

  /** An operator's action this node's API wrote to the event log: its log line and hooks. */
  operatorRecorded(event: ClusterEvent): void {
    this.events.recorded(event);
  }

  /** A log line that also goes to the cluster's event log in etcd, and to the hooks (event-sink.ts). */
  private event(kind: string, message: string, extra: Record<string, unknown> = {}): void {
    this.events.emit(kind, message, extra);
  }
}

/**
 * A failover package started on another node than the one it was placed on, with no owner left
 * to move it from (that node failed or left, its key went with its lease): a takeover, which
 * the metrics count as a move (design §6 pavise_package_moves_total). Where it was placed, and
 * that node's status now.
 */
function takeoverFields(
  action: PlanAction,
  placedBefore: readonly string[] | undefined,
  state: ClusterState,
  exclusive: ReadonlyMap<string, boolean>,
): { takeoverFrom?: string; takeoverFromStatus?: NodeStatus } {
  if (action.kind !== "start" || exclusive.get(action.package) !== true) return {};
  const from = placedBefore?.[0];
  if (from === undefined || from === action.node) return {};
  return { takeoverFrom: from, takeoverFromStatus: state.nodes[from]?.status ?? "failed" };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** How soon a package report etcd did not take is written again. */
const REPORT_RETRY_MS = 250;

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
