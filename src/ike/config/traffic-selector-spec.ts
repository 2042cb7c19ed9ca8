import { isIPv4, isIPv6 } from "node:net";

/**
 * A traffic selector as written in a configuration (swanctl.conf syntax): a prefix
 * "198.18.1.0/24", a range "198.18.1.10-198.18.1.20", a single address, or "dynamic" (this
 * side's own address, filled in when the SA is set up), each optionally followed by
 * "[protocol/port]" as in "[tcp/443]", "[udp]", "[/53]" or "[tcp/1000-2000]".
 */
export interface TrafficSelectorSpec {
  /** "dynamic" or an address range; start and end are addresses of one family. */
  address: { kind: "dynamic" } | { kind: "range"; family: 4 | 6; start: string; end: string };
  /** IP protocol number; 0 for any. */
  protocol: number;
  portStart: number;
  portEnd: number;
}

const PROTOCOLS: Record<string, number> = {
  any: 0,
  icmp: 1,
  tcp: 6,
  udp: 17,
  ipv6icmp: 58,
  "ipv6-icmp": 58,
  sctp: 132,
};

export function parseTrafficSelector(text: string): TrafficSelectorSpec | { error: string } {
  const match = /^([^[\]]+?)\s*(?:\[([^\]]*)\])?$/.exec(text.trim());
  if (!match) return { error: `cannot read ${JSON.stringify(text)} as a traffic selector` };
  const [, addressText = "", portText] = match;
  const address = parseAddressPart(addressText.trim());
  if ("error" in address) return address;
  const ports = parseProtocolPart(portText);
  if ("error" in ports) return ports;
  return { address, ...ports };
}

function parseAddressPart(text: string): TrafficSelectorSpec["address"] | { error: string } {
  if (text === "dynamic") return { kind: "dynamic" };
  const dash = text.indexOf("-");
  if (dash > 0) {
    const start = text.slice(0, dash).trim();
    const end = text.slice(dash + 1).trim();
    const family = familyOf(start);
    if (!family || familyOf(end) !== family)
      return { error: `${text} is not a range of addresses of one family` };
    if (compareAddresses(start, end) > 0) return { error: `${text}: the range ends before it starts` };
    return { kind: "range", family, start, end };
  }
  const [ip = "", lengthText] = text.split("/");
  const family = familyOf(ip);
  if (!family) return { error: `${ip} is not an IP address` };
  const max = family === 4 ? 32 : 128;
  const length = lengthText === undefined ? max : Number(lengthText);
  if (
    !Number.isInteger(length) ||
    length < 0 ||
    length > max ||
    (lengthText !== undefined && !/^\d+$/.test(lengthText))
  ) {
    return { error: `/${lengthText} is not a prefix length for IPv${family}` };
  }
  const bytes = addressBytes(ip);
  const start = Uint8Array.from(bytes);
  const end = Uint8Array.from(bytes);
  for (let bit = length; bit < max; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    start[byte] = (start[byte] ?? 0) & ~mask;
    end[byte] = (end[byte] ?? 0) | mask;
  }
  return { kind: "range", family, start: formatAddress(start), end: formatAddress(end) };
}

function parseProtocolPart(
  text: string | undefined,
): { protocol: number; portStart: number; portEnd: number } | { error: string } {
  if (text === undefined || text.trim() === "") return { protocol: 0, portStart: 0, portEnd: 65535 };
  const [protoText = "", portText] = text.split("/");
  let protocol = 0;
  if (protoText !== "") {
    const known = PROTOCOLS[protoText.toLowerCase()];
    if (known !== undefined) protocol = known;
    else if (/^\d+$/.test(protoText) && Number(protoText) <= 255) protocol = Number(protoText);
    else return { error: `unknown protocol ${protoText}` };
  }
  if (portText === undefined || portText === "" || portText === "%any")
    return { protocol, portStart: 0, portEnd: 65535 };
  const ports = /^(\d+)(?:-(\d+))?$/.exec(portText);
  const start = Number(ports?.[1]);
  const end = ports?.[2] === undefined ? start : Number(ports[2]);
  if (!ports || start > 65535 || end > 65535 || start > end)
    return { error: `${portText} is not a port or port range` };
  return { protocol, portStart: start, portEnd: end };
}

function familyOf(ip: string): 4 | 6 | undefined {
  return isIPv4(ip) ? 4 : isIPv6(ip) ? 6 : undefined;
}

/** The address as bytes (4 for IPv4, 16 for IPv6). */
export function addressBytes(ip: string): Uint8Array {
  if (isIPv4(ip)) return Uint8Array.from(ip.split(".").map(Number));
  const [head = "", tail = ""] = ip.includes("::") ? ip.split("::") : [ip, ""];
  const words = (part: string): number[] =>
    part === "" ? [] : part.split(":").flatMap((w) => (w.includes(".") ? v4Words(w) : [parseInt(w, 16)]));
  const left = words(head);
  const right = words(tail);
  const all = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 255;
  });
  return out;
}

function v4Words(dotted: string): number[] {
  const b = dotted.split(".").map(Number);
  return [((b[0] ?? 0) << 8) | (b[1] ?? 0), ((b[2] ?? 0) << 8) | (b[3] ?? 0)];
}

export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  // The WHATWG URL parser writes IPv6 in its canonical short form (RFC 5952).
  return new URL(`http://[${words.join(":")}]/`).hostname.slice(1, -1);
}

export function compareAddresses(a: string, b: string): number {
  return Buffer.compare(addressBytes(a), addressBytes(b));
}
