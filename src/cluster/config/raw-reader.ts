import { parseDuration } from "../../config/durations.js";
import type { ConfigProblem } from "../../util/errors.js";
import { closest, didYouMean } from "./did-you-mean.js";

/**
 * Reads the parsed YAML of a configuration file field by field: each helper checks one key's
 * type, records a problem (key path, value, what is wrong, how to fix it) instead of throwing,
 * and returns a usable stand-in so that reading goes on and every problem is found in one run.
 */
export type Raw = Record<string, unknown>;

export const isRecord = (value: unknown): value is Raw =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** "packages[0].services"; an empty key (`"": x` in YAML) shows as "" so the problem names it. */
export function keyPath(path: string, key: string): string {
  const shown = key === "" ? '""' : key;
  return path ? `${path}.${shown}` : shown;
}

/**
 * A copy of a value that is safe to keep in a problem and print as JSON: YAML aliases can make
 * cycles, and a whole mapping under a mistyped key can be large.
 */
export function plainValue(value: unknown, depth = 0, seen = new Set<object>()): unknown {
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (typeof value === "bigint" || typeof value === "symbol" || typeof value === "function")
    return String(value);
  if (typeof value !== "object" || value === null) return value;
  if (seen.has(value)) return "[circular]";
  if (depth >= 4) return Array.isArray(value) ? "[…]" : "{…}";
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      const items = value.slice(0, 20).map((item) => plainValue(item, depth + 1, seen));
      return value.length > 20 ? [...items, "…"] : items;
    }
    if (value instanceof Uint8Array) return `(${value.length} bytes)`;
    const entries = Object.entries(value).slice(0, 20);
    return Object.fromEntries(entries.map(([k, v]) => [k, plainValue(v, depth + 1, seen)]));
  } finally {
    seen.delete(value);
  }
}

export class ProblemList {
  readonly items: ConfigProblem[] = [];
  add(key: string, value: unknown, message: string, hint: string): void {
    this.items.push({ key, value: plainValue(value), message, hint });
  }
}

export interface DurationRule {
  fallback: number;
  example: string;
}

export class RawReader {
  constructor(readonly problems: ProblemList) {}

  problem(key: string, value: unknown, message: string, hint: string): void {
    this.problems.add(key, value, message, hint);
  }

  /** Unknown keys, each with the closest known key as the likely fix. */
  known(raw: Raw, keys: readonly string[], path: string): void {
    for (const key of Object.keys(raw)) {
      if (keys.includes(key)) continue;
      const guess = closest(key, keys);
      this.problem(
        keyPath(path, key),
        raw[key],
        `unknown key${didYouMean(key, keys)}`,
        guess ? `rename it to ${guess}` : `remove it, or use one of: ${keys.join(", ")}`,
      );
    }
  }

  /** A mapping, or undefined (with a problem unless the value is absent). */
  mapping(value: unknown, path: string, example: string): Raw | undefined {
    if (value === undefined || value === null) return undefined;
    if (isRecord(value)) return value;
    this.problem(path, value, "must be a mapping", `write e.g. ${example}`);
    return undefined;
  }

  /** A list, or undefined (with a problem unless the value is absent). */
  list(raw: Raw, key: string, path: string, example: string): unknown[] | undefined {
    const value = raw[key];
    if (value === undefined || value === null) return undefined;
    // Array.from: a list made in code may have holes, which map() would keep.
    if (Array.isArray(value)) return Array.from(value as unknown[]);
    this.problem(keyPath(path, key), value, "must be a list", `write e.g. ${key}: ${example}`);
    return undefined;
  }

  string(raw: Raw, key: string, path: string, example: string): string | undefined {
    const value = raw[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value === "string") return value;
    if (typeof value === "number" && Number.isFinite(value)) return String(value);
    this.problem(keyPath(path, key), value, "must be a string", `write e.g. ${key}: ${example}`);
    return undefined;
  }

  /** A required string: missing is a problem too. */
  required(raw: Raw, key: string, path: string, example: string): string {
    const value = this.string(raw, key, path, example);
    if (value === undefined && (raw[key] === undefined || raw[key] === null)) {
      this.problem(keyPath(path, key), raw[key], "is missing", `add ${key}: ${example}`);
    }
    return value ?? "";
  }

  /** A list of strings; a single string counts as a list of one. */
  strings(raw: Raw, key: string, path: string, example: string): string[] | undefined {
    const value = raw[key];
    if (value === undefined || value === null) return undefined;
    const items = Array.isArray(value) ? value : [value];
    const out: string[] = [];
    items.forEach((item, i) => {
      if (typeof item === "string") out.push(item);
      else if (typeof item === "number" && Number.isFinite(item)) out.push(String(item));
      else {
        const at = Array.isArray(value) ? `${keyPath(path, key)}[${i}]` : keyPath(path, key);
        this.problem(at, item, "must be a string", `write e.g. ${key}: ${example}`);
      }
    });
    return out;
  }

  /** yes/no as Serviceguard writes them, or true/false. */
  bool(raw: Raw, key: string, path: string, fallback: boolean): boolean {
    const value = raw[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value === "boolean") return value;
    if (value === "yes") return true;
    if (value === "no") return false;
    this.problem(keyPath(path, key), value, "must be yes or no", `${key}: ${fallback ? "yes" : "no"}`);
    return fallback;
  }

  choice<T extends string>(raw: Raw, key: string, path: string, options: readonly T[], fallback: T): T {
    const value = raw[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value === "string" && (options as readonly string[]).includes(value)) return value as T;
    const guess = typeof value === "string" ? closest(value, options) : undefined;
    this.problem(
      keyPath(path, key),
      value,
      `must be one of ${options.join(", ")}`,
      `write ${key}: ${guess ?? fallback}`,
    );
    return fallback;
  }

  /** A duration ("2s", "500ms", a bare number is seconds) in milliseconds. */
  duration(raw: Raw, key: string, path: string, rule: DurationRule): number {
    const value = raw[key];
    if (value === undefined || value === null) return rule.fallback;
    const ms = parseDuration(value);
    if (ms === undefined || !Number.isFinite(ms)) {
      this.problem(
        keyPath(path, key),
        value,
        "is not a duration",
        `write e.g. ${key}: ${rule.example} (units ms, s, m, h; a bare number is seconds)`,
      );
      return rule.fallback;
    }
    return ms;
  }

  /** A whole number (range checks belong to the validation of the result). */
  integer(raw: Raw, key: string, path: string, fallback: number, example: string): number {
    const value = raw[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value === "number" && Number.isSafeInteger(value)) return value;
    this.problem(keyPath(path, key), value, "must be a whole number", `write e.g. ${key}: ${example}`);
    return fallback;
  }

  /**
   * A key with two accepted spellings (Serviceguard's and the short one, e.g. package_name or
   * name): which one the file used, and its value.
   */
  either(raw: Raw, keys: readonly [string, string], path: string): { key: string; value: unknown } {
    const [long, short] = keys;
    const hasLong = raw[long] !== undefined;
    const hasShort = raw[short] !== undefined;
    if (hasLong && hasShort) {
      this.problem(
        keyPath(path, short),
        raw[short],
        `is given twice, as ${long} and as ${short}`,
        `keep only one of ${long} and ${short}`,
      );
    }
    const key = hasShort && !hasLong ? short : long;
    return { key, value: raw[key] };
  }
}
