import { clusterStateFrom, readSnapshot, type ClusterSnapshot } from "../../cluster/agent/cluster-state.js";
import type { ClusterConfig } from "../../cluster/config/model.js";
import type { ClusterState } from "../../cluster/state.js";
import type { PeerRecord } from "../../ipsec/registry/peer-record.js";
import { listPeers } from "../../ipsec/registry/peer-registry.js";
import type { ClusterConnection } from "../../cli/cluster-etcd.js";
import { configInForce } from "../../cli/config-in-force.js";

/**
 * One read of the cluster, the same reads `pavise status` makes (status-command.ts): the keys
 * at one revision (readSnapshot), the configuration in force (the applied one, else the file)
 * and the IPsec peer registry of each package with ipsec:. The API's detail views need the
 * snapshot and state behind the StatusView (per-node reports and resources), so they are kept.
 */
export interface ClusterRead {
  config: ClusterConfig;
  snapshot: ClusterSnapshot;
  state: ClusterState;
  ipsecPeers: Record<string, PeerRecord[]>;
}

export async function readCluster(connection: ClusterConnection): Promise<ClusterRead> {
  const [snapshot, inForce] = await Promise.all([
    readSnapshot(connection.client, connection.keys),
    configInForce(connection),
  ]);
  const config = inForce.config;
  const ipsecPeers = Object.fromEntries(
    await Promise.all(
      config.packages
        .filter((p) => p.ipsec)
        .map(
          async (p) =>
            [
              p.name,
              (await listPeers(connection.client, connection.keys, p.name)).peers.map((l) => l.record),
            ] as const,
        ),
    ),
  );
  return { config, snapshot, state: clusterStateFrom(config, snapshot), ipsecPeers };
}
