import { describe, expect, it } from "vitest";
import { clusterStateFrom, snapshotFrom } from "../../src/cluster/agent/cluster-state.js";
import { parseClusterConfig } from "../../src/cluster/config/cluster-config.js";
import type { KeyValue } from "../../src/cluster/etcd/wire.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import {
  type EtcdMemberAnswer,
  renderStatus,
  statusExitCode,
  statusView,
} from "../../src/cli/status-render.js";
import type { PeerRecord } from "../../src/ipsec/registry/peer-record.js";
import { IPSEC_CLUSTER_YAML } from "../support/cluster-fixtures.js";

// pavise status (status-render.ts): a fixed configuration and fixed etcd keys → what is shown.

const config = parseClusterConfig(`cluster_name: demo
etcd:
  endpoints: [http://198.18.2.11:2379, http://198.18.2.12:2379, http://198.18.2.13:2379]
subnets:
  - { name: public, cidr: 198.18.1.0/24 }
  - { name: heartbeat, cidr: 198.18.2.0/24, heartbeat: yes }
nodes:
  - name: n1
    interfaces: [{ subnet: public, primary: lan0, standby: [lan1] }, { subnet: heartbeat, primary: hb0 }]
  - name: n2
    interfaces: [{ subnet: public, primary: lan0, standby: [lan1] }, { subnet: heartbeat, primary: hb0 }]
  - name: n3
    interfaces: [{ subnet: public, primary: lan0, standby: [lan1] }, { subnet: heartbeat, primary: hb0 }]
packages:
  - name: web
    node_name: [n1, n2, n3]
    ip_address: [{ address: 198.18.1.50, subnet: public }]
    services: [{ name: echo, command: "sleep 1000" }]
  - name: db
    node_name: [n2, n1]
    ip_address: [{ address: 198.18.1.51, subnet: public }]
  - name: batch
    node_name: [n1, n2]
    auto_run: no
    dependencies:
      - { name: needs-db, package: db, condition: up, location: same_node }
`);

const keys = new ClusterKeys("/pavise/demo/");
const T = Date.UTC(2026, 10, 27, 14, 0, 0);

function kv(key: string, value: unknown, lease = "0"): KeyValue {
  return { key, value: JSON.stringify(value), createRevision: 1, modRevision: 1, version: 1, lease };
}

const nodes = [
  kv(keys.node("n2"), { name: "n2", status: "up", since: T }, "22"),
  kv(keys.node("n3"), { name: "n3", status: "up", since: T + 1000 }, "33"),
];
const owners = [kv(keys.owner("web", "n2"), { node: "n2" }, "22")];
const status = [
  kv(keys.status("web", "n2"), { package: "web", node: "n2", status: "up", since: T + 2000 }, "22"),
  kv(
    keys.status("db", "n3"),
    { package: "db", node: "n3", status: "failed", reason: "start script: exit 1", since: T + 3000 },
    "33",
  ),
];
const placements = kv(keys.placements, { web: ["n2"], db: ["n3"] });
const leader = kv(keys.leader, "n3", "33");
const snapshot = snapshotFrom(keys, { nodes, owners, status, placements, leader }, 42);
const state = clusterStateFrom(config, snapshot);
const etcd: EtcdMemberAnswer[] = [
  { endpoint: "http://198.18.2.11:2379", reachable: false, error: "cannot connect" },
  { endpoint: "http://198.18.2.12:2379", reachable: true, memberId: "2", leader: "3" },
  { endpoint: "http://198.18.2.13:2379", reachable: true, memberId: "3", leader: "3" },
];

describe("pavise status rendering", () => {
  const view = statusView({ config, state, snapshot, etcd });

  it("names the leader node from the lease of the leader key", () => {
    expect(view.cluster).toEqual({ name: "demo", status: "up", leader: "n3", revision: 42 });
  });

  it("counts etcd members that answer, quorum and the leading member", () => {
    expect(view.etcd).toMatchObject({
      reachable: 2,
      members: 3,
      quorum: true,
      leaderEndpoint: "http://198.18.2.13:2379",
    });
  });

  it("shows a node without a key as failed", () => {
    expect(view.nodes.map((n) => [n.name, n.status])).toEqual([
      ["n1", "failed"],
      ["n2", "up"],
      ["n3", "up"],
    ]);
  });

  it("shows where packages run, failed nodes with their reason, and a placement not yet carried out", () => {
    const web = view.packages.find((p) => p.name === "web")!;
    expect(web).toMatchObject({
      status: "up",
      state: "running",
      nodes: ["n2"],
      switching: true,
      placedOn: undefined,
    });
    expect(web.addresses).toEqual([
      { address: "198.18.1.50", subnet: "public", node: "n2", nic: "lan0", nicFrom: "configured" },
    ]);
    expect(web.services).toEqual(["echo"]);
    const db = view.packages.find((p) => p.name === "db")!;
    expect(db).toMatchObject({
      status: "failed",
      state: "halted",
      nodes: [],
      placedOn: ["n3"],
      shouldRun: true,
    });
    expect(db.failedOn).toEqual([{ node: "n3", reason: "start script: exit 1" }]);
    expect(db.addresses[0]).toMatchObject({ node: undefined, nic: undefined });
    const batch = view.packages.find((p) => p.name === "batch")!;
    expect(batch).toMatchObject({ status: "down", switching: false, shouldRun: false });
    expect(batch.dependencies).toEqual([
      { name: "needs-db", package: "db", condition: "up", location: "same_node", met: false },
    ]);
  });

  it("exits 1 while a package that should run does not (db), 0 when all do", () => {
    expect(statusExitCode(view)).toBe(1);
    const fine = statusView({
      config,
      state: {
        ...state,
        packages: { ...state.packages, db: { ...state.packages.db!, status: "up", runningOn: ["n2"] } },
      },
      snapshot,
      etcd,
    });
    expect(statusExitCode(fine)).toBe(0);
  });

  it("uses the NIC the owner reported for an address (after a local LAN failover)", () => {
    const moved = snapshotFrom(
      keys,
      {
        nodes,
        owners,
        status: [
          kv(keys.status("web", "n2"), {
            package: "web",
            node: "n2",
            status: "up",
            since: T,
            addresses: [{ address: "198.18.1.50", nic: "lan1" }],
          }),
        ],
        placements,
        leader,
      },
      43,
    );
    const v = statusView({ config, state: clusterStateFrom(config, moved), snapshot: moved, etcd });
    expect(v.packages[0]!.addresses[0]).toMatchObject({ node: "n2", nic: "lan1", nicFrom: "reported" });
  });

  it("renders cmviewcl-like tables", () => {
    expect(renderStatus(view)).toBe(
      [
        "CLUSTER  STATUS  LEADER  ETCD",
        "demo     up      n3      2/3 members answer, quorum, leader http://198.18.2.13:2379",
        "",
        "NODE  STATUS  SINCE",
        "n1    failed  -",
        "n2    up      2026-11-27T14:00:00Z",
        "n3    up      2026-11-27T14:00:01Z",
        "",
        "PACKAGE  STATUS  STATE    AUTO_RUN  NODE  PLACED",
        "web      up      running  enabled   n2",
        "db       failed  halted   enabled   -     n3",
        "batch    down    halted   disabled  -",
        "",
        "not running as they should: db",
      ].join("\n"),
    );
  });

  it("adds addresses, services, failed nodes and dependencies with -v", () => {
    const text = renderStatus(view, { verbose: true });
    expect(text).toContain("  etcd http://198.18.2.11:2379: unreachable (cannot connect)");
    expect(text).toContain(
      "PACKAGE web (failover)\n  addresses:     198.18.1.50 (public) on n2 lan0 (primary)",
    );
    expect(text).toContain("  services:      echo");
    expect(text).toContain("  failed on:     n3 (start script: exit 1)");
    expect(text).toContain("  dependencies:  needs-db: db up same_node (not met)");
  });

  it("has no quorum when only a minority answers with a leader", () => {
    const minority = statusView({
      config,
      state,
      snapshot,
      etcd: [etcd[0]!, { ...etcd[1]!, leader: "0" }, etcd[2]!],
    });
    expect(minority.etcd.quorum).toBe(false);
    expect(renderStatus(minority)).toContain("NO QUORUM");
  });

  it("-v shows a package's IPsec identity and recorded peers with how contacting them went", () => {
    const withIpsec = parseClusterConfig(IPSEC_CLUSTER_YAML, "cluster.yaml");
    const ipsecSnapshot = snapshotFrom(keys, { nodes: [], owners: [], status: [], placements: undefined }, 7);
    const record = (id: string, contact?: PeerRecord["contact"]): PeerRecord => ({
      id,
      connection: "clients",
      address: id,
      port: 4500,
      natted: false,
      children: [],
      node: "n2",
      since: T,
      seen: T,
      ...(contact ? { contact } : {}),
    });
    const ipsecView = statusView({
      config: withIpsec,
      state: clusterStateFrom(withIpsec, ipsecSnapshot),
      snapshot: ipsecSnapshot,
      etcd,
      ipsecPeers: {
        web: [
          record("198.18.1.101"),
          record("198.18.1.102", {
            state: "retrying",
            attempts: 3,
            lastError: "no answer after 3 retransmissions",
          }),
        ],
      },
    });
    expect(ipsecView.packages[0]?.ipsec?.peers).toHaveLength(2);
    const text = renderStatus(ipsecView, { verbose: true });
    expect(text).toContain("  ipsec:         identity web.pavise.test; 2 peers recorded");
    expect(text).toContain("198.18.1.101 at 198.18.1.101 (clients, recorded by n2): ok");
    expect(text).toContain(
      "198.18.1.102 at 198.18.1.102 (clients, recorded by n2): not reached, retrying after 3 attempt(s): no answer after 3 retransmissions",
    );
    // Without ipsec: no such block.
    expect(renderStatus(view, { verbose: true })).not.toContain("ipsec:");
  });
});
