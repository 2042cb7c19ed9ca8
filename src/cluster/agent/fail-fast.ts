import type { ClusterConfig } from "../config/model.js";

/**
 * Whether a package failure here makes this node leave the cluster at once (Serviceguard halts
 * the node with a TOC): service_fail_fast_enabled on the service that failed for good, or
 * node_fail_fast_enabled on the package, whatever made it fail. Returns why, for the log and the
 * event, or undefined when the package just fails over. Pure.
 */
export function failFastReason(
  config: Pick<ClusterConfig, "packages">,
  pkg: string,
  failedService: string | undefined,
): string | undefined {
  const p = config.packages.find((candidate) => candidate.name === pkg);
  if (!p) return undefined;
  if (failedService !== undefined && p.services.find((s) => s.name === failedService)?.failFast) {
    return `service ${failedService} of package ${pkg} failed for good and has fail_fast (service_fail_fast_enabled)`;
  }
  if (p.nodeFailFast) return `package ${pkg} failed and has node_fail_fast (node_fail_fast_enabled)`;
  return undefined;
}
