import { describe, expect, it } from "vitest";
import { rangeToPrefixes } from "../../src/esp/driver/tun-device.js";

const v4 = (a: string): Uint8Array => Uint8Array.from(a.split(".").map(Number));

describe("rangeToPrefixes (routes for remote traffic selectors)", () => {
  it("covers a range exactly with the fewest prefixes", () => {
    expect(rangeToPrefixes({ family: 4, start: v4("198.19.0.0"), end: v4("198.19.1.255") })).toEqual([
      "198.19.0.0/23",
    ]);
    expect(rangeToPrefixes({ family: 4, start: v4("198.18.0.5"), end: v4("198.18.0.5") })).toEqual([
      "198.18.0.5/32",
    ]);
    expect(rangeToPrefixes({ family: 4, start: v4("198.18.0.1"), end: v4("198.18.0.6") })).toEqual([
      "198.18.0.1/32",
      "198.18.0.2/31",
      "198.18.0.4/31",
      "198.18.0.6/32",
    ]);
    expect(rangeToPrefixes({ family: 4, start: v4("0.0.0.0"), end: v4("255.255.255.255") })).toEqual([
      "0.0.0.0/0",
    ]);
  });

  it("handles IPv6", () => {
    const start = new Uint8Array(16);
    start[0] = 0x20;
    start[1] = 0x01;
    start[2] = 0x0d;
    start[3] = 0xb8;
    const end = Uint8Array.from(start);
    end.fill(0xff, 8);
    expect(rangeToPrefixes({ family: 6, start, end })).toEqual(["2001:db8:0:0:0:0:0:0/64"]);
  });

  it("refuses a backwards range", () => {
    expect(() => rangeToPrefixes({ family: 4, start: v4("198.18.0.9"), end: v4("198.18.0.1") })).toThrow(
      /starts after/,
    );
  });
});
