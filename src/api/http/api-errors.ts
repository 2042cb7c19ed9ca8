import { PaviseError, type ErrorWhere } from "../../util/errors.js";

/**
 * Every error code the HTTP API answers with, and its status (design §5). One table, so that the
 * OpenAPI document can list them and a client can match on the code rather than on the text.
 * The body is always `{error: {code, message, hint?, where?}}`: PaviseError.toJSON(), the shape
 * the control socket already answers with, and never a stack trace.
 */
export const API_ERROR_STATUS = {
  API_BAD_REQUEST: 400,
  API_UNKNOWN_FIELD: 400,
  API_UNAUTHENTICATED: 401,
  API_FORBIDDEN: 403,
  API_NOT_FOUND: 404,
  NO_SUCH_PACKAGE: 404,
  NO_SUCH_NODE: 404,
  NO_SUCH_RESOURCE: 404,
  API_METHOD_NOT_ALLOWED: 405,
  OPERATOR_REFUSED: 409,
  OPERATOR_INTENT_CONTENDED: 409,
  API_REQUEST_TIMEOUT: 408,
  API_BODY_TOO_LARGE: 413,
  API_UNSUPPORTED_MEDIA_TYPE: 415,
  API_RATE_LIMITED: 429,
  API_INTERNAL: 500,
  CLUSTER_ETCD_UNREACHABLE: 503,
  ETCD_NO_LEADER: 503,
  API_OWNER_UNREACHABLE: 503,
  DAEMON_STARTING: 503,
} as const satisfies Record<string, number>;

export type ApiErrorCode = keyof typeof API_ERROR_STATUS;

export const API_ERROR_CODES = Object.keys(API_ERROR_STATUS) as ApiErrorCode[];

export function isApiErrorCode(code: string): code is ApiErrorCode {
  return Object.prototype.hasOwnProperty.call(API_ERROR_STATUS, code);
}

export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string; hint?: string; where?: ErrorWhere };
}

/** What the server writes: status, extra headers (Allow, WWW-Authenticate, Retry-After) and body. */
export interface ApiFailure {
  status: number;
  headers: Record<string, string>;
  body: ApiErrorBody;
}

export interface ApiErrorDetails {
  hint?: string | undefined;
  where?: ErrorWhere | undefined;
  headers?: Record<string, string>;
}

export function apiError(code: ApiErrorCode, message: string, details: ApiErrorDetails = {}): ApiFailure {
  const headers: Record<string, string> = { ...details.headers };
  // RFC 9110 §11.6.1: a 401 carries a challenge; bearer tokens are RFC 6750's scheme.
  if (code === "API_UNAUTHENTICATED" && headers["www-authenticate"] === undefined) {
    headers["www-authenticate"] = 'Bearer realm="pavise"';
  }
  return {
    status: API_ERROR_STATUS[code],
    headers,
    body: {
      error: {
        code,
        message,
        ...(details.hint ? { hint: details.hint } : {}),
        ...(details.where ? { where: details.where } : {}),
      },
    },
  };
}

/** RFC 9110 §15.5.6: a 405 names the methods the resource has. */
export function methodNotAllowed(method: string, path: string, allowed: readonly string[]): ApiFailure {
  return apiError("API_METHOD_NOT_ALLOWED", `${method} is not allowed on ${path}`, {
    hint: `use ${allowed.join(", ")}`,
    headers: { allow: allowed.join(", ") },
  });
}

/** RFC 6585 §4: a 429 may say when to come back. */
export function rateLimited(message: string, retryAfterSeconds: number): ApiFailure {
  const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
  return apiError("API_RATE_LIMITED", message, {
    hint: `retry in ${seconds} s`,
    headers: { "retry-after": String(seconds) },
  });
}

/**
 * The answer to an unexpected failure: only an id the daemon log also shows, because the
 * details (paths, stack, etcd keys) are for the operator of the node, not for an API client.
 */
export function internalError(requestId: string): ApiFailure {
  return apiError("API_INTERNAL", `internal error, id ${requestId}`, {
    hint: "the daemon log on this node has the details under this id",
  });
}

/**
 * A PaviseError raised by shared code (operator actions, etcd) as an API answer. A code the
 * table does not know is an internal error: the API promises only the codes it lists.
 */
export function fromPaviseError(error: PaviseError, requestId: string): ApiFailure {
  if (!isApiErrorCode(error.code)) return internalError(requestId);
  return apiError(error.code, error.message, { hint: error.hint, where: error.where });
}

/** Anything thrown while serving a request. */
export function failureFrom(error: unknown, requestId: string): ApiFailure {
  return error instanceof PaviseError ? fromPaviseError(error, requestId) : internalError(requestId);
}
