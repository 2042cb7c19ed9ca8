import { parseIdentity, type Identity } from "../../ike/config/identity.js";
import {
  AUTH_KEYS,
  type AuthConfig,
  CONNECTION_KEYS,
  ConnectionReader,
} from "../../ike/config/read-connections.js";
import { closest } from "./did-you-mean.js";
import { IPSEC_DEFAULTS } from "./defaults.js";
import type {
  PackageIpsecConfig,
  PackageIpsecConnection,
  PackageIpsecContact,
  RelocatableAddress,
} from "./model.js";
import { isRecord, keyPath, type Raw, type RawReader } from "./raw-reader.js";

/**
 * A package's `ipsec:` section (docs/ipsec-packages-design.md §3): the package's IKE identity
 * and credentials (file paths), how its adoptive node contacts known peers, and its connections
 * in the swanctl vocabulary of `pavise ipsec serve`, read by the same reader
 * (read-connections.ts). What the values mean together is validate-package-ipsec.ts.
 */
const IPSEC_KEYS = ["identity", "credentials", "contact", "peers_retention", "connections"];
const CREDENTIAL_KEYS = ["auth", "certs", "key", "rsa_pss"];
const CONTACT_KEYS = ["retry", "retry_max", "give_up", "parallel"];
/** Read here, beside the swanctl keys the shared reader knows. */
const PACKAGE_CONNECTION_KEYS = ["psk_file", "initiate"];
/**
 * Keys that would put a secret into the cluster file. `pavise config apply` stores the whole
 * file in etcd (`<prefix>config`), readable by every node and by anyone who backs etcd up
 * (design §4), so a secret here is refused rather than taken as an unknown key.
 */
const INLINE_SECRET_KEYS = ["secret", "secrets", "psk", "shared_key", "password", "private_key"];

export function readPackageIpsec(
  reader: RawReader,
  value: unknown,
  path: string,
  packageName: string,
  addresses: readonly RelocatableAddress[],
): PackageIpsecConfig | undefined {
  const ipsec = reader.mapping(value, path, "ipsec: { identity: web.example.org, connections: {...} }");
  if (!ipsec) return undefined;
  const raw = withoutInlineSecrets(reader, ipsec, path, packageName, IPSEC_KEYS);
  reader.known(raw, IPSEC_KEYS, path);
  const connectionReader = new ConnectionReader(reader, {
    // Paths are kept as written: every node reads them, so validation insists they be absolute.
    resolvePath: (file) => file,
    extraConnectionKeys: PACKAGE_CONNECTION_KEYS,
  });
  const packageAddresses = addresses.map((a) => a.address).filter((a) => a !== "");
  const local = readLocal(reader, raw, path, packageName, packageAddresses);
  const connectionsPath = keyPath(path, "connections");
  const connectionsRaw = reader.mapping(raw.connections, connectionsPath, "connections: { clients: {...} }");
  const connections = Object.entries(connectionsRaw ?? {}).map(([name, entry]) =>
    readConnection(reader, connectionReader, name, entry, keyPath(connectionsPath, name), {
      packageName,
      local,
    }),
  );
  if (raw.connections === undefined || raw.connections === null) {
    reader.problem(
      connectionsPath,
      raw.connections,
      "is missing",
      "add connections: { clients: { remote_addrs: [198.18.1.0/24], children: { net: {} } } }",
    );
  }
  return {
    local,
    contact: readContact(reader, raw, path),
    peersRetentionMs: reader.duration(raw, "peers_retention", path, {
      fallback: IPSEC_DEFAULTS.peersRetentionMs,
      example: "24h",
    }),
    connections,
  };
}

/** The package's side: identity (default the first ip_address) and credentials by file. */
function readLocal(
  reader: RawReader,
  raw: Raw,
  path: string,
  packageName: string,
  addresses: string[],
): AuthConfig {
  let id: Identity = addresses[0] !== undefined ? { kind: "ipv4", value: addresses[0] } : { kind: "any" };
  const text = reader.string(raw, "identity", path, "web.example.org");
  if (text !== undefined) {
    const parsed = parseIdentity(text);
    const at = keyPath(path, "identity");
    if ("error" in parsed) {
      reader.problem(at, text, parsed.error, "write e.g. identity: web.example.org or one of its ip_address");
    } else if (parsed.kind === "any") {
      reader.problem(
        at,
        text,
        "the package's own identity cannot be %any",
        "write e.g. identity: web.example.org",
      );
    } else {
      id = parsed;
    }
  }
  const credentialsPath = keyPath(path, "credentials");
  const given = reader.mapping(
    raw.credentials,
    credentialsPath,
    "credentials: { auth: pubkey, certs: [...], key: ... }",
  );
  const c = given ? withoutInlineSecrets(reader, given, credentialsPath, packageName, CREDENTIAL_KEYS) : {};
  reader.known(c, CREDENTIAL_KEYS, credentialsPath);
  if (raw.credentials === undefined || raw.credentials === null) {
    reader.problem(
      credentialsPath,
      raw.credentials,
      "is missing",
      "add credentials: { auth: pubkey, certs: [/etc/pavise/ipsec/<package>.crt], key: /etc/pavise/ipsec/<package>.key }",
    );
  }
  const key = reader.string(c, "key", credentialsPath, "/etc/pavise/ipsec/web.key");
  return {
    auth: reader.choice(c, "auth", credentialsPath, ["pubkey", "psk"] as const, "pubkey"),
    id,
    certs: reader.strings(c, "certs", credentialsPath, "[/etc/pavise/ipsec/web.crt]") ?? [],
    cacerts: [],
    key,
    rsaPss: reader.bool(c, "rsa_pss", credentialsPath, false),
  };
}

interface PackageSide {
  packageName: string;
  local: AuthConfig;
}

function readConnection(
  reader: RawReader,
  connectionReader: ConnectionReader,
  name: string,
  value: unknown,
  path: string,
  side: PackageSide,
): PackageIpsecConnection {
  const raw: Raw = isRecord(value)
    ? withoutInlineSecrets(reader, value, path, side.packageName, [
        ...CONNECTION_KEYS,
        ...PACKAGE_CONNECTION_KEYS,
      ])
    : {};
  for (const auth of ["remote", "local"]) {
    if (isRecord(raw[auth])) {
      raw[auth] = withoutInlineSecrets(reader, raw[auth], keyPath(path, auth), side.packageName, AUTH_KEYS);
    }
  }
  if (raw.local !== undefined) {
    reader.problem(
      keyPath(path, "local"),
      raw.local,
      "a package has one own side for all its connections: ipsec.identity and ipsec.credentials",
      "move id to ipsec.identity and certs/key to ipsec.credentials, then remove local",
    );
    delete raw.local;
  }
  const connection = connectionReader.connection(name, isRecord(value) ? raw : value, path);
  return {
    // local_addrs stays as written: empty means all the package's addresses (design §3), filled in
    // when the package starts, so adding an address is not an ipsec change.
    connection: { ...connection, local: side.local },
    initiate: reader.bool(raw, "initiate", path, true),
    pskFile: reader.string(
      raw,
      "psk_file",
      path,
      `/etc/pavise/ipsec/${side.packageName || "web"}/${name}.psk`,
    ),
  };
}

function readContact(reader: RawReader, raw: Raw, path: string): PackageIpsecContact {
  const at = keyPath(path, "contact");
  const c =
    reader.mapping(raw.contact, at, "contact: { retry: 1s, retry_max: 60s, give_up: 10m, parallel: 32 }") ??
    {};
  reader.known(c, CONTACT_KEYS, at);
  return {
    retryMs: reader.duration(c, "retry", at, { fallback: IPSEC_DEFAULTS.contactRetryMs, example: "1s" }),
    retryMaxMs: reader.duration(c, "retry_max", at, {
      fallback: IPSEC_DEFAULTS.contactRetryMaxMs,
      example: "60s",
    }),
    giveUpMs: reader.duration(c, "give_up", at, { fallback: IPSEC_DEFAULTS.contactGiveUpMs, example: "10m" }),
    parallel: reader.integer(c, "parallel", at, IPSEC_DEFAULTS.contactParallel, "32"),
  };
}

/**
 * A copy without secret-bearing keys, each refused with where to put the secret instead. A
 * misspelt one (secert:) counts too: as an unknown key its value would be printed.
 */
function withoutInlineSecrets(
  reader: RawReader,
  raw: Raw,
  path: string,
  packageName: string,
  known: readonly string[],
): Raw {
  const copy: Raw = { ...raw };
  for (const key of Object.keys(raw)) {
    if (known.includes(key) || closest(key, INLINE_SECRET_KEYS) === undefined) continue;
    reader.problem(
      keyPath(path, key),
      "(hidden)",
      "secrets are not allowed in the cluster file: pavise config apply stores it in etcd, where every node and every etcd backup can read it",
      `put the key in a file on each node of node_name (root, mode 0600) and name it in the connection: psk_file: /etc/pavise/ipsec/${packageName || "web"}/peer.psk`,
    );
    delete copy[key];
  }
  return copy;
}
