/**
 * The small enums of the `cause` labels (design §6), read from what the daemon's events say.
 * Pure. Labels must stay a handful of values whatever the text, so anything not recognised is
 * "other".
 */

export type MoveCause = "failover" | "operator" | "failback" | "resource" | "other";
export type FailureCause = "service" | "resource" | "subnet" | "script" | "ipsec" | "other";

/**
 * Why the leader moved a package, from the scheduler's reason (scheduler/reasons.ts,
 * eligibility.ts): an operator's cmhaltnode/cmhaltpkg/cmrunpkg -n, a failback to the primary
 * node (failback_policy automatic), a resource or subnet down on the old node, or a failure
 * (the node failed or is down, the package failed there).
 */
export function moveCause(reason: string): MoveCause {
  if (/\boperator\b/.test(reason) || /^node \S+ halted$/.test(reason)) return "operator";
  if (reason.startsWith("failback")) return "failback";
  if (/^(resource|subnet) \S+ is down on /.test(reason)) return "resource";
  if (/^node \S+ (failed|is down)$/.test(reason) || /^failed on /.test(reason)) return "failover";
  return "other";
}

/** Why a package failed here: the event names a service or subnet, else its reason text says. */
export function failureCause(event: { reason?: unknown; service?: unknown; subnet?: unknown }): FailureCause {
  if (typeof event.service === "string") return "service";
  if (typeof event.subnet === "string") return "subnet";
  const reason = typeof event.reason === "string" ? event.reason : "";
  if (/\bipsec\b/i.test(reason)) return "ipsec";
  if (/\bresource\b/.test(reason)) return "resource";
  if (/\bscript\b/.test(reason)) return "script";
  return "other";
}
