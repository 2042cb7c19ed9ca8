import type { Server } from "node:http";
import { PaviseError } from "../util/errors.js";
import {
  callJsonControl,
  errorReply,
  serveJsonControl,
  unknownRequest,
  type JsonReply,
} from "../util/json-control.js";
import type { IpsecDaemon } from "./ipsec-daemon.js";

/** Where `pavise ipsec serve` listens for the CLI unless --control says otherwise. */
export const DEFAULT_CONTROL_SOCKET = "/run/pavise/ipsec.sock";

/**
 * The daemon's control channel: JSON over HTTP on a unix socket (root only, 0600), so
 * `pavise ipsec sas|initiate|terminate` talk to the running daemon.
 */
export function serveControl(daemon: IpsecDaemon, socketPath: string): Promise<Server> {
  return serveJsonControl(
    socketPath,
    async (req): Promise<JsonReply> => {
      const name = req.query.get("name") ?? "";
      try {
        if (req.method === "GET" && req.path === "/v1/sas") {
          return { status: 200, body: { sas: daemon.sas(), counters: daemon.counters() } };
        } else if (req.method === "POST" && req.path === "/v1/initiate") {
          return { status: 200, body: { sa: await daemon.initiate(name) } };
        } else if (req.method === "POST" && req.path === "/v1/rekey") {
          return {
            status: 200,
            body: { rekeyed: daemon.rekey(name, req.query.get("child") ?? undefined) },
          };
        } else if (req.method === "POST" && req.path === "/v1/terminate") {
          return { status: 200, body: { terminated: daemon.terminate(name) } };
        }
        return unknownRequest(req, "IPSEC_CONTROL_UNKNOWN");
      } catch (err) {
        return errorReply(err, "IPSEC_CONTROL_FAILED", ["IPSEC_NO_SUCH_CONNECTION"]);
      }
    },
    "IPSEC_CONTROL_FAILED",
  );
}

/** Calls the daemon; a daemon that is not running is a clear error, not a stack trace. */
export function callControl(socketPath: string, method: "GET" | "POST", path: string): Promise<unknown> {
  return callJsonControl(socketPath, method, path, {
    failedCode: "IPSEC_CONTROL_FAILED",
    notRunning: (reason) =>
      new PaviseError("IPSEC_NOT_RUNNING", `cannot reach pavise ipsec serve at ${socketPath}: ${reason}`, {
        hint: "start it with: pavise ipsec serve --config FILE (or give --control PATH)",
      }),
  });
}
