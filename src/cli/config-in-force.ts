/**
 * The cluster configuration the daemons run: the applied revision (pavise config apply) when
 * there is one this version reads, otherwise the operator's file. Operator commands that show
 * or act on packages use it, so a package added by an apply is seen even from an older file.
 * etcd's settings stay the file's: that is how the command reached etcd.
 */

import { readAppliedConfig, type StoredConfig } from "../cluster/config/applied-config.js";
import type { ClusterConfig } from "../cluster/config/model.js";
import { type ClusterConnection, connectCluster } from "./cluster-etcd.js";
import { parseForApply } from "./config-apply.js";

export interface ConfigInForce {
  config: ClusterConfig;
  /** The applied revision; undefined when the file is used (nothing applied, or unreadable). */
  revision: number | undefined;
}

export async function configInForce(connection: ClusterConnection): Promise<ConfigInForce> {
  return configFromStored(connection, await readAppliedConfig(connection.client, connection.keys));
}

/** The configuration in force from the applied record as read (undefined: none applied). Pure. */
export function configFromStored(
  connection: Pick<ClusterConnection, "config" | "keys">,
  stored: StoredConfig | undefined,
): ConfigInForce {
  if (!stored) return { config: connection.config, revision: undefined };
  const parsed = parseForApply(
    stored.record.text,
    `${connection.keys.config} (revision ${stored.record.revision})`,
  );
  if (!("config" in parsed)) return { config: connection.config, revision: undefined };
  return { config: { ...parsed.config, etcd: connection.config.etcd }, revision: stored.record.revision };
}

/**
 * connectCluster with the configuration in force: what operator commands check names against,
 * so a package added by an apply is known. When etcd cannot be read here, the file's (the
 * command then reports etcd's problem when it acts).
 */
export async function connectInForce(file: string): Promise<ClusterConnection> {
  const connection = connectCluster(file);
  try {
    return { ...connection, config: (await configInForce(connection)).config };
  } catch {
    return connection;
  }
}
