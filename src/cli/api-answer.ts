/**
 * What the CLI makes of an API answer that is not a success, and of a request that got no
 * answer at all: a PaviseError, printed like every other CLI error (code, message, fix; no
 * stack). An API error keeps its code, message, hint and where (`{error: {code, message, hint,
 * where}}`, design §5), so `--api` and etcd report a refusal the same way; a failed connection
 * names the URL and says what to check. Pure.
 */

import { seconds } from "../cluster/operator/wait-goal.js";
import { PaviseError } from "../util/errors.js";

/** No answer: refused, unresolvable, unroutable, reset or silent. */
export const CLI_API_UNREACHABLE = "CLI_API_UNREACHABLE";
/** The server's certificate was not accepted (wrong or missing --api-ca, wrong name). */
export const CLI_API_UNTRUSTED = "CLI_API_UNTRUSTED";
/** An answer that is not the API's (a proxy's page, another service on the port). */
export const CLI_API_BAD_ANSWER = "CLI_API_BAD_ANSWER";
/** A credential or CA file could not be read. */
export const CLI_API_CREDENTIALS = "CLI_API_CREDENTIALS";

/** An HTTP answer with a status outside 2xx, as the error it carries. */
export function errorFromAnswer(url: string, status: number, text: string): PaviseError {
  const body = parseJson(text);
  const error =
    body !== undefined && typeof body === "object" && body !== null
      ? (body as Record<string, unknown>).error
      : undefined;
  if (error !== null && typeof error === "object") {
    const e = error as Record<string, unknown>;
    if (typeof e.code === "string" && typeof e.message === "string") {
      const where =
        e.where !== null && typeof e.where === "object" ? (e.where as Record<string, unknown>) : undefined;
      return new PaviseError(e.code, e.message, {
        hint: typeof e.hint === "string" ? e.hint : undefined,
        ...(where ? { where } : {}),
      });
    }
  }
  return badAnswer(url, `answered ${status} without an API error`, text);
}

/** A 2xx answer whose body is not the JSON object expected. */
export function badAnswer(url: string, what: string, text: string): PaviseError {
  const sample = text.trim().slice(0, 80);
  return new PaviseError(CLI_API_BAD_ANSWER, `${url} ${what}${sample ? `: ${JSON.stringify(sample)}` : ""}`, {
    hint: "check that --api names a node's Pavise API (https://NODE:7443 by default)",
  });
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** TLS verification failures (OpenSSL's names, as Node gives them in err.code). */
const TRUST_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_SIGNATURE_FAILURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** A request that got no answer (err.code from node:net, node:dns or node:tls), or none in time. */
export function connectionError(
  url: string,
  err: { code?: string; message: string },
  timeoutMs?: number,
): PaviseError {
  if (timeoutMs !== undefined) {
    return new PaviseError(
      CLI_API_UNREACHABLE,
      `the API at ${url} did not answer within ${seconds(timeoutMs)}`,
      {
        hint: "check the node is up and its daemon serves the API; or use another node's --api URL, or --config FILE to go to etcd directly",
      },
    );
  }
  const code = err.code ?? "";
  if (TRUST_CODES.has(code)) {
    return new PaviseError(
      CLI_API_UNTRUSTED,
      `the API at ${url} has a certificate this command does not trust: ${err.message}`,
      {
        hint:
          code === "ERR_TLS_CERT_ALTNAME_INVALID"
            ? "use an address or name the node's API certificate lists"
            : "give the cluster CA with --api-ca FILE (or PAVISE_API_CA)",
      },
    );
  }
  const reason: Record<string, string> = {
    ECONNREFUSED: "the connection was refused (nothing listens there)",
    ENOTFOUND: "the host name does not resolve",
    EAI_AGAIN: "the host name could not be resolved now",
    EHOSTUNREACH: "the host is unreachable",
    ENETUNREACH: "the network is unreachable",
    ECONNRESET: "the connection was reset",
    ETIMEDOUT: "the connection timed out",
    EPROTO: "the TLS handshake failed",
  };
  return new PaviseError(
    CLI_API_UNREACHABLE,
    `cannot reach the API at ${url}: ${reason[code] ?? err.message}`,
    {
      hint: "check the URL and that the node's daemon runs with an api: section; or use another node's --api URL, or --config FILE to go to etcd directly",
    },
  );
}

/** What a CLI user does about a 401 when the command sent no credentials (the API's hint is the browser's). */
export const NO_CREDENTIALS_HINT =
  "sign in with --api-cert FILE --api-key FILE (a client certificate), or a token: --api-token-file FILE or PAVISE_API_TOKEN";

/** The API's error, with the CLI's hint when it asks for credentials the command did not send. */
export function forCli(error: PaviseError, sentCredentials: boolean): PaviseError {
  if (error.code !== "API_UNAUTHENTICATED" || sentCredentials) return error;
  return new PaviseError(error.code, error.message, {
    hint: NO_CREDENTIALS_HINT,
    ...(error.where ? { where: error.where } : {}),
  });
}
