/**
 * Response headers every answer carries (design §2, §8). Pure tables; the server merges them in.
 *
 * - Content-Security-Policy: the console loads its own files only, no inline script or style,
 *   no frames (`frame-ancestors 'none'`, CSP Level 2 §7.7), talks only to its own origin
 *   (fetch and the SSE stream), and cannot be the target of a form post elsewhere.
 * - X-Content-Type-Options: nosniff — a JSON answer is never run as script.
 * - Referrer-Policy: no-referrer — console URLs never leak to other sites.
 * - X-Frame-Options: DENY — the same as frame-ancestors for browsers without CSP 2.
 * - Cache-Control: no-store on API answers (cluster state and who may see it change; RFC 9111
 *   §5.2.2.5); the console's static files may be cached but must be revalidated.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const COMMON: Readonly<Record<string, string>> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

/** For the JSON API, /metrics, the event stream and every error. */
export function apiHeaders(): Record<string, string> {
  return { ...COMMON, "cache-control": "no-store" };
}

/** For the console's static files: cacheable, but checked with the server each time. */
export function staticFileHeaders(): Record<string, string> {
  return { ...COMMON, "cache-control": "no-cache" };
}

/**
 * HSTS (RFC 6797) is left out on purpose: the API is reached by node address and through the
 * lab relay on 127.0.0.1, and pinning a browser to HTTPS for those hosts would outlive the lab.
 */
