/**
 * The route answers the console reads besides StatusView and EventView (design §5). The reads'
 * answers are the server's own types (view-types.ts, stream-messages.ts: types only, so the
 * browser build reaches no Node code); the few restated here are the ones whose server type
 * lives next to Node code (the session, action results, errors).
 */

import type { ApiRoleName } from "./roles.js";
import type { EventView, StatusView } from "../../api/schema/view-types.js";

// The answers of the reads, as the server's own types (one definition for both sides).
export type {
  ChildSaStatus,
  IkeSaStatus,
  LogTail as PackageLog,
  NicDetail,
  NodeChoice,
  NodeDetail,
  PackageDetail,
  PackageIpsecDetail,
  ServiceDetail,
} from "../../api/schema/view-types.js";
export type { StreamSnapshot } from "../../api/stream/stream-messages.js";

/** GET /v1/session: who is signed in (access-policy.ts `summarise`). */
export interface SessionInfo {
  user: string;
  role: ApiRoleName | undefined;
  /** The packages the user may act on: every package, or these. */
  packages: string[] | "all";
  auth?: string;
}

/** GET /v1/cluster: StatusView.cluster + etcd + where each node's API answers. */
export interface ClusterInfo {
  cluster?: StatusView["cluster"];
  apiNodes: { node: string; url: string }[];
}

/** GET /v1/events. */
export interface EventsReply {
  revision: number;
  /** False when etcd no longer holds every event asked for. */
  complete: boolean;
  events: EventView[];
}

/** POST action answers: the CLI's --json OperatorResult (202 with wait: false). */
export interface OperatorResult {
  command: string;
  serviceguard?: string;
  by?: string;
  ok: boolean;
  waited?: boolean;
  reason?: string;
}

/** Every API error body (api-errors.ts). */
export interface ApiErrorBody {
  error: { code: string; message: string; hint?: string };
}
