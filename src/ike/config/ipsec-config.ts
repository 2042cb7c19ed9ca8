import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { readYaml } from "../../config/yaml.js";
import { type ConfigProblem, PaviseError } from "../../util/errors.js";
import { parseIdentity, type Identity } from "./identity.js";
import { type ConnectionConfig, ConnectionReader, isRecord, type Raw } from "./read-connections.js";

export type { AuthConfig, ChildConfig, ConnectionConfig, RetransmitConfig } from "./read-connections.js";
export { DEFAULT_ESP_PROPOSALS, DEFAULT_IKE_PROPOSALS } from "./read-connections.js";

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

export interface SharedKey {
  ids: Identity[];
  secret: Uint8Array;
}

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
  private readonly connections: ConnectionReader;
  constructor(private readonly file: string | undefined) {
    // Files named in the configuration are relative to it, as in swanctl.conf.
    this.connections = new ConnectionReader(
      { problem: (...a) => this.problem(...a), known: (...a) => this.known(...a) },
      { resolvePath: (f) => this.path(f) },
    );
  }

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
        connections.push(this.connections.connection(name, value, `connections.${name}`));
    }
    return { connections, sharedKeys: this.secrets(raw.secrets) };
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
