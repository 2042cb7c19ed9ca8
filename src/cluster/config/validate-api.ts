import { isAbsolute } from "node:path";
import { parseIpv4, parsePrefix } from "../../net/ipv4.js";
import type { ClusterConfig } from "./model.js";
import { isName, NAME_RULE } from "./names.js";
import type { ProblemList } from "./raw-reader.js";
import { durationRange } from "./duration-range.js";

/**
 * The `api:` section and the packages' `access:` against the rest of the cluster
 * (docs/operator-surfaces-design.md §3, §4), in the terms of Serviceguard's access control
 * policies: each rule is a USER_NAME, its USER_HOST (`from`) and a USER_ROLE.
 *
 * - A user has one role in the cluster file: listed once in api.users, or only in packages'
 *   access: (PACKAGE_ADMIN of each of those packages). Serviceguard refuses conflicting policies.
 * - A user is never named like a node (a certificate CN=n2 must not pose as node n2) nor like a
 *   principal the daemon makes itself (root on the control socket, anonymous).
 * - Secrets are files on each node, named by absolute paths; password logins need the session key.
 */
const RESERVED_USERS = ["root", "anonymous"];

export function validateApi(config: ClusterConfig, problems: ProblemList): void {
  const api = config.api;
  const nodeNames = new Set(config.nodes.map((n) => n.name));
  if (!api) {
    config.packages.forEach((pkg, i) => {
      if (pkg.access !== undefined && pkg.access.length > 0) {
        problems.add(
          `packages[${i}].access`,
          pkg.access.map((a) => a.user),
          "has no effect: the cluster file has no api: section, so there is no API to give access to",
          "add an api: section (docs/operator-surfaces-design.md §3), or remove access",
        );
      }
    });
    return;
  }
  validateListen(api.listen, problems);
  absolutePath(api.tls.ca, "api.tls.ca", "ca.crt", problems);
  absolutePath(api.tls.cert, "api.tls.cert", "{node}.crt", problems);
  absolutePath(api.tls.key, "api.tls.key", "{node}.key", problems);
  if (api.sessionKeyFile !== undefined)
    absolutePath(api.sessionKeyFile, "api.session_key_file", "session.key", problems);
  durationRange(api.sessionTtlMs, "api.session_ttl", 60_000, 7 * 86_400_000, "session_ttl: 8h", problems);

  const cluster = new Map<string, number>();
  api.users.forEach((user, i) => {
    const at = `api.users[${i}]`;
    userName(user.name, `${at}.name`, nodeNames, problems);
    const first = cluster.get(user.name);
    if (first !== undefined) {
      problems.add(
        `${at}.name`,
        user.name,
        `is listed twice (also api.users[${first}]): a user has one role in the cluster`,
        `keep one entry for ${user.name} with the role it needs`,
      );
    } else cluster.set(user.name, i);
    if (user.passwordFile !== undefined)
      absolutePath(user.passwordFile, `${at}.password_file`, `users/${user.name}.scrypt`, problems);
    if (user.tokenFile !== undefined)
      absolutePath(user.tokenFile, `${at}.token_file`, `users/${user.name}.sha256`, problems);
    if (user.passwordFile !== undefined && api.sessionKeyFile === undefined) {
      problems.add(
        `${at}.password_file`,
        user.passwordFile,
        "a password login gives a session cookie, which needs api.session_key_file",
        "add session_key_file: /etc/pavise/api/session.key (32 random bytes, the same on every node)",
      );
    }
    hostPrefixes(user.from, `${at}.from`, problems);
  });

  config.packages.forEach((pkg, i) => {
    const inPackage = new Set<string>();
    (pkg.access ?? []).forEach((entry, j) => {
      const at = `packages[${i}].access[${j}]`;
      userName(entry.user, `${at}.user`, nodeNames, problems);
      const clusterEntry = cluster.get(entry.user);
      if (clusterEntry !== undefined) {
        problems.add(
          `${at}.user`,
          entry.user,
          `already has role ${api.users[clusterEntry]?.role} in api.users[${clusterEntry}]: a user has one role in the cluster, and a package access policy may not conflict with it`,
          `remove ${entry.user} here (package_admin and full_admin in api.users already reach every package), or remove it from api.users`,
        );
      }
      if (inPackage.has(entry.user)) {
        problems.add(`${at}.user`, entry.user, `is listed twice in ${pkg.name}'s access`, "keep one entry");
      }
      inPackage.add(entry.user);
      hostPrefixes(entry.from, `${at}.from`, problems);
    });
  });
}

/** "address:port" (IPv4; 0.0.0.0 = every address of the node). */
function validateListen(listen: string[], problems: ProblemList): void {
  const seen = new Set<string>();
  listen.forEach((entry, i) => {
    const key = `api.listen[${i}]`;
    const match = /^([0-9.]+):([0-9]{1,5})$/.exec(entry);
    const port = match ? Number(match[2]) : NaN;
    if (!match || parseIpv4(match[1] as string) === undefined || port < 1 || port > 65535) {
      problems.add(
        key,
        entry,
        "is not an IPv4 address and port",
        "write e.g. 0.0.0.0:7443 or 198.18.2.11:7443",
      );
      return;
    }
    if (seen.has(entry)) problems.add(key, entry, "is listed twice", "remove one");
    seen.add(entry);
  });
}

function userName(name: string, key: string, nodeNames: Set<string>, problems: ProblemList): void {
  if (name === "") return; // Reported as missing by the reader.
  if (!isName(name)) {
    problems.add(key, name, `is not a user name: ${NAME_RULE}`, "write e.g. alice");
  } else if (nodeNames.has(name)) {
    problems.add(
      key,
      name,
      "is the name of a node: a client certificate with CN=" + name + " could pose as that node",
      "give the user another name",
    );
  } else if (RESERVED_USERS.includes(name)) {
    problems.add(
      key,
      name,
      `is reserved: the daemon calls ${name === "root" ? "root on its control socket" : "a request without credentials"} that`,
      "give the user another name",
    );
  }
}

/** USER_HOST as CIDR prefixes; an empty list admits any host. */
function hostPrefixes(from: string[], key: string, problems: ProblemList): void {
  from.forEach((text, i) => {
    const bare = parseIpv4(text);
    if (bare !== undefined) return; // One host: principal.ts reads it as /32.
    if (parsePrefix(text) === undefined) {
      problems.add(
        `${key}[${i}]`,
        text,
        "is not an IPv4 prefix",
        "write e.g. 198.18.2.0/24 or 198.18.2.101/32",
      );
    }
  });
}

function absolutePath(file: string, key: string, example: string, problems: ProblemList): void {
  if (file === "" || isAbsolute(file)) return;
  problems.add(
    key,
    file,
    "must be an absolute path: it names a file on every node",
    `write e.g. /etc/pavise/api/${example}`,
  );
}
