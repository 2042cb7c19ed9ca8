/**
 * How the operator commands reach the cluster: the configuration file gives etcd's endpoints,
 * TLS and key prefix. An etcd that cannot be reached is a user's problem (wrong file, etcd
 * down, no route), reported with the endpoints and what to check, never as a stack trace.
 */

import { readClusterConfig } from "../cluster/config/cluster-config.js";
import { etcdForOperator } from "../cluster/config/etcd-credentials.js";
import type { ClusterConfig } from "../cluster/config/model.js";
import { EtcdClient } from "../cluster/etcd/client.js";
import { EtcdError } from "../cluster/etcd/errors.js";
import { ClusterKeys } from "../cluster/membership/layout.js";
import { PaviseError } from "../util/errors.js";

export const CLUSTER_ETCD_UNREACHABLE = "CLUSTER_ETCD_UNREACHABLE";

export interface ClusterConnection {
  file: string;
  config: ClusterConfig;
  client: EtcdClient;
  keys: ClusterKeys;
}

/**
 * Reads the cluster file and opens a client on its etcd (nothing is sent yet), with the
 * operator's credentials (PAVISE_ETCD_*, etcd-credentials.ts) where the file has a node's.
 */
export function connectCluster(file: string): ClusterConnection {
  const read = readClusterConfig(file);
  const config = { ...read, etcd: etcdForOperator(read.etcd, file) };
  let client: EtcdClient;
  try {
    client = new EtcdClient({ endpoints: config.etcd.endpoints, tls: config.etcd.tls, timeoutMs: 3000 });
  } catch (err) {
    throw etcdProblem(err, file, config);
  }
  return { file, config, client, keys: new ClusterKeys(config.etcd.prefix) };
}

/** An etcd failure as the operator should see it: which endpoints, from which file, what to do. */
export function etcdProblem(err: unknown, file: string, config: ClusterConfig): unknown {
  if (!(err instanceof EtcdError)) return err;
  const endpoints = config.etcd.endpoints.join(", ");
  if (err.code === "ETCD_CONFIG_INVALID") {
    return new PaviseError(err.code, err.message, {
      where: { file, key: "etcd" },
      hint: err.hint,
    });
  }
  if (err.code === "ETCD_PERMISSION_DENIED" || err.code === "ETCD_AUTH_FAILED") {
    const user = config.etcd.tls?.user;
    return new PaviseError(
      err.code,
      err.code === "ETCD_PERMISSION_DENIED"
        ? `etcd refused this to ${user === undefined ? "this client" : `user ${user}`}: permission denied (${err.message})`
        : `etcd did not accept ${user === undefined ? "a client without a user" : `user ${user}`}: ${err.message}`,
      {
        where: { file, key: "etcd.tls" },
        hint:
          err.code === "ETCD_PERMISSION_DENIED"
            ? "this needs a user with the pavise-operator role (set PAVISE_ETCD_USER, PAVISE_ETCD_PASSWORD_FILE, PAVISE_ETCD_CERT and PAVISE_ETCD_KEY to an operator's credentials); a pavise-monitor user may only read"
            : (err.hint ?? "check the user and its password file"),
      },
    );
  }
  const noQuorum = err.code === "ETCD_NO_LEADER";
  return new PaviseError(
    CLUSTER_ETCD_UNREACHABLE,
    noQuorum
      ? `etcd has no quorum: the members at ${endpoints} answer but have no leader (${err.message})`
      : `cannot read the cluster from etcd at ${endpoints}: ${err.message}`,
    {
      where: { file, key: "etcd.endpoints", value: config.etcd.endpoints },
      hint: noQuorum
        ? "start enough etcd members for a majority, or heal the partition between them"
        : "check that etcd runs on those endpoints and is reachable from this host (route, firewall, " +
          "network namespace), and that etcd.endpoints and etcd.tls in the file are right",
    },
  );
}
