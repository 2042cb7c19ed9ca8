import { etcdMemberAnswers } from "../cluster/etcd/member-answers.js";
import { listPeers } from "../ipsec/registry/peer-registry.js";
import { clusterStateFrom, readSnapshot } from "../cluster/agent/cluster-state.js";
import { apiStatusView } from "./api-reads.js";
import { API_OPTIONS, API_USAGE, apiTargetFrom } from "./api-target.js";
import { connectCluster, etcdProblem } from "./cluster-etcd.js";
import { configInForce } from "./config-in-force.js";
import { makeOutput } from "./output.js";
import { renderStatus, statusExitCode, statusView } from "./status-render.js";
import { parseCommandArgs, usageError } from "./usage.js";

export const STATUS_USAGE = `usage:
  pavise status (--config FILE | --api URL …) [-v] [--json]
      the cluster at a glance (cmviewcl), read from etcd: the cluster and its leader, etcd's
      members, the nodes, the packages (STATUS, STATE, node, AUTO_RUN, placement); -v adds each
      package's addresses and where they are, services, failed nodes and dependencies.
      Exit status: 0 when every package that should run runs, 1 otherwise, 2 for a usage error.
      With --api URL a node's API answers (GET /v1/status: the same view as that node's daemon
      keeps it, plus servedBy and revision in --json) instead of this command reading etcd:
${API_USAGE.replace(/^/gm, "    ")}`;

/** Reads the cluster once, prints it, and returns the exit code. */
export async function statusCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    args,
    {
      config: { type: "string" },
      verbose: { type: "boolean", short: "v" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
      ...API_OPTIONS,
    },
    STATUS_USAGE,
    0,
  );
  if (values.help) {
    process.stdout.write(`${STATUS_USAGE}\n`);
    return 0;
  }
  const api = apiTargetFrom(values, process.env, STATUS_USAGE);
  if (api !== undefined) {
    if (values.config !== undefined) {
      throw usageError("give --config FILE (etcd) or --api URL (a node's API), not both", STATUS_USAGE);
    }
    const view = await apiStatusView(api);
    const out = makeOutput(values.json === true);
    if (view.stale) {
      out.progress(
        `note: ${view.servedBy} has not read etcd since ${new Date(view.stale.since).toISOString()} (${view.stale.reason}): this view may be old`,
      );
    }
    out.result(view, () => renderStatus(view, { verbose: values.verbose === true }));
    return statusExitCode(view);
  }
  if (values.config === undefined) throw usageError("status needs --config FILE or --api URL", STATUS_USAGE);
  const connection = connectCluster(values.config);
  const { file, config, client, keys } = connection;
  try {
    const [snapshot, etcd, inForce] = await Promise.all([
      readSnapshot(client, keys).catch((err: unknown) => {
        throw etcdProblem(err, file, config);
      }),
      etcdMemberAnswers(client, config.etcd.endpoints),
      // The packages as the daemons run them: the applied revision, when there is one.
      configInForce(connection).catch((err: unknown) => {
        throw etcdProblem(err, file, config);
      }),
    ]);
    const ipsecPeers = Object.fromEntries(
      await Promise.all(
        inForce.config.packages
          .filter((p) => p.ipsec)
          .map(
            async (p) =>
              [p.name, (await listPeers(client, keys, p.name)).peers.map((l) => l.record)] as const,
          ),
      ).catch((err: unknown) => {
        throw etcdProblem(err, file, config);
      }),
    );
    const view = statusView({
      config: inForce.config,
      state: clusterStateFrom(inForce.config, snapshot),
      snapshot,
      etcd,
      ipsecPeers,
    });
    makeOutput(values.json === true).result(view, () =>
      renderStatus(view, { verbose: values.verbose === true }),
    );
    return statusExitCode(view);
  } finally {
    client.close();
  }
}
