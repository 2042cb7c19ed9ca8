import type { AccessPolicy, AccessRule, ClusterConfig } from "../../cluster/config/model.js";

/**
 * The policy the API enforces, from a checked cluster configuration: the cluster-level
 * `api.users` (USER_ROLE for the whole cluster) and every package's `access:` (PACKAGE_ADMIN of
 * that package). Undefined when the file has no `api:` section: then there is no API.
 */
export function accessPolicyOf(config: ClusterConfig): AccessPolicy | undefined {
  const api = config.api;
  if (!api) return undefined;
  const rules: AccessRule[] = api.users.map((u) => ({ user: u.name, role: u.role, from: u.from }));
  for (const pkg of config.packages) {
    for (const entry of pkg.access ?? []) {
      rules.push({ user: entry.user, role: entry.role, package: pkg.name, from: entry.from });
    }
  }
  return { rules, anonymous: api.anonymous };
}
