import { describe, expect, it } from "vitest";
import { API_ERROR_CODES } from "../../src/api/http/api-errors.js";
import type { Route, RouteRole } from "../../src/api/http/router.js";
import { Router } from "../../src/api/http/router.js";
import { openApiDocument, type OpenApiDocument } from "../../src/api/openapi/openapi-document.js";
import { openApiHandler } from "../../src/api/openapi/openapi-route.js";
import { API_ROUTE_DOCS, routeKey, withDocs } from "../../src/api/openapi/route-docs.js";
import type { ApiHandler } from "../../src/api/http/api-handler.js";
import { ApiSchemaValidator } from "../support/api-schema-validator.js";
import { actionRoutes } from "../../src/api/routes/action-routes.js";
import { nodeHealthRoutes } from "../../src/api/routes/node-health-routes.js";
import { readRoutes } from "../../src/api/routes/read-routes.js";
import { sessionRoutes } from "../../src/api/routes/session-routes.js";

// The OpenAPI 3.1.0 document built from a route table: the routes of design §5 (with the roles
// the design gives them) and the docs table. The OAS 3.1 meta-schema is not on this machine,
// so the document's structure is checked here against the rules of OAS 3.1.0 §4.8 that matter
// for it, every $ref must resolve, and every schema is compiled by ajv's 2020-12 validator.
const DESIGN_ROUTES: [string, RouteRole][] = [
  ["GET /v1/health", "none"],
  ["POST /v1/session", "none"],
  ["GET /v1/session", "any"],
  // Signing out clears the cookie even when the session has already expired.
  ["DELETE /v1/session", "none"],
  ["GET /v1/status", "read"],
  ["GET /v1/cluster", "read"],
  ["GET /v1/nodes", "read"],
  ["GET /v1/nodes/{node}", "read"],
  ["GET /v1/packages", "read"],
  ["GET /v1/packages/{pkg}", "read"],
  ["GET /v1/packages/{pkg}/ipsec", "read"],
  ["GET /v1/packages/{pkg}/log", "package-log"],
  // Node to node (owner proxy): the owner answers for its own SAs and log.
  ["GET /v1/packages/{pkg}/ipsec/local", "read"],
  ["GET /v1/packages/{pkg}/log/local", "read"],
  ["GET /v1/events", "read"],
  ["GET /v1/stream", "read"],
  ...["run", "halt", "move", "enable", "disable", "maintenance"].map((a): [string, RouteRole] => [
    `POST /v1/packages/{pkg}/${a}`,
    "package-operate",
  ]),
  ["POST /v1/packages/{pkg}/resources/{name}", "package-resource"],
  ["POST /v1/nodes/{node}/halt", "node-operate"],
  ["POST /v1/nodes/{node}/run", "node-operate"],
  ["GET /metrics", "read"],
  ["GET /v1/openapi.json", "none"],
];

function routes(): Route<null>[] {
  return DESIGN_ROUTES.map(([key, role]) => {
    const [method, pattern] = key.split(" ") as [Route<null>["method"], string];
    return { method, pattern, role, handler: null };
  });
}

const documented = withDocs(routes());
// The router accepts the same table (no pattern it would refuse).
new Router(documented);
const doc = openApiDocument(documented, { version: "0.1.0" });

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const OPERATION_FIELDS = new Set([
  "tags",
  "summary",
  "description",
  "externalDocs",
  "operationId",
  "parameters",
  "requestBody",
  "responses",
  "callbacks",
  "deprecated",
  "security",
  "servers",
]);

/** The OAS 3.1.0 rules the document relies on; returns every breach found. */
function structureProblems(d: OpenApiDocument): string[] {
  const problems: string[] = [];
  const top = new Set([
    "openapi",
    "info",
    "jsonSchemaDialect",
    "servers",
    "paths",
    "webhooks",
    "components",
    "security",
    "tags",
    "externalDocs",
  ]);
  for (const k of Object.keys(d))
    if (!top.has(k) && !k.startsWith("x-")) problems.push(`unknown top-level field ${k}`);
  if (!/^3\.1\.\d+$/.test(d.openapi)) problems.push("openapi is not 3.1.x");
  const info = d.info as Record<string, unknown>;
  if (typeof info.title !== "string" || typeof info.version !== "string")
    problems.push("info needs title and version");
  const schemes = d.components.securitySchemes as Record<string, Record<string, unknown>>;
  for (const [name, s] of Object.entries(schemes)) {
    if (!["apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"].includes(s.type as string))
      problems.push(`scheme ${name}: type`);
    if (
      s.type === "apiKey" &&
      (typeof s.name !== "string" || !["query", "header", "cookie"].includes(s.in as string))
    )
      problems.push(`scheme ${name}: apiKey needs name and in`);
    if (s.type === "http" && typeof s.scheme !== "string") problems.push(`scheme ${name}: http needs scheme`);
  }
  const requirements = (list: unknown, where: string): void => {
    if (!Array.isArray(list)) {
      problems.push(`${where}: security is not an array`);
      return;
    }
    for (const r of list as Record<string, unknown>[])
      for (const [name, scopes] of Object.entries(r)) {
        if (!(name in schemes)) problems.push(`${where}: security names unknown scheme ${name}`);
        if (!Array.isArray(scopes)) problems.push(`${where}: scopes of ${name} not an array`);
      }
  };
  requirements(d.security, "document");
  for (const name of Object.keys(d.components.schemas))
    if (!/^[a-zA-Z0-9.\-_]+$/.test(name)) problems.push(`component name ${name}`);
  const ids = new Set<string>();
  for (const [path, item] of Object.entries(d.paths)) {
    if (!path.startsWith("/")) problems.push(`path ${path} must start with /`);
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const [method, op] of Object.entries(item)) {
      const where = `${method.toUpperCase()} ${path}`;
      if (!METHODS.includes(method)) problems.push(`${where}: not an HTTP method field`);
      for (const k of Object.keys(op))
        if (!OPERATION_FIELDS.has(k) && !k.startsWith("x-")) problems.push(`${where}: unknown field ${k}`);
      const id = op.operationId as string;
      if (ids.has(id)) problems.push(`${where}: operationId ${id} twice`);
      ids.add(id);
      const params = (op.parameters ?? []) as Record<string, unknown>[];
      const seen = new Set<string>();
      for (const p of params) {
        const key = `${p.in as string}:${p.name as string}`;
        if (seen.has(key)) problems.push(`${where}: parameter ${key} twice`);
        seen.add(key);
        if (p.in === "path" && p.required !== true)
          problems.push(`${where}: path parameter ${p.name as string} must be required`);
        if (!("schema" in p) && !("content" in p)) problems.push(`${where}: parameter without schema`);
      }
      for (const name of templated)
        if (!params.some((p) => p.in === "path" && p.name === name))
          problems.push(`${where}: {${name}} not declared`);
      for (const p of params)
        if (p.in === "path" && !templated.includes(p.name as string))
          problems.push(`${where}: path parameter ${p.name as string} not in the path`);
      const responses = op.responses;
      if (Object.keys(responses).length === 0) problems.push(`${where}: no responses`);
      for (const [status, r] of Object.entries(responses)) {
        if (!/^[1-5](?:[0-9]{2}|XX)$|^default$/.test(status))
          problems.push(`${where}: response key ${status}`);
        if (typeof (r as Record<string, unknown>).description !== "string")
          problems.push(`${where} ${status}: no description`);
      }
      if (
        op.requestBody !== undefined &&
        typeof (op.requestBody as Record<string, unknown>).content !== "object"
      )
        problems.push(`${where}: requestBody without content`);
      if (op.security !== undefined) requirements(op.security, where);
    }
  }
  return problems;
}

/** Every `$ref` in the document, with where it is. */
function refs(value: unknown, at = "#"): [string, string][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => refs(v, `${at}/${i}`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) =>
    k === "$ref" && typeof v === "string" ? [[at, v] as [string, string]] : refs(v, `${at}/${k}`),
  );
}

function resolve(d: unknown, pointer: string): unknown {
  if (!pointer.startsWith("#/")) return undefined;
  let node: unknown = d;
  for (const raw of pointer.slice(2).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (node === null || typeof node !== "object" || !(key in node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

describe("the route table the daemon serves", () => {
  it("has a description for every route, with the role the design gives it", () => {
    // The real route modules; their handlers are never called here, so their deps are empty.
    const none = {} as never;
    const served = [
      ...nodeHealthRoutes({ node: "n1", health: () => undefined, metrics: () => "" }),
      ...sessionRoutes(none),
      ...actionRoutes(none),
      ...readRoutes(none),
    ];
    const documented = withDocs(served);
    const roles = new Map(DESIGN_ROUTES);
    for (const route of documented)
      expect([routeKey(route), route.role]).toEqual([routeKey(route), roles.get(routeKey(route))]);
  });
});

describe("the OpenAPI document", () => {
  it("documents every route of design §5, and the docs table has no route the design lacks", () => {
    expect(Object.keys(API_ROUTE_DOCS).sort()).toEqual(DESIGN_ROUTES.map(([k]) => k).sort());
    expect(Object.keys(doc.paths)).toHaveLength(new Set(DESIGN_ROUTES.map(([k]) => k.split(" ")[1])).size);
  });

  it("is OpenAPI 3.1.0 by the structure rules, and survives JSON", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(structureProblems(doc)).toEqual([]);
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
    // The checker can fail.
    const broken = JSON.parse(JSON.stringify(doc)) as OpenApiDocument;
    (broken.paths["/v1/nodes/{node}"]!.get!.parameters as unknown[]) = [];
    broken.paths["/v1/status"]!.get!.security = [{ kerberos: [] }];
    expect(structureProblems(broken)).toEqual([
      "GET /v1/status: security names unknown scheme kerberos",
      "GET /v1/nodes/{node}: {node} not declared",
    ]);
  });

  it("has mutualTLS, bearer and the pavise_session cookie as security schemes; public routes need none", () => {
    expect(doc.components.securitySchemes).toMatchObject({
      mutualTLS: { type: "mutualTLS" },
      bearer: { type: "http", scheme: "bearer" },
      session: { type: "apiKey", in: "cookie", name: "pavise_session" },
    });
    expect(doc.security).toEqual([{ mutualTLS: [] }, { bearer: [] }, { session: [] }]);
    expect(doc.paths["/v1/health"]!.get!.security).toEqual([]);
    expect(doc.paths["/v1/status"]!.get!.security).toBeUndefined();
  });

  it("resolves every $ref", () => {
    const all = refs(doc);
    expect(all.length).toBeGreaterThan(50);
    for (const [at, target] of all) expect(resolve(doc, target), `${at} → ${target}`).toBeDefined();
  });

  it("compiles every schema in it (components and each operation's) with ajv 2020-12, strict", () => {
    const validator = new ApiSchemaValidator(doc.components.schemas);
    for (const name of Object.keys(doc.components.schemas))
      expect(() => validator.validator(name), name).not.toThrow();
    let compiled = 0;
    for (const item of Object.values(doc.paths))
      for (const op of Object.values(item))
        for (const r of Object.values(op.responses) as { content?: Record<string, { schema: object }> }[])
          for (const media of Object.values(r.content ?? {})) {
            validator.compileInline(media.schema as Record<string, unknown>);
            compiled++;
          }
    expect(compiled).toBeGreaterThan(60);
  });

  it("names every error code of the API, in the enum and in some operation's answers", () => {
    const enumCodes = (doc.components.schemas.ErrorCode as { enum: string[] }).enum;
    expect([...enumCodes].sort()).toEqual([...API_ERROR_CODES].sort());
    const used = new Set<string>();
    for (const item of Object.values(doc.paths))
      for (const op of Object.values(item))
        for (const r of Object.values(op.responses) as { "x-error-codes"?: string[] }[])
          for (const code of r["x-error-codes"] ?? []) used.add(code);
    expect([...used].sort()).toEqual([...API_ERROR_CODES].sort());
  });

  it("describes an action: body, 200/202 result, its errors by status with their codes", () => {
    const move = doc.paths["/v1/packages/{pkg}/move"]!.post!;
    expect(move["x-pavise-role"]).toBe("package-operate");
    expect(move.requestBody).toEqual({
      required: false,
      content: { "application/json": { schema: { $ref: "#/components/schemas/PackageActionBody" } } },
    });
    expect(Object.keys(move.responses)).toEqual([
      "200",
      "202",
      "400",
      "401",
      "403",
      "404",
      "405",
      "408",
      "409",
      "413",
      "415",
      "429",
      "500",
      "503",
    ]);
    expect((move.responses["404"] as { "x-error-codes": string[] })["x-error-codes"].sort()).toEqual([
      "API_NOT_FOUND",
      "NO_SUCH_NODE",
      "NO_SUCH_PACKAGE",
    ]);
    // The answer's schema allows only those codes.
    const validator = new ApiSchemaValidator(doc.components.schemas);
    const schema = (move.responses["409"] as { content: Record<string, { schema: Record<string, unknown> }> })
      .content["application/json"]!.schema;
    const validate = validator.compileInline(schema);
    expect(validate({ error: { code: "OPERATOR_REFUSED", message: "no node may run web" } })).toBe(true);
    expect(validate({ error: { code: "NO_SUCH_NODE", message: "x" } })).toBe(false);
    // A login body is required; the stream and metrics are text.
    expect(doc.paths["/v1/session"]!.post!.requestBody).toMatchObject({ required: true });
    expect(
      Object.keys((doc.paths["/v1/stream"]!.get!.responses["200"] as { content: object }).content),
    ).toEqual(["text/event-stream"]);
    expect(
      Object.keys((doc.paths["/metrics"]!.get!.responses["200"] as { content: object }).content),
    ).toEqual(["text/plain; version=0.0.4; charset=utf-8"]);
  });

  it("refuses a route without a doc, in withDocs and in the document itself", () => {
    const stray: Route<null> = { method: "GET", pattern: "/v1/secret", role: "read", handler: null };
    expect(() => withDocs([...routes(), stray])).toThrow(
      "route GET /v1/secret has no OpenAPI description: add it to API_ROUTE_DOCS (src/api/openapi/route-docs.ts)",
    );
    expect(() => openApiDocument([stray], { version: "0" })).toThrow("route GET /v1/secret has no doc");
    expect(() =>
      openApiDocument([{ ...stray, doc: { summary: "x", response: "NoSuchSchema" } }], { version: "0" }),
    ).toThrow("names schema NoSuchSchema");
    expect(() =>
      openApiDocument([{ ...stray, doc: { summary: "x", response: "Health", responseStatus: 405 } }], {
        version: "0",
      }),
    ).toThrow("answers 405 both on success and with API_METHOD_NOT_ALLOWED");
    // A doc given on the route itself wins over the table.
    const own = withDocs([{ ...stray, doc: { summary: "own", response: "Health" } }]);
    expect(own[0]?.doc?.summary).toBe("own");
    expect(routeKey(stray)).toBe("GET /v1/secret");
  });
});

describe("GET /v1/openapi.json", () => {
  it("answers the document of the table that holds it", async () => {
    const table: Route<ApiHandler>[] = [];
    table.push(
      ...withDocs<ApiHandler>([
        {
          method: "GET",
          pattern: "/v1/openapi.json",
          role: "none",
          handler: openApiHandler(() => table, "9.9.9"),
        },
        {
          method: "GET",
          pattern: "/v1/health",
          role: "none",
          handler: () => Promise.reject(new Error("unused")),
        },
      ]),
    );
    const match = new Router(table).match("GET", "/v1/openapi.json");
    expect(match.ok).toBe(true);
    if (!match.ok) return;
    const reply = await match.route.handler({} as never);
    expect(reply).toMatchObject({ status: 200, body: { openapi: "3.1.0", info: { version: "9.9.9" } } });
    const body = (reply as { body: OpenApiDocument }).body;
    expect(Object.keys(body.paths).sort()).toEqual(["/v1/health", "/v1/openapi.json"]);
    // Built once.
    expect(((await match.route.handler({} as never)) as { body: unknown }).body).toBe(body);
  });
});
