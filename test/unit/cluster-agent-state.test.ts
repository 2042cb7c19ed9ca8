import { describe, expect, it } from "vitest";
import { clusterStateFrom, snapshotFrom } from "../../src/cluster/agent/cluster-state.js";
import type { ClusterConfig, PackageConfig } from "../../src/cluster/config/model.js";
import type { KeyValue } from "../../src/cluster/etcd/wire.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import { FIXTURE_TIMING, packageConfig } from "../support/cluster-fixtures.js";

// etcd keys → ClusterState (cluster-state.ts): what the leader schedules from.

const keys = new ClusterKeys("/pavise/t/");

function pkg(name: string, over: Partial<PackageConfig> = {}): PackageConfig {
  return packageConfig(name, { nodes: ["n1", "n2", "n3"], ...over });
}

const config: ClusterConfig = {
  name: "t",
  etcd: { endpoints: [], tls: undefined, prefix: "/pavise/t/" },
  timing: FIXTURE_TIMING,
  arp: { count: 3, intervalMs: 150 },
  subnets: [
    { name: "public", cidr: "198.18.1.0/24", heartbeat: false },
    { name: "heartbeat", cidr: "198.18.2.0/24", heartbeat: true },
  ],
  nodes: ["n1", "n2", "n3"].map((name) => ({
    name,
    interfaces: [
      { subnet: "public", primary: "lan0", standby: ["lan1"] },
      { subnet: "heartbeat", primary: "hb0", standby: [] },
    ],
  })),
  packages: [pkg("web"), pkg("batch", { autoRun: false }), pkg("exporter", { type: "multi_node" })],
};

function kv(key: string, value: unknown, lease = "7"): KeyValue {
  return { key, value: JSON.stringify(value), createRevision: 1, modRevision: 1, version: 1, lease };
}

describe("cluster state from etcd keys", () => {
  it("nodes: a key means up (or halted when it says so), no key means failed; subnets as reported", () => {
    const snapshot = snapshotFrom(
      keys,
      {
        nodes: [
          kv(keys.node("n1"), { name: "n1", lease: "1", since: 5, status: "up", subnetsUp: ["heartbeat"] }),
          kv(keys.node("n2"), { name: "n2", lease: "2", since: 6, status: "halted" }),
          kv("/pavise/t/nodes/bad/name", { name: "x" }),
        ],
        owners: [],
        status: [],
        placements: undefined,
      },
      10,
    );
    const state = clusterStateFrom(config, snapshot);
    expect(state.nodes.n1).toEqual({
      name: "n1",
      status: "up",
      subnetsUp: ["heartbeat"],
      resources: {},
      since: 5,
    });
    expect(state.nodes.n2).toMatchObject({ status: "halted", subnetsUp: ["public", "heartbeat"] });
    expect(state.nodes.n3).toMatchObject({ status: "failed", subnetsUp: [] });
    expect(state.placements).toEqual({});
  });

  it("packages: running where the owner keys are, status from the owner's report, failedOn from failed reports", () => {
    const snapshot = snapshotFrom(
      keys,
      {
        nodes: [kv(keys.node("n2"), { name: "n2", lease: "2", since: 1 })],
        owners: [
          kv(keys.owner("web", "n2"), { node: "n2" }),
          kv(keys.owner("exporter", "n3"), { node: "n3" }),
          kv(keys.owner("exporter", "n1"), { node: "n1" }),
        ],
        status: [
          kv(keys.status("web", "n2"), { status: "starting", since: 20 }),
          kv(keys.status("web", "n1"), { status: "failed", reason: "service echo failed", since: 10 }),
          kv(keys.status("batch", "n3"), { status: "failed", since: 3 }),
        ],
        placements: kv(keys.placements, { web: ["n2"], exporter: ["n1", "n3"], junk: 5 }),
      },
      10,
    );
    const state = clusterStateFrom(config, snapshot);
    expect(state.packages.web).toEqual({
      name: "web",
      status: "starting",
      runningOn: ["n2"],
      switching: true,
      disabledNodes: [],
      failedOn: ["n1"],
      haltedByOperator: false,
      maintenance: false,
      since: 20,
    });
    expect(state.packages.exporter).toMatchObject({ status: "up", runningOn: ["n1", "n3"], failedOn: [] });
    expect(state.packages.batch).toMatchObject({
      status: "failed",
      runningOn: [],
      switching: false,
      failedOn: ["n3"],
    });
    expect(state.placements).toEqual({ web: ["n2"], exporter: ["n1", "n3"] });
  });

  it("an owner that reports failed makes the package failing; a package with no owner and no failure is down; unreadable keys are skipped", () => {
    const snapshot = snapshotFrom(
      keys,
      {
        nodes: [],
        owners: [kv(keys.owner("web", "n1"), { node: "n1" })],
        status: [
          kv(keys.status("web", "n1"), { status: "failed", since: 1 }),
          kv(keys.status("web", "n2"), "not json{"),
        ],
        placements: kv(keys.placements, "garbage"),
      },
      3,
    );
    const state = clusterStateFrom(config, snapshot);
    expect(state.packages.web).toMatchObject({ status: "failing", failedOn: ["n1"] });
    expect(state.packages.exporter).toMatchObject({ status: "down", runningOn: [] });
    expect(snapshot.placements).toBeUndefined();
  });
});

describe("status keys (layout.ts)", () => {
  it("name a package and a node, and nothing else parses as one", () => {
    expect(keys.status("web", "n1")).toBe("/pavise/t/status/web/n1");
    expect(keys.parseStatus("/pavise/t/status/web/n1")).toEqual({ package: "web", node: "n1" });
    expect(keys.parseStatus("/pavise/t/status/web")).toBeUndefined();
    expect(keys.parseStatus("/pavise/t/status/web/n1/x")).toBeUndefined();
    expect(keys.parseStatus("/pavise/t/owners/web/n1")).toBeUndefined();
    expect(() => keys.status("web", "a/b")).toThrow(/node name "a\/b"/);
  });
});
