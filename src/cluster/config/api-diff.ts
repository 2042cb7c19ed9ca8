import type { ConfigChange } from "./config-diff.js";
import type { ApiConfig, ClusterConfig } from "./model.js";

/**
 * What changes in the `api:` section and the packages' `access:` (docs/operator-surfaces-design.md
 * §3), for `pavise config apply`'s summary: who may do what applies online (each daemon rebuilds
 * its access policy from the applied file), while listeners, certificates and the session
 * settings are read when a daemon starts its server.
 */
export function diffApi(before: ClusterConfig, after: ClusterConfig): ConfigChange[] {
  const changes: ConfigChange[] = [];
  const a = before.api;
  const b = after.api;
  if (!a && b)
    changes.push({ subject: "api", what: `added (listen ${b.listen.join(", ")})`, effect: "daemon-restart" });
  if (a && !b) changes.push({ subject: "api", what: "removed (no HTTP API)", effect: "daemon-restart" });
  if (a && b) {
    if (!same(a.listen, b.listen)) {
      changes.push({
        subject: "api",
        what: `listen ${a.listen.join(", ")} → ${b.listen.join(", ")}`,
        effect: "daemon-restart",
      });
    }
    if (!same(a.tls, b.tls)) changes.push({ subject: "api", what: "tls changed", effect: "daemon-restart" });
    if (!same(sessionOf(a), sessionOf(b))) {
      changes.push({
        subject: "api",
        what: "session_key_file or session_ttl changed",
        effect: "daemon-restart",
      });
    }
    if (a.anonymous !== b.anonymous) {
      changes.push({ subject: "api", what: `anonymous ${a.anonymous} → ${b.anonymous}`, effect: "online" });
    }
    const users = (config: ApiConfig): Map<string, string> =>
      new Map(config.users.map((u) => [u.name, JSON.stringify(u)]));
    const had = users(a);
    const has = users(b);
    for (const user of b.users) {
      if (!had.has(user.name))
        changes.push({ subject: "api", what: `user ${user.name} added (${user.role})`, effect: "online" });
      else if (had.get(user.name) !== has.get(user.name)) {
        changes.push({ subject: "api", what: `user ${user.name} changed`, effect: "online" });
      }
    }
    for (const user of a.users) {
      if (!has.has(user.name))
        changes.push({ subject: "api", what: `user ${user.name} removed`, effect: "online" });
    }
  }
  const beforeAccess = new Map(before.packages.map((p) => [p.name, p.access ?? []]));
  for (const pkg of after.packages) {
    const old = beforeAccess.get(pkg.name);
    if (old !== undefined && !same(old, pkg.access ?? [])) {
      const names = (pkg.access ?? []).map((entry) => entry.user);
      changes.push({
        subject: `package ${pkg.name}`,
        what: `access ${names.join(", ") || "(none)"}`,
        effect: "online",
      });
    }
  }
  return changes;
}

function sessionOf(api: ApiConfig): unknown {
  return { file: api.sessionKeyFile, ttl: api.sessionTtlMs };
}

function same(x: unknown, y: unknown): boolean {
  return JSON.stringify(x) === JSON.stringify(y);
}
