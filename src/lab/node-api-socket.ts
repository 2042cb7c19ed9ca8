import { DaemonApi } from "../api/http/daemon-api.js";
import { DEFAULT_DAEMON_SOCKET } from "../cluster/agent/daemon-control.js";
import { PaviseError } from "../util/errors.js";
import type { LabProcess } from "./host-runtime.js";
import type { Lab } from "./lab.js";

/**
 * The API unix socket of the daemon running on a lab node: the daemon listens on
 * `<control socket dir>/api-<node>.sock`, and its control socket is the `--control` argument
 * it was started with (tracked by the lab), or the default /run/pavise/daemon.sock.
 */
export function nodeApiSocket(lab: Lab, node: string): string {
  lab.host(node); // LAB_UNKNOWN_HOST with the list of hosts
  const daemon = lab.processes().find((p) => p.host === node && isDaemon(p));
  if (!daemon) {
    throw new PaviseError("LAB_CONSOLE_NO_DAEMON", `no pavise daemon runs on ${node} in lab ${lab.name}`, {
      hint: "start the node's daemon (with an api: section in its cluster file), or give the socket with --socket PATH",
    });
  }
  const at = daemon.argv.indexOf("--control");
  const control = at >= 0 ? daemon.argv[at + 1] : undefined;
  return DaemonApi.socketPath(control ?? DEFAULT_DAEMON_SOCKET, node);
}

/** The lab's nodes with a daemon running, in plan order. */
export function nodesWithDaemon(lab: Lab): string[] {
  const running = new Set(
    lab
      .processes()
      .filter(isDaemon)
      .map((p) => p.host),
  );
  return lab.plan.hosts.map((h) => h.name).filter((name) => running.has(name));
}

/** `pavise daemon` (node main.js daemon …), as DaemonCluster.startDaemon starts it. */
function isDaemon(p: LabProcess): boolean {
  return p.role === "pavise-daemon" || p.argv[2] === "daemon";
}
