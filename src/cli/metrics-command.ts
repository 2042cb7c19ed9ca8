import {
  daemonSocketPath,
  DAEMON_SOCKET_ENV,
  DEFAULT_DAEMON_SOCKET,
  fetchDaemonMetrics,
} from "../cluster/agent/daemon-control.js";
import { parseCommandArgs } from "./usage.js";

export const METRICS_USAGE = `usage:
  pavise metrics [--control PATH]
      print this node's metrics in the Prometheus text format (what GET /metrics on the
      daemon's control socket serves): PATH is the daemon's --control socket (default
      ${DEFAULT_DAEMON_SOCKET}, or ${DAEMON_SOCKET_ENV}).`;

/** `pavise metrics`: the local daemon's /metrics on stdout. */
export async function metricsCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    args,
    { control: { type: "string" }, help: { type: "boolean" } },
    METRICS_USAGE,
    0,
  );
  if (values.help) {
    process.stdout.write(`${METRICS_USAGE}\n`);
    return 0;
  }
  process.stdout.write(await fetchDaemonMetrics(daemonSocketPath(values.control), 5000));
  return 0;
}
