import { API_ERROR_STATUS, type ApiErrorCode } from "../http/api-errors.js";
import type { Route, RouteDoc } from "../http/router.js";
import { API_SCHEMAS, type JsonSchema } from "./schemas.js";

/**
 * The OpenAPI 3.1.0 document `GET /v1/openapi.json` (design §5), built from the route table
 * itself, so routes and document cannot drift: a route without a `doc` is an error here. Pure.
 * Schemas are JSON Schema 2020-12 (schemas.ts). Errors are grouped by status; each error
 * answer enumerates the codes this route can give (`x-error-codes`), including those every
 * route of its kind can give (its role's 401/403, a POST's body errors, 405, 500).
 */
export type OpenApiDocument = Record<string, unknown> & {
  openapi: "3.1.0";
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, JsonSchema>; securitySchemes: Record<string, unknown> };
};

type Operation = Record<string, unknown> & { responses: Record<string, unknown> };

const NAME_PATTERN = "^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,37}[A-Za-z0-9])?$";
const TEXT_TYPES: Record<string, string> = {
  "text/plain": "text/plain; version=0.0.4; charset=utf-8",
  "text/event-stream": "text/event-stream",
};

const SECURITY_SCHEMES = {
  mutualTLS: {
    type: "mutualTLS",
    description: "A client certificate from the cluster CA; its CN is the user.",
  },
  bearer: {
    type: "http",
    scheme: "bearer",
    description: "A token from `pavise api token` (pvt_…), for Prometheus and scripts.",
  },
  session: {
    type: "apiKey",
    in: "cookie",
    name: "pavise_session",
    description: "The console's session, from POST /v1/session.",
  },
};

const REASONS: Record<number, string> = {
  200: "OK",
  202: "Accepted: the intent is written, not waited for",
  204: "No content",
  400: "Bad request",
  401: "Not authenticated",
  403: "Forbidden",
  404: "Not found",
  405: "Method not allowed",
  408: "Request timeout",
  409: "Conflict",
  413: "Body too large",
  415: "Unsupported media type",
  429: "Too many requests",
  500: "Internal error",
  503: "Service unavailable",
};

const ERROR_HEADERS: Record<number, Record<string, unknown>> = {
  401: {
    "WWW-Authenticate": { schema: { type: "string" }, description: 'Bearer realm="pavise" (RFC 6750)' },
  },
  405: { Allow: { schema: { type: "string" }, description: "The methods this path has." } },
  429: { "Retry-After": { schema: { type: "integer" }, description: "Seconds to wait." } },
};

export interface DocumentInfo {
  version: string;
  title?: string;
}

export function openApiDocument(routes: readonly Route<unknown>[], info: DocumentInfo): OpenApiDocument {
  const paths: Record<string, Record<string, Operation>> = {};
  for (const route of routes) {
    const where = `${route.method} ${route.pattern}`;
    if (!route.doc) throw new Error(`route ${where} has no doc: the OpenAPI document cannot describe it`);
    (paths[route.pattern] ??= {})[route.method.toLowerCase()] = operation(route, route.doc, where);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: info.title ?? "Pavise HTTP API",
      version: info.version,
      summary: "A high-availability cluster manager: its cluster, nodes, packages, events and actions.",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    security: Object.keys(SECURITY_SCHEMES).map((scheme) => ({ [scheme]: [] })),
    paths,
    components: { schemas: { ...API_SCHEMAS }, securitySchemes: SECURITY_SCHEMES },
  };
}

function operation(route: Route<unknown>, doc: RouteDoc, where: string): Operation {
  const params = [...route.pattern.matchAll(/\{([a-zA-Z][a-zA-Z0-9]*)\}/g)].map((m) => m[1] as string);
  const parameters = [
    ...params.map((name) => ({
      name,
      in: "path",
      required: true,
      schema: { type: "string", pattern: NAME_PATTERN },
    })),
    ...(doc.query ?? []).map((q) => ({
      name: q.name,
      in: "query",
      required: false,
      description: q.description,
      schema: { type: q.type },
    })),
  ];
  const op: Operation = {
    operationId: operationId(route.method, route.pattern),
    summary: doc.summary,
    ...(doc.description ? { description: doc.description } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.role === "none" ? { security: [] } : {}),
    "x-pavise-role": route.role,
    responses: {},
  };
  if (doc.request !== undefined) {
    const schema = known(doc.request, where);
    const required = Array.isArray(schema.required) && schema.required.length > 0;
    op.requestBody = {
      required,
      content: { "application/json": { schema: ref(doc.request) } },
    };
  }
  const statuses = doc.responseStatus === undefined ? [200] : [doc.responseStatus].flat();
  for (const status of statuses) op.responses[String(status)] = success(doc.response, status, where);
  for (const [status, codes] of errorsByStatus(route, doc)) {
    if (op.responses[String(status)] !== undefined)
      throw new Error(`route ${where} answers ${status} both on success and with ${codes.join(", ")}`);
    const headers = ERROR_HEADERS[status];
    op.responses[String(status)] = {
      description: `${REASONS[status] ?? "Error"}: ${codes.join(", ")}`,
      "x-error-codes": codes,
      ...(headers ? { headers } : {}),
      content: {
        "application/json": {
          schema: {
            allOf: [ref("ErrorBody")],
            type: "object",
            properties: { error: { type: "object", properties: { code: { enum: codes } } } },
          },
        },
      },
    };
  }
  return op;
}

function success(response: string, status: number, where: string): Record<string, unknown> {
  const description = REASONS[status] ?? "OK";
  if (response === "empty") return { description };
  const text = TEXT_TYPES[response];
  if (text !== undefined) return { description, content: { [text]: { schema: { type: "string" } } } };
  known(response, where);
  return { description, content: { "application/json": { schema: ref(response) } } };
}

/** The codes a route can answer with, by status: its own, and those of every route like it. */
function errorsByStatus(route: Route<unknown>, doc: RouteDoc): [number, ApiErrorCode[]][] {
  const codes = new Set<ApiErrorCode>(doc.errors ?? []);
  if (route.role !== "none") codes.add("API_UNAUTHENTICATED");
  if (route.role !== "none" && route.role !== "any") codes.add("API_FORBIDDEN");
  if (doc.request !== undefined) {
    for (const code of [
      "API_BAD_REQUEST",
      "API_UNKNOWN_FIELD",
      "API_REQUEST_TIMEOUT",
      "API_BODY_TOO_LARGE",
      "API_UNSUPPORTED_MEDIA_TYPE",
    ] as const)
      codes.add(code);
  }
  // A path parameter that cannot name anything (bad percent-encoding, a control character).
  if (route.pattern.includes("{")) codes.add("API_NOT_FOUND");
  codes.add("API_METHOD_NOT_ALLOWED");
  codes.add("API_INTERNAL");
  const byStatus = new Map<number, ApiErrorCode[]>();
  for (const code of codes) {
    const status = API_ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return [...byStatus].sort(([a], [b]) => a - b);
}

function known(name: string, where: string): JsonSchema {
  const schema = API_SCHEMAS[name];
  if (schema === undefined)
    throw new Error(`route ${where} names schema ${name}, which schemas.ts does not have`);
  return schema;
}

function ref(name: string): JsonSchema {
  return { $ref: `#/components/schemas/${name}` };
}

/** `GET /v1/packages/{pkg}/log` → `getV1PackagesPkgLog`. */
function operationId(method: string, pattern: string): string {
  const words = pattern
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== "")
    .map((w) => w[0]!.toUpperCase() + w.slice(1));
  return method.toLowerCase() + words.join("");
}
