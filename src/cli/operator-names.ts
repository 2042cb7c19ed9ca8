/**
 * The names an operator command is given, checked against the cluster file before anything is
 * written (operator/known-names.ts): at the CLI an unknown package, node or resource is a usage
 * error (exit 2) with a did-you-mean, and the usage as the fix.
 */

import type { ClusterConfig, PackageConfig } from "../cluster/config/model.js";
import * as names from "../cluster/operator/known-names.js";
import { PaviseError } from "../util/errors.js";
import { usageError } from "./usage.js";

/** Runs `decide`; a PaviseError with one of `codes` (default: the NO_SUCH_* ones) becomes a usage error. */
export function asUsageError<T>(
  usage: string,
  decide: () => T,
  codes: readonly string[] = [names.NO_SUCH_PACKAGE, names.NO_SUCH_NODE, names.NO_SUCH_RESOURCE],
): T {
  try {
    return decide();
  } catch (err) {
    if (err instanceof PaviseError && codes.includes(err.code)) throw usageError(err.message, usage);
    throw err;
  }
}

export function knownPackage(config: ClusterConfig, name: string, usage: string): PackageConfig {
  return asUsageError(usage, () => names.knownPackage(config, name));
}

export function knownNode(config: ClusterConfig, name: string, usage: string): string {
  return asUsageError(usage, () => names.knownNode(config, name));
}

export function knownResource(pkg: PackageConfig, name: string, usage: string): string {
  return asUsageError(usage, () => names.knownResource(pkg, name));
}

/**
 * The node this command runs on, for commands whose node is optional (cmsetresource acts on the
 * local node): the node named like this host (or its short name); otherwise a usage error
 * asking for --node.
 */
export function nodeOfThisHost(config: ClusterConfig, host: string, usage: string): string {
  return asUsageError(usage, () => names.nodeOfHost(config, host));
}
