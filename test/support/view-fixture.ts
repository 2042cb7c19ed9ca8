import { clusterStateFrom, snapshotFrom } from "../../src/cluster/agent/cluster-state.js";
import type { KeyValue } from "../../src/cluster/etcd/wire.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import type { ClusterRead } from "../../src/api/view/cluster-read.js";
import { clusterConfigFixture, packageConfig } from "./cluster-fixtures.js";

/**
 * A cluster read built from keys as the daemons write them (values as in a lab's etcd:
 * node records with subnetsUp and resources, a report with addresses and services, an
 * operator's resource setting).
 */
const keys = new ClusterKeys("/pavise/t/");
let revision = 100;
function kv(key: string, value: unknown, lease = "0"): KeyValue {
  revision += 1;
  return {
    key,
    value: JSON.stringify(value),
    createRevision: revision,
    modRevision: revision,
    version: 1,
    lease,
  };
}

const config = clusterConfigFixture([
  packageConfig("web", {
    nodes: ["n1", "n2", "n3"],
    addresses: [{ address: "198.18.1.50", subnet: "public" }],
    services: [
      {
        name: "httpd",
        command: "sleep 1000",
        restarts: 3,
        restartDelayMs: 100,
        haltTimeoutMs: 2000,
        failFast: false,
      },
      {
        name: "logger",
        command: "sleep 1000",
        restarts: "unlimited",
        restartDelayMs: 100,
        haltTimeoutMs: 2000,
        failFast: false,
      },
    ],
    resources: [{ name: "disk", monitor: undefined, initial: "up" }],
  }),
  packageConfig("db", {
    nodes: ["n2", "n1"],
    services: [
      { name: "pg", command: "x", restarts: 0, restartDelayMs: 0, haltTimeoutMs: 1000, failFast: false },
    ],
  }),
]);

export function labLikeRead(): ClusterRead {
  // The same revisions on every call.
  revision = 100;
  const snapshot = snapshotFrom(
    keys,
    {
      nodes: [
        kv(
          keys.node("n1"),
          {
            status: "up",
            subnetsUp: ["public", "heartbeat"],
            resources: { disk: "up" },
            since: 1_790_000_000_000,
            apiUrl: "https://198.18.2.11:7443",
          },
          "7587",
        ),
        // n2 lost link on every NIC of public: the subnet is down there.
        kv(
          keys.node("n2"),
          { status: "up", subnetsUp: ["heartbeat"], resources: { disk: "up" }, since: 1_790_000_000_100 },
          "7588",
        ),
      ],
      owners: [kv(keys.owner("web", "n1"), { node: "n1", lease: "7587", since: 1_790_000_001_000 }, "7587")],
      status: [
        kv(
          keys.status("web", "n1"),
          {
            package: "web",
            node: "n1",
            status: "up",
            since: 1_790_000_001_500,
            // Local LAN failover moved the address to the standby NIC.
            addresses: [{ address: "198.18.1.50", nic: "lan1" }],
            services: [
              { name: "httpd", restarts: 2, state: "running" },
              { name: "logger", restarts: 0, state: "running" },
            ],
          },
          "7587",
        ),
        kv(
          keys.status("db", "n2"),
          {
            package: "db",
            node: "n2",
            status: "failed",
            reason: "service pg failed",
            since: 1_790_000_002_000,
          },
          "7588",
        ),
      ],
      placements: kv(keys.placements, { web: ["n1"], db: [] }),
      leader: kv(keys.leader, { node: "n2" }, "7588"),
      admin: [],
      resources: [
        kv(keys.resource("n1", "disk"), { status: "down", by: "alice@api/n2", at: 1_790_000_003_000 }),
      ],
    },
    revision,
  );
  return { config, snapshot, state: clusterStateFrom(config, snapshot), ipsecPeers: {} };
}
