/**
 * The options every operator command takes: --config FILE (as pavise status) or --api URL with
 * its credentials (api-target.ts), --node/-n NODE, --timeout DURATION (default 60 s),
 * --no-wait, --json, and --force for node halt. Pure.
 */

import { parseDuration } from "../config/durations.js";
import { API_OPTIONS, type ApiTarget, apiTargetFrom } from "./api-target.js";
import type { OperatorOptions } from "./operator-action.js";
import { parseCommandArgs, usageError } from "./usage.js";

export const DEFAULT_TIMEOUT_MS = 60_000;

/** The most an action may wait over the API (its body check's limit). */
export const MAX_API_TIMEOUT_MS = 600_000;

export interface OperatorArgs extends OperatorOptions {
  /** The cluster file; "" with --api. */
  config: string;
  /** The node's API to send the action to (--api), instead of etcd. */
  api: ApiTarget | undefined;
  /** --timeout or --no-wait was given (not the defaults). */
  waitGiven: boolean;
  node: string | undefined;
  force: boolean;
  help: boolean;
  positionals: string[];
}

export function parseOperatorArgs(
  args: string[],
  usage: string,
  positionals: { min: number; max: number; what: string },
  env: Record<string, string | undefined> = process.env,
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
      ...API_OPTIONS,
    },
    usage,
    positionals.max,
  );
  const help = values.help === true;
  if (!help && given.length < positionals.min) throw usageError(`missing ${positionals.what}`, usage);
  const api = apiTargetFrom(values, env, usage);
  if (!help && values.config === undefined && api === undefined) {
    throw usageError("needs --config FILE (the cluster file), or --api URL (a node's API)", usage);
  }
  if (values.config !== undefined && api !== undefined) {
    throw usageError("give --config FILE (etcd) or --api URL (a node's API), not both", usage);
  }
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (values.timeout !== undefined) {
    const ms = parseDuration(values.timeout);
    if (ms === undefined || ms <= 0) {
      throw usageError(`--timeout ${JSON.stringify(values.timeout)} is not a duration (e.g. 30s, 2m)`, usage);
    }
    timeoutMs = ms;
  }
  if (api !== undefined && timeoutMs > MAX_API_TIMEOUT_MS) {
    throw usageError(`--timeout over the API is at most ${MAX_API_TIMEOUT_MS / 60_000}m`, usage);
  }
  return {
    config: values.config ?? "",
    api,
    waitGiven: values.timeout !== undefined || values["no-wait"] === true,
    node: values.node,
    force: values.force === true,
    help,
    json: values.json === true,
    wait: values["no-wait"] !== true,
    timeoutMs,
    positionals: given,
  };
}
