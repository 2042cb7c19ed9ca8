import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { newBearerToken, tokenDigest } from "../api/auth/bearer-token.js";
import { hashPassword, type ScryptParams } from "../api/auth/password-hash.js";
import type { ApiRole } from "../cluster/config/api-model.js";
import { NODE_CERT_O, NODE_CERT_OU } from "../api/auth/principal.js";
import { createLabCa, issueCertificate, type LabCertificate } from "./lab-ca.js";
import type { Lab } from "./lab.js";

/**
 * Everything the HTTP API needs in a lab (design §2 "CLI and lab", §12 risk 8): a CA of its
 * own (apart from etcd's, whose client certificates have no CN), a server certificate per node
 * (SAN = the node's addresses and 127.0.0.1, for the console relay), client certificates
 * CN=admin (full_admin), CN=pkgadmin (package_admin) and CN=monitor (monitor), a password for
 * each of them (scrypt files; the plain text in <dir>/<user>.password, 0600, for the demo and
 * tests), a bearer token for the `prometheus` monitor user and the 32-byte session key. Written
 * under `dir`; `labApiSection` is the cluster file's `api:` section naming them.
 */
export interface LabApiUser {
  name: string;
  role: ApiRole;
}

export const LAB_API_USERS: readonly LabApiUser[] = [
  { name: "admin", role: "full_admin" },
  { name: "pkgadmin", role: "package_admin" },
  { name: "monitor", role: "monitor" },
];

/** The token user (Prometheus scraping /metrics). */
export const LAB_TOKEN_USER = "prometheus";

/** Where the lab's API listens on every node (design §3's default). */
export const LAB_API_PORT = 7443;

export interface LabApiCredentials {
  dir: string;
  caCert: string;
  /** Server certificate and key paths with "{node}" (api.tls). */
  serverCert: string;
  serverKey: string;
  /** Client certificates by user (CN = user). */
  clients: Record<string, LabCertificate>;
  /** Plain-text passwords by user (lab only). */
  passwords: Record<string, string>;
  passwordFiles: Record<string, string>;
  /** The prometheus user's bearer token, and its digest file. */
  token: string;
  tokenFile: string;
  sessionKeyFile: string;
}

export interface LabApiNode {
  name: string;
  addresses: string[];
}

/** The nodes' addresses in a lab (every NIC that has one). */
export function labApiNodes(lab: Lab, nodes: readonly string[]): LabApiNode[] {
  return nodes.map((name) => ({
    name,
    addresses: lab
      .host(name)
      .nics.map((n) => n.address)
      .filter((a): a is string => a !== undefined),
  }));
}

export async function createLabApiCredentials(
  dir: string,
  labName: string,
  nodes: readonly LabApiNode[],
  options: { scrypt?: ScryptParams } = {},
): Promise<LabApiCredentials> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await createLabCa(join(dir, "ca"), `${labName} API`);
  for (const node of nodes) {
    await issueCertificate(
      ca,
      `server-${node.name}`,
      [...node.addresses, "127.0.0.1"],
      // Also the node's client certificate when it forwards a read to the owner (owner-proxy.ts):
      // the API knows a node by exactly this subject (auth/principal.ts).
      `/O=${NODE_CERT_O}/OU=${NODE_CERT_OU}/CN=${node.name}`,
    );
  }
  const clients: Record<string, LabCertificate> = {};
  const passwords: Record<string, string> = {};
  const passwordFiles: Record<string, string> = {};
  for (const user of LAB_API_USERS) {
    clients[user.name] = await issueCertificate(ca, `client-${user.name}`, [], `/CN=${user.name}`);
    const password = randomBytes(12).toString("base64url");
    passwords[user.name] = password;
    secret(join(dir, `${user.name}.password`), `${password}\n`);
    passwordFiles[user.name] = secret(
      join(dir, `${user.name}.scrypt`),
      `${await hashPassword(password, options.scrypt)}\n`,
    );
  }
  const token = newBearerToken();
  secret(join(dir, `${LAB_TOKEN_USER}.token`), `${token}\n`);
  const tokenFile = secret(join(dir, `${LAB_TOKEN_USER}.sha256`), `${tokenDigest(token)}\n`);
  const sessionKeyFile = secret(join(dir, "session.key"), randomBytes(32));
  return {
    dir,
    caCert: ca.caCert,
    serverCert: join(ca.dir, "server-{node}.crt"),
    serverKey: join(ca.dir, "server-{node}.key"),
    clients,
    passwords,
    passwordFiles,
    token,
    tokenFile,
    sessionKeyFile,
  };
}

/** The cluster file's `api:` section for these credentials (top level, ending with a newline). */
export function labApiSection(
  creds: LabApiCredentials,
  listen: readonly string[] = [`0.0.0.0:${LAB_API_PORT}`],
): string {
  const q = (text: string): string => JSON.stringify(text);
  const users = LAB_API_USERS.map(
    (u) => `    - { name: ${u.name}, role: ${u.role}, password_file: ${q(creds.passwordFiles[u.name]!)} }\n`,
  ).join("");
  return `api:
  listen: [${listen.map(q).join(", ")}]
  tls: { ca: ${q(creds.caCert)}, cert: ${q(creds.serverCert)}, key: ${q(creds.serverKey)} }
  session_key_file: ${q(creds.sessionKeyFile)}
  users:
${users}    - { name: ${LAB_TOKEN_USER}, role: monitor, token_file: ${q(creds.tokenFile)} }
`;
}

function secret(file: string, content: string | Buffer): string {
  writeFileSync(file, content, { mode: 0o600 });
  return file;
}
