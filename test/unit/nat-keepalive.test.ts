import { describe, expect, it } from "vitest";
import {
  keepalivesDue,
  NAT_KEEPALIVE,
  pathKey,
  type EncapsulatedPath,
} from "../../src/ipsec/nat-keepalive.js";

const a: EncapsulatedPath = {
  from: { address: "198.18.1.11", port: 4500 },
  to: { address: "198.18.1.101", port: 4500 },
};
const b: EncapsulatedPath = {
  from: { address: "198.18.1.11", port: 4500 },
  to: { address: "198.18.1.102", port: 4500 },
};

describe("NAT keepalives (RFC 3948 §2.3)", () => {
  it("is one 0xFF octet", () => {
    expect([...NAT_KEEPALIVE]).toEqual([0xff]);
  });

  it("sends on paths quiet for the interval, and looks again when the next one falls due", () => {
    const last = new Map([
      [pathKey(a), 1_000],
      [pathKey(b), 15_000],
    ]);
    const plan = keepalivesDue([a, b], (p) => last.get(pathKey(p)), 21_000, 20_000);
    expect(plan.send).toEqual([a]);
    expect(plan.nextAt).toBe(35_000); // b's turn; a's next is 41 000
  });

  it("waits a full interval on a path never sent on, and sends once per path", () => {
    expect(keepalivesDue([a, a], () => undefined, 5_000, 20_000)).toEqual({ send: [], nextAt: 25_000 });
    expect(keepalivesDue([a, { ...a }], () => 0, 20_000, 20_000).send).toEqual([a]);
  });

  it("has nothing to do without paths", () => {
    expect(keepalivesDue([], () => 0, 1, 20_000)).toEqual({ send: [], nextAt: undefined });
  });
});
