/**
 * The options every operator command takes: --config FILE (as pavise status), --node/-n NODE,
 * --timeout DURATION (default 60 s), --no-wait, --json, and --force for node halt. Pure.
 */

import { parseDuration } from "../config/durations.js";
import type { OperatorOptions } from "./operator-action.js";
import { parseCommandArgs, usageError } from "./usage.js";

export const DEFAULT_TIMEOUT_MS = 60_000;

export interface OperatorArgs extends OperatorOptions {
  config: string;
  node: string | undefined;
  force: boolean;
  help: boolean;
  positionals: string[];
}

export function parseOperatorArgs(
  args: string[],
  usage: string,
  positionals: { min: number; max: number; what: string },
): OperatorArgs {
  const { values, positionals: given } = parseCommandArgs(
    args,
    {
      config: { type: "string" },
      node: { type: "string", short: "n" },
      timeout: { type: "string" },
      "no-wait": { type: "boolean" },
      force: { type: "boolean", short: "f" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    usage,
    positionals.max,
  );
  const help = values.help === true;
  if (!help && given.length < positionals.min) throw usageError(`missing ${positionals.what}`, usage);
  if (!help && values.config === undefined) throw usageError("needs --config FILE (the cluster file)", usage);
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (values.timeout !== undefined) {
    const ms = parseDuration(values.timeout);
    if (ms === undefined || ms <= 0) {
      throw usageError(`--timeout ${JSON.stringify(values.timeout)} is not a duration (e.g. 30s, 2m)`, usage);
    }
    timeoutMs = ms;
  }
  return {
    config: values.config ?? "",
    node: values.node,
    force: values.force === true,
    help,
    json: values.json === true,
    wait: values["no-wait"] !== true,
    timeoutMs,
    positionals: given,
  };
}
