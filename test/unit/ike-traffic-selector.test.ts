import { describe, expect, it } from "vitest";
import { parseTrafficSelector, formatAddress } from "../../src/ike/config/traffic-selector-spec.js";
import {
  contains,
  narrow,
  resolveSelectors,
  type TrafficSelector,
} from "../../src/ike/core/traffic-selector.js";

function ts(...texts: string[]): TrafficSelector[] {
  return resolveSelectors(
    texts.map((t) => {
      const spec = parseTrafficSelector(t);
      if ("error" in spec) throw new Error(spec.error);
      return spec;
    }),
    "198.18.1.11",
  );
}

function show(list: TrafficSelector[]): string[] {
  return list.map(
    (t) => `${formatAddress(t.start)}-${formatAddress(t.end)} p${t.protocol} ${t.portStart}-${t.portEnd}`,
  );
}

describe("traffic selector narrowing (RFC 7296 §2.9)", () => {
  it("a responder narrows 0.0.0.0/0 to what its policy allows", () => {
    expect(show(narrow(ts("0.0.0.0/0"), ts("198.18.1.0/24")))).toEqual([
      "198.18.1.0-198.18.1.255 p0 0-65535",
    ]);
  });

  it("protocols and ports intersect; different protocols do not", () => {
    expect(show(narrow(ts("198.18.1.0/24[tcp]"), ts("198.18.1.101/32[/443]")))).toEqual([
      "198.18.1.101-198.18.1.101 p6 443-443",
    ]);
    expect(narrow(ts("198.18.1.0/24[tcp]"), ts("198.18.1.0/24[udp]"))).toEqual([]);
    expect(narrow(ts("198.18.1.0/24[tcp/1-100]"), ts("198.18.1.0/24[tcp/200-300]"))).toEqual([]);
  });

  it("keeps the initiator's order and drops repeats; families never mix", () => {
    const result = narrow(ts("198.18.2.0/24", "198.18.1.0/24", "198.18.1.0/24"), ts("198.18.0.0/16"));
    expect(show(result)).toEqual([
      "198.18.2.0-198.18.2.255 p0 0-65535",
      "198.18.1.0-198.18.1.255 p0 0-65535",
    ]);
    expect(narrow(ts("::/0"), ts("0.0.0.0/0"))).toEqual([]);
  });

  it("dynamic is this side's own address", () => {
    expect(show(ts("dynamic"))).toEqual(["198.18.1.11-198.18.1.11 p0 0-65535"]);
  });

  it("an initiator can check that the answer lies within what it proposed", () => {
    const [outer] = ts("198.18.0.0/16");
    const [inner] = ts("198.18.1.0/24[tcp/80]");
    if (!outer || !inner) throw new Error("test data");
    expect(contains(outer, inner)).toBe(true);
    expect(contains(inner, outer)).toBe(false);
  });
});
