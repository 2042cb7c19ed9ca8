/** Small, pure IPv4 helpers: parsing, prefixes, membership. Addresses are numbers (uint32). */

export interface Ipv4Prefix {
  /** Network address as an unsigned 32-bit number. */
  network: number;
  length: number;
}

export function parseIpv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

function maskOf(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/** Parses "a.b.c.d/len"; the address must be the network address (no host bits set). */
export function parsePrefix(text: string): Ipv4Prefix | undefined {
  const match = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  if (!match) return undefined;
  const address = parseIpv4(match[1] ?? "");
  const length = Number(match[2]);
  if (address === undefined || length > 32) return undefined;
  if ((address & ~maskOf(length)) >>> 0 !== 0) return undefined;
  return { network: address, length };
}

export function prefixContains(prefix: Ipv4Prefix, address: number): boolean {
  return (address & maskOf(prefix.length)) >>> 0 === prefix.network;
}

/** True when one prefix contains the other (or both are equal). */
export function prefixesOverlap(a: Ipv4Prefix, b: Ipv4Prefix): boolean {
  return a.length <= b.length ? prefixContains(a, b.network) : prefixContains(b, a.network);
}

export function formatPrefix(prefix: Ipv4Prefix): string {
  return `${formatIpv4(prefix.network)}/${prefix.length}`;
}

/** The benchmarking range of RFC 2544 / RFC 5735: the only addresses the lab may use. */
export const LAB_RANGE: Ipv4Prefix = { network: parseIpv4("198.18.0.0") ?? 0, length: 15 };
