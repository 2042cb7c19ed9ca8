/**
 * Reads link state from iproute2's output: `ip -j link show` for a snapshot and
 * `ip -o monitor link` for changes. A link carries traffic when it is administratively up and
 * has carrier: operstate UP (a cable pull shows as NO-CARRIER / state DOWN with the UP flag
 * still set, an `ip link set down` as state DOWN without it). Devices without operstate
 * support report UNKNOWN; then the UP and LOWER_UP flags decide.
 */

export interface LinkReading {
  nic: string;
  up: boolean;
  /** The link was removed (RTM_DELLINK): it carries nothing any more. */
  deleted: boolean;
}

export function linkIsUp(operstate: string | undefined, flags: readonly string[]): boolean {
  if (flags.includes("NO-CARRIER")) return false;
  if (operstate === "UP") return true;
  if (operstate === "UNKNOWN" || operstate === undefined) {
    return flags.includes("UP") && flags.includes("LOWER_UP");
  }
  return false;
}

interface IpLinkJson {
  ifname?: string;
  flags?: string[];
  operstate?: string;
}

/** Parses `ip -j link show`. */
export function parseLinkShowJson(json: string): LinkReading[] {
  const links = JSON.parse(json) as IpLinkJson[];
  return links.flatMap((link) =>
    link.ifname === undefined
      ? []
      : [{ nic: link.ifname, up: linkIsUp(link.operstate, link.flags ?? []), deleted: false }],
  );
}

/**
 * Parses one line of `ip -o monitor link`, e.g.
 * `2: lan0@if4: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default \ …`
 * (a veth's name carries its peer as `@ifN`; a removed link's line starts with `Deleted `).
 * Returns undefined for lines that are not link messages.
 */
export function parseLinkMonitorLine(line: string): LinkReading | undefined {
  const match = /^(Deleted )?(?:\[[^\]]*\]\s*)?\d+:\s+([^:@\s]+)(?:@[^:\s]+)?:\s+<([^>]*)>(.*)$/.exec(
    line.trim(),
  );
  if (!match) return undefined;
  const [, deleted, nic, flagText, rest] = match;
  if (nic === undefined) return undefined;
  const flags = (flagText ?? "").split(",").filter(Boolean);
  const operstate = /\bstate (\S+)/.exec(rest ?? "")?.[1];
  return { nic, up: deleted === undefined && linkIsUp(operstate, flags), deleted: deleted !== undefined };
}
