import type { ClusterConfig } from "../../cluster/config/model.js";
import type { IkeSaStatus } from "../../ipsec/sa-status.js";
import type { ApiHandler } from "../http/api-handler.js";
import type { Route } from "../http/router.js";
import { ClusterViewCache } from "../view/cluster-view-cache.js";
import { daemonLocalFacts, type LocalFacts } from "../view/local-facts.js";
import { ownerReads, type NodeTls } from "./owner-proxy.js";
import { readRoutes } from "./read-routes.js";

/**
 * Everything the API reads, put together for one daemon (design §2): the view cache, this
 * node's local facts, the owner proxy over the other nodes' API URLs (from their node records,
 * as the cache last read them) and the read routes. The daemon creates it when the cluster file
 * has an `api:` section, starts it, hands `routes` to the API server and `cache` to the live
 * stream and the metrics, and stops it when it leaves.
 */
export interface DaemonReadsOptions {
  /** The cluster file (for error texts). */
  file: string;
  /** The file's configuration with this node's etcd credentials (etcdForNode). */
  config: ClusterConfig;
  node: string;
  /** The daemon's --log-dir (package logs). */
  logDirectory: string | undefined;
  /** The agent's SAs of one package (NodeAgent.ipsecSas(pkg).sas); undefined while it starts. */
  sas: (pkg: string) => IkeSaStatus[] | undefined;
  /** This node's API certificate and key and the cluster CA, as PEM; undefined: it cannot forward. */
  tls: () => NodeTls | undefined;
  log?: (event: string, message: string) => void;
}

export interface DaemonReads {
  cache: ClusterViewCache;
  local: LocalFacts;
  routes: Route<ApiHandler>[];
  start(): void;
  stop(): void;
}

export function daemonReads(options: DaemonReadsOptions): DaemonReads {
  const cache = new ClusterViewCache({
    config: options.config,
    file: options.file,
    ...(options.log ? { log: options.log } : {}),
  });
  const local = daemonLocalFacts({
    node: options.node,
    config: () => cache.cached()?.read.config,
    logDirectory: options.logDirectory,
    sas: options.sas,
  });
  const owner = ownerReads({
    local,
    apiUrlOf: (node) => {
      const url = cache.cached()?.read.snapshot.nodes[node]?.apiUrl;
      return typeof url === "string" ? url : undefined;
    },
    tls: options.tls,
  });
  return {
    cache,
    local,
    routes: readRoutes({ view: cache, owner }),
    start: () => cache.start(),
    stop: () => cache.stop(),
  };
}
