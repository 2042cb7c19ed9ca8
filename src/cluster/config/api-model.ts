/**
 * The cluster file's `api:` section and each package's `access:` (docs/operator-surfaces-design.md
 * §3, §4), after reading and checking. Absent `api:` means no API at all (today's behaviour).
 *
 * The access rules follow Serviceguard's access control policies: each is a USER_NAME, the
 * hosts it may come from (USER_HOST) and a USER_ROLE. MONITOR and FULL_ADMIN are cluster-wide;
 * PACKAGE_ADMIN is either cluster-wide (every package) or given in one package's file (that
 * package only). Secrets are never in the file, only the paths of the files that hold them.
 */

/** USER_ROLE, lowercase as the file writes it. */
export type ApiRole = "monitor" | "package_admin" | "full_admin";

export const API_ROLES: readonly ApiRole[] = ["monitor", "package_admin", "full_admin"];

/** One cluster-level entry of `api.users`. */
export interface ApiUser {
  /** USER_NAME: also the CN of the user's client certificate. */
  name: string;
  role: ApiRole;
  /** scrypt hash file (`pavise api passwd`): the user may log in with a password. */
  passwordFile?: string | undefined;
  /** SHA-256 file of a bearer token (`pavise api token`). */
  tokenFile?: string | undefined;
  /** USER_HOST: the source prefixes the user may come from; empty = any host. */
  from: string[];
}

/** One entry of a package's `access:`: PACKAGE_ADMIN for that package only. */
export interface PackageAccess {
  user: string;
  role: "package_admin";
  from: string[];
}

export interface ApiTlsConfig {
  /** The cluster CA: client certificates it signed are accepted. */
  ca: string;
  /** This node's server certificate and key; "{node}" is replaced by the node's name. */
  cert: string;
  key: string;
}

export interface ApiConfig {
  /** TCP listeners, "address:port" (the daemon also listens on a unix socket of its own). */
  listen: string[];
  tls: ApiTlsConfig;
  /** The same random key on every node, so a login works on any node or a VIP. */
  sessionKeyFile?: string | undefined;
  sessionTtlMs: number;
  /** none: every request needs a principal; monitor: read-only without one (closed networks). */
  anonymous: "none" | "monitor";
  users: ApiUser[];
}

/** One rule of the policy the daemon enforces: a user's role, for every package or for one. */
export interface AccessRule {
  user: string;
  role: ApiRole;
  /** PACKAGE_ADMIN of this package only; undefined: cluster-wide. */
  package?: string | undefined;
  /** USER_HOST prefixes (CIDR); empty = any host. */
  from: string[];
}

/**
 * What the API enforces, built from `api.users` and every package's `access:` (access-rules.ts).
 * Rebuilt when the configuration changes (design §3: users and access apply online).
 */
export interface AccessPolicy {
  rules: AccessRule[];
  anonymous: "none" | "monitor";
}
