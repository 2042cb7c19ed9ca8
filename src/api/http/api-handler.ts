import type { Principal } from "../auth/principal.js";
import type { ApiFailure } from "./api-errors.js";

/**
 * The shape of every route handler (design §2 `routes/*`): the server has matched the route,
 * checked who asks against the route's role and read the body; the handler gets only that and
 * answers with a status and a JSON body (or text, for /metrics), or an API error. Handlers never
 * see the socket, so they can be called from tests and from the control socket alike. The live
 * stream (SSE) and the console's files are served by the server itself, not through this shape.
 */
export interface ApiRequest {
  /** The route's `{name}` parameters, decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The parsed JSON body of a POST; undefined for GET. */
  body: unknown;
  principal: Principal;
  /** The node whose daemon serves the request (Actor.servedBy). */
  servedBy: string;
  /** Per request, for log lines and API_INTERNAL messages. */
  requestId: string;
}

export type ApiReply =
  | { status: number; body: unknown; headers?: Record<string, string> }
  | { status: number; text: string; contentType: string; headers?: Record<string, string> }
  | ApiFailure;

export type ApiHandler = (request: ApiRequest) => Promise<ApiReply>;
