import type { Server } from "node:http";
import { PaviseError } from "../../util/errors.js";
import {
  callJsonControl,
  errorReply,
  serveJsonControl,
  unknownRequest,
  type CallJsonControlOptions,
  type JsonReply,
  type TextReply,
} from "../../util/json-control.js";
import { EXPOSITION_CONTENT_TYPE } from "../../metrics/exposition.js";
import type { IpsecHealthSnapshot } from "../../ipsec/status/ipsec-health.js";
import type { EngineCounters } from "../../ipsec/ipsec-engine.js";
import type { IkeSaStatus } from "../../ipsec/sa-status.js";

/** Where `pavise daemon` listens for local commands unless --control says otherwise (design §10). */
export const DEFAULT_DAEMON_SOCKET = "/run/pavise/daemon.sock";

/**
 * The environment variable with the daemon's socket: the daemon sets it for everything it
 * starts (services, scripts, resource monitors), so `pavise ipsec status` run as a package
 * service or monitor finds its own node's daemon even when several share one file system (the
 * lab's namespaces).
 */
export const DAEMON_SOCKET_ENV = "PAVISE_DAEMON_SOCKET";

/** Codes of a request about a package that is unknown here (404). */
const NOT_FOUND = ["IPSEC_NO_SUCH_PACKAGE", "IPSEC_PACKAGE_WITHOUT_IPSEC", "IPSEC_PACKAGE_NOT_HERE"];

export interface DaemonControlRoutes {
  /** GET /v1/ipsec/health?package=P */
  ipsecHealth(pkg: string | undefined): Promise<IpsecHealthSnapshot[]>;
  /**
   * GET /v1/sas: the package IKE and Child SAs on this node and the datapath's counters, in the
   * shape `pavise ipsec serve` answers, so `pavise ipsec sas` reads either.
   */
  ipsecSas(): { sas: IkeSaStatus[]; counters: EngineCounters | undefined };
  /** GET /metrics: the Prometheus text exposition (design §6; on the API server later). */
  metrics?: () => string;
}

export interface IpsecHealthReply {
  snapshots: IpsecHealthSnapshot[];
}

/** The daemon's local control channel: JSON over HTTP on a unix socket, root only (0600). */
export function serveDaemonControl(socketPath: string, routes: DaemonControlRoutes): Promise<Server> {
  return serveJsonControl(
    socketPath,
    async (req): Promise<JsonReply | TextReply> => {
      try {
        if (req.method === "GET" && req.path === "/v1/ipsec/health") {
          const snapshots = await routes.ipsecHealth(req.query.get("package") ?? undefined);
          return { status: 200, body: { snapshots } satisfies IpsecHealthReply };
        }
        if (req.method === "GET" && req.path === "/v1/sas") return { status: 200, body: routes.ipsecSas() };
        if (req.method === "GET" && req.path === "/metrics" && routes.metrics) {
          return { status: 200, text: routes.metrics(), contentType: EXPOSITION_CONTENT_TYPE };
        }
        return unknownRequest(req, "DAEMON_CONTROL_UNKNOWN");
      } catch (err) {
        return errorReply(err, "DAEMON_CONTROL_FAILED", NOT_FOUND);
      }
    },
    "DAEMON_CONTROL_FAILED",
  );
}

/** The socket the CLI calls: --control, else the daemon's environment variable, else the default. */
export function daemonSocketPath(flag: string | undefined): string {
  return flag ?? process.env[DAEMON_SOCKET_ENV] ?? DEFAULT_DAEMON_SOCKET;
}

/** Thrown when nothing answers on the socket (the CLI's exit 3). */
export const DAEMON_NOT_RUNNING = "DAEMON_NOT_RUNNING";
/** Thrown when the daemon took longer than the call allows. */
export const DAEMON_NO_ANSWER = "DAEMON_NO_ANSWER";

/** GET /metrics from the local daemon (Prometheus text), within `timeoutMs`. */
export async function fetchDaemonMetrics(socketPath: string, timeoutMs: number): Promise<string> {
  return (await callJsonControl(
    socketPath,
    "GET",
    "/metrics",
    controlCall(socketPath, timeoutMs, true),
  )) as string;
}

function controlCall(socketPath: string, timeoutMs: number, text = false): CallJsonControlOptions {
  return {
    timeoutMs,
    failedCode: "DAEMON_CONTROL_FAILED",
    text,
    notRunning: (reason) =>
      new PaviseError(DAEMON_NOT_RUNNING, `cannot reach pavise daemon at ${socketPath}: ${reason}`, {
        hint: `is the daemon running on this node? Give its socket with --control PATH or ${DAEMON_SOCKET_ENV} (the daemon's --control)`,
      }),
    noAnswer: (ms) =>
      new PaviseError(DAEMON_NO_ANSWER, `pavise daemon at ${socketPath} did not answer within ${ms} ms`),
  };
}

/** GET /v1/ipsec/health from the local daemon, within `timeoutMs`. */
export async function fetchIpsecHealth(
  socketPath: string,
  pkg: string | undefined,
  timeoutMs: number,
): Promise<IpsecHealthReply> {
  const query = pkg === undefined ? "" : `?package=${encodeURIComponent(pkg)}`;
  return (await callJsonControl(
    socketPath,
    "GET",
    `/v1/ipsec/health${query}`,
    controlCall(socketPath, timeoutMs),
  )) as IpsecHealthReply;
}
