import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { NODE_PLACEHOLDER } from "../../cluster/config/etcd-credentials.js";
import type { AccessPolicy, ApiConfig, ClusterConfig } from "../../cluster/config/model.js";
import { EtcdClient } from "../../cluster/etcd/client.js";
import { type ClusterEvent, ClusterKeys } from "../../cluster/membership/layout.js";
import type { MetricRegistry } from "../../metrics/registry.js";
import { accessPolicyOf } from "../auth/access-rules.js";
import { loadApiCredentials, type ApiCredentials } from "../auth/load-credentials.js";
import { LoginThrottle } from "../auth/login-throttle.js";
import type { PrincipalContext } from "../auth/principal.js";
import { actionRoutes } from "../routes/action-routes.js";
import { nodeHealthRoutes, type NodeHealth } from "../routes/node-health-routes.js";
import { sessionRoutes } from "../routes/session-routes.js";
import type { NodeTls } from "../routes/owner-proxy.js";
import { openApiHandler } from "../openapi/openapi-route.js";
import { withDocs } from "../openapi/route-docs.js";
import type { ApiHandler } from "./api-handler.js";
import { ApiMetrics } from "./api-metrics.js";
import { ApiServer, type StaticFileLookup, type StreamHandler } from "./api-server.js";
import type { Route } from "./router.js";

/**
 * The API as `pavise daemon` runs it when the cluster file has `api:` (design §3): reads the TLS
 * files ("{node}" in their paths is this node) and the credential files, builds the route table
 * (session, actions, health and /metrics here; `routes` adds the others) and starts the server
 * on `api.listen` and on `<control socket's directory>/api-<node>.sock`. Users and packages'
 * `access:` follow `pavise config apply` online (reconfigure); the credential files are read
 * again then and on SIGHUP (reloadCredentials: a new password or token without a restart, as
 * `swanctl --load-creds` does for strongSwan); listen and TLS are read at start only.
 *
 * Extension points, for the modules other parts of the daemon provide:
 * - `routes`: more route entries (the read routes, the OpenAPI document), each a Route<ApiHandler>;
 *   the document's handler can read the whole table later from `DaemonApi.routes`;
 * - `stream`: GET /v1/stream on the raw request (SSE), after the principal may read;
 * - `staticFile`: GET / and /ui/* (the console's files).
 */
export interface DaemonApiOptions {
  node: string;
  /** The configuration in force; its `api:` section must be there. */
  config: ClusterConfig;
  /** The daemon's control socket: the API's unix socket goes beside it. */
  controlSocket: string;
  /** The daemon's metrics registry (the API's families are added to it). */
  registry: MetricRegistry;
  /** GET /metrics: the exposition text now. */
  scrape: () => string;
  /** GET /v1/health: undefined while the agent is starting. */
  health: () => NodeHealth | undefined;
  log: (event: string, message: string) => void;
  /** An action's event as written to etcd (the agent logs it and runs its hooks). */
  recorded?: ((event: ClusterEvent) => void) | undefined;
  /** This package's version (the OpenAPI document's info.version). */
  version: string;
  routes?: readonly Route<ApiHandler>[] | undefined;
  stream?: StreamHandler | undefined;
  staticFile?: StaticFileLookup | undefined;
}

export class DaemonApi {
  private config: ClusterConfig;
  private policy: AccessPolicy;
  private passwordUsers: ReadonlySet<string>;

  private constructor(
    private readonly options: DaemonApiOptions,
    private credentials: ApiCredentials,
    private readonly client: EtcdClient,
    private server: ApiServer | undefined,
    /** This node's API certificate, key and the cluster CA: the owner proxy forwards with them. */
    readonly nodeTls: NodeTls,
  ) {
    this.config = options.config;
    this.policy = accessPolicyOf(options.config)!;
    this.passwordUsers = new Set(credentials.passwords.keys());
  }

  /** The unix socket of a node's API, beside its control socket. */
  static socketPath(controlSocket: string, node: string): string {
    return join(dirname(controlSocket), `api-${node}.sock`);
  }

  static async start(options: DaemonApiOptions): Promise<DaemonApi> {
    const api = options.config.api;
    if (!api) throw new Error("the cluster configuration has no api: section");
    const tls = await readTls(api, options.node);
    const credentials = await loadApiCredentials(api);
    logCredentialProblems(credentials, options.log);
    const client = new EtcdClient({ endpoints: options.config.etcd.endpoints, tls: options.config.etcd.tls });
    const daemonApi = new DaemonApi(options, credentials, client, undefined, {
      ca: tls.ca.toString("utf8"),
      cert: tls.cert.toString("utf8"),
      key: tls.key.toString("utf8"),
    });
    const metrics = new ApiMetrics(options.registry);
    const keys = new ClusterKeys(options.config.etcd.prefix);
    // Every route carries its OpenAPI description (route-docs.ts); the document is built from
    // this same table, so a route cannot be served undocumented.
    const routes: Route<ApiHandler>[] = withDocs([
      ...nodeHealthRoutes({ node: options.node, health: options.health, metrics: options.scrape }),
      ...sessionRoutes({
        passwords: () => daemonApi.credentials.passwords,
        sessionKey: () => daemonApi.credentials.sessionKey,
        sessionTtlMs: () => daemonApi.config.api?.sessionTtlMs ?? api.sessionTtlMs,
        throttle: new LoginThrottle(),
        log: options.log,
        metrics,
      }),
      ...actionRoutes({
        cluster: () => ({ config: daemonApi.config, client, keys }),
        log: options.log,
        recorded: options.recorded,
      }),
      ...(options.routes ?? []),
      {
        method: "GET",
        pattern: "/v1/openapi.json",
        role: "none",
        handler: openApiHandler(() => routes, options.version),
      },
    ]);
    try {
      daemonApi.server = await ApiServer.start({
        node: options.node,
        tls,
        listen: api.listen,
        unixSocket: DaemonApi.socketPath(options.controlSocket, options.node),
        routes,
        principalContext: (now) => daemonApi.principalContext(now),
        log: options.log,
        metrics,
        stream: options.stream,
        staticFile: options.staticFile,
      });
    } catch (err) {
      client.close();
      throw err;
    }
    return daemonApi;
  }

  /** Every route served (empty until started): what the OpenAPI document describes. */
  get routes(): readonly Route<ApiHandler>[] {
    return this.server?.routes ?? [];
  }

  get addresses(): string[] {
    return this.server?.addresses ?? [];
  }

  /** A new configuration in force: users and access rules apply now; listen and TLS at restart. */
  reconfigure(next: ClusterConfig): void {
    const policy = accessPolicyOf(next);
    if (!policy) {
      this.options.log(
        "problem",
        "API: the configuration in force has no api: section; the API stops at restart",
      );
      return;
    }
    this.config = next;
    this.policy = policy;
    // A user added online may come with a password or token file.
    void this.reloadCredentials("configuration applied");
  }

  /**
   * Reads every credential file of the configuration in force again and uses what it finds from
   * now on (SIGHUP, a configuration applied). A file that cannot be used costs its user that way
   * of logging in, as at start; sessions already given stay valid while the session key is the
   * same. Says what it read in the log.
   */
  async reloadCredentials(why: string): Promise<ApiCredentials | undefined> {
    const api = this.config.api;
    if (!api) return undefined;
    const credentials = await loadApiCredentials(api).catch((err: unknown) => {
      this.options.log("problem", `API: credential files not read again (${why}): ${(err as Error).message}`);
      return undefined;
    });
    if (!credentials) return undefined;
    logCredentialProblems(credentials, this.options.log);
    this.credentials = credentials;
    this.passwordUsers = new Set(credentials.passwords.keys());
    this.options.log(
      "api",
      `credential files read again (${why}): ${credentials.passwords.size} password(s), ` +
        `${credentials.tokenUsers.size} token(s), session key ${credentials.sessionKey ? "yes" : "no"}` +
        (credentials.problems.length > 0 ? `, ${credentials.problems.length} file(s) not usable` : ""),
    );
    return credentials;
  }

  async close(): Promise<void> {
    await this.server?.close();
    this.client.close();
  }

  private principalContext(now: number): PrincipalContext {
    return {
      policy: this.policy,
      nodeNames: this.config.nodes.map((n) => n.name),
      tokenUsers: this.credentials.tokenUsers,
      sessionKey: this.credentials.sessionKey,
      passwordUsers: this.passwordUsers,
      now,
    };
  }
}

function logCredentialProblems(credentials: ApiCredentials, log: DaemonApiOptions["log"]): void {
  for (const warning of credentials.warnings) log("problem", `API: ${warning}`);
  for (const problem of credentials.problems) {
    log("problem", `API: ${problem.message}${problem.hint ? ` (${problem.hint})` : ""}`);
  }
}

async function readTls(api: ApiConfig, node: string): Promise<{ key: Buffer; cert: Buffer; ca: Buffer }> {
  const path = (p: string): string => p.split(NODE_PLACEHOLDER).join(node);
  const read = async (file: string, key: string): Promise<Buffer> => {
    try {
      return await readFile(path(file));
    } catch (err) {
      throw new Error(`cannot read api.tls.${key} ${path(file)}: ${(err as Error).message}`);
    }
  };
  return {
    key: await read(api.tls.key, "key"),
    cert: await read(api.tls.cert, "cert"),
    ca: await read(api.tls.ca, "ca"),
  };
}
