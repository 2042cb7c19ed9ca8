/**
 * The console's calls to the API (design §5): same origin, the session cookie sent by the
 * browser, JSON both ways. A failure comes back as the API's error body ({code, message, hint})
 * so the page can show what went wrong and what to do; a network failure gets a code of its own.
 */

import type { ApiErrorBody } from "../model/api-shapes.js";

export type ApiAnswer<T> =
  { ok: true; status: number; body: T } | { ok: false; status: number; error: ApiErrorBody["error"] };

export function getJson<T>(path: string): Promise<ApiAnswer<T>> {
  return call<T>(path, { method: "GET", headers: { Accept: "application/json" } });
}

/** A write: JSON with its content type (the server refuses others, design §5). */
export function postJson<T>(path: string, body: unknown): Promise<ApiAnswer<T>> {
  return call<T>(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
}

export function deleteCall(path: string): Promise<ApiAnswer<unknown>> {
  return call(path, { method: "DELETE" });
}

async function call<T>(path: string, init: RequestInit): Promise<ApiAnswer<T>> {
  let response: Response;
  try {
    response = await fetch(path, { ...init, credentials: "same-origin", cache: "no-store" });
  } catch {
    return {
      ok: false,
      status: 0,
      error: {
        code: "CONSOLE_NETWORK",
        message: `cannot reach this node (${path})`,
        hint: "try another node",
      },
    };
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.ok) return { ok: true, status: response.status, body: parsed as T };
  const error = (parsed as Partial<ApiErrorBody> | undefined)?.error;
  return {
    ok: false,
    status: response.status,
    error:
      error && typeof error.message === "string"
        ? error
        : {
            code: `HTTP_${response.status}`,
            message: `${path} answered ${response.status} ${response.statusText}`,
          },
  };
}

/** An API error as one sentence for the page: the message, then the hint. */
export function errorText(error: ApiErrorBody["error"]): string {
  return error.hint ? `${error.message} (${error.hint})` : error.message;
}
