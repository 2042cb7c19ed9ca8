import { request } from "node:https";
import type { IkeSaStatus } from "../../ipsec/sa-status.js";
import { apiError, fromPaviseError } from "../http/api-errors.js";
import { PaviseError } from "../../util/errors.js";
import type { ApiReply } from "../http/api-handler.js";
import type { LocalFacts, LogTail } from "../view/local-facts.js";

/**
 * The two reads that exist only on one node (design §2 `routes/owner-proxy.ts`): a package's live
 * SAs (in its owner's memory) and a package log (on the disk of the node it ran on). This node
 * answers them itself when it is that node; otherwise it asks that node's API over HTTPS with
 * its own node certificate (node-to-node mTLS, CA-verified both ways), and gives up after 1 s
 * with 503 API_OWNER_UNREACHABLE: a crashed owner must not hold a reader for longer.
 *
 * The node asked answers on the `…/local` paths, which never forward again (no loops); the log
 * one serves only node principals, which forward on behalf of a user the asking node checked.
 */
export const OWNER_TIMEOUT_MS = 1000;
/** An owner's answer larger than this is refused (2,000 log lines are well under it). */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/**
 * This node's API certificate and key and the cluster CA (PEM). The other node knows it as a
 * node only when its subject is O=pavise, OU=pavise-node, CN=<node> (auth/principal.ts).
 */
export interface NodeTls {
  ca: string | Buffer;
  cert: string | Buffer;
  key: string | Buffer;
}

export type OwnerAnswer<T> = { ok: true; value: T } | { ok: false; reply: ApiReply };

export interface OwnerReads {
  sas(pkg: string, node: string): Promise<OwnerAnswer<{ node: string; sas: IkeSaStatus[] }>>;
  logTail(pkg: string, node: string, lines: number): Promise<OwnerAnswer<LogTail>>;
}

export interface OwnerReadsOptions {
  local: LocalFacts;
  /** A node's API URL (its node record's apiUrl, `https://198.18.2.11:7443`). */
  apiUrlOf: (node: string) => string | undefined;
  /** Undefined when this node has no API certificate: then it cannot ask others. */
  tls: () => NodeTls | undefined;
  timeoutMs?: number;
}

export function localSasPath(pkg: string): string {
  return `/v1/packages/${encodeURIComponent(pkg)}/ipsec/local`;
}

export function localLogPath(pkg: string, lines: number): string {
  return `/v1/packages/${encodeURIComponent(pkg)}/log/local?lines=${lines}`;
}

export function ownerReads(options: OwnerReadsOptions): OwnerReads {
  const ask = async <T>(node: string, path: string): Promise<OwnerAnswer<T>> => {
    const url = options.apiUrlOf(node);
    const tls = options.tls();
    if (url === undefined || tls === undefined) {
      return {
        ok: false,
        reply: apiError(
          "API_OWNER_UNREACHABLE",
          url === undefined
            ? `node ${node} has no API URL in its node record: its daemon is down or serves no API`
            : `this node has no API certificate to ask node ${node} with`,
          { hint: "check that the node runs and that the cluster file has an api: section" },
        ),
      };
    }
    const reply = await forwardToOwner(node, url, path, tls, options.timeoutMs ?? OWNER_TIMEOUT_MS);
    if ("body" in reply && reply.status === 200) return { ok: true, value: reply.body as T };
    return { ok: false, reply };
  };
  return {
    sas: async (pkg, node) => {
      if (node !== options.local.node) return ask(node, localSasPath(pkg));
      return { ok: true, value: { node, sas: options.local.ipsecSas(pkg) } };
    },
    logTail: async (pkg, node, lines) => {
      if (node !== options.local.node) return ask(node, localLogPath(pkg, lines));
      try {
        return { ok: true, value: await options.local.logTail(pkg, lines) };
      } catch (err) {
        // No log there (404) and the like; anything else is the server's to log (API_INTERNAL).
        if (err instanceof PaviseError) return { ok: false, reply: fromPaviseError(err, "log") };
        throw err;
      }
    },
  };
}

/**
 * GET `path` from another node's API with this node's certificate, within `timeoutMs` in all
 * (connect, TLS, answer). The owner's answer is passed on as it is (its errors included); a node
 * that does not answer is 503 API_OWNER_UNREACHABLE.
 */
export function forwardToOwner(
  node: string,
  baseUrl: string,
  path: string,
  tls: NodeTls,
  timeoutMs: number = OWNER_TIMEOUT_MS,
): Promise<ApiReply> {
  const url = new URL(path, baseUrl);
  const unreachable = (why: string): ApiReply =>
    apiError("API_OWNER_UNREACHABLE", `node ${node} did not answer at ${url.origin}: ${why}`, {
      hint: "the node may have just failed; its packages move within the member timeout, ask again then",
    });
  return new Promise((resolve) => {
    let done = false;
    const finish = (reply: ApiReply): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(reply);
    };
    const req = request(
      url,
      { method: "GET", ca: tls.ca, cert: tls.cert, key: tls.key, headers: { accept: "application/json" } },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            req.destroy();
            finish(unreachable(`its answer is larger than ${MAX_ANSWER_BYTES} bytes`));
          } else chunks.push(chunk);
        });
        res.on("error", (err) => finish(unreachable(err.message)));
        res.on("end", () => {
          try {
            finish({
              status: res.statusCode ?? 502,
              body: JSON.parse(Buffer.concat(chunks).toString("utf8")),
            });
          } catch {
            finish(unreachable(`its answer (status ${res.statusCode}) is not JSON`));
          }
        });
      },
    );
    const timer = setTimeout(() => {
      finish(unreachable(`no answer within ${timeoutMs} ms`));
      req.destroy();
    }, timeoutMs);
    req.on("error", (err) => finish(unreachable(err.message)));
    req.end();
  });
}
