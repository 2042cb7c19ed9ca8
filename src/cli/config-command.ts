import {
  CLUSTER_CONFIG_INVALID,
  readClusterConfig,
  type ClusterConfigProblem,
} from "../cluster/config/cluster-config.js";
import type { ClusterConfig } from "../cluster/config/model.js";
import { PaviseError } from "../util/errors.js";
import { configApply, configGet } from "./config-apply-command.js";
import { makeOutput } from "./output.js";
import { parseCommandArgs, usageError } from "./usage.js";

export const CONFIG_USAGE = `usage:
  pavise config check FILE [--json]   check a cluster configuration file (cmcheckconf):
                                      every problem with file:line, key, value and fix
  pavise config apply FILE [--json]   store FILE as the cluster's next configuration revision
                                      in etcd (cmapplyconf): refused with every problem when
                                      invalid; running daemons switch online and change only
                                      what differs. Prints what changes and when.
  pavise config get --config FILE [--revision N] [--json]
                                      the applied configuration, byte for byte (cmgetconf)`;

export function configCommand(args: string[]): number | Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "check":
      return configCheck(rest);
    case "apply":
      return configApply(rest, CONFIG_USAGE);
    case "get":
      return configGet(rest, CONFIG_USAGE);
    case undefined:
    case "help":
    case "--help":
      process.stdout.write(`${CONFIG_USAGE}\n`);
      return sub === undefined ? 2 : 0;
    default:
      throw usageError(`unknown config command '${sub}'`, CONFIG_USAGE);
  }
}

/** The result of a check, as --json prints it. */
export type ConfigCheckResult =
  | { ok: true; file: string; cluster: string; nodes: number; packages: number }
  | { ok: false; file: string; problems: ClusterConfigProblem[] };

function configCheck(args: string[]): number {
  const { values, positionals } = parseCommandArgs(args, { json: { type: "boolean" } }, CONFIG_USAGE, 1);
  const file = positionals[0];
  if (file === undefined) throw usageError("check needs a FILE", CONFIG_USAGE);
  const result = checkClusterFile(file);
  makeOutput(values.json === true).result(result, () => renderCheck(result));
  return result.ok ? 0 : 1;
}

/**
 * Checks a file; an invalid configuration is a result (exit 1), an unreadable file an error.
 */
export function checkClusterFile(file: string): ConfigCheckResult {
  let config: ClusterConfig;
  try {
    config = readClusterConfig(file);
  } catch (err) {
    if (err instanceof PaviseError && err.code === CLUSTER_CONFIG_INVALID) {
      return { ok: false, file, problems: err.problems };
    }
    throw err;
  }
  return {
    ok: true,
    file,
    cluster: config.name,
    nodes: config.nodes.length,
    packages: config.packages.length,
  };
}

/** One line per problem, `file:line key (value …): problem — fix`, then a count. */
export function renderCheck(result: ConfigCheckResult): string {
  if (result.ok) {
    const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;
    return `${result.file}: valid — cluster ${result.cluster}, ${plural(result.nodes, "node")}, ${plural(result.packages, "package")}`;
  }
  const lines = result.problems.map((p) => {
    const at = `${p.file ?? result.file}${p.line === undefined ? "" : `:${p.line}`}`;
    const value = p.value === undefined ? "" : ` (value ${shortJson(p.value)})`;
    return `${at} ${p.key}${value}: ${p.message} — ${p.hint}`;
  });
  const n = result.problems.length;
  return [...lines, `${result.file}: ${n} problem${n === 1 ? "" : "s"}`].join("\n");
}

function shortJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}
