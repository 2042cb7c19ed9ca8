import type { IncomingMessage } from "node:http";
import { networkInterfaces } from "node:os";
import type { ClusterConfig } from "../cluster/config/model.js";
import type { NodeAgent } from "../cluster/agent/node-agent.js";
import type { DaemonMetrics } from "../metrics/daemon-metrics.js";
import { DaemonApi } from "./http/daemon-api.js";
import { apiUrlFor } from "./http/api-url.js";
import { daemonReads, type DaemonReads } from "./routes/daemon-reads.js";
import { consoleFile } from "./static/console-files.js";
import { EventStreamHub } from "./stream/event-stream.js";
import type { StatusView } from "./schema/view-types.js";

/**
 * The operator surfaces of one daemon put together (design §0): the view cache and read routes,
 * the live stream over the same cache, the action and session routes, the OpenAPI document, the
 * console's files and /metrics, all on the daemon's HTTPS server. Only when the cluster file has
 * an `api:` section. A driver: everything it joins is built and tested on its own.
 */
export interface DaemonSurfaceOptions {
  node: string;
  /** The cluster file (error texts). */
  file: string;
  /** The configuration in force, with this node's etcd credentials. */
  config: ClusterConfig;
  controlSocket: string;
  logDirectory: string | undefined;
  metrics: DaemonMetrics;
  agent: () => NodeAgent | undefined;
  version: string;
  log: (event: string, message: string) => void;
}

export class DaemonSurface {
  private constructor(
    readonly api: DaemonApi,
    private readonly reads: DaemonReads,
    private readonly hub: EventStreamHub,
  ) {}

  /** This node's API URL for its node record, from the configuration and its own addresses. */
  static urlFor(config: ClusterConfig): string | undefined {
    if (!config.api) return undefined;
    const addresses = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
    return apiUrlFor(config.api.listen, config.subnets, addresses);
  }

  static async start(options: DaemonSurfaceOptions): Promise<DaemonSurface> {
    let api: DaemonApi | undefined;
    const reads = daemonReads({
      file: options.file,
      config: options.config,
      node: options.node,
      logDirectory: options.logDirectory,
      sas: (pkg) => options.agent()?.ipsecSas(pkg).sas,
      tls: () => api?.nodeTls,
      log: options.log,
    });
    const hub = new EventStreamHub(reads.cache);
    options.metrics.watchStreams(() => hub.clients);
    reads.start();
    try {
      api = await DaemonApi.start({
        node: options.node,
        config: options.config,
        controlSocket: options.controlSocket,
        registry: options.metrics.registry,
        scrape: () =>
          options.metrics.scrape(options.agent()?.metricsFacts(), undefined, reads.cache.current()?.view),
        health: () => options.agent()?.health(),
        log: options.log,
        recorded: (event) => options.agent()?.operatorRecorded(event),
        version: options.version,
        routes: reads.routes,
        stream: (req, res) => hub.attach(req, res, lastEventId(req)),
        staticFile: consoleFile,
      });
    } catch (err) {
      hub.close();
      reads.stop();
      throw err;
    }
    return new DaemonSurface(api, reads, hub);
  }

  /** The view the cache holds now, for the metrics' cluster gauges; undefined before the first read. */
  view(): StatusView | undefined {
    return this.reads.cache.current()?.view;
  }

  reconfigure(next: ClusterConfig): void {
    this.api.reconfigure(next);
  }

  /** SIGHUP: the API's credential files are read again (DaemonApi.reloadCredentials). */
  async reloadCredentials(why: string): Promise<void> {
    await this.api.reloadCredentials(why);
  }

  async close(): Promise<void> {
    this.hub.close();
    await this.api.close();
    this.reads.stop();
  }
}

/** `?lastEventId=` for clients that cannot send the Last-Event-ID header (the hub reads that). */
function lastEventId(req: IncomingMessage): string | undefined {
  return new URL(req.url ?? "/", "https://x").searchParams.get("lastEventId") ?? undefined;
}
