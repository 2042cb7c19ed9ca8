import type { ChildSaKeys } from "../../ike/core/events.js";
import { sameSelector, type TrafficSelector } from "../../ike/core/traffic-selector.js";
import { icmpPortValue, isIcmp, type PacketSelectors } from "./selectors.js";

/**
 * The security policy database (RFC 4301 §4.4.1): an ordered list of policies, each a set of
 * local and remote selectors and what to do with matching traffic — protect it with a Child
 * SA, let it pass in the clear (bypass) or drop it (discard). The first match wins; order is
 * by priority (lower first), then by installation.
 *
 * A packet matches a policy when some local selector and some remote selector together cover
 * it: outbound, the source lies in the local one and the destination in the remote one;
 * inbound the other way round. Protocol 0 is any protocol. Ports that are not known (non-first
 * fragments, protocols without ports) match only a selector covering every port. For ICMP, the
 * type/code value (type in the high byte, RFC 7296 §3.13.1) is matched against the selector of
 * the side that sent the packet only, as Linux XFRM and strongSwan do, so that replies match a
 * policy written for requests.
 *
 * Policies of Child SAs: `installChildSa` adds a protect policy for its selectors; a rekeyed
 * Child SA with the same selectors joins the existing policy, which then sends with the newest
 * SA (strongSwan keeps one kernel policy per selector pair the same way). `removeChildSa`
 * takes the SA out and drops policies left without one.
 */

export type PolicyAction = "protect" | "bypass" | "discard";

export interface PolicySpec {
  name: string;
  local: readonly TrafficSelector[];
  remote: readonly TrafficSelector[];
  action: PolicyAction;
  /** Lower first; equal priorities in the order installed. */
  priority: number;
}

export interface Policy extends Readonly<PolicySpec> {
  readonly id: number;
  /** For "protect": the Child SAs using it, by inbound SPI, oldest first. Outbound takes the last. */
  readonly sas: readonly number[];
  /** Added by `installChildSa` (removed with its last SA), not by `add` (kept until `remove`). */
  readonly fromChildSa: boolean;
}

/** Priority of the protect policies `installChildSa` adds unless told otherwise. */
export const DEFAULT_CHILD_SA_PRIORITY = 1000;

/**
 * What to do with an outbound packet. "acquire": a protect policy without an SA yet (a trap
 * policy) — drop the packet and ask IKE for an SA. No matching policy: discard (RFC 4301 §5.1).
 */
export type OutboundDecision =
  | { action: "protect"; policy: Policy; spiIn: number }
  | { action: "acquire"; policy: Policy }
  | { action: "bypass"; policy: Policy }
  | { action: "discard"; policy: Policy | undefined };

interface Entry {
  id: number;
  name: string;
  local: readonly TrafficSelector[];
  remote: readonly TrafficSelector[];
  action: PolicyAction;
  priority: number;
  sas: number[];
  fromChildSa: boolean;
}

export class Spd {
  private entries: Entry[] = [];
  private nextId = 1;

  /** Adds a policy (a bypass, discard or trap policy; Child SAs use `installChildSa`). */
  add(spec: PolicySpec): Policy {
    checkSpec(spec);
    const entry: Entry = { ...spec, id: this.nextId++, sas: [], fromChildSa: false };
    this.insert(entry);
    return entry;
  }

  remove(id: number): boolean {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.id !== id);
    return this.entries.length !== before;
  }

  /**
   * The protect policy of a Child SA: joins an existing protect policy with the same
   * selectors and priority (a rekey, or a trap policy being fulfilled), else adds one.
   */
  installChildSa(
    sa: Pick<ChildSaKeys, "name" | "spiIn" | "localTs" | "remoteTs">,
    priority = DEFAULT_CHILD_SA_PRIORITY,
  ): Policy {
    const existing = this.entries.find(
      (e) =>
        e.action === "protect" &&
        e.priority === priority &&
        sameList(e.local, sa.localTs) &&
        sameList(e.remote, sa.remoteTs),
    );
    if (existing) {
      if (!existing.sas.includes(sa.spiIn)) existing.sas.push(sa.spiIn);
      return existing;
    }
    const spec: PolicySpec = {
      name: sa.name,
      local: sa.localTs,
      remote: sa.remoteTs,
      action: "protect",
      priority,
    };
    checkSpec(spec);
    const entry: Entry = { ...spec, id: this.nextId++, sas: [sa.spiIn], fromChildSa: true };
    this.insert(entry);
    return entry;
  }

  /** Takes a Child SA out of its policies; policies it brought and no SA uses any more go. */
  removeChildSa(spiIn: number): void {
    for (const e of this.entries) {
      const at = e.sas.indexOf(spiIn);
      if (at >= 0) e.sas.splice(at, 1);
    }
    this.entries = this.entries.filter((e) => !(e.fromChildSa && e.sas.length === 0));
  }

  /** The policy for a packet going out (source local, destination remote). */
  lookupOutbound(sel: PacketSelectors): OutboundDecision {
    const policy = this.entries.find((e) => matchesOutbound(sel, e.local, e.remote));
    if (!policy) return { action: "discard", policy: undefined };
    if (policy.action !== "protect") return { action: policy.action, policy };
    const spiIn = policy.sas[policy.sas.length - 1];
    return spiIn === undefined ? { action: "acquire", policy } : { action: "protect", policy, spiIn };
  }

  /**
   * The policy for a packet that arrived in the clear (source remote, destination local).
   * Traffic that a protect policy covers must come through ESP: drop it when it does not.
   */
  lookupInbound(sel: PacketSelectors): Policy | undefined {
    return this.entries.find((e) => matchesInbound(sel, e.local, e.remote));
  }

  list(): Policy[] {
    return [...this.entries];
  }

  private insert(entry: Entry): void {
    let at = this.entries.length;
    while (at > 0 && this.entries[at - 1]!.priority > entry.priority) at--;
    this.entries.splice(at, 0, entry);
  }
}

/**
 * Whether a packet that came out of an SA is one that SA may carry (RFC 4301 §5.2 step 4):
 * source in the remote selectors, destination in the local ones. Drop it otherwise.
 */
export function inboundAllowed(sel: PacketSelectors, sa: Pick<ChildSaKeys, "localTs" | "remoteTs">): boolean {
  return matchesInbound(sel, sa.localTs, sa.remoteTs);
}

/** Source within some local selector, destination within some remote one. */
export function matchesOutbound(
  sel: PacketSelectors,
  local: readonly TrafficSelector[],
  remote: readonly TrafficSelector[],
): boolean {
  return matchesPair(sel, local, remote);
}

/** Source within some remote selector, destination within some local one. */
export function matchesInbound(
  sel: PacketSelectors,
  local: readonly TrafficSelector[],
  remote: readonly TrafficSelector[],
): boolean {
  return matchesPair(sel, remote, local);
}

function matchesPair(
  sel: PacketSelectors,
  fromSide: readonly TrafficSelector[],
  toSide: readonly TrafficSelector[],
): boolean {
  for (const from of fromSide) {
    if (!sideMatches(sel, from, sel.src, sel.srcPort, true)) continue;
    for (const to of toSide) {
      if (sideMatches(sel, to, sel.dst, sel.dstPort, false)) return true;
    }
  }
  return false;
}

function sideMatches(
  sel: PacketSelectors,
  ts: TrafficSelector,
  address: Uint8Array,
  port: number,
  sender: boolean,
): boolean {
  if (ts.family !== sel.family) return false;
  if (ts.protocol !== 0 && ts.protocol !== sel.protocol) return false;
  if (compareBytes(address, ts.start) < 0 || compareBytes(address, ts.end) > 0) return false;
  const anyPort = ts.portStart === 0 && ts.portEnd === 0xffff;
  if (anyPort) return true;
  if (!sel.portsKnown) return false;
  if (isIcmp(sel.protocol)) {
    if (!sender) return true;
    const value = icmpPortValue(sel);
    return value >= ts.portStart && value <= ts.portEnd;
  }
  return port >= ts.portStart && port <= ts.portEnd;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function sameList(a: readonly TrafficSelector[], b: readonly TrafficSelector[]): boolean {
  return a.length === b.length && a.every((x, i) => sameSelector(x, b[i]!));
}

function checkSpec(spec: PolicySpec): void {
  if (!Number.isFinite(spec.priority)) {
    throw new RangeError(`Spd: priority of policy "${spec.name}" must be a number, got ${spec.priority}`);
  }
  for (const ts of [...spec.local, ...spec.remote]) {
    const length = ts.family === 4 ? 4 : 16;
    if (ts.start.length !== length || ts.end.length !== length) {
      throw new RangeError(
        `Spd: a selector of policy "${spec.name}" has addresses that are not IPv${ts.family}`,
      );
    }
  }
}
