import type { ApiErrorCode } from "../http/api-errors.js";
import type { Route, RouteDoc } from "../http/router.js";

/**
 * What the OpenAPI document says of each route of design §5, keyed "METHOD pattern". Route
 * modules are written apart from the document; `withDocs` joins them when the server builds
 * its table and refuses a route this table does not describe, so a new route cannot ship
 * undocumented (and a renamed one shows up at once).
 */
const ETCD: ApiErrorCode[] = ["CLUSTER_ETCD_UNREACHABLE", "ETCD_NO_LEADER"];
const ACTION: ApiErrorCode[] = ["OPERATOR_REFUSED", "OPERATOR_INTENT_CONTENDED", "API_RATE_LIMITED", ...ETCD];
const WAITED = [200, 202];

function packageAction(command: string, serviceguard: string, body = "PackageActionBody"): RouteDoc {
  return {
    summary: `${command} (${serviceguard})`,
    description:
      "Writes the operator's intent, records who did it in the event log, then waits for the goal " +
      "unless wait is false (202). 200 with ok false and a reason when the goal was not reached in time.",
    request: body,
    response: "OperatorResult",
    responseStatus: WAITED,
    errors: [
      "NO_SUCH_PACKAGE",
      ...(body === "PackageActionBody" ? (["NO_SUCH_NODE"] as const) : []),
      ...ACTION,
    ],
  };
}

function nodeAction(command: string, serviceguard: string): RouteDoc {
  return {
    summary: `${command} (${serviceguard})`,
    description: "Refused (409) when a package would be left with nowhere to run, unless force is true.",
    request: "NodeActionBody",
    response: "OperatorResult",
    responseStatus: WAITED,
    errors: ["NO_SUCH_NODE", ...ACTION],
  };
}

export const API_ROUTE_DOCS: Readonly<Record<string, RouteDoc>> = {
  "GET /v1/health": {
    summary: "Is this node a member (for load balancers)",
    description: "200 while this node holds its lease and is not fenced, else 503 with the same body.",
    response: "Health",
    responseStatus: [200, 503],
  },
  "POST /v1/session": {
    summary: "Log in with a password: sets the pavise_session cookie",
    description: "Set-Cookie: pavise_session=…; Secure; HttpOnly; SameSite=Strict; Path=/",
    request: "LoginBody",
    response: "empty",
    responseStatus: 204,
    errors: ["API_UNAUTHENTICATED", "API_RATE_LIMITED"],
  },
  "GET /v1/session": { summary: "Who this request is, and what it may do", response: "Session" },
  "DELETE /v1/session": { summary: "Log out (clears the cookie)", response: "empty", responseStatus: 204 },
  "GET /v1/status": {
    summary: "The cluster as `pavise status --json` shows it",
    response: "StatusView",
    errors: ["DAEMON_STARTING"],
  },
  "GET /v1/cluster": {
    summary: "The cluster, etcd and every node's API URL",
    response: "ClusterView",
    errors: ["DAEMON_STARTING"],
  },
  "GET /v1/nodes": { summary: "Every node", response: "NodeList", errors: ["DAEMON_STARTING"] },
  "GET /v1/nodes/{node}": {
    summary: "One node: its NICs and resources",
    response: "NodeDetail",
    errors: ["NO_SUCH_NODE", "DAEMON_STARTING"],
  },
  "GET /v1/packages": { summary: "Every package", response: "PackageList", errors: ["DAEMON_STARTING"] },
  "GET /v1/packages/{pkg}": {
    summary: "One package: services, restarts and resources per node",
    response: "PackageDetail",
    errors: ["NO_SUCH_PACKAGE", "DAEMON_STARTING"],
  },
  "GET /v1/packages/{pkg}/ipsec": {
    summary: "A package's IPsec peers, and its SAs from the owner",
    response: "PackageIpsecDetail",
    errors: ["NO_SUCH_PACKAGE", "API_OWNER_UNREACHABLE", "DAEMON_STARTING"],
  },
  "GET /v1/packages/{pkg}/ipsec/local": {
    summary: "This node's own SAs of a package (node to node: the owner proxy asks the owner here)",
    response: "OwnerSas",
    errors: ["NO_SUCH_PACKAGE", "DAEMON_STARTING"],
  },
  "GET /v1/packages/{pkg}/log/local": {
    summary: "The last lines of a package's log on this node (node to node only)",
    response: "PackageLog",
    query: [{ name: "lines", type: "integer", description: "How many lines (default 200, at most 2000)." }],
    errors: ["API_BAD_REQUEST", "API_FORBIDDEN", "NO_SUCH_PACKAGE", "DAEMON_STARTING"],
  },
  "GET /v1/packages/{pkg}/log": {
    summary: "The last lines of a package's log (from the node that runs it, or `node`)",
    response: "PackageLog",
    query: [
      { name: "lines", type: "integer", description: "How many lines (default 200, at most 2000)." },
      { name: "node", type: "string", description: "Whose log (default: the owner)." },
    ],
    errors: [
      "API_BAD_REQUEST",
      "NO_SUCH_PACKAGE",
      "NO_SUCH_NODE",
      "API_OWNER_UNREACHABLE",
      "DAEMON_STARTING",
    ],
  },
  "GET /v1/events": {
    summary: "The cluster's event log",
    response: "EventList",
    query: [
      { name: "since", type: "integer", description: "Only events after this etcd revision." },
      { name: "limit", type: "integer", description: "The newest this many (default 200)." },
      { name: "kind", type: "string", description: "Only this kind." },
      { name: "package", type: "string", description: "Only this package's." },
    ],
    errors: ["API_BAD_REQUEST", "DAEMON_STARTING", ...ETCD],
  },
  "GET /v1/stream": {
    summary: "Live updates (Server-Sent Events)",
    description:
      "retry: 2000, then `snapshot` (StreamSnapshot), then `status` (StatusView, at most 4 a second, the " +
      "latest wins) and `event` (EventView); each id is an etcd revision. With Last-Event-ID the events " +
      "after it are replayed, or `reset` (StreamReset) and a new snapshot when etcd compacted them. " +
      "`: hb` every 15 s. At most 32 streams per node; a client more than 1 MiB behind is dropped.",
    response: "text/event-stream",
    query: [
      { name: "lastEventId", type: "string", description: "Last-Event-ID, for clients that cannot send it." },
    ],
    errors: ["API_RATE_LIMITED"],
  },
  "POST /v1/packages/{pkg}/run": packageAction("pavise pkg run", "cmrunpkg [-n node]"),
  "POST /v1/packages/{pkg}/halt": packageAction("pavise pkg halt", "cmhaltpkg", "PackageHaltBody"),
  "POST /v1/packages/{pkg}/move": packageAction("pavise pkg move", "cmhaltpkg + cmrunpkg -n"),
  "POST /v1/packages/{pkg}/enable": packageAction("pavise pkg enable", "cmmodpkg -e [-n node]"),
  "POST /v1/packages/{pkg}/disable": packageAction("pavise pkg disable", "cmmodpkg -d [-n node]"),
  "POST /v1/packages/{pkg}/maintenance": packageAction(
    "pavise pkg maintenance",
    "cmmodpkg -m on|off",
    "MaintenanceBody",
  ),
  "POST /v1/packages/{pkg}/resources/{name}": {
    summary: "pavise resource set (cmsetresource)",
    request: "ResourceBody",
    response: "OperatorResult",
    errors: ["NO_SUCH_PACKAGE", "NO_SUCH_RESOURCE", "NO_SUCH_NODE", ...ACTION],
  },
  "POST /v1/nodes/{node}/halt": nodeAction("pavise node halt", "cmhaltnode [-f]"),
  "POST /v1/nodes/{node}/run": nodeAction("pavise node run", "cmrunnode"),
  "GET /metrics": {
    summary: "Prometheus metrics of this node (text format 0.0.4)",
    response: "text/plain",
  },
  "GET /v1/openapi.json": { summary: "This document", response: "OpenApiDocument" },
};

export function routeKey(route: { method: string; pattern: string }): string {
  return `${route.method} ${route.pattern}`;
}

/** The routes with their docs attached; throws for a route the table does not describe. */
export function withDocs<H>(routes: readonly Route<H>[], docs = API_ROUTE_DOCS): Route<H>[] {
  return routes.map((route) => {
    const doc = route.doc ?? docs[routeKey(route)];
    if (doc === undefined) {
      throw new Error(
        `route ${routeKey(route)} has no OpenAPI description: add it to API_ROUTE_DOCS (src/api/openapi/route-docs.ts)`,
      );
    }
    return { ...route, doc };
  });
}
