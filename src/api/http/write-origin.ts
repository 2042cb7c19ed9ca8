import { apiError, type ApiFailure } from "./api-errors.js";

/**
 * The CSRF check of a write (design §5): with a session cookie the browser adds on its own, a
 * write must carry an Origin (RFC 6454 §7) equal to the origin it was served from, which a page
 * of another site cannot forge. Any write that carries an Origin must match it, whoever sends
 * it (a login form posted from another site included). Certificate and token callers are not
 * browsers: without an Origin they pass. Together with SameSite=Strict and the JSON-only body
 * (read-body.ts) this is the whole defence. Pure.
 */
export interface WriteOrigin {
  /** The Origin header, if any. */
  origin: string | undefined;
  /** The Host header the request was sent to (RFC 9110 §7.2). */
  host: string | undefined;
  /** The request is authenticated by the session cookie. */
  cookieAuth: boolean;
}

export function checkWriteOrigin(request: WriteOrigin): ApiFailure | undefined {
  const served = request.host === undefined ? undefined : `https://${request.host.toLowerCase()}`;
  if (request.origin === undefined) {
    if (!request.cookieAuth) return undefined;
    return apiError("API_FORBIDDEN", "a write with a session cookie must carry an Origin header", {
      hint: "browsers add it on their own; a script should use a client certificate or a bearer token",
    });
  }
  const origin = request.origin.toLowerCase();
  if (served !== undefined && (origin === served || origin === withoutDefaultPort(served))) return undefined;
  return apiError(
    "API_FORBIDDEN",
    `the write's Origin ${printable(request.origin)} is not the origin it was sent to (${served ?? "no Host"})`,
    { hint: "send writes from the console served by this node (cross-site requests are refused)" },
  );
}

/** https://host:443 and https://host are the same origin (RFC 6454 §4). */
function withoutDefaultPort(origin: string): string {
  return origin.endsWith(":443") ? origin.slice(0, -4) : origin;
}

function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, "?");
  return JSON.stringify(clean.length > 100 ? `${clean.slice(0, 100)}…` : clean);
}
