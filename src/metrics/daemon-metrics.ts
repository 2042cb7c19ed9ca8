/**
 * The daemon's `/metrics` (operator-surfaces design §2, §6): the definitions, the counters
 * bumped from the daemon's events (its log lines), and the gauges read at scrape time from the
 * agent, the cluster state it last read and the IPsec host. Glue: the registry and the
 * exposition are pure; this reads the process (memory, CPU) and whatever the agent exposes.
 *
 * Cluster-view gauges (node and package status) are the same on every node: dashboards take
 * `max by (…)`. Counters are this node's own since the daemon started (moves on the leader,
 * ESP traffic on the owner); they restart at zero with the daemon.
 */
import type { AgentLogLine, AgentMetricsFacts, AgentRound } from "../cluster/agent/node-agent.js";
import { monotonicMs } from "../cluster/etcd/monotonic-clock.js";
import type { FenceObserver } from "../cluster/membership/self-fence.js";
import type { NodeStatus, PackageStatus } from "../cluster/state.js";
import type { StatusView } from "../api/schema/view-types.js";
import { failureCause, moveCause } from "./event-causes.js";
import { exposition } from "./exposition.js";
import { FailoverTimer, type FailoverSample } from "./failover-timer.js";
import { FAILOVER_BUCKETS, LATENCY_BUCKETS, LOOP_LAG_BUCKETS, MetricRegistry } from "./registry.js";

const NODE_STATUSES: readonly NodeStatus[] = ["up", "halted", "failed"];
const PACKAGE_STATUSES: readonly PackageStatus[] = ["up", "down", "starting", "halting", "failing", "failed"];
const ESP_DROPS = [
  ["replay", "replayDrops"],
  ["integrity", "integrityFailures"],
  ["policy", "policyDrops"],
  ["expired", "expiredDrops"],
  ["invalid-payload", "invalidPayloads"],
] as const;

export class DaemonMetrics {
  readonly registry = new MetricRegistry();
  private readonly startedAt: number;
  private maxLagSeconds = 0;
  private readonly r = this.registry;
  private readonly buildInfo = this.r.gauge(
    "pavise_build_info",
    "Constant 1, labelled with the version and node.",
    {
      labels: ["version", "node"],
    },
  );
  private readonly member = this.r.gauge(
    "pavise_node_member",
    "1 while this node's session holds its lease and is not fenced.",
  );
  private readonly leader = this.r.gauge("pavise_node_leader", "1 on the cluster leader.");
  private readonly nodeStatus = this.r.gauge(
    "pavise_cluster_node_status",
    "1 on each node's current status (up, halted, failed) as this node last read the cluster.",
    { labels: ["node", "status"] },
  );
  private readonly etcdMemberUp = this.r.gauge(
    "pavise_etcd_member_up",
    "1 when the etcd member answered this node's API view cache's last status poll.",
    { labels: ["endpoint"] },
  );
  private readonly etcdQuorum = this.r.gauge(
    "pavise_etcd_quorum",
    "1 when a majority of the etcd members answered and agree there is a leader.",
  );
  private readonly renewals = this.r.counter(
    "pavise_lease_renewals_total",
    "Lease renewals etcd confirmed (keep-alive worker, all sessions).",
  );
  private readonly renewalFailures = this.r.counter(
    "pavise_lease_renewal_failures_total",
    "Lease renewals that failed (etcd unreachable, no leader, timeout).",
  );
  private readonly renewalLatency = this.r.histogram(
    "pavise_lease_renewal_latency_seconds",
    "Time from sending a lease renewal to its confirmation.",
    LATENCY_BUCKETS,
  );
  private readonly confirmedAge = this.r.gauge(
    "pavise_lease_confirmed_age_seconds",
    "Time since the last confirmed renewal was sent: compare with fence_after.",
  );
  private readonly leaseTtl = this.r.gauge(
    "pavise_lease_ttl_seconds",
    "The lease TTL etcd granted (smallest).",
  );
  private readonly fences = this.r.counter(
    "pavise_fences_total",
    "Times this node fenced itself, by reason.",
    {
      labels: ["reason"],
      maxSeries: 16,
    },
  );
  private readonly loopLag = this.r.histogram(
    "pavise_event_loop_lag_seconds",
    "How late the fence's event-loop tick ran.",
    LOOP_LAG_BUCKETS,
  );
  private readonly loopLagMax = this.r.gauge(
    "pavise_event_loop_lag_max_seconds",
    "The largest event-loop lag since the daemon started.",
  );
  private readonly packageStatus = this.r.gauge(
    "pavise_package_status",
    "1 on each package's current status as this node last read the cluster.",
    { labels: ["package", "status"] },
  );
  private readonly packageRunning = this.r.gauge(
    "pavise_package_running",
    "1 for each node a package runs on (its owner keys).",
    { labels: ["package", "node"] },
  );
  private readonly starts = this.r.counter("pavise_package_starts_total", "Packages started on this node.", {
    labels: ["package"],
  });
  private readonly halts = this.r.counter("pavise_package_halts_total", "Packages halted on this node.", {
    labels: ["package"],
  });
  private readonly startDuration = this.r.histogram(
    "pavise_package_start_duration_seconds",
    "How long a package took to start on this node.",
    LATENCY_BUCKETS,
    { labels: ["package"] },
  );
  private readonly failures = this.r.counter(
    "pavise_package_failures_total",
    "Packages that failed on this node, by cause.",
    { labels: ["package", "cause"] },
  );
  private readonly moves = this.r.counter(
    "pavise_package_moves_total",
    "Package moves and takeovers (a start elsewhere after its node failed or left) this node planned as leader, by cause.",
    { labels: ["package", "cause"] },
  );
  private readonly restarts = this.r.counter(
    "pavise_service_restarts_total",
    "Service restarts on this node (service_restart).",
    { labels: ["package", "service"] },
  );
  private readonly failoverDuration = this.r.histogram(
    "pavise_failover_duration_seconds",
    "Failovers this node timed as leader, from the failure (or the operator's move) to the new owner's up report, by cause.",
    FAILOVER_BUCKETS,
    { labels: ["cause"] },
  );
  private readonly failoverTimer = new FailoverTimer();
  /** Told of each failover timed (the daemon logs it). */
  onFailover: ((sample: FailoverSample) => void) | undefined;
  private readonly ikeSas = this.r.gauge("pavise_ike_sas", "IKE SAs of each package on this node.", {
    labels: ["package"],
  });
  private readonly childSas = this.r.gauge("pavise_child_sas", "Child SAs of each package on this node.", {
    labels: ["package"],
  });
  private readonly exchanges = this.r.counter(
    "pavise_ike_exchanges_total",
    "IKE exchanges that ended on this node, by package, exchange, role and result.",
    { labels: ["package", "connection", "exchange", "role", "result"] },
  );
  private readonly contacts = this.r.counter(
    "pavise_ipsec_contacts_total",
    "Contacts of IPsec peers after a takeover, by result.",
    { labels: ["package", "result"] },
  );
  private readonly espBytes = this.r.counter(
    "pavise_esp_bytes_total",
    "ESP payload bytes of each package's Child SAs on this node.",
    { labels: ["package", "direction"] },
  );
  private readonly espPackets = this.r.counter(
    "pavise_esp_packets_total",
    "ESP packets of each package's Child SAs on this node.",
    { labels: ["package", "direction"] },
  );
  private readonly espDrops = this.r.counter(
    "pavise_esp_drops_total",
    "Inbound ESP packets dropped, by package and reason (replay window, integrity check…).",
    { labels: ["package", "reason"] },
  );
  private readonly unknownSpi = this.r.counter(
    "pavise_esp_unknown_spi_packets_total",
    "ESP packets for an SPI this node does not have.",
  );
  private readonly gated = this.r.counter(
    "pavise_ipsec_gated_datagrams_total",
    "IKE datagrams held back because this node may no longer send from the address.",
  );
  private readonly sseClients = this.r.gauge("pavise_api_sse_clients", "Live event streams (SSE) open now.");
  private streams: (() => number) | undefined;
  private readonly droppedSeries = this.r.gauge(
    "pavise_metrics_dropped_series",
    "Label sets refused because a metric family was full.",
  );
  private readonly residentMemory = this.r.gauge(
    "process_resident_memory_bytes",
    "Resident memory size in bytes.",
  );
  private readonly cpuSeconds = this.r.counter(
    "process_cpu_seconds_total",
    "Total user and system CPU time spent in seconds.",
  );
  private readonly startTime = this.r.gauge(
    "process_start_time_seconds",
    "Start time of the process since the Unix epoch in seconds.",
  );

  /** Told of each lease renewal and loop tick of every session (pass to the agent). */
  readonly fenceObserver: FenceObserver = {
    renewal: (latencyMs) => {
      this.renewals.inc();
      this.renewalLatency.observe({}, Math.max(0, latencyMs) / 1000);
    },
    renewalFailure: () => this.renewalFailures.inc(),
    loopLag: (lagMs) => {
      const s = Math.max(0, lagMs) / 1000;
      this.loopLag.observe({}, s);
      this.maxLagSeconds = Math.max(this.maxLagSeconds, s);
    },
  };

  /** Told of each fresh read of the cluster (pass to the agent): the failover timer's input. */
  readonly roundObserver = (round: AgentRound): void => {
    const samples = this.failoverTimer.observe(round.at, {
      leading: round.leading,
      owners: round.snapshot.owners,
      reports: round.snapshot.reports,
      nodes: round.snapshot.nodes,
      isFailover: round.isFailover,
    });
    for (const sample of samples) {
      this.failoverDuration.observe({ cause: sample.cause }, sample.seconds);
      this.onFailover?.(sample);
    }
  };

  constructor(node: string, version: string, startedAtMs: number = Date.now() - process.uptime() * 1000) {
    this.startedAt = startedAtMs;
    this.buildInfo.set({ version, node }, 1);
  }

  /** Counts what one of the daemon's events says (each log line passes through here). */
  noteEvent(line: AgentLogLine): void {
    const pkg = typeof line.package === "string" ? line.package : undefined;
    switch (line.event) {
      case "started":
        if (pkg === undefined) return;
        this.starts.inc({ package: pkg });
        if (typeof line.ms === "number") this.startDuration.observe({ package: pkg }, line.ms / 1000);
        return;
      case "halted":
        if (pkg !== undefined) this.halts.inc({ package: pkg });
        return;
      case "package-failed":
        if (pkg !== undefined)
          this.failures.inc({ package: pkg, cause: failureCause({ ...line, reason: line.message }) });
        return;
      case "plan-start":
        this.plannedOnLeader(line, pkg);
        // A takeover: the node it was placed on failed or left with it (no owner to move it from).
        if (pkg !== undefined && typeof line.takeoverFrom === "string")
          this.moves.inc({
            package: pkg,
            cause: line.takeoverFromStatus === "halted" ? "operator" : "failover",
          });
        return;
      case "plan-move":
        this.plannedOnLeader(line, pkg);
        if (pkg !== undefined)
          this.moves.inc({
            package: pkg,
            cause: moveCause(typeof line.reason === "string" ? line.reason : ""),
          });
        return;
      case "service":
        if (pkg !== undefined && typeof line.service === "string" && line.change === "restarting")
          this.restarts.inc({ package: pkg, service: line.service });
        return;
      case "fenced":
        this.fences.inc({ reason: typeof line.reason === "string" ? line.reason : "other" });
        return;
      case "ipsec-peer-contacted":
      case "ipsec-peer-unreachable":
      case "ipsec-peer-gave-up":
        if (pkg !== undefined)
          this.contacts.inc({
            package: pkg,
            result:
              line.event === "ipsec-peer-contacted"
                ? "reached"
                : line.event === "ipsec-peer-unreachable"
                  ? "retry"
                  : "given-up",
          });
        return;
      default:
        return;
    }
  }

  /** A placement change the leader planned: an operator's move starts a failover timing. */
  private plannedOnLeader(line: AgentLogLine, pkg: string | undefined): void {
    if (pkg === undefined) return;
    const text = (field: string): string | undefined =>
      typeof line[field] === "string" ? line[field] : undefined;
    this.failoverTimer.planned(monotonicMs(), {
      kind: line.event.slice("plan-".length),
      package: pkg,
      reason: text("reason") ?? "",
      from: text("from"),
      takeoverFrom: text("takeoverFrom"),
      takeoverFromStatus: text("takeoverFromStatus"),
    });
  }

  /**
   * The exposition now, gauges read from `facts` (undefined while the agent starts) and, when
   * the daemon serves the API, from its view cache's latest view (node, package and etcd status).
   */
  /** The API's live stream hub, counted at each scrape (pavise_api_sse_clients). */
  watchStreams(count: () => number): void {
    this.streams = count;
  }

  scrape(
    facts: AgentMetricsFacts | undefined,
    nowMonotonicMs: number = monotonicMs(),
    view?: StatusView,
  ): string {
    this.member.set({}, facts?.member ? 1 : 0);
    this.leader.set({}, facts?.leader ? 1 : 0);
    if (view) this.readView(view);
    else this.readCluster(facts);
    this.readLease(facts, nowMonotonicMs);
    this.readIpsec(facts);
    this.loopLagMax.set({}, this.maxLagSeconds);
    const memory = process.memoryUsage();
    this.residentMemory.set({}, memory.rss);
    const cpu = process.cpuUsage();
    this.cpuSeconds.setTotal({}, (cpu.user + cpu.system) / 1e6);
    this.startTime.set({}, Math.round(this.startedAt / 1000));
    this.droppedSeries.set({}, this.registry.droppedSeries);
    if (this.streams) this.sseClients.set({}, this.streams());
    return exposition(this.registry.collect());
  }

  private readCluster(facts: AgentMetricsFacts | undefined): void {
    this.nodeStatus.clear();
    this.packageStatus.clear();
    this.packageRunning.clear();
    const state = facts?.state;
    if (!state) return;
    for (const node of Object.values(state.nodes))
      for (const status of NODE_STATUSES)
        this.nodeStatus.set({ node: node.name, status }, node.status === status ? 1 : 0);
    for (const pkg of Object.values(state.packages)) {
      for (const status of PACKAGE_STATUSES)
        this.packageStatus.set({ package: pkg.name, status }, pkg.status === status ? 1 : 0);
      for (const node of pkg.runningOn) this.packageRunning.set({ package: pkg.name, node }, 1);
    }
  }

  /** From the API's cluster view (the same on every node; etcd as the cache last polled it). */
  private readView(view: StatusView): void {
    this.nodeStatus.clear();
    this.packageStatus.clear();
    this.packageRunning.clear();
    this.etcdMemberUp.clear();
    for (const node of view.nodes)
      for (const status of NODE_STATUSES)
        this.nodeStatus.set({ node: node.name, status }, node.status === status ? 1 : 0);
    for (const pkg of view.packages) {
      for (const status of PACKAGE_STATUSES)
        this.packageStatus.set({ package: pkg.name, status }, pkg.status === status ? 1 : 0);
      for (const node of pkg.nodes) this.packageRunning.set({ package: pkg.name, node }, 1);
    }
    for (const member of view.etcd.endpoints)
      this.etcdMemberUp.set({ endpoint: member.endpoint }, member.reachable ? 1 : 0);
    this.etcdQuorum.set({}, view.etcd.quorum ? 1 : 0);
  }

  private readLease(facts: AgentMetricsFacts | undefined, now: number): void {
    this.confirmedAge.clear();
    this.leaseTtl.clear();
    const lease = facts?.lease;
    if (lease?.lastSentAt !== undefined)
      this.confirmedAge.set({}, Math.max(0, now - lease.lastSentAt) / 1000);
    if (lease?.minTtlMs !== undefined) this.leaseTtl.set({}, lease.minTtlMs / 1000);
  }

  private readIpsec(facts: AgentMetricsFacts | undefined): void {
    this.ikeSas.clear();
    this.childSas.clear();
    const ipsec = facts?.ipsec?.metrics;
    if (!ipsec) return;
    for (const pkg of ipsec.runningPackages()) {
      const sas = ipsec.sas(pkg);
      this.ikeSas.set({ package: pkg }, sas.length);
      this.childSas.set(
        { package: pkg },
        sas.reduce((n, sa) => n + sa.children.length, 0),
      );
    }
    for (const pkg of ipsec.trafficPackages()) {
      const t = ipsec.trafficTotals(pkg);
      this.espBytes.setTotal({ package: pkg, direction: "in" }, t.bytesIn);
      this.espBytes.setTotal({ package: pkg, direction: "out" }, t.bytesOut);
      this.espPackets.setTotal({ package: pkg, direction: "in" }, t.packetsIn);
      this.espPackets.setTotal({ package: pkg, direction: "out" }, t.packetsOut);
      for (const [reason, field] of ESP_DROPS) this.espDrops.setTotal({ package: pkg, reason }, t[field]);
    }
    for (const c of ipsec.exchangeCounts())
      this.exchanges.setTotal(
        {
          package: c.package,
          connection: c.connection,
          exchange: c.exchange,
          role: c.role,
          result: c.result,
        },
        c.count,
      );
    const engine = ipsec.engineCounters();
    this.unknownSpi.setTotal({}, engine.unknownEspPackets);
    this.gated.setTotal({}, engine.gatedDatagrams);
  }
}
