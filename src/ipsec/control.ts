import { createServer, request, type Server } from "node:http";
import { mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { PaviseError } from "../util/errors.js";
import type { IpsecDaemon } from "./ipsec-daemon.js";

/** Where `pavise ipsec serve` listens for the CLI unless --control says otherwise. */
export const DEFAULT_CONTROL_SOCKET = "/run/pavise/ipsec.sock";

/**
 * The daemon's control channel: JSON over HTTP on a unix socket (root only, 0600), so
 * `pavise ipsec sas|initiate|terminate` talk to the running daemon.
 */
export function serveControl(daemon: IpsecDaemon, socketPath: string): Promise<Server> {
  mkdirSync(dirname(socketPath), { recursive: true });
  rmSync(socketPath, { force: true });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://pavise");
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const fail = (err: unknown): void => {
      const error =
        err instanceof PaviseError
          ? err
          : new PaviseError("IPSEC_CONTROL_FAILED", (err as Error)?.message ?? String(err));
      reply(error.code === "IPSEC_NO_SUCH_CONNECTION" ? 404 : 409, { error: error.toJSON() });
    };
    const name = url.searchParams.get("name") ?? "";
    try {
      if (req.method === "GET" && url.pathname === "/v1/sas") {
        reply(200, { sas: daemon.sas(), counters: daemon.counters() });
      } else if (req.method === "POST" && url.pathname === "/v1/initiate") {
        daemon.initiate(name).then((sa) => reply(200, { sa }), fail);
      } else if (req.method === "POST" && url.pathname === "/v1/rekey") {
        reply(200, { rekeyed: daemon.rekey(name, url.searchParams.get("child") ?? undefined) });
      } else if (req.method === "POST" && url.pathname === "/v1/terminate") {
        reply(200, { terminated: daemon.terminate(name) });
      } else {
        reply(404, {
          error: { code: "IPSEC_CONTROL_UNKNOWN", message: `no such request: ${req.method} ${url.pathname}` },
        });
      }
    } catch (err) {
      fail(err);
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", (err) =>
      reject(new PaviseError("IPSEC_CONTROL_FAILED", `cannot listen on ${socketPath}: ${err.message}`)),
    );
    server.listen(socketPath, () => resolve(server));
  });
}

/** Calls the daemon; a daemon that is not running is a clear error, not a stack trace. */
export function callControl(socketPath: string, method: "GET" | "POST", path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, timeout: 35_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          reject(
            new PaviseError(
              "IPSEC_CONTROL_FAILED",
              `the daemon answered something that is not JSON: ${body.slice(0, 200)}`,
            ),
          );
          return;
        }
        const error = (parsed as { error?: { code: string; message: string; hint?: string } }).error;
        if (error) reject(new PaviseError(error.code, error.message, { hint: error.hint }));
        else resolve(parsed);
      });
    });
    req.on("timeout", () => req.destroy(new Error("the daemon did not answer")));
    req.on("error", (err: NodeJS.ErrnoException) =>
      reject(
        new PaviseError(
          "IPSEC_NOT_RUNNING",
          `cannot reach pavise ipsec serve at ${socketPath}: ${err.message}`,
          {
            hint: "start it with: pavise ipsec serve --config FILE (or give --control PATH)",
          },
        ),
      ),
    );
    req.end();
  });
}
