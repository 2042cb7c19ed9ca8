/**
 * The names an operator action is given, checked against the configuration before anything is
 * written: an unknown package, node or resource is a PaviseError (NO_SUCH_PACKAGE, NO_SUCH_NODE,
 * NO_SUCH_RESOURCE) with a did-you-mean and the names there are. The CLI shows it as a usage
 * error (exit 2); the API as not found. Pure.
 */

import { didYouMean } from "../config/did-you-mean.js";
import type { ClusterConfig, PackageConfig } from "../config/model.js";
import { PaviseError } from "../../util/errors.js";

export const NO_SUCH_PACKAGE = "NO_SUCH_PACKAGE";
export const NO_SUCH_NODE = "NO_SUCH_NODE";
export const NO_SUCH_RESOURCE = "NO_SUCH_RESOURCE";

export function knownPackage(config: ClusterConfig, name: string): PackageConfig {
  const pkg = config.packages.find((p) => p.name === name);
  if (pkg) return pkg;
  const names = config.packages.map((p) => p.name);
  throw new PaviseError(
    NO_SUCH_PACKAGE,
    `no package ${JSON.stringify(name)} in cluster ${config.name}${didYouMean(name, names)}; packages: ${names.join(", ") || "none"}`,
    { hint: "name a package of the cluster's configuration (pavise status lists them)" },
  );
}

export function knownNode(config: ClusterConfig, name: string): string {
  const names = config.nodes.map((n) => n.name);
  if (names.includes(name)) return name;
  throw new PaviseError(
    NO_SUCH_NODE,
    `no node ${JSON.stringify(name)} in cluster ${config.name}${didYouMean(name, names)}; nodes: ${names.join(", ")}`,
    { hint: "name a node of the cluster's configuration (pavise status lists them)" },
  );
}

export function knownResource(pkg: PackageConfig, name: string): string {
  const names = pkg.resources.map((r) => r.name);
  if (names.includes(name)) return name;
  throw new PaviseError(
    NO_SUCH_RESOURCE,
    `package ${pkg.name} has no generic resource ${JSON.stringify(name)}${didYouMean(name, names)}; ` +
      `its resources: ${names.join(", ") || "none"}`,
    { hint: "name one of the package's generic_resource_name entries" },
  );
}

/**
 * The node an action runs on when none is named (cmsetresource acts on the local node): the
 * node named like this host, or like its short name. NO_SUCH_NODE when there is none.
 */
export function nodeOfHost(config: ClusterConfig, host: string): string {
  const short = host.split(".")[0];
  const match = config.nodes.find((n) => n.name === host || n.name === short);
  if (match) return match.name;
  throw new PaviseError(
    NO_SUCH_NODE,
    `this host (${host}) is not a node of cluster ${config.name}: say which node with --node ` +
      `(${config.nodes.map((n) => n.name).join(", ")})`,
    { hint: "name the node" },
  );
}
