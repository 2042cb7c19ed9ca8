import { addressBytes, type TrafficSelectorSpec } from "../config/traffic-selector-spec.js";

/**
 * A traffic selector as IKE carries it (RFC 7296 §3.13.1): one address range of one family,
 * an IP protocol (0: any) and a port range. Addresses are bytes (4 or 16), compared as numbers.
 */
export interface TrafficSelector {
  family: 4 | 6;
  protocol: number;
  portStart: number;
  portEnd: number;
  start: Uint8Array;
  end: Uint8Array;
}

function compare(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** The selectors a configuration names, with "dynamic" replaced by this side's own address. */
export function resolveSelectors(
  specs: readonly TrafficSelectorSpec[],
  ownAddress: string,
): TrafficSelector[] {
  return specs.map((spec) => {
    if (spec.address.kind === "dynamic") {
      const bytes = addressBytes(ownAddress);
      return {
        family: bytes.length === 4 ? 4 : 6,
        protocol: spec.protocol,
        portStart: spec.portStart,
        portEnd: spec.portEnd,
        start: bytes,
        end: Uint8Array.from(bytes),
      };
    }
    return {
      family: spec.address.family,
      protocol: spec.protocol,
      portStart: spec.portStart,
      portEnd: spec.portEnd,
      start: addressBytes(spec.address.start),
      end: addressBytes(spec.address.end),
    };
  });
}

/** What two selectors have in common, or undefined when nothing. */
export function intersect(a: TrafficSelector, b: TrafficSelector): TrafficSelector | undefined {
  if (a.family !== b.family) return undefined;
  if (a.protocol !== 0 && b.protocol !== 0 && a.protocol !== b.protocol) return undefined;
  const portStart = Math.max(a.portStart, b.portStart);
  const portEnd = Math.min(a.portEnd, b.portEnd);
  if (portStart > portEnd) return undefined;
  const start = compare(a.start, b.start) >= 0 ? a.start : b.start;
  const end = compare(a.end, b.end) <= 0 ? a.end : b.end;
  if (compare(start, end) > 0) return undefined;
  return { family: a.family, protocol: a.protocol || b.protocol, portStart, portEnd, start, end };
}

/**
 * Narrowing (RFC 7296 §2.9): the responder answers with the parts of the proposed selectors
 * its own policy allows — each proposed selector intersected with each configured one, in the
 * initiator's order, without repeats. Empty means TS_UNACCEPTABLE.
 */
export function narrow(
  proposed: readonly TrafficSelector[],
  allowed: readonly TrafficSelector[],
): TrafficSelector[] {
  const result: TrafficSelector[] = [];
  for (const p of proposed) {
    for (const a of allowed) {
      const common = intersect(p, a);
      if (common && !result.some((r) => sameSelector(r, common))) result.push(common);
    }
  }
  return result;
}

export function sameSelector(a: TrafficSelector, b: TrafficSelector): boolean {
  return (
    a.family === b.family &&
    a.protocol === b.protocol &&
    a.portStart === b.portStart &&
    a.portEnd === b.portEnd &&
    compare(a.start, b.start) === 0 &&
    compare(a.end, b.end) === 0
  );
}

/** Whether `inner` lies within `outer` (an initiator checks the responder only narrowed). */
export function contains(outer: TrafficSelector, inner: TrafficSelector): boolean {
  const common = intersect(outer, inner);
  return common !== undefined && sameSelector(common, inner);
}
