import type { ContactReport } from "../contact/contact-plan.js";
import type { IpsecEngine } from "../ipsec-engine.js";
import { splitPackageConnection } from "../host/package-connections.js";
import type { ChildSaFacts, IpsecHealthSnapshot } from "./ipsec-health.js";
import { addressesOnNode, readDatapathFacts } from "./host-facts.js";
import { checkPackageCredentials } from "../credentials/credential-check.js";
import type { PackageConfig, PackageIpsecConfig } from "../../cluster/config/model.js";

/** What the package host knows of one package for its health snapshot. */
export interface HostHealthParts {
  node: string;
  engine: IpsecEngine;
  /** The routing table of the datapath's routes (policy-routing-plan.ts). */
  routingTable: number;
  /** Set while the package's IPsec runs here: its addresses and its contact's report. */
  running?: { addresses: readonly string[]; contact: ContactReport | undefined };
}

/**
 * Reads a package's health snapshot on this node (design §10) for ipsec-health.ts to judge:
 * the datapath and credentials everywhere, and where the package runs, its sockets and
 * addresses and whether IKE's Child SAs and the datapath's agree. The SA lists are read in one
 * synchronous step, so an SA that comes up or goes between the two reads cannot look stuck.
 */
export async function readHostHealth(
  pkg: PackageConfig & { ipsec: PackageIpsecConfig },
  parts: HostHealthParts,
): Promise<IpsecHealthSnapshot> {
  const { engine, running } = parts;
  const tun = engine.tunDatapath;
  const sas = running ? childSaFacts(engine, pkg.name, running.addresses) : { ike: [], datapath: [] };
  const here = addressesOnNode(running?.addresses ?? []);
  return {
    package: pkg.name,
    node: parts.node,
    at: Date.now(),
    hostOpen: true,
    datapath: tun
      ? {
          ...(await readDatapathFacts(tun.tunName, parts.routingTable)),
          ...(tun.readerError !== undefined ? { readerError: tun.readerError } : {}),
        }
      : { kind: "record", tunName: "", missingRules: [] },
    credentials: checkPackageCredentials(pkg),
    runsHere: running !== undefined,
    addresses: (running?.addresses ?? []).map((address) => ({
      address,
      onNode: here.has(address),
      listening: engine.listensOn(address),
    })),
    ikeChildSas: sas.ike,
    datapathChildSas: sas.datapath,
    gaveUp: (running?.contact?.peers ?? [])
      .filter((p) => p.state === "gave-up")
      .map((p) => ({ peer: p.id, address: p.address, error: p.lastError ?? "no answer" })),
  };
}

function childSaFacts(
  engine: IpsecEngine,
  pkgName: string,
  addresses: readonly string[],
): { ike: ChildSaFacts[]; datapath: ChildSaFacts[] } {
  const ike = engine.endpoint
    .ikeSas()
    .filter((sa) => splitPackageConnection(sa.connectionName)?.package === pkgName)
    .flatMap((sa) => sa.childSas())
    .map((c) => ({ name: c.name, spiIn: c.spiIn, spiOut: c.spiOut, remoteAddress: c.remoteAddress }));
  // A rekeyed SA stays in the datapath a few seconds for late packets (tun-esp-datapath.ts).
  const lingering = new Set(engine.tunDatapath?.lingeringSpis() ?? []);
  const datapath = engine.datapath
    .installed()
    .filter((sa) => addresses.includes(sa.localAddress) && !lingering.has(sa.spiIn))
    .map((c) => ({ name: c.name, spiIn: c.spiIn, spiOut: c.spiOut, remoteAddress: c.remoteAddress }));
  return { ike, datapath };
}
