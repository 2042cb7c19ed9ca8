import { existsSync } from "node:fs";
import { PaviseError } from "../../util/errors.js";
import type { EtcdConfig } from "./model.js";

/**
 * Whose credentials a process uses to reach etcd. The cluster file is the same on every node,
 * but each node has its own client certificate and etcd user (README, "Protecting cluster
 * traffic"): etcd.tls may write "{node}" in any of its values, and a daemon puts its node's name
 * there. Operator commands are not a node: they take the operator's own credentials from the
 * environment, as etcdctl does (ETCDCTL_CERT, …), so one file serves every operator.
 */

export const NODE_PLACEHOLDER = "{node}";

/** The variables an operator command reads its etcd credentials from. */
export const OPERATOR_ETCD_ENV = {
  ca: "PAVISE_ETCD_CA",
  cert: "PAVISE_ETCD_CERT",
  key: "PAVISE_ETCD_KEY",
  user: "PAVISE_ETCD_USER",
  passwordFile: "PAVISE_ETCD_PASSWORD_FILE",
} as const;

export const ETCD_CREDENTIALS_INVALID = "ETCD_CREDENTIALS_INVALID";

type TlsField = keyof typeof OPERATOR_ETCD_ENV;
const FIELDS = Object.keys(OPERATOR_ETCD_ENV) as TlsField[];
const YAML_KEY: Record<TlsField, string> = {
  ca: "ca",
  cert: "cert",
  key: "key",
  user: "user",
  passwordFile: "password_file",
};

/** etcd's settings as the daemon of `node` uses them: "{node}" replaced by the node's name. */
export function etcdForNode(etcd: EtcdConfig, node: string): EtcdConfig {
  if (!etcd.tls) return etcd;
  const tls = { ...etcd.tls };
  for (const field of FIELDS) {
    const value = tls[field];
    if (value !== undefined) tls[field] = value.split(NODE_PLACEHOLDER).join(node);
  }
  return { ...etcd, tls };
}

/**
 * etcd's settings for an operator command: the file's, with what PAVISE_ETCD_* give instead.
 * Refused, with what to set, when a value would still name a node ("{node}"), when a pair is
 * given by half (cert without key, user without password file), or when a file is missing.
 */
export function etcdForOperator(
  etcd: EtcdConfig,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): EtcdConfig {
  const given = (field: TlsField): string | undefined => {
    const value = env[OPERATOR_ETCD_ENV[field]];
    return value === undefined || value === "" ? undefined : value;
  };
  const anyGiven = FIELDS.some((f) => given(f) !== undefined);
  if (!anyGiven && !etcd.tls) return etcd;
  if (!etcd.tls) {
    const set = FIELDS.filter((f) => given(f) !== undefined).map((f) => OPERATOR_ETCD_ENV[f]);
    throw new PaviseError(ETCD_CREDENTIALS_INVALID, `${set.join(", ")} set, but ${file} has no etcd.tls`, {
      where: { file, key: "etcd.tls" },
      hint: "give etcd.tls (and https:// endpoints) in the file, or unset the variables",
    });
  }
  for (const [a, b] of [
    ["cert", "key"],
    ["user", "passwordFile"],
  ] as const) {
    if ((given(a) === undefined) !== (given(b) === undefined)) {
      const [has, lacks] = given(a) === undefined ? [b, a] : [a, b];
      throw new PaviseError(
        ETCD_CREDENTIALS_INVALID,
        `${OPERATOR_ETCD_ENV[has]} is set but ${OPERATOR_ETCD_ENV[lacks]} is not`,
        { hint: `set both ${OPERATOR_ETCD_ENV[a]} and ${OPERATOR_ETCD_ENV[b]}, or neither` },
      );
    }
  }
  const tls = { ...etcd.tls };
  for (const field of FIELDS) {
    const value = given(field);
    if (value === undefined) continue;
    if (field !== "user" && !existsSync(value)) {
      throw new PaviseError(
        ETCD_CREDENTIALS_INVALID,
        `${OPERATOR_ETCD_ENV[field]} names ${value}, which does not exist`,
        { hint: `give the path of your operator's etcd ${YAML_KEY[field]} file` },
      );
    }
    tls[field] = value;
  }
  for (const field of FIELDS) {
    if (tls[field]?.includes(NODE_PLACEHOLDER)) {
      throw new PaviseError(
        ETCD_CREDENTIALS_INVALID,
        `etcd.tls.${YAML_KEY[field]} is a node's (${tls[field]}), and an operator command is not a node`,
        {
          where: { file, key: `etcd.tls.${YAML_KEY[field]}`, value: tls[field] },
          hint: `set ${OPERATOR_ETCD_ENV[field]}${field === "cert" ? ` and ${OPERATOR_ETCD_ENV.key}` : field === "user" ? ` and ${OPERATOR_ETCD_ENV.passwordFile}` : ""} to your operator's credentials`,
        },
      );
    }
  }
  return { ...etcd, tls };
}
