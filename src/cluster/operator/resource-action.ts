/**
 * What `pavise resource set PKG NAME up|down --node N` (cmsetresource -r NAME -s up|down) and the
 * API's resource action will do: set generic resource NAME of package PKG on node N. A package
 * runs only where its generic resources are up, so down on the node that runs it moves it away;
 * the goal is the package settled. A resource with a monitor command is refused
 * (OPERATOR_REFUSED): the operator's setting would outlive every check, and the two would
 * contradict each other. Pure.
 */

import type { ClusterConfig } from "../config/model.js";
import { PaviseError } from "../../util/errors.js";
import { type ActionPlan, OPERATOR_REFUSED } from "./action-plan.js";
import { knownNode, knownPackage, knownResource, nodeOfHost } from "./known-names.js";

export interface ResourceRequest {
  package: string;
  resource: string;
  status: "up" | "down";
  /** The node to set it on; undefined: the node named like `localHost` (cmsetresource's local node). */
  node: string | undefined;
  localHost?: string | undefined;
}

export function planResourceAction(config: ClusterConfig, request: ResourceRequest): ActionPlan {
  const pkg = knownPackage(config, request.package);
  const resource = knownResource(pkg, request.resource);
  const monitor = pkg.resources.find((r) => r.name === resource)?.monitor;
  if (monitor) {
    throw new PaviseError(
      OPERATOR_REFUSED,
      `generic resource ${resource} of package ${pkg.name} is set by its monitor command ` +
        `(${JSON.stringify(monitor.command)}, every ${monitor.intervalMs} ms), not by an operator; ` +
        `change what the monitor checks, or remove its monitor: to set it by hand`,
      { hint: "its monitor command decides; pavise status shows what it found" },
    );
  }
  const node =
    request.node !== undefined
      ? knownNode(config, request.node)
      : nodeOfHost(config, request.localHost ?? "");
  const status = request.status;
  return {
    command: `pavise resource set ${pkg.name} ${resource} ${status} --node ${node}`,
    serviceguard: `cmsetresource -r ${resource} -s ${status}`,
    intent: { kind: "resource", node, resource, status },
    goal: { kind: "package", package: pkg.name, want: "settled" },
    event: { package: pkg.name, subject: node, resource, status, action: "resource-set" },
  };
}
