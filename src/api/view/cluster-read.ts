import { clusterStateFrom, readSnapshot, type ClusterSnapshot } from "../../cluster/agent/cluster-state.js";
import type { ClusterConfig } from "../../cluster/config/model.js";
import type { ClusterState } from "../../cluster/state.js";
import type { PeerRecord } from "../../ipsec/registry/peer-record.js";
import { listPeers } from "../../ipsec/registry/peer-registry.js";
import type { ClusterConnection } from "../../cli/cluster-etcd.js";
import { configFromStored } from "../../cli/config-in-force.js";
import { readAppliedConfig } from "../../cluster/config/applied-config.js";

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

/**
 * Reads the cluster again and again (the view cache's reads): the applied configuration is
 * parsed only when its record changed — a YAML parse and check costs about 1.5 ms of the
 * daemon's event loop, and a failover brings a burst of reads.
 */
export class ClusterReader {
  private parsed: { modRevision: number; config: ClusterConfig } | undefined;

  constructor(private readonly connection: ClusterConnection) {}

  async read(): Promise<ClusterRead> {
    const { client, keys } = this.connection;
    const [snapshot, stored] = await Promise.all([
      readSnapshot(client, keys),
      readAppliedConfig(client, keys),
    ]);
    const config =
      stored === undefined
        ? this.connection.config
        : this.parsed?.modRevision === stored.modRevision
          ? this.parsed.config
          : configFromStored(this.connection, stored).config;
    this.parsed = stored === undefined ? undefined : { modRevision: stored.modRevision, config };
    const ipsecPeers = Object.fromEntries(
      await Promise.all(
        config.packages
          .filter((p) => p.ipsec)
          .map(
            async (p) =>
              [p.name, (await listPeers(client, keys, p.name)).peers.map((l) => l.record)] as const,
          ),
      ),
    );
    return { config, snapshot, state: clusterStateFrom(config, snapshot), ipsecPeers };
  }
}
