import { isIP } from "node:net";
import { parseDuration, parseSize } from "../../config/durations.js";
import { parseIdentity, type Identity } from "./identity.js";
import { parseTrafficSelector, type TrafficSelectorSpec } from "./traffic-selector-spec.js";

/**
 * A `connections:` mapping in swanctl.conf vocabulary (swanctl.conf(5)): connections, their
 * local and remote authentication, and their children with traffic selectors, proposals and
 * lifetimes. One reader for both places that hold connections: the file of `pavise ipsec serve`
 * (ipsec-config.ts) and a cluster package's `ipsec:` section (read-package-ipsec.ts). Problems
 * go to the caller's sink with their key paths, so each file reports them its own way.
 */

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
  /**
   * swanctl.conf(5) keyingtries: how many retransmission sequences an initiation (start_action,
   * dpd_action or close_action restart) gets before it gives up; 0 = until it succeeds.
   */
  keyingtries: number;
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
  /** swanctl.conf(5) close_action: after the peer DELETEs it, "start" sets it up again. */
  closeAction: "none" | "start";
  replayWindow: number;
}

export const DEFAULT_IKE_PROPOSALS = [
  "aes128gcm16-aes256gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-x25519-ecp256-ecp384-modp3072-modp2048",
  "aes128-aes256-sha256-sha384-sha512-prfsha256-prfsha384-prfsha512-x25519-ecp256-ecp384-modp3072-modp2048",
];
export const DEFAULT_ESP_PROPOSALS = [
  "aes128gcm16-aes256gcm16-chacha20poly1305",
  "aes128-aes256-sha256-sha384-sha512",
];

export type Raw = Record<string, unknown>;
export const isRecord = (v: unknown): v is Raw => typeof v === "object" && v !== null && !Array.isArray(v);

export const CONNECTION_KEYS = [
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
  "keyingtries",
  "children",
  "version",
];
export const AUTH_KEYS = ["auth", "id", "certs", "cacerts", "key", "rsa_pss"];
export const CHILD_KEYS = [
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
  "close_action",
  "replay_window",
];

/** Where the reader reports: a problem, and the keys of a mapping that are not known. */
export interface ConnectionProblemSink {
  problem(key: string, value: unknown, message: string, hint: string): void;
  known(raw: Raw, keys: readonly string[], path: string): void;
}

export interface ConnectionReaderOptions {
  /** A file named in the configuration → the path read at run time (e.g. relative to the file). */
  resolvePath: (file: string) => string;
  /** Connection keys the caller reads itself, beside swanctl's (a package's psk_file, initiate). */
  extraConnectionKeys?: readonly string[];
}

export class ConnectionReader {
  constructor(
    private readonly sink: ConnectionProblemSink,
    private readonly options: ConnectionReaderOptions,
  ) {}

  private list(raw: Raw, key: string, path: string): string[] | undefined {
    const value = raw[key];
    if (value === undefined) return undefined;
    const items = Array.isArray(value) ? value : [value];
    if (items.some((v) => typeof v !== "string" && typeof v !== "number")) {
      this.sink.problem(
        `${path}.${key}`,
        value,
        "must be a string or a list of strings",
        `e.g. ${key}: [a, b]`,
      );
      return [];
    }
    return items.map(String);
  }

  private duration(raw: Raw, key: string, path: string, fallback: number): number {
    if (raw[key] === undefined) return fallback;
    const ms = parseDuration(raw[key]);
    if (ms === undefined) {
      this.sink.problem(
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
      this.sink.problem(
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
    this.sink.problem(`${path}.${key}`, value, "must be yes or no", `${key}: yes`);
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
    this.sink.problem(`${path}.${key}`, value, `must be one of ${options.join(", ")}`, `${key}: ${fallback}`);
    return fallback;
  }

  /** One connection (a `connections:` entry) at key path `path`. */
  connection(name: string, raw: unknown, path: string): ConnectionConfig {
    const c = isRecord(raw) ? raw : {};
    if (!isRecord(raw)) this.sink.problem(path, raw, "must be a mapping", "see examples/ipsec.yaml");
    this.sink.known(c, [...CONNECTION_KEYS, ...(this.options.extraConnectionKeys ?? [])], path);
    if (c.version !== undefined && c.version !== 2)
      this.sink.problem(`${path}.version`, c.version, "only IKEv2 is supported", "version: 2");
    const localAddrs = this.list(c, "local_addrs", path) ?? [];
    localAddrs.forEach((a, i) => {
      if (!isIP(a))
        this.sink.problem(`${path}.local_addrs[${i}]`, a, "is not an IP address", "e.g. 198.18.1.11");
    });
    const remoteAddrs = (this.list(c, "remote_addrs", path) ?? []).filter((a) => a !== "%any");
    remoteAddrs.forEach((a, i) => {
      const [ip, len] = a.split("/");
      const ok =
        isIP(ip ?? "") !== 0 &&
        (len === undefined || (/^\d+$/.test(len) && Number(len) <= (isIP(ip ?? "") === 4 ? 32 : 128)));
      if (!ok)
        this.sink.problem(
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
      this.sink.problem(
        `${path}.retransmit`,
        c.retransmit,
        "must be a mapping",
        "retransmit: { timeout: 4s, base: 1.8, tries: 5 }",
      );
    }
    this.sink.known(retransmitRaw, ["timeout", "base", "tries"], `${path}.retransmit`);
    const base = retransmitRaw.base ?? 1.8;
    const tries = retransmitRaw.tries ?? 5;
    if (typeof base !== "number" || base < 1)
      this.sink.problem(`${path}.retransmit.base`, base, "must be a number of at least 1", "base: 1.8");
    if (typeof tries !== "number" || !Number.isInteger(tries) || tries < 0) {
      this.sink.problem(`${path}.retransmit.tries`, tries, "must be a whole number", "tries: 5");
    }
    const keyingtries = c.keyingtries ?? 1;
    if (typeof keyingtries !== "number" || !Number.isInteger(keyingtries) || keyingtries < 0) {
      this.sink.problem(
        `${path}.keyingtries`,
        keyingtries,
        "must be a whole number (0 = keep trying)",
        "keyingtries: 0 to retry until the peer answers, 1 (the default) to try once",
      );
    }
    const childrenRaw = c.children;
    const children: ChildConfig[] = [];
    if (childrenRaw !== undefined && !isRecord(childrenRaw)) {
      this.sink.problem(
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
      keyingtries:
        typeof keyingtries === "number" && Number.isInteger(keyingtries) && keyingtries >= 0
          ? keyingtries
          : 1,
      children,
    };
  }

  private auth(raw: unknown, path: string, local: boolean): AuthConfig {
    const a = isRecord(raw) ? raw : {};
    if (raw !== undefined && !isRecord(raw))
      this.sink.problem(path, raw, "must be a mapping", "e.g. { auth: psk, id: 198.18.1.11 }");
    this.sink.known(a, AUTH_KEYS, path);
    const auth = this.choice(a, "auth", path, ["psk", "pubkey"] as const, "psk");
    let id: Identity = { kind: "any" };
    if (a.id !== undefined) {
      const parsed =
        typeof a.id === "string" || typeof a.id === "number"
          ? parseIdentity(String(a.id))
          : { error: "must be a string" };
      if ("error" in parsed)
        this.sink.problem(
          `${path}.id`,
          a.id,
          parsed.error,
          'e.g. 198.18.1.11, gw.example.org, user@example.org or "C=CH, CN=gw"',
        );
      else id = parsed;
    }
    if (local && id.kind === "any" && a.id !== undefined)
      this.sink.problem(
        `${path}.id`,
        a.id,
        "the local identity cannot be %any",
        "give this side's own identity",
      );
    const certs = (this.list(a, "certs", path) ?? []).map((f) => this.options.resolvePath(f));
    const key = typeof a.key === "string" ? this.options.resolvePath(a.key) : undefined;
    if (local && auth === "pubkey" && (certs.length === 0 || key === undefined)) {
      this.sink.problem(
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
      cacerts: (this.list(a, "cacerts", path) ?? []).map((f) => this.options.resolvePath(f)),
      key,
      rsaPss: this.bool(a, "rsa_pss", path, false),
    };
  }

  /** swanctl's close_action; its "trap" needs kernel acquires, which Pavise's datapath has none of. */
  private closeAction(raw: Raw, path: string): "none" | "start" {
    if (raw.close_action === "trap") {
      this.sink.problem(
        `${path}.close_action`,
        raw.close_action,
        "trap is not supported (Pavise installs no trap policies)",
        "close_action: start re-initiates at once; none (the default) does nothing",
      );
      return "none";
    }
    return this.choice(raw, "close_action", path, ["none", "start"] as const, "none");
  }

  private child(path: string, name: string, raw: unknown): ChildConfig {
    const c = isRecord(raw) ? raw : {};
    if (!isRecord(raw))
      this.sink.problem(
        path,
        raw,
        "must be a mapping",
        "e.g. { local_ts: [198.18.1.11/32], remote_ts: [198.18.1.101/32] }",
      );
    this.sink.known(c, CHILD_KEYS, path);
    const selectors = (key: string): TrafficSelectorSpec[] =>
      (this.list(c, key, path) ?? ["dynamic"]).flatMap((text, i) => {
        const ts = parseTrafficSelector(text);
        if ("error" in ts) {
          this.sink.problem(
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
      this.sink.problem(
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
      closeAction: this.closeAction(c, path),
      replayWindow: typeof replayWindow === "number" ? replayWindow : 64,
    };
  }
}
