/**
 * What a node that runs a package does when the package's configuration changes under it
 * (`pavise config apply`), as data — a pure function of the old and the new package, so the
 * same list runs against simulated drivers in tests (package-steps.ts does the same for start
 * and halt). Only what differs is touched:
 *
 * - a service that was removed, or whose command changed, is halted (with its old settings);
 * - an address that was removed is removed (or moved to another subnet: removed, then added);
 * - an address that was added is added and announced by gratuitous ARP;
 * - a service that was added, or whose command changed, is started (in file order).
 *
 * The order is the halt order, then the start order (services → addresses, then addresses →
 * services), so a service is never running without the addresses it may bind. Unchanged
 * services keep running (same PID). Everything else of the package — scripts, service restart
 * counts and halt timeouts — is read when it is next used: at the next start or halt.
 */

import type { PackageConfig, ServiceConfig, SubnetConfig } from "../config/model.js";
import { type PlacedAddress, placedAddresses } from "./package-steps.js";

export type PackageChangeStep =
  | { kind: "halt-service"; service: ServiceConfig; reason: "removed" | "changed" }
  | { kind: "remove-address"; address: PlacedAddress }
  | { kind: "add-address"; address: PlacedAddress }
  | { kind: "start-service"; service: ServiceConfig; reason: "added" | "changed" };

/** The service fields that a running service cannot take without being started again. */
function needsRestart(before: ServiceConfig, after: ServiceConfig): boolean {
  return before.command !== after.command;
}

export function packageChangeSteps(
  before: PackageConfig,
  after: PackageConfig,
  subnets: readonly SubnetConfig[],
): PackageChangeStep[] {
  const steps: PackageChangeStep[] = [];
  const afterServices = new Map(after.services.map((s) => [s.name, s]));
  const beforeServices = new Map(before.services.map((s) => [s.name, s]));
  // Halted in reverse file order, as a package halt does.
  for (const old of [...before.services].reverse()) {
    const next = afterServices.get(old.name);
    if (!next) steps.push({ kind: "halt-service", service: old, reason: "removed" });
    else if (needsRestart(old, next)) steps.push({ kind: "halt-service", service: old, reason: "changed" });
  }
  const key = (a: PlacedAddress): string => `${a.address} ${a.subnet} ${a.prefixLength}`;
  const beforeAddresses = placedAddresses(before, subnets);
  const afterAddresses = placedAddresses(after, subnets);
  const kept = new Set(afterAddresses.map(key));
  const had = new Set(beforeAddresses.map(key));
  for (const a of [...beforeAddresses].reverse()) {
    if (!kept.has(key(a))) steps.push({ kind: "remove-address", address: a });
  }
  for (const a of afterAddresses) {
    if (!had.has(key(a))) steps.push({ kind: "add-address", address: a });
  }
  for (const next of after.services) {
    const old = beforeServices.get(next.name);
    if (!old) steps.push({ kind: "start-service", service: next, reason: "added" });
    else if (needsRestart(old, next)) steps.push({ kind: "start-service", service: next, reason: "changed" });
  }
  return steps;
}

export function describeChangeStep(step: PackageChangeStep): string {
  switch (step.kind) {
    case "halt-service":
      return `halting service ${step.service.name} (${step.reason})`;
    case "remove-address":
      return `removing address ${step.address.address}/${step.address.prefixLength}`;
    case "add-address":
      return `adding address ${step.address.address}/${step.address.prefixLength}`;
    case "start-service":
      return `starting service ${step.service.name} (${step.reason})`;
  }
}
