/**
 * What starting and halting a package consist of, in order, as data: start = start script →
 * relocatable addresses (each announced by gratuitous ARP) → services; halt = the reverse:
 * services → addresses → halt script (Serviceguard's package control script order). A package
 * with `ipsec:` (docs/ipsec-packages-design.md §6) also has: ipsec-up after its addresses (IKE
 * binds them, so they must be here, and no other node holds them), ipsec-contact after its
 * services (a client whose SA comes back finds them listening), and on halt ipsec-down before
 * its addresses go (nothing leaves from an address that is leaving). The
 * runner (package-runner.ts) carries the steps out through a table of drivers, so the same
 * list runs against simulated drivers in unit tests.
 */

import { parsePrefix } from "../../net/ipv4.js";
import { PaviseError } from "../../util/errors.js";
import type { PackageConfig, ScriptConfig, ServiceConfig, SubnetConfig } from "../config/model.js";

export interface PlacedAddress {
  address: string;
  subnet: string;
  prefixLength: number;
}

export type PackageStep =
  | { kind: "start-script"; script: ScriptConfig }
  | { kind: "add-address"; address: PlacedAddress }
  | { kind: "start-service"; service: ServiceConfig }
  /** Every service at once: each gets its own halt timeout, and the slowest sets the pace. */
  | { kind: "halt-services"; services: ServiceConfig[] }
  | { kind: "remove-address"; address: PlacedAddress }
  | { kind: "halt-script"; script: ScriptConfig }
  /** The package's IKE connections and sockets on this node's IPsec host. */
  | { kind: "ipsec-up" }
  /** Initiate to the package's recorded peers with INITIAL_CONTACT; not awaited (design §8). */
  | { kind: "ipsec-contact" }
  | { kind: "ipsec-down" };

/** The package's addresses with their subnet's prefix length. */
export function placedAddresses(pkg: PackageConfig, subnets: readonly SubnetConfig[]): PlacedAddress[] {
  return pkg.addresses.map((a, index) => {
    const subnet = subnets.find((s) => s.name === a.subnet);
    const prefix = subnet ? parsePrefix(subnet.cidr) : undefined;
    if (!subnet || !prefix) {
      throw new PaviseError(
        "EXECUTOR_UNKNOWN_SUBNET",
        `package ${pkg.name}: address ${a.address} is on subnet ${a.subnet}, which the cluster does not define`,
        {
          where: { key: `packages.${pkg.name}.ip_addresses[${index}].subnet`, value: a.subnet },
          hint: `name one of the cluster's subnets: ${subnets.map((s) => s.name).join(", ") || "(none)"}`,
        },
      );
    }
    return { address: a.address, subnet: a.subnet, prefixLength: prefix.length };
  });
}

export function startSteps(pkg: PackageConfig, subnets: readonly SubnetConfig[]): PackageStep[] {
  return [
    ...(pkg.startScript ? [{ kind: "start-script" as const, script: pkg.startScript }] : []),
    ...placedAddresses(pkg, subnets).map((address) => ({ kind: "add-address" as const, address })),
    ...(pkg.ipsec ? [{ kind: "ipsec-up" as const }] : []),
    ...pkg.services.map((service) => ({ kind: "start-service" as const, service })),
    ...(pkg.ipsec ? [{ kind: "ipsec-contact" as const }] : []),
  ];
}

export function haltSteps(pkg: PackageConfig, subnets: readonly SubnetConfig[]): PackageStep[] {
  return [
    ...(pkg.services.length > 0
      ? [{ kind: "halt-services" as const, services: [...pkg.services].reverse() }]
      : []),
    ...(pkg.ipsec ? [{ kind: "ipsec-down" as const }] : []),
    ...placedAddresses(pkg, subnets)
      .reverse()
      .map((address) => ({ kind: "remove-address" as const, address })),
    ...(pkg.haltScript ? [{ kind: "halt-script" as const, script: pkg.haltScript }] : []),
  ];
}

export function describeStep(step: PackageStep): string {
  switch (step.kind) {
    case "start-script":
      return "start script";
    case "add-address":
      return `address ${step.address.address}/${step.address.prefixLength}`;
    case "start-service":
      return `service ${step.service.name}`;
    case "halt-services":
      return `halting services ${step.services.map((s) => s.name).join(", ")}`;
    case "remove-address":
      return `removing address ${step.address.address}/${step.address.prefixLength}`;
    case "halt-script":
      return "halt script";
    case "ipsec-up":
      return "IPsec";
    case "ipsec-contact":
      return "contacting IPsec peers";
    case "ipsec-down":
      return "stopping IPsec";
  }
}
