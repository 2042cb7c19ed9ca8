import type { PackageConfig, PackageIpsecConfig } from "../../cluster/config/model.js";
import { addressMatchesEntry } from "../../ike/config/address-entry.js";
import type { ConnectionConfig } from "../../ike/config/read-connections.js";

/**
 * A package's `ipsec:` section as IKE connections of the node that runs it
 * (docs/ipsec-packages-design.md §3, §5), without I/O:
 *   - each connection is named `<package>/<connection>`: one endpoint per daemon holds every
 *     package's connections, and their names must not clash;
 *   - empty local_addrs becomes every address of the package (IKE listens there only while the
 *     package runs here);
 *   - INITIAL_CONTACT and UDP encapsulation are always on: the adoptive node must make clients
 *     drop their stale SAs (RFC 7296 §2.4), and the user-space datapath speaks ESP in UDP only.
 */

export const PACKAGE_CONNECTION_SEPARATOR = "/";

export function packageConnectionName(pkg: string, connection: string): string {
  return `${pkg}${PACKAGE_CONNECTION_SEPARATOR}${connection}`;
}

/** The package and connection a package connection's name holds, or undefined for another name. */
export function splitPackageConnection(name: string): { package: string; connection: string } | undefined {
  const at = name.indexOf(PACKAGE_CONNECTION_SEPARATOR);
  if (at <= 0) return undefined;
  return { package: name.slice(0, at), connection: name.slice(at + 1) };
}

export interface PackageConnection {
  config: ConnectionConfig;
  /** May the adoptive node initiate to this connection's recorded peers (design §9). */
  initiate: boolean;
  pskFile: string | undefined;
}

/** The package's connections, ready for resolveConnections-style loading. */
export function packageConnections(
  pkg: Pick<PackageConfig, "name" | "addresses"> & { ipsec: PackageIpsecConfig },
): PackageConnection[] {
  const addresses = pkg.addresses.map((a) => a.address);
  return pkg.ipsec.connections.map((entry) => ({
    config: {
      ...entry.connection,
      name: packageConnectionName(pkg.name, entry.connection.name),
      localAddrs: entry.connection.localAddrs.length > 0 ? entry.connection.localAddrs : addresses,
      local: pkg.ipsec.local,
      sendInitialContact: true,
      encap: true,
    },
    initiate: entry.initiate,
    pskFile: entry.pskFile,
  }));
}

/**
 * The local address to initiate from for a connection: the package identity when it is one of
 * the connection's addresses (the peer may check that IDi matches the address), else the first.
 */
export function contactSourceAddress(connection: ConnectionConfig): string | undefined {
  const id = connection.local.id;
  if ((id.kind === "ipv4" || id.kind === "ipv6") && connection.localAddrs.includes(id.value)) return id.value;
  return connection.localAddrs[0];
}

/** Whether an address lies in one of the prefixes or addresses of remote_addrs (empty: any). */
export function remoteAllowed(connection: ConnectionConfig, address: string): boolean {
  const list = connection.remoteAddrs;
  if (list.length === 0) return true;
  return list.some((entry) => addressMatchesEntry(address, entry));
}

/** The secret files of a package's IPsec: its private key and each connection's PSK file. */
export function secretFilesOf(ipsec: PackageIpsecConfig): string[] {
  const files = [
    ...(ipsec.local.key !== undefined ? [ipsec.local.key] : []),
    ...ipsec.connections.flatMap((c) => (c.pskFile !== undefined ? [c.pskFile] : [])),
  ];
  return [...new Set(files)];
}

/** Whether a file mode lets anyone but its owner read or write it (design §4: root, 0600). */
export function exposedToOthers(mode: number): boolean {
  return (mode & 0o077) !== 0;
}
