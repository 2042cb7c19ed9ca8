/**
 * The real drivers behind a PackageRunner: scripts and services as process groups in the
 * node's namespace, addresses through the node's NodeAddresses, everything logged to the
 * package's log file.
 */

import type { ServiceConfig } from "../config/model.js";
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
    log: (text) => options.log.write("executor", text),
  };
}
