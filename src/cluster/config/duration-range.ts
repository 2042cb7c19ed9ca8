import type { ProblemList } from "./raw-reader.js";
import { formatMs } from "./validate-timing.js";

/** A duration that must lie within [min, max]: a problem at `key` with an example otherwise. */
export function durationRange(
  ms: number,
  key: string,
  min: number,
  max: number,
  example: string,
  problems: ProblemList,
): void {
  if (!(ms >= min && ms <= max)) {
    problems.add(
      key,
      formatMs(ms),
      `must be from ${formatMs(min)} to ${formatMs(max)}`,
      `write e.g. ${example}`,
    );
  }
}
