import { describe, expect, it } from "vitest";
import type { AgentMetricsFacts } from "../../src/cluster/agent/node-agent.js";
import type { ClusterState } from "../../src/cluster/state.js";
import { DaemonMetrics } from "../../src/metrics/daemon-metrics.js";
import { failureCause, moveCause } from "../../src/metrics/event-causes.js";
import { parsePrometheusText, sampleValue } from "../support/prometheus-text.js";
import { snapshotFrom } from "../../src/cluster/agent/cluster-state.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import { statusView } from "../../src/cli/status-render.js";
import { clusterConfigFixture, packageConfig } from "../support/cluster-fixtures.js";

const line = (event: string, extra: Record<string, unknown> = {}) => ({
  at: 0,
  node: "n1",
  event,
  message: event,
  ...extra,
});

function state(): ClusterState {
  const node = (name: string, status: "up" | "failed") => ({
    name,
    status,
    subnetsUp: [],
    resources: {},
    since: 0,
  });
  return {
    nodes: { n1: node("n1", "up"), n2: node("n2", "failed") },
    packages: {
      web: {
        name: "web",
        status: "up",
        runningOn: ["n1"],
        switching: true,
        disabledNodes: [],
        failedOn: [],
        haltedByOperator: false,
        maintenance: false,
        since: 0,
      },
    },
    placements: { web: ["n1"] },
  } as unknown as ClusterState;
}

describe("daemon metrics (design §6)", () => {
  it("counts the daemon's events and reads gauges from the agent's facts at scrape time", () => {
    const m = new DaemonMetrics("n1", "0.1.0", 1_700_000_000_000);
    m.noteEvent(line("started", { package: "web", ms: 120 }));
    m.noteEvent(line("plan-move", { package: "web", reason: "node n2 failed" }));
    m.noteEvent(line("plan-move", { package: "web", reason: "moved by operator to n3" }));
    // A takeover after the leader itself failed: the new leader plans a start, not a move.
    m.noteEvent(
      line("plan-start", { package: "web", reason: "x", takeoverFrom: "n2", takeoverFromStatus: "failed" }),
    );
    m.noteEvent(line("plan-start", { package: "db", reason: "first eligible node (configured_node)" }));
    m.noteEvent(line("service", { package: "web", service: "httpd", change: "restarting" }));
    m.noteEvent(line("service", { package: "web", service: "httpd", change: "started" }));
    m.noteEvent(line("package-failed", { package: "web", service: "httpd" }));
    m.noteEvent(line("fenced", { reason: "lease-unconfirmed" }));
    m.fenceObserver.renewal(3);
    m.fenceObserver.renewal(30);
    m.fenceObserver.loopLag(7);
    const facts: AgentMetricsFacts = {
      member: true,
      leader: false,
      state: state(),
      lease: {
        renewals: 2,
        failures: 0,
        consecutiveFailures: 0,
        ignoredRenewals: 0,
        lastSentAt: 1000,
        minTtlMs: 2000,
        maxLagMs: 7,
        maxTickGapMs: 0,
        maxRenewalGapMs: 0,
      },
      ipsec: undefined,
    };
    const text = m.scrape(facts, 1500);
    const p = parsePrometheusText(text);
    expect(sampleValue(p, "pavise_build_info", { version: "0.1.0", node: "n1" })).toBe(1);
    expect(sampleValue(p, "pavise_node_member")).toBe(1);
    expect(sampleValue(p, "pavise_node_leader")).toBe(0);
    expect(sampleValue(p, "pavise_cluster_node_status", { node: "n2", status: "failed" })).toBe(1);
    expect(sampleValue(p, "pavise_cluster_node_status", { node: "n2", status: "up" })).toBe(0);
    expect(sampleValue(p, "pavise_package_status", { package: "web", status: "up" })).toBe(1);
    expect(sampleValue(p, "pavise_package_running", { package: "web", node: "n1" })).toBe(1);
    expect(sampleValue(p, "pavise_package_starts_total", { package: "web" })).toBe(1);
    expect(
      sampleValue(p, "pavise_package_start_duration_seconds_bucket", { package: "web", le: "0.25" }),
    ).toBe(1);
    expect(sampleValue(p, "pavise_package_moves_total", { package: "web", cause: "failover" })).toBe(2);
    expect(sampleValue(p, "pavise_package_moves_total", { package: "web", cause: "operator" })).toBe(1);
    expect(() => sampleValue(p, "pavise_package_moves_total", { package: "db" })).toThrow(/0 samples/);
    expect(sampleValue(p, "pavise_service_restarts_total", { package: "web", service: "httpd" })).toBe(1);
    expect(sampleValue(p, "pavise_package_failures_total", { package: "web", cause: "service" })).toBe(1);
    expect(sampleValue(p, "pavise_fences_total", { reason: "lease-unconfirmed" })).toBe(1);
    expect(sampleValue(p, "pavise_lease_renewals_total")).toBe(2);
    expect(sampleValue(p, "pavise_lease_renewal_latency_seconds_bucket", { le: "0.005" })).toBe(1);
    expect(sampleValue(p, "pavise_lease_renewal_latency_seconds_bucket", { le: "0.05" })).toBe(2);
    expect(sampleValue(p, "pavise_lease_confirmed_age_seconds")).toBe(0.5);
    expect(sampleValue(p, "pavise_lease_ttl_seconds")).toBe(2);
    expect(sampleValue(p, "pavise_event_loop_lag_max_seconds")).toBe(0.007);
    expect(sampleValue(p, "process_start_time_seconds")).toBe(1_700_000_000);
    expect(sampleValue(p, "process_resident_memory_bytes")).toBeGreaterThan(1e6);

    // The package moved away and this node left: cluster gauges follow, counters stay.
    const after = parsePrometheusText(m.scrape(undefined, 2000));
    expect(sampleValue(after, "pavise_node_member")).toBe(0);
    expect(() => sampleValue(after, "pavise_package_running", { package: "web" })).toThrow(/0 samples/);
    expect(sampleValue(after, "pavise_package_moves_total", { package: "web", cause: "failover" })).toBe(2);
  });

  it("reads node, package and etcd gauges from the API's cluster view when the daemon has one", () => {
    const m = new DaemonMetrics("n1", "0.1.0", 1_700_000_000_000);
    const view = statusView({
      config: clusterConfigFixture([packageConfig("web", { nodes: ["n1", "n2", "n3"] })]),
      state: state(),
      snapshot: snapshotFrom(
        new ClusterKeys("/pavise/t/"),
        { nodes: [], owners: [], status: [], placements: undefined },
        9,
      ),
      etcd: [
        { endpoint: "http://198.18.2.11:2379", reachable: true, memberId: "1", leader: "2" },
        { endpoint: "http://198.18.2.12:2379", reachable: true, memberId: "2", leader: "2" },
        { endpoint: "http://198.18.2.13:2379", reachable: false, error: "connect ECONNREFUSED" },
      ],
    });
    const p = parsePrometheusText(m.scrape(undefined, 0, view));
    expect(sampleValue(p, "pavise_etcd_member_up", { endpoint: "http://198.18.2.11:2379" })).toBe(1);
    expect(sampleValue(p, "pavise_etcd_member_up", { endpoint: "http://198.18.2.13:2379" })).toBe(0);
    expect(sampleValue(p, "pavise_etcd_quorum")).toBe(1);
    expect(sampleValue(p, "pavise_cluster_node_status", { node: "n3", status: "failed" })).toBe(1);
    expect(sampleValue(p, "pavise_package_status", { package: "web", status: "up" })).toBe(1);
    expect(sampleValue(p, "pavise_package_running", { package: "web", node: "n1" })).toBe(1);
    const lost = statusView({
      config: clusterConfigFixture([]),
      state: state(),
      snapshot: snapshotFrom(
        new ClusterKeys("/pavise/t/"),
        { nodes: [], owners: [], status: [], placements: undefined },
        9,
      ),
      etcd: view.etcd.endpoints.map((e, i) => (i === 0 ? e : { endpoint: e.endpoint, reachable: false })),
    });
    expect(sampleValue(parsePrometheusText(m.scrape(undefined, 0, lost)), "pavise_etcd_quorum")).toBe(0);
  });

  it("names causes from the scheduler's reasons and the failure's event", () => {
    expect(moveCause("node n1 failed")).toBe("failover");
    expect(moveCause("node n1 is down")).toBe("failover");
    expect(moveCause("failed on n1")).toBe("failover");
    expect(moveCause("node n1 halted")).toBe("operator");
    expect(moveCause("moved by operator to n2")).toBe("operator");
    expect(moveCause("failback to primary node n1")).toBe("failback");
    expect(moveCause("resource disk is down on n1")).toBe("resource");
    expect(moveCause("subnet lan is down on n1")).toBe("resource");
    expect(moveCause("moves with db (same_node dependency)")).toBe("other");
    expect(failureCause({ subnet: "lan" })).toBe("subnet");
    expect(failureCause({ reason: "package web failed on n1: step ipsec-up: no PSK" })).toBe("ipsec");
    expect(failureCause({ reason: "run script exited 1" })).toBe("script");
    expect(failureCause({ reason: "?" })).toBe("other");
  });
});

describe("DaemonMetrics failover durations", () => {
  const snapshot = (owners: [string, string, string][], nodes: string[]) => ({
    nodes: Object.fromEntries(nodes.map((n) => [n, { name: n, lease: "1", since: 0, status: "up" }])),
    owners: owners.map(([pkg, node]) => ({ package: pkg, node })),
    reports: owners.map(([pkg, node, status]) => ({ package: pkg, node, status, since: 0 })),
    placements: undefined,
    leaderLease: "1",
    revision: 1,
    packageIntents: {},
    nodeIntents: {},
    resourceSettings: {},
  });
  let at = 0;
  const round = (owners: [string, string, string][], nodes: string[]) => ({
    at: (at += 100),
    leading: true,
    snapshot: snapshot(owners, nodes) as never,
    isFailover: () => true,
  });

  it("observes the leader's timed failovers into the histogram by cause, and an operator move from its plan line", () => {
    const metrics = new DaemonMetrics("n1", "0.1.0", 0);
    const seen: string[] = [];
    metrics.onFailover = (s) =>
      seen.push(
        `${s.package} ${s.cause} ${s.from}->${s.to}${s.cause === "node-failed" ? ` ${s.seconds}` : ""}`,
      );
    metrics.roundObserver(round([["web", "n2", "up"]], ["n1", "n2", "n3"]));
    metrics.roundObserver(round([], ["n1", "n3"]));
    metrics.roundObserver(round([["web", "n3", "up"]], ["n1", "n3"]));
    metrics.noteEvent(
      line("plan-move", { package: "web", from: "n3", to: "n1", reason: "moved by operator to n1" }),
    );
    metrics.roundObserver(round([["web", "n1", "up"]], ["n1", "n3"]));
    expect(seen).toEqual(["web node-failed n2->n3 0.1", "web operator n3->n1"]);
    const samples = parsePrometheusText(metrics.scrape(undefined));
    const count = (cause: string) =>
      sampleValue(samples, "pavise_failover_duration_seconds_count", { cause });
    expect(count("node-failed")).toBe(1);
    expect(count("operator")).toBe(1);
    expect(() => count("package-failed")).toThrow(/0 samples/);
  });
});
