import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NODE_PLACEHOLDER, OPERATOR_ETCD_ENV } from "../cluster/config/etcd-credentials.js";
import type { HostRuntime } from "./host-runtime.js";
import { type LabCa, issueCertificate } from "./lab-ca.js";
import type { PlannedEtcd, PlannedEtcdAuth } from "./plan.js";

/**
 * etcd's authentication in the lab (lab spec `etcd: {tls: true, auth: true}`), the way README's
 * "Protecting cluster traffic" tells an administrator to set it up:
 *
 * - root (needed by `etcdctl auth enable`) authenticates with a certificate whose CN is "root":
 *   etcdctl talks gRPC, where etcd (--client-cert-auth) takes the CN as the user. The lab's
 *   tooling (health, move-leader) uses it.
 * - Pavise talks to etcd's JSON gateway, and etcd ≥ 3.4.10 refuses any gateway request whose
 *   client certificate has a CN while client-certificate authentication is on. So each Pavise
 *   user (a node, an operator, a monitor) has a cluster-CA certificate without a CN (O=pavise,
 *   OU=<user>: it only gets the connection through TLS) and an etcd user with a password.
 *
 * Roles, on the cluster's prefix P (src/cluster/membership/layout.ts):
 * - pavise-node: readwrite P — a daemon writes every part of the layout.
 * - pavise-operator: read P; readwrite P+admin/ (pkg, node commands), P+resources/
 *   (resource set), P+events/ (each command appends its event), P+config and
 *   P+config-history/ (config apply). Not owners/, leader, placements, status/, nodes/,
 *   ipsec/: a stolen operator certificate cannot take or drop a package's ownership.
 * - pavise-monitor: read P (pavise status, pavise events).
 */

export const ROLE_NODE = "pavise-node";
export const ROLE_OPERATOR = "pavise-operator";
export const ROLE_MONITOR = "pavise-monitor";
export const OPERATOR_USER = "operator";
export const MONITOR_USER = "monitor";

/** A Pavise client's credentials: certificate without CN, and its etcd user's password file. */
export interface EtcdUserFiles {
  user: string;
  cert: string;
  key: string;
  passwordFile: string;
}

function caDir(runtime: HostRuntime): string {
  return join(runtime.labDir, "ca");
}

/** Where the lab keeps `user`'s files; `user` may be "{node}" (a cluster file's etcd.tls). */
export function etcdUserFiles(runtime: HostRuntime, user: string): EtcdUserFiles {
  const dir = caDir(runtime);
  return {
    user,
    cert: join(dir, `user-${user}.crt`),
    key: join(dir, `user-${user}.key`),
    passwordFile: join(dir, `user-${user}.password`),
  };
}

/**
 * The PAVISE_ETCD_* variables (etcd-credentials.ts) that make an operator command use `user`'s
 * credentials, e.g. OPERATOR_USER or MONITOR_USER.
 */
export function etcdUserEnv(runtime: HostRuntime, user: string): Record<string, string> {
  const files = etcdUserFiles(runtime, user);
  return {
    [OPERATOR_ETCD_ENV.cert]: files.cert,
    [OPERATOR_ETCD_ENV.key]: files.key,
    [OPERATOR_ETCD_ENV.user]: user,
    [OPERATOR_ETCD_ENV.passwordFile]: files.passwordFile,
  };
}

/**
 * A cluster file's etcd.tls for the lab's etcd (YAML flow mapping): with authentication, each
 * node's own certificate and user through "{node}"; without, the lab's client certificate.
 */
export function labEtcdTlsYaml(runtime: HostRuntime, etcd: PlannedEtcd): string | undefined {
  if (!etcd.tls) return undefined;
  const ca = join(caDir(runtime), "ca.crt");
  if (!etcd.auth) {
    const dir = caDir(runtime);
    return `{ ca: "${ca}", cert: "${join(dir, "client.crt")}", key: "${join(dir, "client.key")}" }`;
  }
  const files = etcdUserFiles(runtime, NODE_PLACEHOLDER);
  return `{ ca: "${ca}", cert: "${files.cert}", key: "${files.key}", user: "${NODE_PLACEHOLDER}", password_file: "${files.passwordFile}" }`;
}

/** root's certificate (CN root): what the lab's etcdctl uses once authentication is on. */
export function etcdRootTls(runtime: HostRuntime): { cert: string; key: string } {
  const dir = caDir(runtime);
  return { cert: join(dir, "root.crt"), key: join(dir, "root.key") };
}

/** Every user the lab makes, with its role (root aside). */
export function etcdAuthUsers(auth: PlannedEtcdAuth): { user: string; role: string }[] {
  return [
    ...auth.nodeUsers.map((user) => ({ user, role: ROLE_NODE })),
    { user: OPERATOR_USER, role: ROLE_OPERATOR },
    { user: MONITOR_USER, role: ROLE_MONITOR },
  ];
}

/**
 * The etcdctl commands (arguments after `etcdctl --endpoints … --cert root.crt …`) that turn
 * authentication on, in order; `password(user)` gives each user's password. Pure, so the README
 * and a unit test can show exactly what the lab runs.
 */
export function etcdAuthCommands(auth: PlannedEtcdAuth, password: (user: string) => string): string[][] {
  const p = auth.prefix;
  const grant = (role: string, perm: string, key: string, prefix = true): string[] => [
    "role",
    "grant-permission",
    role,
    ...(prefix ? ["--prefix=true"] : []),
    perm,
    key,
  ];
  return [
    ["user", "add", `root:${password("root")}`, "--interactive=false"],
    ["user", "grant-role", "root", "root"],
    ["role", "add", ROLE_NODE],
    grant(ROLE_NODE, "readwrite", p),
    ["role", "add", ROLE_OPERATOR],
    grant(ROLE_OPERATOR, "read", p),
    grant(ROLE_OPERATOR, "readwrite", `${p}admin/`),
    grant(ROLE_OPERATOR, "readwrite", `${p}resources/`),
    grant(ROLE_OPERATOR, "readwrite", `${p}events/`),
    grant(ROLE_OPERATOR, "readwrite", `${p}config`, false),
    grant(ROLE_OPERATOR, "readwrite", `${p}config-history/`),
    ["role", "add", ROLE_MONITOR],
    grant(ROLE_MONITOR, "read", p),
    ...etcdAuthUsers(auth).flatMap(({ user, role }) => [
      ["user", "add", `${user}:${password(user)}`, "--interactive=false"],
      ["user", "grant-role", user, role],
    ]),
    ["auth", "enable"],
  ];
}

/** Issues root's certificate and each user's certificate (no CN) and password file. */
export async function issueEtcdUserCredentials(
  ca: LabCa,
  runtime: HostRuntime,
  auth: PlannedEtcdAuth,
): Promise<void> {
  await issueCertificate(ca, "root", []);
  const root = join(caDir(runtime), "root.password");
  writeFileSync(root, `${randomBytes(18).toString("base64url")}\n`, { mode: 0o600 });
  for (const { user } of etcdAuthUsers(auth)) {
    const files = etcdUserFiles(runtime, user);
    await issueCertificate(ca, `user-${user}`, [], `/O=pavise/OU=${user}`);
    writeFileSync(files.passwordFile, `${randomBytes(18).toString("base64url")}\n`, { mode: 0o600 });
  }
}

/** Runs etcdAuthCommands with root's certificate, from the first member's host. */
export async function enableEtcdAuth(
  runtime: HostRuntime,
  etcd: PlannedEtcd,
  etcdctl: string[],
): Promise<void> {
  const auth = etcd.auth;
  const host = etcd.members[0]?.host;
  if (!auth || host === undefined) return;
  const password = (user: string): string =>
    readFileSync(
      user === "root" ? join(caDir(runtime), "root.password") : etcdUserFiles(runtime, user).passwordFile,
      "utf8",
    ).trim();
  for (const command of etcdAuthCommands(auth, password)) {
    await runtime.exec(host, [...etcdctl, ...command], { timeoutMs: 10_000 });
  }
}
