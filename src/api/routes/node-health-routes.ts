import { EXPOSITION_CONTENT_TYPE } from "../../metrics/exposition.js";
import type { ApiHandler } from "../http/api-handler.js";
import type { Route } from "../http/router.js";

/**
 * What this node's daemon says of itself: GET /v1/health for load balancers (design §5: 200
 * while the node is a member of the cluster, 503 otherwise, open to all) and GET /metrics, the
 * Prometheus text from the daemon's registry (design §6, MONITOR).
 */
export interface NodeHealth {
  /** Holds its lease and is not fenced. */
  member: boolean;
  /** Its session fenced itself (it stopped serving packages until it joins again). */
  fenced: boolean;
  leader: boolean;
}

export interface NodeHealthDeps {
  node: string;
  /** Undefined while the agent is starting. */
  health: () => NodeHealth | undefined;
  /** The exposition text at scrape time. */
  metrics: () => string;
}

export function nodeHealthRoutes(deps: NodeHealthDeps): Route<ApiHandler>[] {
  const health: ApiHandler = () => {
    const facts = deps.health() ?? { member: false, fenced: false, leader: false };
    return Promise.resolve({
      status: facts.member ? 200 : 503,
      body: { node: deps.node, ...facts, api: "ok" },
    });
  };
  const metrics: ApiHandler = () =>
    Promise.resolve({ status: 200, text: deps.metrics(), contentType: EXPOSITION_CONTENT_TYPE });
  return [
    { method: "GET", pattern: "/v1/health", role: "none", handler: health },
    { method: "GET", pattern: "/metrics", role: "read", handler: metrics },
  ];
}
