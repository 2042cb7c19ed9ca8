import { apiError, methodNotAllowed, type ApiErrorCode, type ApiFailure } from "./api-errors.js";
import type { ApiAction } from "../auth/access-policy.js";

/**
 * The API's route table (design §2, §5): method, path pattern, who may call it and the handler.
 * Pure: `match()` turns a method and a request target into the route and its path parameters,
 * or the error to answer with (404 for an unknown path, 405 with `Allow` for a known path and
 * another method). The OpenAPI document is built from the same table, so they cannot drift.
 */
export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * Who may call a route: nobody needs to be known ("none": health, login, console files), any
 * known principal ("any": the own session), or whoever the access policy lets take the action
 * (access-policy.ts; a package action is judged for the route's `{pkg}`).
 */
export type RouteRole = "none" | "any" | ApiAction;

export interface Route<H> {
  method: Exclude<HttpMethod, "HEAD">;
  /** Literal segments and `{name}` parameters, e.g. `/v1/packages/{pkg}/move`. */
  pattern: string;
  role: RouteRole;
  handler: H;
  /** What the OpenAPI document says of it (openapi/route-docs.ts); a route without one fails the document. */
  doc?: RouteDoc;
}

/**
 * A route as the OpenAPI document describes it (openapi/openapi-document.ts). Schema names are
 * those of openapi/schemas.ts. Errors every route of its kind can give (401/403 by its role, the
 * body errors of a POST, 405, 500) are added by the document; `errors` lists the route's own.
 */
export interface RouteDoc {
  summary: string;
  description?: string;
  /** The schema of the JSON body. */
  request?: string;
  /** The schema of the JSON answer, a text media type ("text/plain", "text/event-stream"), or "empty" (no body). */
  response: string;
  /** Success statuses (default 200). */
  responseStatus?: number | readonly number[];
  errors?: readonly ApiErrorCode[];
  query?: readonly { name: string; type: "string" | "integer"; description: string }[];
}

export type RouteMatch<H> =
  { ok: true; route: Route<H>; params: Record<string, string> } | { ok: false; failure: ApiFailure };

type Segment = { literal: string } | { param: string };

interface Compiled<H> {
  route: Route<H>;
  segments: Segment[];
}

const PARAM = /^\{([a-zA-Z][a-zA-Z0-9]*)\}$/;
const LITERAL = /^[A-Za-z0-9._~-]+$/;

export class Router<H> {
  private readonly compiled: Compiled<H>[];

  /** Throws on a malformed or repeated pattern: a programming error, found when the table is built. */
  constructor(readonly routes: readonly Route<H>[]) {
    const seen = new Set<string>();
    this.compiled = routes.map((route) => {
      const segments = compile(route.pattern);
      const shape = `${route.method} ${segments.map((s) => ("param" in s ? "{}" : s.literal)).join("/")}`;
      if (seen.has(shape)) throw new Error(`route ${route.method} ${route.pattern} is in the table twice`);
      seen.add(shape);
      return { route, segments };
    });
  }

  /** `target` is the request target: a path, optionally with a query, which is ignored here. */
  match(method: string, target: string): RouteMatch<H> {
    const path = pathOf(target);
    const parts = path === undefined ? undefined : splitPath(path);
    const shown = printable(path ?? target);
    const candidates: { route: Route<H>; params: Record<string, string> }[] = [];
    if (parts) {
      for (const entry of this.compiled) {
        const params = matchSegments(entry.segments, parts);
        if (params) candidates.push({ route: entry.route, params });
      }
    }
    if (candidates.length === 0) {
      return {
        ok: false,
        failure: apiError("API_NOT_FOUND", `no such path: ${shown}`, {
          hint: "GET /v1/openapi.json lists every path",
        }),
      };
    }
    // RFC 9110 §9.3.2: HEAD is GET without the body, wherever GET is.
    const wanted = method === "HEAD" ? "GET" : method;
    const hit = candidates.find((c) => c.route.method === wanted);
    if (hit) return { ok: true, ...hit };
    const allowed = new Set<string>();
    for (const c of candidates) {
      allowed.add(c.route.method);
      if (c.route.method === "GET") allowed.add("HEAD");
    }
    return { ok: false, failure: methodNotAllowed(printable(method), shown, [...allowed].sort()) };
  }
}

function compile(pattern: string): Segment[] {
  if (!pattern.startsWith("/")) throw new Error(`route pattern ${pattern} must start with /`);
  if (pattern === "/") return [];
  const names = new Set<string>();
  return pattern
    .slice(1)
    .split("/")
    .map((part): Segment => {
      const param = PARAM.exec(part)?.[1];
      if (param !== undefined) {
        if (names.has(param)) throw new Error(`route pattern ${pattern} names {${param}} twice`);
        names.add(param);
        return { param };
      }
      if (!LITERAL.test(part)) throw new Error(`route pattern ${pattern} has a bad segment '${part}'`);
      return { literal: part };
    });
}

/** The path of a request target (RFC 9112 §3.2, origin-form), or undefined for anything else. */
function pathOf(target: string): string | undefined {
  const end = target.search(/[?#]/);
  const path = end === -1 ? target : target.slice(0, end);
  return path.startsWith("/") ? path : undefined;
}

/**
 * Decoded segments, or undefined when the path cannot name a route: bad percent-encoding, an
 * empty segment (`//`, a trailing `/`), or a segment that decodes to a slash, dot-segment or
 * control character (a parameter must never be able to name something else).
 */
function splitPath(path: string): string[] | undefined {
  if (path === "/") return [];
  const out: string[] = [];
  for (const raw of path.slice(1).split("/")) {
    let part: string;
    try {
      part = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    // eslint-disable-next-line no-control-regex
    if (part === "" || part === "." || part === ".." || /[/\u0000-\u001f\u007f]/.test(part)) return undefined;
    out.push(part);
  }
  return out;
}

function matchSegments(segments: Segment[], parts: string[]): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as Segment;
    const part = parts[i] as string;
    if ("param" in segment) params[segment.param] = part;
    else if (segment.literal !== part) return undefined;
  }
  return params;
}

/** A path or method as it may be shown in a message: bounded, without control characters. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, "?");
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}
