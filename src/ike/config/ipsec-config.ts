import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { isIP } from "node:net";
import { readYaml } from "../../config/yaml.js";
import { parseDuration, parseSize } from "../../config/durations.js";
import { type ConfigProblem, PaviseError } from "../../util/errors.js";
import { parseIdentity, type Identity } from "./identity.js";
import { parseTrafficSelector, type TrafficSelectorSpec } from "./traffic-selector-spec.js";

/**
 * The configuration of `pavise ipsec serve`: connections, their children and secrets, in YAML
 * with the names and meaning of swanctl.conf (swanctl.conf(5)), so strongSwan users read it at
 * once. Durations as "30s"/"4h", sizes as "64k"/"1G".
 */
export interface IpsecConfig {
  connections: ConnectionConfig[];
  /** Pre-shared keys by identity pair. */
  sharedKeys: SharedKey[];
}

export interface ConnectionConfig {
  name: string;
  /** Addresses this connection uses locally (IKE listens on each); empty = any. */
  localAddrs: string[];
  /** Peers: addresses or CIDR prefixes; empty = any peer may connect. */
  remoteAddrs: string[];
  /** IKE proposals in strongSwan syntax, most preferred first. */
  proposals: string[];
  local: AuthConfig;
  remote: AuthConfig;
  /** Send INITIAL_CONTACT in IKE_AUTH (RFC 7296 §2.4), so the peer drops stale SAs with us. */
  sendInitialContact: boolean;
  /** RFC 7383 IKE fragmentation: offer and accept it. */
  fragmentation: boolean;
  /** Force UDP encapsulation (fake NAT detection, RFC 7296 §2.23): ESP always in UDP/4500. */
  encap: boolean;
  /** Liveness check interval in ms (0: off). */
  dpdDelayMs: number;
  /** IKE SA rekey after this long (ms, 0: never), and hard expiry at rekey + over time. */
  rekeyTimeMs: number;
  overTimeMs: number;
  /** Random amount subtracted from rekey times so both ends do not rekey at once. */
  randTimeMs: number;
  retransmit: RetransmitConfig;
  children: ChildConfig[];
}

export interface AuthConfig {
  auth: "psk" | "pubkey";
  id: Identity;
  /** Certificate files (own chain for local; trust anchors for remote). */
  certs: string[];
  cacerts: string[];
  /** Private key file (local, pubkey). */
  key: string | undefined;
  /** Sign with RSASSA-PSS rather than PKCS#1 v1.5 when the key is RSA (strongSwan's rsa_pss). */
  rsaPss: boolean;
}

export interface RetransmitConfig {
  timeoutMs: number;
  base: number;
  tries: number;
}

export interface ChildConfig {
  name: string;
  localTs: TrafficSelectorSpec[];
  remoteTs: TrafficSelectorSpec[];
  espProposals: string[];
  mode: "tunnel" | "transport";
  rekeyTimeMs: number;
  lifeTimeMs: number;
  randTimeMs: number;
  rekeyBytes: number;
  lifeBytes: number;
  rekeyPackets: number;
  lifePackets: number;
  startAction: "none" | "start" | "trap";
  dpdAction: "clear" | "restart" | "trap";
  replayWindow: number;
}

export interface SharedKey {
  ids: Identity[];
  secret: Uint8Array;
}

export const DEFAULT_IKE_PROPOSALS = [
  "aes128gcm16-aes256gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-x25519-ecp256-ecp384-modp3072-modp2048",
  "aes128-aes256-sha256-sha384-sha512-prfsha256-prfsha384-prfsha512-x25519-ecp256-ecp384-modp3072-modp2048",
];
export const DEFAULT_ESP_PROPOSALS = [
  "aes128gcm16-aes256gcm16-chacha20poly1305",
  "aes128-aes256-sha256-sha384-sha512",
];

type Raw = Record<string, unknown>;
const isRecord = (v: unknown): v is Raw => typeof v === "object" && v !== null && !Array.isArray(v);

const CONNECTION_KEYS = [
  "local_addrs",
  "remote_addrs",
  "proposals",
  "local",
  "remote",
  "send_initial_contact",
  "fragmentation",
  "encap",
  "dpd_delay",
  "rekey_time",
  "over_time",
  "rand_time",
  "retransmit",
  "children",
  "version",
];
const AUTH_KEYS = ["auth", "id", "certs", "cacerts", "key", "rsa_pss"];
const CHILD_KEYS = [
  "local_ts",
  "remote_ts",
  "esp_proposals",
  "mode",
  "rekey_time",
  "life_time",
  "rand_time",
  "rekey_bytes",
  "life_bytes",
  "rekey_packets",
  "life_packets",
  "start_action",
  "dpd_action",
  "replay_window",
];

/** Reads the file into a checked configuration; every problem is reported at once. */
export function readIpsecConfig(file: string): IpsecConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new PaviseError("IPSEC_CONFIG_UNREADABLE", `cannot read ${file}: ${(err as Error).message}`, {
      where: { file },
      hint: "give the path of an IPsec configuration file (see examples/ipsec.yaml)",
    });
  }
  return parseIpsecConfig(text, file);
}

export function parseIpsecConfig(text: string, file?: string): IpsecConfig {
  const raw = readYaml(text, file, "IPSEC_CONFIG_INVALID") ?? {};
  const reader = new Reader(file);
  const config = reader.config(raw);
  if (reader.problems.length > 0) {
    const n = reader.problems.length;
    throw new PaviseError(
      "IPSEC_CONFIG_INVALID",
      `IPsec configuration has ${n} problem${n === 1 ? "" : "s"}`,
      {
        where: file ? { file } : {},
        problems: reader.problems,
      },
    );
  }
  return config;
}

/** Walks the raw YAML, collecting problems with their key paths instead of stopping at the first. */
class Reader {
  readonly problems: ConfigProblem[] = [];
  constructor(private readonly file: string | undefined) {}

  private problem(key: string, value: unknown, message: string, hint: string): void {
    this.problems.push({ ...(this.file ? { file: this.file } : {}), key, value, message, hint });
  }

  private known(raw: Raw, keys: readonly string[], path: string): void {
    for (const key of Object.keys(raw)) {
      if (!keys.includes(key))
        this.problem(`${path}.${key}`, raw[key], "unknown key", `use one of: ${keys.join(", ")}`);
    }
  }

  private list(raw: Raw, key: string, path: string): string[] | undefined {
    const value = raw[key];
    if (value === undefined) return undefined;
    const items = Array.isArray(value) ? value : [value];
    if (items.some((v) => typeof v !== "string" && typeof v !== "number")) {
      this.problem(`${path}.${key}`, value, "must be a string or a list of strings", `e.g. ${key}: [a, b]`);
      return [];
    }
    return items.map(String);
  }

  private duration(raw: Raw, key: string, path: string, fallback: number): number {
    if (raw[key] === undefined) return fallback;
    const ms = parseDuration(raw[key]);
    if (ms === undefined) {
      this.problem(
        `${path}.${key}`,
        raw[key],
        "is not a duration",
        "write e.g. 30s, 5m, 4h or 1d (0 turns it off)",
      );
      return fallback;
    }
    return ms;
  }

  private size(raw: Raw, key: string, path: string): number {
    if (raw[key] === undefined) return 0;
    const n = parseSize(raw[key]);
    if (n === undefined) {
      this.problem(
        `${path}.${key}`,
        raw[key],
        "is not a count",
        "write e.g. 1000000, 500k, 1G (0 turns it off)",
      );
      return 0;
    }
    return n;
  }

  private bool(raw: Raw, key: string, path: string, fallback: boolean): boolean {
    const value = raw[key];
    if (value === undefined) return fallback;
    if (typeof value === "boolean") return value;
    if (value === "yes") return true;
    if (value === "no") return false;
    this.problem(`${path}.${key}`, value, "must be yes or no", `${key}: yes`);
    return fallback;
  }

  private choice<T extends string>(
    raw: Raw,
    key: string,
    path: string,
    options: readonly T[],
    fallback: T,
  ): T {
    const value = raw[key];
    if (value === undefined) return fallback;
    if (typeof value === "string" && (options as readonly string[]).includes(value)) return value as T;
    this.problem(`${path}.${key}`, value, `must be one of ${options.join(", ")}`, `${key}: ${fallback}`);
    return fallback;
  }

  private path(file: string): string {
    return this.file ? resolve(dirname(this.file), file) : file;
  }

  config(raw: unknown): IpsecConfig {
    if (!isRecord(raw)) {
      this.problem("(top)", raw, "must be a mapping with connections and secrets", "see examples/ipsec.yaml");
      return { connections: [], sharedKeys: [] };
    }
    this.known(raw, ["connections", "secrets"], "(top)");
    const connections: ConnectionConfig[] = [];
    if (!isRecord(raw.connections)) {
      this.problem(
        "connections",
        raw.connections,
        "must be a mapping of connection names",
        "connections: { name: {...} }",
      );
    } else {
      for (const [name, value] of Object.entries(raw.connections))
        connections.push(this.connection(name, value));
    }
    return { connections, sharedKeys: this.secrets(raw.secrets) };
  }

  private connection(name: string, raw: unknown): ConnectionConfig {
    const path = `connections.${name}`;
    const c = isRecord(raw) ? raw : {};
    if (!isRecord(raw)) this.problem(path, raw, "must be a mapping", "see examples/ipsec.yaml");
    this.known(c, CONNECTION_KEYS, path);
    if (c.version !== undefined && c.version !== 2)
      this.problem(`${path}.version`, c.version, "only IKEv2 is supported", "version: 2");
    const localAddrs = this.list(c, "local_addrs", path) ?? [];
    localAddrs.forEach((a, i) => {
      if (!isIP(a)) this.problem(`${path}.local_addrs[${i}]`, a, "is not an IP address", "e.g. 198.18.1.11");
    });
    const remoteAddrs = (this.list(c, "remote_addrs", path) ?? []).filter((a) => a !== "%any");
    remoteAddrs.forEach((a, i) => {
      const [ip, len] = a.split("/");
      const ok =
        isIP(ip ?? "") !== 0 &&
        (len === undefined || (/^\d+$/.test(len) && Number(len) <= (isIP(ip ?? "") === 4 ? 32 : 128)));
      if (!ok)
        this.problem(
          `${path}.remote_addrs[${i}]`,
          a,
          "is not an address or prefix",
          "e.g. 198.18.1.101, 198.18.1.0/24 or %any",
        );
    });
    const rekeyTimeMs = this.duration(c, "rekey_time", path, 4 * 3_600_000);
    const overTimeMs = this.duration(c, "over_time", path, Math.round(rekeyTimeMs / 10));
    const retransmitRaw = isRecord(c.retransmit) ? c.retransmit : {};
    if (c.retransmit !== undefined && !isRecord(c.retransmit)) {
      this.problem(
        `${path}.retransmit`,
        c.retransmit,
        "must be a mapping",
        "retransmit: { timeout: 4s, base: 1.8, tries: 5 }",
      );
    }
    this.known(retransmitRaw, ["timeout", "base", "tries"], `${path}.retransmit`);
    const base = retransmitRaw.base ?? 1.8;
    const tries = retransmitRaw.tries ?? 5;
    if (typeof base !== "number" || base < 1)
      this.problem(`${path}.retransmit.base`, base, "must be a number of at least 1", "base: 1.8");
    if (typeof tries !== "number" || !Number.isInteger(tries) || tries < 0) {
      this.problem(`${path}.retransmit.tries`, tries, "must be a whole number", "tries: 5");
    }
    const childrenRaw = c.children;
    const children: ChildConfig[] = [];
    if (childrenRaw !== undefined && !isRecord(childrenRaw)) {
      this.problem(
        `${path}.children`,
        childrenRaw,
        "must be a mapping of child names",
        "children: { net: {...} }",
      );
    } else if (childrenRaw) {
      for (const [childName, value] of Object.entries(childrenRaw))
        children.push(this.child(`${path}.children.${childName}`, childName, value));
    }
    return {
      name,
      localAddrs,
      remoteAddrs,
      proposals: this.list(c, "proposals", path) ?? DEFAULT_IKE_PROPOSALS,
      local: this.auth(c.local, `${path}.local`, true),
      remote: this.auth(c.remote, `${path}.remote`, false),
      sendInitialContact: this.bool(c, "send_initial_contact", path, true),
      fragmentation: this.bool(c, "fragmentation", path, true),
      encap: this.bool(c, "encap", path, true),
      dpdDelayMs: this.duration(c, "dpd_delay", path, 30_000),
      rekeyTimeMs,
      overTimeMs,
      randTimeMs: this.duration(c, "rand_time", path, overTimeMs),
      retransmit: {
        timeoutMs: this.duration(retransmitRaw, "timeout", `${path}.retransmit`, 4_000),
        base: typeof base === "number" ? base : 1.8,
        tries: typeof tries === "number" ? tries : 5,
      },
      children,
    };
  }

  private auth(raw: unknown, path: string, local: boolean): AuthConfig {
    const a = isRecord(raw) ? raw : {};
    if (raw !== undefined && !isRecord(raw))
      this.problem(path, raw, "must be a mapping", "e.g. { auth: psk, id: 198.18.1.11 }");
    this.known(a, AUTH_KEYS, path);
    const auth = this.choice(a, "auth", path, ["psk", "pubkey"] as const, "psk");
    let id: Identity = { kind: "any" };
    if (a.id !== undefined) {
      const parsed =
        typeof a.id === "string" || typeof a.id === "number"
          ? parseIdentity(String(a.id))
          : { error: "must be a string" };
      if ("error" in parsed)
        this.problem(
          `${path}.id`,
          a.id,
          parsed.error,
          'e.g. 198.18.1.11, gw.example.org, user@example.org or "C=CH, CN=gw"',
        );
      else id = parsed;
    }
    if (local && id.kind === "any" && a.id !== undefined)
      this.problem(`${path}.id`, a.id, "the local identity cannot be %any", "give this side's own identity");
    const certs = (this.list(a, "certs", path) ?? []).map((f) => this.path(f));
    const key = typeof a.key === "string" ? this.path(a.key) : undefined;
    if (local && auth === "pubkey" && (certs.length === 0 || key === undefined)) {
      this.problem(
        path,
        a,
        "pubkey authentication needs certs and key",
        "add certs: [host.crt] and key: host.key",
      );
    }
    return {
      auth,
      id,
      certs,
      cacerts: (this.list(a, "cacerts", path) ?? []).map((f) => this.path(f)),
      key,
      rsaPss: this.bool(a, "rsa_pss", path, false),
    };
  }

  private child(path: string, name: string, raw: unknown): ChildConfig {
    const c = isRecord(raw) ? raw : {};
    if (!isRecord(raw))
      this.problem(
        path,
        raw,
        "must be a mapping",
        "e.g. { local_ts: [198.18.1.11/32], remote_ts: [198.18.1.101/32] }",
      );
    this.known(c, CHILD_KEYS, path);
    const selectors = (key: string): TrafficSelectorSpec[] =>
      (this.list(c, key, path) ?? ["dynamic"]).flatMap((text, i) => {
        const ts = parseTrafficSelector(text);
        if ("error" in ts) {
          this.problem(
            `${path}.${key}[${i}]`,
            text,
            ts.error,
            "e.g. 198.18.1.0/24, 198.18.1.11/32[tcp/443], dynamic",
          );
          return [];
        }
        return [ts];
      });
    const rekeyTimeMs = this.duration(c, "rekey_time", path, 3_600_000);
    const rekeyBytes = this.size(c, "rekey_bytes", path);
    const rekeyPackets = this.size(c, "rekey_packets", path);
    const replayWindow = c.replay_window ?? 64;
    if (
      typeof replayWindow !== "number" ||
      !Number.isInteger(replayWindow) ||
      replayWindow < 0 ||
      replayWindow > 4096
    ) {
      this.problem(
        `${path}.replay_window`,
        replayWindow,
        "must be a whole number from 0 to 4096",
        "replay_window: 64",
      );
    }
    return {
      name,
      localTs: selectors("local_ts"),
      remoteTs: selectors("remote_ts"),
      espProposals: this.list(c, "esp_proposals", path) ?? DEFAULT_ESP_PROPOSALS,
      mode: this.choice(c, "mode", path, ["tunnel", "transport"] as const, "tunnel"),
      rekeyTimeMs,
      lifeTimeMs: this.duration(c, "life_time", path, Math.round(rekeyTimeMs * 1.1)),
      randTimeMs: this.duration(c, "rand_time", path, Math.round(rekeyTimeMs / 10)),
      rekeyBytes,
      lifeBytes: c.life_bytes === undefined ? Math.round(rekeyBytes * 1.1) : this.size(c, "life_bytes", path),
      rekeyPackets,
      lifePackets:
        c.life_packets === undefined ? Math.round(rekeyPackets * 1.1) : this.size(c, "life_packets", path),
      startAction: this.choice(c, "start_action", path, ["none", "start", "trap"] as const, "none"),
      dpdAction: this.choice(c, "dpd_action", path, ["clear", "restart", "trap"] as const, "clear"),
      replayWindow: typeof replayWindow === "number" ? replayWindow : 64,
    };
  }

  private secrets(raw: unknown): SharedKey[] {
    if (raw === undefined) return [];
    if (!isRecord(raw)) {
      this.problem("secrets", raw, "must be a mapping", "secrets: { ike: [{ id: [a, b], secret: ... }] }");
      return [];
    }
    this.known(raw, ["ike"], "secrets");
    const list = raw.ike === undefined ? [] : Array.isArray(raw.ike) ? raw.ike : [raw.ike];
    return list.flatMap((entry: unknown, i): SharedKey[] => {
      const path = `secrets.ike[${i}]`;
      if (!isRecord(entry)) {
        this.problem(
          path,
          entry,
          "must be a mapping with id and secret",
          "{ id: [198.18.1.11, 198.18.1.101], secret: ... }",
        );
        return [];
      }
      this.known(entry, ["id", "secret"], path);
      const ids = (this.list(entry, "id", path) ?? []).flatMap((text, j) => {
        const id = parseIdentity(text);
        if ("error" in id) {
          this.problem(`${path}.id[${j}]`, text, id.error, "an identity as in connections");
          return [];
        }
        return [id];
      });
      if (typeof entry.secret === "number") {
        this.problem(
          `${path}.secret`,
          "(hidden)",
          "YAML read this secret as a number (digits or 0x…)",
          'quote it: secret: "0x…"',
        );
        return [];
      }
      const secret = secretBytes(entry.secret);
      if (!secret) {
        this.problem(
          `${path}.secret`,
          "(hidden)",
          "must be a non-empty string (0x… for hex)",
          'secret: 0x6b6579 or secret: "a long random phrase"',
        );
        return [];
      }
      return [{ ids, secret }];
    });
  }
}

/** A secret as swanctl writes it: "0x…" is hex, anything else its UTF-8 bytes. */
function secretBytes(value: unknown): Uint8Array | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  if (/^0x([0-9a-fA-F]{2})+$/.test(value)) return Uint8Array.from(Buffer.from(value.slice(2), "hex"));
  return new TextEncoder().encode(value);
}
