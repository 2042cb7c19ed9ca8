/**
 * Whether an address is an entry of local_addrs / remote_addrs (swanctl.conf(5)): the address
 * itself, or an IPv4 prefix "a.b.c.d/n" that holds it. IPv6 entries match only exactly.
 */
export function addressMatchesEntry(address: string, entry: string): boolean {
  const [network = "", lengthText] = entry.split("/");
  if (lengthText === undefined) return address === network;
  if (address.includes(":") || network.includes(":")) return address === network;
  const toNumber = (ip: string): number => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
  const length = Number(lengthText);
  const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
  return (toNumber(address) & mask) >>> 0 === (toNumber(network) & mask) >>> 0;
}
