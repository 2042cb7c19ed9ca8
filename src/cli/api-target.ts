/**
 * `--api URL` and its credentials (design §2 "CLI and lab"): which node's HTTPS API a command
 * asks instead of etcd, and how it proves who it is there. Without `--api` a command reads and
 * writes etcd as before, so the CLI works with every daemon down. Pure: files are named here and
 * read by api-client.ts.
 *
 * Credentials, first that applies: a client certificate from the cluster CA (`--api-cert FILE
 * --api-key FILE`, CN = the user), a bearer token from `--api-token-file FILE`, or from
 * `PAVISE_API_TOKEN`. The server is checked against `--api-ca FILE` (the cluster CA), else
 * `PAVISE_API_CA`, else the system's CAs.
 */

import { usageError } from "./usage.js";

export interface ApiTarget {
  /** The node's API, e.g. https://198.18.1.11:7443 (a path, if any, is kept as a prefix). */
  url: URL;
  /** The cluster CA's file, when given. */
  caFile: string | undefined;
  credentials:
    | { kind: "certificate"; certFile: string; keyFile: string }
    | { kind: "token-file"; file: string }
    | { kind: "token"; token: string }
    | { kind: "none" };
}

/** The options every command with `--api` takes (node:util parseArgs spec). */
export const API_OPTIONS = {
  api: { type: "string" },
  "api-ca": { type: "string" },
  "api-cert": { type: "string" },
  "api-key": { type: "string" },
  "api-token-file": { type: "string" },
} as const;

/** The usage lines for them, shared by every command's usage text. */
export const API_USAGE = `  --api URL        ask this node's HTTPS API (https://NODE:7443) instead of etcd; the daemon
                   checks the user's role and records the action with the user's name
  --api-ca FILE    the cluster CA the API's certificate is checked against (or PAVISE_API_CA)
  --api-cert FILE --api-key FILE   sign in with a client certificate (CN = the user)
  --api-token-file FILE            sign in with a bearer token (or PAVISE_API_TOKEN)`;

export interface ApiOptionValues {
  api?: string | undefined;
  "api-ca"?: string | undefined;
  "api-cert"?: string | undefined;
  "api-key"?: string | undefined;
  "api-token-file"?: string | undefined;
}

/**
 * The API target the options name, or undefined for etcd (no --api). A mistake in them is a
 * usage error (exit 2): an --api-* option without --api, a URL that is not https, a certificate
 * without its key, two kinds of credentials at once.
 */
export function apiTargetFrom(
  values: ApiOptionValues,
  env: Record<string, string | undefined>,
  usage: string,
): ApiTarget | undefined {
  const given = (["api-ca", "api-cert", "api-key", "api-token-file"] as const).filter(
    (name) => values[name] !== undefined,
  );
  if (values.api === undefined) {
    if (given.length > 0) throw usageError(`--${given[0]} is for use with --api URL`, usage);
    return undefined;
  }
  const url = parseApiUrl(values.api, usage);
  const cert = values["api-cert"];
  const key = values["api-key"];
  if ((cert === undefined) !== (key === undefined)) {
    throw usageError(
      cert === undefined ? "--api-key needs --api-cert FILE" : "--api-cert needs --api-key FILE",
      usage,
    );
  }
  const tokenFile = values["api-token-file"];
  if (cert !== undefined && tokenFile !== undefined) {
    throw usageError("give --api-cert/--api-key or --api-token-file, not both", usage);
  }
  const token = env.PAVISE_API_TOKEN?.trim();
  const credentials: ApiTarget["credentials"] =
    cert !== undefined && key !== undefined
      ? { kind: "certificate", certFile: cert, keyFile: key }
      : tokenFile !== undefined
        ? { kind: "token-file", file: tokenFile }
        : token
          ? { kind: "token", token }
          : { kind: "none" };
  const ca = values["api-ca"] ?? (env.PAVISE_API_CA || undefined);
  return { url, caFile: ca, credentials };
}

function parseApiUrl(text: string, usage: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usageError(`--api ${JSON.stringify(text)} is not a URL (e.g. https://198.18.1.11:7443)`, usage);
  }
  // The API serves HTTPS only (design §0): a plain http:// URL would send a token in clear.
  if (url.protocol !== "https:") {
    throw usageError(
      `--api ${JSON.stringify(text)} is not an https:// URL (the API serves HTTPS only)`,
      usage,
    );
  }
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    throw usageError(
      `--api ${JSON.stringify(text)}: give the node's address only (https://HOST:PORT); credentials go in --api-cert or --api-token-file`,
      usage,
    );
  }
  return url;
}

/** The URL as the user should see it in messages: without a trailing slash. */
export function apiUrlText(target: Pick<ApiTarget, "url">): string {
  return target.url.href.replace(/\/$/, "");
}
