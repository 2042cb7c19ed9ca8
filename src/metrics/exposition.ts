/**
 * The Prometheus text exposition format 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats):
 * `# HELP` and `# TYPE` per family, one line per sample, histogram buckets as `_bucket{le}`
 * ascending and ending with `+Inf`, then `_sum` and `_count`; every line ends with `\n`.
 * Pure: families in, text out.
 */
import type { FamilySnapshot } from "./registry.js";

/** The Content-Type of the text format. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** HELP text escapes backslash and line feed (the format's rule; quotes stay). */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A label value escapes backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample value as Go's ParseFloat reads it: +Inf, -Inf, NaN, or a JavaScript number. */
export function formatValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (Number.isNaN(value)) return "NaN";
  return String(value);
}

function labelText(labels: readonly (readonly [string, string])[]): string {
  if (labels.length === 0) return "";
  return `{${labels.map(([n, v]) => `${n}="${escapeLabelValue(v)}"`).join(",")}}`;
}

/** The whole exposition of these families. */
export function exposition(families: readonly FamilySnapshot[]): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    if (family.type === "histogram") {
      for (const sample of family.samples) {
        for (const bucket of sample.buckets) {
          const labels = [...sample.labels, ["le", formatValue(bucket.le)] as const];
          lines.push(`${family.name}_bucket${labelText(labels)} ${formatValue(bucket.count)}`);
        }
        lines.push(`${family.name}_sum${labelText(sample.labels)} ${formatValue(sample.sum)}`);
        lines.push(`${family.name}_count${labelText(sample.labels)} ${formatValue(sample.count)}`);
      }
    } else {
      for (const sample of family.samples) {
        lines.push(`${family.name}${labelText(sample.labels)} ${formatValue(sample.value)}`);
      }
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}
