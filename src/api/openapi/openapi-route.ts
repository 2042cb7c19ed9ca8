import type { ApiHandler } from "../http/api-handler.js";
import type { Route } from "../http/router.js";
import { openApiDocument, type OpenApiDocument } from "./openapi-document.js";

/**
 * The handler of `GET /v1/openapi.json`: the document of the server's own route table. The
 * table holds this handler too, so it is read when first asked for (`routes` is a thunk), and
 * the document is built once: the table does not change while the server runs.
 */
export function openApiHandler(routes: () => readonly Route<unknown>[], version: string): ApiHandler {
  let document: OpenApiDocument | undefined;
  return () => {
    document ??= openApiDocument(routes(), { version });
    return Promise.resolve({ status: 200, body: document });
  };
}
