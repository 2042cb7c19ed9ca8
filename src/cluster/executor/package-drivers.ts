/**
 * The real drivers behind a PackageRunner: scripts and services as process groups in the
 * node's namespace, addresses through the node's NodeAddresses, everything logged to the
 * package's log file.
 */

import type { PackageConfig, ServiceConfig } from "../config/model.js";
import type { NodeAddresses } from "./node-addresses.js";
import type { NodeNamespace } from "./node-namespace.js";
import type { PackageLog } from "./package-log.js";
import type { PackageDrivers, ServiceHandle } from "./package-runner.js";
import { runScript } from "./script-runner.js";
import type { FlapDetection, ServiceEvent } from "./service-supervision.js";
import { ServiceSupervisor } from "./service-supervisor.js";

export interface RealDriverOptions {
  ns: NodeNamespace;
  packageName: string;
  nodeName: string;
  log: PackageLog;
  addresses: NodeAddresses;
  flap?: FlapDetection;
  /** Every supervisor made, for whoever wants PIDs and restart counts. */
  onSupervisor?: (supervisor: ServiceSupervisor) => void;
  /** The node's IPsec for packages with ipsec: (absent: this node runs none). */
  ipsec?: PackageIpsecDriver | undefined;
}

/** What the executor needs of the node's IPsec host (src/ipsec/host/, via the daemon). */
export interface PackageIpsecDriver {
  up(pkg: PackageConfig): Promise<void>;
  contact(pkg: PackageConfig): void;
  down(pkg: PackageConfig, tellPeers: boolean): Promise<void>;
}

export function realPackageDrivers(options: RealDriverOptions): PackageDrivers {
  const env = { PAVISE_PACKAGE: options.packageName, PAVISE_NODE: options.nodeName };
  return {
    runScript: (kind, script, abort) =>
      runScript(kind, script, {
        ns: options.ns,
        log: options.log,
        env: { ...env, PAVISE_SCRIPT: kind },
        abort,
      }),
    addAddress: async (address) =>
      options.addresses.add(options.packageName, address.address, address.subnet),
    removeAddress: async (address) => {
      await options.addresses.remove(options.packageName, address.address);
    },
    async startService(
      service: ServiceConfig,
      onServiceEvent: (event: ServiceEvent) => void,
    ): Promise<ServiceHandle> {
      const supervisor = new ServiceSupervisor(service, {
        ns: options.ns,
        log: options.log,
        packageName: options.packageName,
        nodeName: options.nodeName,
        ...(options.flap ? { flap: options.flap } : {}),
        onEvent: (event) => onServiceEvent(event),
      });
      options.onSupervisor?.(supervisor);
      await supervisor.start();
      return supervisor;
    },
    ipsecUp: async (pkg) => {
      if (!options.ipsec) throw new Error(`package ${pkg.name} has ipsec:, but this node runs no IPsec`);
      await options.ipsec.up(pkg);
    },
    ipsecContact: (pkg) => options.ipsec?.contact(pkg),
    ipsecDown: async (pkg, tellPeers) => options.ipsec?.down(pkg, tellPeers),
    log: (text) => options.log.write("executor", text),
  };
}
