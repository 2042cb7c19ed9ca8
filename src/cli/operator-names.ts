/**
 * The names an operator command is given, checked against the cluster file before anything is
 * written: an unknown package, node or resource is a usage error (exit 2) with a did-you-mean.
 */

import { didYouMean } from "../cluster/config/did-you-mean.js";
import type { ClusterConfig, PackageConfig } from "../cluster/config/model.js";
import { usageError } from "./usage.js";

export function knownPackage(config: ClusterConfig, name: string, usage: string): PackageConfig {
  const pkg = config.packages.find((p) => p.name === name);
  if (pkg) return pkg;
  const names = config.packages.map((p) => p.name);
  throw usageError(
    `no package ${JSON.stringify(name)} in cluster ${config.name}${didYouMean(name, names)}; packages: ${names.join(", ") || "none"}`,
    usage,
  );
}

export function knownNode(config: ClusterConfig, name: string, usage: string): string {
  const names = config.nodes.map((n) => n.name);
  if (names.includes(name)) return name;
  throw usageError(
    `no node ${JSON.stringify(name)} in cluster ${config.name}${didYouMean(name, names)}; nodes: ${names.join(", ")}`,
    usage,
  );
}

export function knownResource(pkg: PackageConfig, name: string, usage: string): string {
  const names = pkg.resources.map((r) => r.name);
  if (names.includes(name)) return name;
  throw usageError(
    `package ${pkg.name} has no generic resource ${JSON.stringify(name)}${didYouMean(name, names)}; ` +
      `its resources: ${names.join(", ") || "none"}`,
    usage,
  );
}

/**
 * The node this command runs on, for commands whose node is optional (cmsetresource acts on the
 * local node): the node named like this host (or its short name); otherwise a usage error
 * asking for --node.
 */
export function nodeOfThisHost(config: ClusterConfig, host: string, usage: string): string {
  const short = host.split(".")[0];
  const match = config.nodes.find((n) => n.name === host || n.name === short);
  if (match) return match.name;
  throw usageError(
    `this host (${host}) is not a node of cluster ${config.name}: say which node with --node ` +
      `(${config.nodes.map((n) => n.name).join(", ")})`,
    usage,
  );
}
