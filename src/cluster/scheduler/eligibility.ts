import type { ClusterView, PackageView } from "./view.js";

/**
 * Whether a node can host a package at all, before other packages are considered: the node is
 * up, in the package's node_name list, not switched off for it (cmmodpkg -d -n), not a node it
 * failed on, every subnet it needs is up there (monitored_subnet and the subnets of its
 * ip_address entries: only when no NIC of a subnet has link does the package leave) and every
 * generic resource is up there.
 *
 * Returns why not, as the reason a plan gives, or undefined when the node is eligible.
 */
export function whyNotEligible(view: ClusterView, pkg: PackageView, node: string): string | undefined {
  const state = view.nodeStates.get(node);
  if (!view.nodes.includes(node)) return `node ${node} is not in the cluster`;
  if (!state) return `node ${node} is down`;
  if (state.status === "failed") return `node ${node} failed`;
  if (state.status === "halted") return `node ${node} halted`;
  if (!pkg.nodes.includes(node)) return `node ${node} is not in the package's node list`;
  if (pkg.disabledNodes.has(node)) return `node switching is disabled on ${node}`;
  if (pkg.failedOn.has(node)) return `failed on ${node}`;
  for (const subnet of pkg.subnets) {
    if (!state.subnetsUp.includes(subnet)) return `subnet ${subnet} is down on ${node}`;
  }
  for (const resource of pkg.config.resources) {
    if ((state.resources[resource.name] ?? resource.initial) !== "up") {
      return `resource ${resource.name} is down on ${node}`;
    }
  }
  return undefined;
}

export function isEligible(view: ClusterView, pkg: PackageView, node: string): boolean {
  return whyNotEligible(view, pkg, node) === undefined;
}

/** The nodes of its list that are eligible, in order of preference. */
export function eligibleNodes(view: ClusterView, pkg: PackageView): string[] {
  return pkg.nodes.filter((node) => isEligible(view, pkg, node));
}
