/**
 * Reads what iproute2 prints about IPv4 addresses: the lines of
 * `ip -ts -o monitor address` (run with TZ=UTC) and the JSON of `ip -j addr show`.
 * Checked against iproute2 6.1 output captured on the lab machine
 * (test/unit/fixtures/ip-*-monitor-address.txt, ip-j-addr-show.json). Pure; never throws.
 *
 * A monitor line, one per netlink message with -o (the continuation is joined by "\"):
 *   [2026-11-27T09:56:05.065209] 2: prdev-va    inet 198.18.1.50/24 scope global secondary prdev-va\  valid_lft ...
 *   [2026-11-27T09:56:05.078273] Deleted 2: prdev-va    inet 198.18.1.50/24 scope global ...
 *   [2026-11-27T09:56:05.071163] 2: prdev-va    inet 198.18.1.53 peer 198.18.1.54/32 scope global ...
 * `-ts` stamps each message with the local time (localtime(3), hence TZ=UTC) in microseconds, taken
 * when ip reads the message, not when the kernel changed the address.
 *
 * Loopback addresses (127.0.0.0/8) are left out: every namespace has 127.0.0.1 and nobody owns it.
 */

export interface InterfaceAddress {
  /** Device name as the kernel reports it (the label, e.g. "lan0:1", is kept apart). */
  interface: string;
  address: string;
  prefixLength: number;
  label?: string;
}

export type MonitorLine =
  | { kind: "event"; at: number; change: "add" | "del"; ifindex: number; entry: InterfaceAddress }
  /** Understood and not about an IPv4 address we track: IPv6, loopback, continuation lines, blank. */
  | { kind: "ignored" }
  | { kind: "unparsable" };

const MONITOR_LINE =
  /^\[(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\]\s+(Deleted\s+)?(\d+):\s+(\S+)\s+(inet6?)\s+(\S+)(.*)$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseMonitorLine(line: string): MonitorLine {
  if (line.trim() === "" || /^\s/.test(line)) return { kind: "ignored" };
  const m = MONITOR_LINE.exec(line);
  if (!m) return { kind: "unparsable" };
  const [, year, month, day, hour, minute, second, fraction, deleted, ifindex, device, family, first, rest] =
    m;
  if (family === "inet6") return { kind: "ignored" };
  const at = utcMillis(year, month, day, hour, minute, second, fraction);
  const entry = parseAddressWords(device ?? "", first ?? "", rest ?? "");
  if (at === undefined || entry === undefined) return { kind: "unparsable" };
  if (isLoopback(entry.address)) return { kind: "ignored" };
  return { kind: "event", at, change: deleted ? "del" : "add", ifindex: Number(ifindex), entry };
}

/**
 * IPv4 addresses in `ip -j addr show` output; undefined when the text is not that JSON (an
 * interface or address entry of unexpected shape is skipped).
 */
export function parseAddrShowJson(text: string): InterfaceAddress[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  const result: InterfaceAddress[] = [];
  for (const link of parsed as unknown[]) {
    if (!isRecord(link) || typeof link.ifname !== "string" || !Array.isArray(link.addr_info)) continue;
    for (const info of link.addr_info as unknown[]) {
      if (!isRecord(info) || info.family !== "inet") continue;
      const { local, prefixlen, label } = info;
      if (typeof local !== "string" || !isIpv4(local) || isLoopback(local)) continue;
      if (typeof prefixlen !== "number" || !Number.isInteger(prefixlen) || prefixlen < 0 || prefixlen > 32)
        continue;
      result.push({
        interface: link.ifname,
        address: local,
        prefixLength: prefixlen,
        ...(typeof label === "string" && label !== link.ifname ? { label } : {}),
      });
    }
  }
  return result;
}

/** "198.18.1.50/24 scope global secondary lan0:1" or "198.18.1.53 peer 198.18.1.54/32 scope ..." */
function parseAddressWords(device: string, first: string, rest: string): InterfaceAddress | undefined {
  const [address, prefix] = first.split("/");
  if (address === undefined || !isIpv4(address)) return undefined;
  let prefixText = prefix;
  const words = rest.split("\\")[0]?.trim().split(/\s+/) ?? [];
  if (prefixText === undefined && words[0] === "peer") prefixText = words[1]?.split("/")[1];
  const prefixLength = prefixText === undefined ? 32 : Number(prefixText);
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) return undefined;
  // The label, when there is one, is the last word before the continuation.
  const interfaceName = device.split("@")[0] ?? device;
  const last = words[words.length - 1];
  const label =
    last !== undefined && last !== interfaceName && last.startsWith(`${interfaceName}:`) ? last : undefined;
  return { interface: interfaceName, address, prefixLength, ...(label ? { label } : {}) };
}

function utcMillis(...parts: (string | undefined)[]): number | undefined {
  const [year, month, day, hour, minute, second, fraction] = parts;
  const ms = Date.UTC(
    Number(year),
    Number(month) - 1,
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
  );
  if (!Number.isFinite(ms)) return undefined;
  // Fraction digits are microseconds from iproute2; any count of digits is read as a fraction.
  const frac = fraction ? Number(`0.${fraction}`) * 1000 : 0;
  return ms + frac;
}

function isIpv4(text: string): boolean {
  const m = IPV4.exec(text);
  return m !== null && m.slice(1).every((octet) => Number(octet) <= 255);
}

function isLoopback(address: string): boolean {
  return address.startsWith("127.");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
