import { randomJson, type JsonNear } from "./random-json.js";

// Seeded random API requests (method, path, headers, body) for the API fuzz: near the real routes
// and bodies so they get past the first checks, with awkward paths, headers and bodies mixed in.
// The credentials are those of read-only callers (or none, or bogus), and a package admin's
// certificate only on packages that do not exist (web is renamed wbe) and on node routes (which
// need full_admin), so a fuzz run can never act on the cluster: every write must be refused.

export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer | undefined;
  /** Send the package admin's client certificate. */
  pkgadminCert: boolean;
}

export interface FuzzCredentials {
  /** A monitor's bearer token. */
  monitorToken: string;
  /** A monitor's session cookie ("pavise_session=…"). */
  monitorCookie: string;
}

const METHODS = ["GET", "GET", "GET", "POST", "POST", "POST", "HEAD", "DELETE", "PUT", "PATCH", "OPTIONS"];
const ROUTES = [
  "/v1/health",
  "/v1/session",
  "/metrics",
  "/v1/stream",
  "/v1/status",
  "/v1/packages/web/move",
  "/v1/packages/web/run",
  "/v1/packages/web/halt",
  "/v1/packages/web/enable",
  "/v1/packages/web/disable",
  "/v1/packages/web/maintenance",
  "/v1/packages/web/resources/disk",
  "/v1/nodes/n2/halt",
  "/v1/nodes/n1/run",
  "/",
  "/ui/app.js",
];
const ODD_PATHS = [
  "/v1/packages/%ZZ/run",
  "/v1//health",
  "/v1/health/",
  "/v1/packages/..%2F..%2Fetc/run",
  "/v1/packages/%2e%2e/halt",
  "/v1/packages/%00/move",
  "/ui/../../etc/passwd",
  "/v1/health?x=%ZZ&&&=",
  `/${"a".repeat(3000)}`,
  "/V1/HEALTH",
  "/v1/packages/web/move#frag",
];
const NEAR: JsonNear = {
  keys: ["node", "wait", "timeoutMs", "on", "status", "force", "user", "password"],
  values: ["n1", "n2", "n3", "n9", "web", true, false, "up", "down", 0, 600_000, "fz-user", "pw"],
};

export function fuzzRequest(random: () => number, creds: FuzzCredentials): FuzzRequest {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const method = pick(METHODS);
  const roll = random();
  let path: string;
  if (roll < 0.6) path = pick(ROUTES);
  else if (roll < 0.8) path = pick(ODD_PATHS);
  else {
    const segment = encodeURIComponent(String(randomJson(random, NEAR)).slice(0, 40));
    path = `/v1/${pick(["packages", "nodes", "session", "x"])}/${segment}/${pick(["run", "halt", "move", "resources", ""])}`;
  }
  const headers: Record<string, string> = {};
  const pkgadminCert = random() < 0.2;
  // A package admin may act on web: never ask it to.
  if (pkgadminCert) path = path.replace(/\/packages\/web(?=\/|$|[?#])/, "/packages/wbe");
  const auth = pkgadminCert ? 1 : random();
  if (auth < 0.3) headers.authorization = `Bearer ${creds.monitorToken}`;
  else if (auth < 0.4)
    headers.authorization = pick(["Bearer pvt_nope", "Basic YWRtaW46YWRtaW4=", "Bearer", "bearer  x y"]);
  else if (auth < 0.6) headers.cookie = creds.monitorCookie;
  else if (auth < 0.7)
    headers.cookie = pick(["pavise_session=abc.def", "pavise_session=", "a=b; pavise_session=x"]);
  if (random() < 0.7) {
    headers["content-type"] = pick([
      "application/json",
      "application/json; charset=utf-8",
      "text/plain",
      "application/json; charset=latin1",
      "multipart/form-data",
    ]);
  }
  if (random() < 0.2) headers.origin = pick(["https://evil.example", "null", "https://127.0.0.1"]);
  if (random() < 0.05) headers["content-encoding"] = "gzip";
  if (random() < 0.1) headers["x-fuzz"] = "\u00e9".repeat(Math.floor(random() * 10));
  let body: Buffer | undefined;
  if (method !== "GET" && method !== "HEAD" && random() < 0.9) {
    const kind = random();
    if (kind < 0.7) {
      const value =
        path === "/v1/session" && random() < 0.5
          ? { user: "fz-user", password: "pw" }
          : randomJson(random, NEAR);
      body = Buffer.from(JSON.stringify(value) ?? "");
    } else if (kind < 0.85)
      body = Buffer.from(
        Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256)),
      );
    else if (kind < 0.95) body = Buffer.from(`{"node": "${"x".repeat(17 * 1024)}"}`);
    else body = Buffer.alloc(0);
  }
  return { method, path, headers, body, pkgadminCert };
}
