import type { ServiceEvent } from "../executor/service-supervision.js";

/**
 * What the package report (status/<package>/<node>) says about each service, so every node's
 * API can show restarts without asking the owner (operator-surfaces design §1 "restarts").
 * Pure: the next fact from the last one and a supervisor event.
 */
export interface ServiceFact {
  name: string;
  /** Restarts since the package started on this node (service_restart counts these). */
  restarts: number;
  state: "starting" | "running" | "restarting" | "failed" | "halted";
}

export function serviceFactAfter(
  name: string,
  last: ServiceFact | undefined,
  event: ServiceEvent,
): ServiceFact {
  const restarts = last?.restarts ?? 0;
  switch (event.kind) {
    case "started":
      return { name, restarts, state: "running" };
    case "restarting":
      return { name, restarts: Math.max(restarts, event.restart), state: "restarting" };
    case "failed":
      return { name, restarts: Math.max(restarts, event.restarts), state: "failed" };
    case "halted":
      return { name, restarts, state: "halted" };
    default:
      return last ?? { name, restarts, state: "starting" };
  }
}

/**
 * Events worth a new report of a package that is up: a restart changes what operators see. A
 * service failed for good is not one: the package fails next, and that report (status failed,
 * with these facts) must be the last word — a rewrite of the old "up" report sent just before
 * could land after it and hide the failure from the leader.
 */
export function reportsServiceChange(event: ServiceEvent): boolean {
  return event.kind === "restarting";
}
