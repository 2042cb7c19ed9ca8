import { knownNode, knownPackage } from "../../cluster/operator/known-names.js";
import { apiError, fromPaviseError, type ApiFailure } from "../http/api-errors.js";
import { PaviseError } from "../../util/errors.js";
import type { ApiHandler, ApiReply, ApiRequest } from "../http/api-handler.js";
import type { Route } from "../http/router.js";
import type { EventView } from "../schema/view-types.js";
import type { CachedView } from "../view/cluster-view-cache.js";
import { MAX_LOG_LINES } from "../view/local-facts.js";
import { nodeDetail } from "../view/node-detail.js";
import { packageDetail } from "../view/package-detail.js";
import type { ClusterViewSource } from "../view/view-source.js";
import type { OwnerReads } from "./owner-proxy.js";

/**
 * What the API reads (design §5): every answer comes from the daemon's one view cache, so a
 * reader costs etcd nothing; only a package's live SAs and its log are asked of the node that
 * has them (owner-proxy.ts). Thin: names are checked against the configuration in force (404
 * with a did-you-mean), query parameters are checked (400 naming the parameter), and before the
 * cache's first read every route answers 503 DAEMON_STARTING.
 */
export interface ReadRouteDeps {
  view: ClusterViewSource & { cached(): CachedView | undefined };
  owner: OwnerReads;
}

export const DEFAULT_EVENT_LIMIT = 200;
export const MAX_EVENT_LIMIT = 1000;
export const DEFAULT_LOG_LINES = 200;

export function readRoutes(deps: ReadRouteDeps): Route<ApiHandler>[] {
  const withView =
    (answer: (cached: CachedView, request: ApiRequest) => ApiReply | Promise<ApiReply>): ApiHandler =>
    async (request) => {
      const cached = deps.view.cached();
      if (!cached) {
        return apiError("DAEMON_STARTING", `the daemon on ${request.servedBy} has not read the cluster yet`, {
          hint: "ask again in a moment",
        });
      }
      try {
        return await answer(cached, request);
      } catch (err) {
        // Unknown names and the like; anything else is the server's to log and answer (API_INTERNAL).
        if (err instanceof PaviseError) return fromPaviseError(err, request.requestId);
        throw err;
      }
    };
  const read = (pattern: string, handler: ApiHandler): Route<ApiHandler> => ({
    method: "GET",
    pattern,
    role: "read",
    handler,
  });

  return [
    read(
      "/v1/status",
      withView((c, request) =>
        ok({ ...c.view, servedBy: request.servedBy, revision: c.revision, ...staleOf(c) }),
      ),
    ),
    read(
      "/v1/cluster",
      withView((c, request) =>
        ok({
          cluster: c.view.cluster,
          etcd: c.view.etcd,
          apiNodes: apiNodes(c),
          servedBy: request.servedBy,
          revision: c.revision,
          ...staleOf(c),
        }),
      ),
    ),
    read(
      "/v1/nodes",
      withView((c) => ok(c.view.nodes.map((n) => nodeDetail(c.read, n, c.view.cluster.leader)))),
    ),
    read(
      "/v1/nodes/{node}",
      withView((c, request) => {
        const name = knownNode(c.read.config, request.params.node ?? "");
        const view = c.view.nodes.find((n) => n.name === name);
        return view ? ok(nodeDetail(c.read, view, c.view.cluster.leader)) : notInView("node", name);
      }),
    ),
    read(
      "/v1/packages",
      withView((c) => ok(c.view.packages.map((p) => packageDetail(c.read, p)))),
    ),
    read(
      "/v1/packages/{pkg}",
      withView((c, request) => {
        const name = knownPackage(c.read.config, request.params.pkg ?? "").name;
        const view = c.view.packages.find((p) => p.name === name);
        return view ? ok(packageDetail(c.read, view)) : notInView("package", name);
      }),
    ),
    read(
      "/v1/packages/{pkg}/ipsec",
      withView(async (c, request) => {
        const name = knownPackage(c.read.config, request.params.pkg ?? "").name;
        const view = c.view.packages.find((p) => p.name === name);
        if (!view?.ipsec) {
          return apiError("API_NOT_FOUND", `package ${name} has no ipsec: section`, {
            hint: "only a package with ipsec: has SAs",
          });
        }
        const owner = view.nodes[0];
        if (owner === undefined) return ok({ ...view.ipsec, sas: [], from: undefined });
        const answer = await deps.owner.sas(name, owner);
        return answer.ok
          ? ok({ ...view.ipsec, sas: answer.value.sas, from: answer.value.node })
          : answer.reply;
      }),
    ),
    read(
      "/v1/packages/{pkg}/ipsec/local",
      withView(async (c, request) => {
        // This node's own SAs only (servedBy is this node: owner.sas answers it locally).
        const name = knownPackage(c.read.config, request.params.pkg ?? "").name;
        const answer = await deps.owner.sas(name, request.servedBy);
        return answer.ok ? ok(answer.value) : answer.reply;
      }),
    ),
    {
      method: "GET",
      pattern: "/v1/packages/{pkg}/log",
      role: "package-log",
      handler: withView(async (c, request) => {
        const name = knownPackage(c.read.config, request.params.pkg ?? "").name;
        const lines = countParam(request.query, "lines", DEFAULT_LOG_LINES, 1, MAX_LOG_LINES);
        if (typeof lines !== "number") return lines;
        const asked = request.query.get("node");
        const node =
          asked !== null
            ? knownNode(c.read.config, asked)
            : c.view.packages.find((p) => p.name === name)?.nodes[0];
        if (node === undefined) {
          return apiError(
            "API_BAD_REQUEST",
            `package ${name} runs nowhere: say which node's log with ?node=`,
            {
              where: { key: "?node" },
              hint: `one of ${c.read.config.nodes.map((n) => n.name).join(", ")}`,
            },
          );
        }
        const answer = await deps.owner.logTail(name, node, lines);
        return answer.ok ? ok(answer.value) : answer.reply;
      }),
    },
    read(
      "/v1/packages/{pkg}/log/local",
      withView(async (c, request) => {
        // Another node forwards here for a user it checked (package-log); nobody else may.
        const auth = request.principal.auth;
        if (auth !== "node" && auth !== "control") {
          return apiError(
            "API_FORBIDDEN",
            `${request.principal.user} may not read a log on the node-to-node path`,
            {
              hint: `use GET /v1/packages/${request.params.pkg ?? ""}/log`,
            },
          );
        }
        const name = knownPackage(c.read.config, request.params.pkg ?? "").name;
        const lines = countParam(request.query, "lines", DEFAULT_LOG_LINES, 1, MAX_LOG_LINES);
        if (typeof lines !== "number") return lines;
        const answer = await deps.owner.logTail(name, request.servedBy, lines);
        return answer.ok ? ok(answer.value) : answer.reply;
      }),
    ),
    read(
      "/v1/events",
      withView(async (c, request) => {
        const q = request.query;
        const limit = countParam(q, "limit", DEFAULT_EVENT_LIMIT, 1, MAX_EVENT_LIMIT);
        if (typeof limit !== "number") return limit;
        const since = countParam(q, "since", 0, 0, Number.MAX_SAFE_INTEGER);
        if (typeof since !== "number") return since;
        const pkg = q.get("package") ?? undefined;
        if (pkg !== undefined) knownPackage(c.read.config, pkg);
        const filter = {
          sinceRevision: q.has("since") ? since : undefined,
          kind: q.get("kind") ?? undefined,
          package: pkg,
          limit,
        };
        let events = deps.view.recentEvents(filter);
        // `complete`: every event after `since` that passes the filter is in the answer (up to
        // `limit`). A `since` older than the ring reaches is read from etcd, unless more than
        // the ring holds followed it or etcd compacted it: then the newest are given.
        let complete = true;
        const oldest = filter.sinceRevision === undefined ? undefined : deps.view.recentEvents()[0];
        if (
          filter.sinceRevision !== undefined &&
          oldest !== undefined &&
          filter.sinceRevision < oldest.revision - 1
        ) {
          const after = await deps.view.eventsAfter(filter.sinceRevision);
          if (after === "compacted") complete = false;
          else events = after.filter((e) => matches(e, filter)).slice(-limit);
        }
        return ok({ revision: c.revision, complete, events });
      }),
    ),
  ];
}

function ok(body: unknown): ApiReply {
  return { status: 200, body };
}

function staleOf(c: CachedView): { stale?: { since: number; reason: string } } {
  return c.stale ? { stale: c.stale } : {};
}

/** Nodes that serve an API now, with their URL (the console's "other nodes" list, design §8). */
function apiNodes(c: CachedView): { node: string; url: string }[] {
  return c.view.nodes.flatMap((n) => {
    const url = c.read.snapshot.nodes[n.name]?.apiUrl;
    return n.status === "up" && typeof url === "string" ? [{ node: n.name, url }] : [];
  });
}

function notInView(what: string, name: string): ApiFailure {
  return apiError(
    what === "node" ? "NO_SUCH_NODE" : "NO_SUCH_PACKAGE",
    `${what} ${name} is not in the cluster view yet`,
    {
      hint: "ask again in a moment",
    },
  );
}

function matches(e: EventView, filter: { kind?: string | undefined; package?: string | undefined }): boolean {
  return (
    (filter.kind === undefined || e.kind === filter.kind) &&
    (filter.package === undefined || e.package === filter.package)
  );
}

/** A whole-number query parameter within bounds, or the 400 that names it. */
function countParam(
  query: URLSearchParams,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number | ApiFailure {
  const text = query.get(name);
  if (text === null) return fallback;
  const value = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    return apiError(
      "API_BAD_REQUEST",
      `?${name}= must be a whole number from ${min} to ${max}, not ${JSON.stringify(text.slice(0, 40))}`,
      {
        where: { key: `?${name}`, value: text.slice(0, 40) },
      },
    );
  }
  return value;
}
