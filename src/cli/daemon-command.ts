import { parseClusterConfig } from "../cluster/config/cluster-config.js";
import { type AgentLogLine, NodeAgent } from "../cluster/agent/node-agent.js";
import { ConfigFollower, startingConfig } from "../cluster/agent/config-follower.js";
import { etcdForNode } from "../cluster/config/etcd-credentials.js";
import {
  DAEMON_SOCKET_ENV,
  DEFAULT_DAEMON_SOCKET,
  serveDaemonControl,
} from "../cluster/agent/daemon-control.js";
import { EtcdClient } from "../cluster/etcd/client.js";
import { ClusterKeys } from "../cluster/membership/layout.js";
import { PaviseError } from "../util/errors.js";
import { readConfigText } from "./config-apply.js";
import { DaemonMetrics } from "../metrics/daemon-metrics.js";
import { DaemonSurface } from "../api/daemon-surface.js";
import type { ClusterConfig } from "../cluster/config/model.js";
import { readFileSync } from "node:fs";
import { parseCommandArgs, usageError } from "./usage.js";

/** The exit status after a fail-fast (node_fail_fast / service fail_fast): not 0, not 1 or 2. */
export const FAIL_FAST_EXIT = 3;

export const DAEMON_USAGE = `usage:
  pavise daemon --config FILE --node NAME [--json] [--log-dir DIR] [--control PATH]
      run this node's cluster agent (cmcld): join the cluster through etcd, run the packages
      placed here, take part in electing the leader. One line per event on stdout (JSON lines
      with --json); package logs in DIR (default /var/log/pavise). SIGTERM halts this node's
      packages (they move to other nodes), leaves the cluster and exits 0. A guardian process
      (its lines are "guard") outlives a daemon killed any other way and removes this node's
      package addresses and kills its services before the node's lease lapses. When a package
      with node_fail_fast, or a service with fail_fast, fails here, the node leaves at once
      (addresses dropped, services killed, lease revoked) and the daemon exits with status 3.
      FILE gives etcd's endpoints; once a configuration has been applied (pavise config
      apply), the daemon runs the applied one and follows each new revision online.
      Local commands (pavise ipsec status) reach it on the unix socket PATH (root only;
      default ${DEFAULT_DAEMON_SOCKET}); what it starts finds PATH in ${DAEMON_SOCKET_ENV}.
      GET /metrics on PATH gives the node's metrics in the Prometheus text format.
      With an api: section in FILE, the HTTPS API listens on api.listen and on the unix socket
      api-NAME.sock beside PATH (0600, the same TLS). SIGHUP reads the API's credential files
      (passwords, tokens, session key) again.`;

/** Runs until SIGTERM or SIGINT; resolves with the exit code. */
export async function daemonCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    args,
    {
      config: { type: "string" },
      node: { type: "string" },
      json: { type: "boolean" },
      "log-dir": { type: "string" },
      control: { type: "string" },
      help: { type: "boolean" },
    },
    DAEMON_USAGE,
    0,
  );
  if (values.help) {
    process.stdout.write(`${DAEMON_USAGE}\n`);
    return 0;
  }
  if (values.config === undefined) throw usageError("daemon needs --config FILE", DAEMON_USAGE);
  if (values.node === undefined) throw usageError("daemon needs --node NAME", DAEMON_USAGE);
  const localText = readConfigText(values.config);
  const file = parseClusterConfig(localText, values.config);
  // This node's own etcd certificate and user ("{node}" in etcd.tls): the only change here.
  const local = { ...file, etcd: etcdForNode(file.etcd, values.node) };
  const json = values.json === true;
  const metrics = new DaemonMetrics(values.node, packageVersion());
  metrics.onFailover = (s) =>
    say("failover-timed", `${s.package} ${s.from} -> ${s.to} (${s.cause}) in ${s.seconds.toFixed(3)} s`, {
      ...s,
    });
  const log = (line: AgentLogLine): void => {
    metrics.noteEvent(line);
    const { at, node, event, message } = line;
    process.stdout.write(
      json ? `${JSON.stringify(line)}\n` : `${new Date(at).toISOString()} ${node} ${event}: ${message}\n`,
    );
  };

  // Signals that come while the agent is still starting are kept and acted on once it has.
  let signalled: NodeJS.Signals | undefined;
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  const handler = (signal: NodeJS.Signals): void => {
    if (signalled) return;
    signalled = signal;
    onSignal?.(signal);
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);

  let failedFast: ((reason: string) => void) | undefined;
  const failFast = new Promise<string>((resolve) => (failedFast = resolve));
  const node = values.node;
  const say = (event: string, message: string, extra: Record<string, unknown> = {}): void =>
    log({ at: Date.now(), node, event, message, ...extra });
  const controlSocket = values.control ?? DEFAULT_DAEMON_SOCKET;
  // Services, scripts and resource monitors inherit it: `pavise ipsec status` run by them
  // reaches this daemon, not another node's that shares the file system.
  process.env[DAEMON_SOCKET_ENV] = controlSocket;
  const configClient = new EtcdClient({ endpoints: local.etcd.endpoints, tls: local.etcd.tls });
  const keys = new ClusterKeys(local.etcd.prefix);
  let running: Awaited<ReturnType<typeof startingConfig>>;
  let agent: NodeAgent | undefined;
  // Listening before the agent starts: the resource monitors it starts may ask at once.
  // Without its control socket the node still serves its packages; a monitor that cannot reach
  // the daemon reports it (exit 3) and the package moves.
  const control = await serveDaemonControl(controlSocket, {
    ipsecHealth: (pkg) => {
      if (!agent) throw new PaviseError("DAEMON_STARTING", `the daemon on ${node} is still starting`);
      return agent.ipsecHealth(pkg);
    },
    ipsecSas: () => agent?.ipsecSas() ?? { sas: [], counters: undefined },
    metrics: () => metrics.scrape(agent?.metricsFacts(), undefined, surface?.view()),
  }).catch((err: unknown) => {
    say("problem", `control socket: ${(err as Error).message}; pavise ipsec status cannot reach this daemon`);
    return undefined;
  });
  let surface: DaemonSurface | undefined;
  // SIGHUP (systemctl reload) reads the API's credential files again; it never ends the daemon.
  const reload = (): void => {
    if (surface) void surface.reloadCredentials("SIGHUP");
    else say("api", "SIGHUP: no API on this node (no api: section), nothing to read again");
  };
  process.on("SIGHUP", reload);
  try {
    running = await startingConfig({ local, localText, client: configClient, keys, node, log: say });
    // The HTTPS API, live stream and console (design §0) when the cluster file has api:, before
    // the agent joins, so that GET /v1/health says 503 while it starts. Like the control socket, a node whose API cannot
    // start still serves its packages: the problem is logged, not fatal.
    if (running.config.api) {
      surface = await DaemonSurface.start({
        node,
        file: values.config,
        config: running.config,
        controlSocket,
        logDirectory: values["log-dir"],
        metrics,
        agent: () => agent,
        version: packageVersion(),
        log: say,
      }).catch((err: unknown) => {
        say(
          "problem",
          `API: ${(err as Error).message}; this node serves no API (its packages are not affected)`,
        );
        return undefined;
      });
      if (surface) say("api", `serving on ${surface.api.addresses.join(", ")}`);
    }
    agent = await NodeAgent.start({
      config: running.config,
      node: values.node,
      ...(values["log-dir"] !== undefined ? { logDirectory: values["log-dir"] } : {}),
      log,
      guard: { json },
      onFailFast: (reason) => failedFast?.(reason),
      fenceObserver: metrics.fenceObserver,
      roundObserver: metrics.roundObserver,
      ...apiUrlOption(running.config),
    });
  } catch (err) {
    // Its open connections would keep the process from exiting with the error.
    configClient.close();
    control?.close();
    await surface?.close();
    throw err;
  }
  const follower = ConfigFollower.start({
    client: configClient,
    keys,
    node,
    running,
    apply: (next) => {
      surface?.reconfigure(next);
      return agent.applyConfig(next);
    },
    log: say,
  });
  const signal = await Promise.race([
    new Promise<NodeJS.Signals>((resolve) => {
      if (signalled) resolve(signalled);
      else onSignal = resolve;
    }),
    failFast.then(() => "fail-fast" as const),
  ]);
  if (signal === "fail-fast") {
    // Everything is down and the lease revoked; timers of the agent would keep Node alive.
    process.exit(FAIL_FAST_EXIT);
  }
  log({ at: Date.now(), node: values.node, event: "signal", message: `${signal}: leaving the cluster` });
  await follower.stop();
  await surface?.close();
  control?.close();
  configClient.close();
  await agent.leave();
  process.off("SIGTERM", handler);
  process.off("SIGINT", handler);
  process.off("SIGHUP", reload);
  return 0;
}

/** The node record's apiUrl (the owner proxy and the console reach this node there). */
function apiUrlOption(config: ClusterConfig): { apiUrl?: string } {
  const url = DaemonSurface.urlFor(config);
  return url === undefined ? {} : { apiUrl: url };
}

/** This package's version, for pavise_build_info. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}
