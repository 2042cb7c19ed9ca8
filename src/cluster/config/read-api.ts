import type { ApiConfig, ApiUser, PackageAccess } from "./api-model.js";
import { closest } from "./did-you-mean.js";
import { keyPath, type Raw, type RawReader } from "./raw-reader.js";

/**
 * The cluster file's `api:` section and a package's `access:` (docs/operator-surfaces-design.md
 * §3): their keys, types and defaults. What the values mean together (addresses, paths, one
 * role per user, names that are not nodes) is validate-api.ts. No `api:` = no API.
 */
const API_KEYS = ["listen", "tls", "session_key_file", "session_ttl", "anonymous", "users"];
const TLS_KEYS = ["ca", "cert", "key"];
/** USER_NAME, USER_ROLE, USER_HOST and the user's credential files. */
const USER_KEYS = ["name", "role", "password_file", "token_file", "from"];
const ACCESS_KEYS = ["user", "role", "from"];
/**
 * Keys that would put a secret into the cluster file, which `pavise config apply` stores in
 * etcd for every node and every etcd backup to read: refused, with where the secret goes.
 */
const INLINE_SECRETS = ["password", "passwd", "token", "secret", "session_key", "hash"];

export const API_DEFAULTS = {
  listen: ["0.0.0.0:7443"],
  /** A working day, then the console asks for the password again. */
  sessionTtlMs: 8 * 3_600_000,
  anonymous: "none",
} as const;

export function readApi(reader: RawReader, value: unknown): ApiConfig | undefined {
  const raw = reader.mapping(value, "api", "api: { tls: { ca: …, cert: …, key: … }, users: [...] }");
  if (!raw) return undefined;
  const api = withoutInlineSecrets(
    reader,
    raw,
    "api",
    API_KEYS,
    "session_key_file: /etc/pavise/api/session.key",
  );
  reader.known(api, API_KEYS, "api");
  return {
    listen: reader.strings(api, "listen", "api", '["0.0.0.0:7443"]') ?? [...API_DEFAULTS.listen],
    tls: readTls(reader, api),
    sessionKeyFile: reader.string(api, "session_key_file", "api", "/etc/pavise/api/session.key"),
    sessionTtlMs: reader.duration(api, "session_ttl", "api", {
      fallback: API_DEFAULTS.sessionTtlMs,
      example: "8h",
    }),
    anonymous: reader.choice(api, "anonymous", "api", ["none", "monitor"] as const, API_DEFAULTS.anonymous),
    users: (reader.list(api, "users", "api", "[{ name: alice, role: full_admin }]") ?? []).map((entry, i) =>
      readUser(reader, entry, `api.users[${i}]`),
    ),
  };
}

function readTls(reader: RawReader, api: Raw): ApiConfig["tls"] {
  const at = "api.tls";
  const example =
    "tls: { ca: /etc/pavise/api/ca.crt, cert: /etc/pavise/api/{node}.crt, key: /etc/pavise/api/{node}.key }";
  const tls = reader.mapping(api.tls, at, example);
  if (api.tls === undefined || api.tls === null) {
    reader.problem(at, api.tls, "is missing: the API is served over HTTPS only", `add ${example}`);
  }
  const t = tls ? withoutInlineSecrets(reader, tls, at, TLS_KEYS, "key: /etc/pavise/api/{node}.key") : {};
  if (tls) reader.known(t, TLS_KEYS, at);
  return {
    ca: tls ? reader.required(t, "ca", at, "/etc/pavise/api/ca.crt") : "",
    cert: tls ? reader.required(t, "cert", at, "/etc/pavise/api/{node}.crt") : "",
    key: tls ? reader.required(t, "key", at, "/etc/pavise/api/{node}.key") : "",
  };
}

function readUser(reader: RawReader, entry: unknown, path: string): ApiUser {
  const given =
    reader.mapping(
      entry,
      path,
      "{ name: alice, role: full_admin, password_file: /etc/pavise/api/users/alice.scrypt }",
    ) ?? {};
  const u = withoutInlineSecrets(
    reader,
    given,
    path,
    USER_KEYS,
    "password_file: /etc/pavise/api/users/<user>.scrypt (pavise api passwd USER) or token_file: /etc/pavise/api/users/<user>.sha256 (pavise api token USER)",
  );
  reader.known(u, USER_KEYS, path);
  return {
    name: reader.required(u, "name", path, "alice"),
    role: readRole(reader, u, path, ["monitor", "package_admin", "full_admin"] as const),
    passwordFile: reader.string(u, "password_file", path, "/etc/pavise/api/users/alice.scrypt"),
    tokenFile: reader.string(u, "token_file", path, "/etc/pavise/api/users/alice.sha256"),
    from: reader.strings(u, "from", path, "[198.18.2.0/24]") ?? [],
  };
}

/** A package's `access:`: single-package PACKAGE_ADMIN entries (the only role a package can give). */
export function readPackageAccess(reader: RawReader, raw: Raw, path: string): PackageAccess[] | undefined {
  const list = reader.list(raw, "access", path, "[{ user: carol, role: package_admin }]");
  if (list === undefined) return undefined;
  return list.map((entry, i): PackageAccess => {
    const at = `${keyPath(path, "access")}[${i}]`;
    const given = reader.mapping(entry, at, "{ user: carol, role: package_admin }") ?? {};
    const a = withoutInlineSecrets(
      reader,
      given,
      at,
      ACCESS_KEYS,
      "a client certificate with CN=<user>: package access names no secret",
    );
    reader.known(a, ACCESS_KEYS, at);
    const user = reader.required(a, "user", at, "carol");
    // Serviceguard: MONITOR and FULL_ADMIN are cluster-wide roles; a package file may only give PACKAGE_ADMIN.
    if (a.role === "monitor" || a.role === "full_admin") {
      reader.problem(
        keyPath(at, "role"),
        a.role,
        `${a.role} is a cluster-wide role: a package can only give package_admin (as in Serviceguard's package access policies)`,
        `write role: package_admin here, or give ${user || "the user"} role: ${a.role} in api.users`,
      );
    }
    const role =
      a.role === "monitor" || a.role === "full_admin"
        ? "package_admin"
        : readRole(reader, a, at, ["package_admin"] as const);
    return { user, role, from: reader.strings(a, "from", at, "[198.18.2.0/24]") ?? [] };
  });
}

/** USER_ROLE, lowercase; Serviceguard's uppercase spelling is accepted too. */
function readRole<T extends string>(reader: RawReader, raw: Raw, path: string, roles: readonly T[]): T {
  const value = raw.role;
  if (value === undefined || value === null) {
    reader.problem(keyPath(path, "role"), value, "is missing", `add role: ${roles.join(" | ")}`);
    return roles[0] as T;
  }
  const text = typeof value === "string" ? value.toLowerCase() : value;
  return reader.choice({ role: text }, "role", path, roles, roles[0] as T);
}

/** A copy without secret-bearing keys (a misspelt one too: as an unknown key its value would be printed). */
function withoutInlineSecrets(
  reader: RawReader,
  raw: Raw,
  path: string,
  known: readonly string[],
  instead: string,
): Raw {
  const copy: Raw = { ...raw };
  for (const key of Object.keys(raw)) {
    if (known.includes(key) || closest(key, INLINE_SECRETS) === undefined) continue;
    reader.problem(
      keyPath(path, key),
      "(hidden)",
      "secrets are not allowed in the cluster file: pavise config apply stores it in etcd, where every node and every etcd backup can read it",
      `put the secret in a file on each node (root, mode 0600) and name the file: ${instead}`,
    );
    delete copy[key];
  }
  return copy;
}
