import { describe, expect, it } from "vitest";
import {
  LAB_RANGE,
  formatIpv4,
  parseIpv4,
  parsePrefix,
  prefixContains,
  prefixesOverlap,
} from "../../src/net/ipv4.js";

describe("ipv4", () => {
  it("parses and formats dotted quads", () => {
    expect(parseIpv4("198.18.1.11")).toBe(0xc612010b);
    expect(formatIpv4(0xc612010b)).toBe("198.18.1.11");
    expect(formatIpv4(0xffffffff)).toBe("255.255.255.255");
  });

  it.each(["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.x", "01234.1.1.1", " 1.2.3.4"])(
    "rejects %j",
    (text) => {
      expect(parseIpv4(text)).toBeUndefined();
    },
  );

  it("parses prefixes and refuses host bits", () => {
    expect(parsePrefix("198.18.1.0/24")).toEqual({ network: 0xc6120100, length: 24 });
    expect(parsePrefix("198.18.1.1/24")).toBeUndefined();
    expect(parsePrefix("198.18.1.0/33")).toBeUndefined();
    expect(parsePrefix("0.0.0.0/0")).toEqual({ network: 0, length: 0 });
  });

  it("knows what the lab range 198.18.0.0/15 holds", () => {
    expect(prefixContains(LAB_RANGE, parseIpv4("198.19.255.255") ?? 0)).toBe(true);
    expect(prefixContains(LAB_RANGE, parseIpv4("198.20.0.0") ?? 0)).toBe(false);
    expect(prefixContains(LAB_RANGE, parseIpv4("198.17.255.255") ?? 0)).toBe(false);
  });

  it("detects overlapping prefixes both ways", () => {
    const a = parsePrefix("198.18.0.0/16");
    const b = parsePrefix("198.18.5.0/24");
    const c = parsePrefix("198.19.0.0/24");
    if (!a || !b || !c) throw new Error("bad test data");
    expect(prefixesOverlap(a, b)).toBe(true);
    expect(prefixesOverlap(b, a)).toBe(true);
    expect(prefixesOverlap(a, c)).toBe(false);
  });
});
