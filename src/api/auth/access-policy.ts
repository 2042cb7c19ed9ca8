import type { ApiRole } from "../../cluster/config/api-model.js";

/**
 * Who may do what through the API (design §4), with Serviceguard's access control policy
 * semantics. Pure: a principal's grants (already filtered by USER_HOST: principal.ts) and an
 * action in, allowed or the reason why not out. The daemon is the only gate: it writes intents
 * with its own etcd user, so etcd cannot tell users apart (design §12 risk 2).
 *
 * - MONITOR: read everything (every GET, the event stream, /metrics); no package log, no action.
 * - PACKAGE_ADMIN: MONITOR, plus the log and every package action (cmrunpkg, cmhaltpkg,
 *   cmmodpkg -e/-d/-n, maintenance, generic resources) on its packages: every package when given
 *   in the cluster file, one package when given in that package's `access:`.
 * - FULL_ADMIN: all of that on every package, plus cmhaltnode / cmrunnode. Configuring the
 *   cluster is not an API action at all (root only, as in Serviceguard).
 */
export type ApiAction = "read" | "package-log" | "package-operate" | "package-resource" | "node-operate";

/** One role a principal holds: for every package, or (PACKAGE_ADMIN) for one. */
export interface Grant {
  role: ApiRole;
  package?: string | undefined;
}

export interface PolicySubject {
  user: string;
  grants: readonly Grant[];
}

export type Decision = { ok: true } | { ok: false; needs: string; message: string };

const RANK: Record<ApiRole, number> = { monitor: 1, package_admin: 2, full_admin: 3 };

/** What each action is called in a refusal ("bob may not halt node n2: …"). */
const VERB: Record<ApiAction, (pkg: string | undefined) => string> = {
  read: () => "read the cluster",
  "package-log": (pkg) => `read the log of package ${pkg ?? "(any)"}`,
  "package-operate": (pkg) => `run, halt, move or switch package ${pkg ?? "(any)"}`,
  "package-resource": (pkg) => `set the generic resources of package ${pkg ?? "(any)"}`,
  "node-operate": () => "halt or run a node",
};

export function may(subject: PolicySubject, action: ApiAction, pkg?: string): Decision {
  if (subject.grants.some((grant) => grants(grant, action, pkg))) return { ok: true };
  const needs = needed(action, pkg);
  return { ok: false, needs, message: `${subject.user} may not ${VERB[action](pkg)}: this needs ${needs}` };
}

/** Whether one grant covers the action. A package action without a package needs a cluster-wide role. */
function grants(grant: Grant, action: ApiAction, pkg: string | undefined): boolean {
  switch (action) {
    case "read":
      return RANK[grant.role] >= RANK.monitor;
    case "package-log":
    case "package-operate":
    case "package-resource":
      if (grant.role === "full_admin") return grant.package === undefined;
      if (grant.role !== "package_admin") return false;
      return grant.package === undefined || (pkg !== undefined && grant.package === pkg);
    case "node-operate":
      return grant.role === "full_admin" && grant.package === undefined;
  }
}

function needed(action: ApiAction, pkg: string | undefined): string {
  switch (action) {
    case "read":
      return "monitor";
    case "node-operate":
      return "full_admin";
    default:
      return pkg === undefined
        ? "package_admin (all packages) or full_admin"
        : `package_admin for ${pkg} or full_admin`;
  }
}

/** For `GET /v1/session`: the highest role held, and the packages it may act on. */
export function summarise(grantList: readonly Grant[]): {
  role: ApiRole | undefined;
  packages: string[] | "all";
} {
  let role: ApiRole | undefined;
  for (const grant of grantList) if (role === undefined || RANK[grant.role] > RANK[role]) role = grant.role;
  if (grantList.some((g) => g.package === undefined && g.role !== "monitor"))
    return { role, packages: "all" };
  const packages = grantList.flatMap((g) => (g.package !== undefined ? [g.package] : []));
  return { role, packages: [...new Set(packages)].sort() };
}
