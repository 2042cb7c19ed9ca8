/**
 * What `pavise status` and `pavise events` read over the API (`--api URL`) instead of etcd: the
 * serving node's view (GET /v1/status: `pavise status --json` plus servedBy and revision,
 * design §5) and its event log (GET /v1/events, the newest MAX_API_EVENTS, filtered by time
 * here as the etcd path filters them). The caller prints them as it prints etcd's.
 */

import type { EventView, StatusView } from "../api/schema/view-types.js";
import { badAnswer } from "./api-answer.js";
import { apiRequest } from "./api-client.js";
import { type ApiTarget, apiUrlText } from "./api-target.js";
import { eventsSince, type LoggedEvent } from "./events-render.js";

/** The status view as a node's API serves it. */
export type ServedStatusView = StatusView & {
  servedBy: string;
  revision: number;
  /** The node's view has not followed etcd since then (it could not read it). */
  stale?: { since: number; reason: string };
};

export async function apiStatusView(target: ApiTarget): Promise<ServedStatusView> {
  const { body } = await apiRequest(target, { method: "GET", path: "/v1/status" });
  const view = body as Partial<ServedStatusView>;
  if (typeof view.cluster !== "object" || !Array.isArray(view.nodes) || !Array.isArray(view.packages)) {
    throw badAnswer(apiUrlText(target), "answered without a status view", JSON.stringify(body));
  }
  return view as ServedStatusView;
}

/** The most events GET /v1/events gives in one answer (its limit's bound, read-routes.ts). */
export const MAX_API_EVENTS = 1000;

export interface ApiEvents {
  cluster: string;
  revision: number;
  events: LoggedEvent[];
  /** The answer was full: older events may exist that only etcd (--config) shows. */
  full: boolean;
}

/** The event log as a node's API serves it, the newest MAX_API_EVENTS, from `since` (ms) on. */
export async function apiEvents(target: ApiTarget, since: number | undefined): Promise<ApiEvents> {
  const url = apiUrlText(target);
  const [cluster, log] = await Promise.all([
    apiRequest(target, { method: "GET", path: "/v1/cluster" }),
    apiRequest(target, { method: "GET", path: `/v1/events?limit=${MAX_API_EVENTS}` }),
  ]);
  const name = (cluster.body as { cluster?: { name?: unknown } }).cluster?.name;
  if (typeof name !== "string")
    throw badAnswer(url, "answered without the cluster's name", JSON.stringify(cluster.body));
  const answer = log.body as { revision?: unknown; events?: unknown };
  if (typeof answer.revision !== "number" || !Array.isArray(answer.events)) {
    throw badAnswer(url, "answered without events", JSON.stringify(log.body).slice(0, 200));
  }
  const events = answer.events as EventView[];
  return {
    cluster: name,
    revision: answer.revision,
    events: eventsSince(events, since),
    full: events.length >= MAX_API_EVENTS,
  };
}
