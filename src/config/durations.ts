/**
 * Durations and sizes as operators write them in strongSwan and Serviceguard files:
 * "500ms", "30s", "5m", "4h", "1d" (a bare number is seconds); "1500", "64k", "10M", "2G".
 */
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  if (typeof value !== "string") return undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * (UNIT_MS[match[2] ?? "s"] ?? 1000));
}

const SIZE = /^(\d+)\s*([kKMG])?$/;
const UNIT_BYTES: Record<string, number> = { k: 1024, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** A count of bytes or packets, or undefined when the text is not one. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const match = SIZE.exec(value.trim());
  if (!match) return undefined;
  return Number(match[1]) * (match[2] ? (UNIT_BYTES[match[2]] ?? 1) : 1);
}
