import { describe, expect, it } from "vitest";
import { apiUrlFor, type LocalAddress } from "../../src/api/http/api-url.js";
import type { SubnetConfig } from "../../src/cluster/config/model.js";

const subnets: SubnetConfig[] = [
  { name: "public", cidr: "198.18.1.0/24", heartbeat: false },
  { name: "heartbeat", cidr: "198.18.2.0/24", heartbeat: true },
];
/** n1 of the lab while it runs web: lo, its public address, web's address, its heartbeat address. */
const n1: LocalAddress[] = [
  { address: "127.0.0.1", family: "IPv4", internal: true },
  { address: "198.18.1.11", family: "IPv4", internal: false },
  { address: "198.18.1.50", family: "IPv4", internal: false },
  { address: "198.18.2.11", family: "IPv4", internal: false },
];

describe("the API URL a node publishes", () => {
  it("listening on every address: its own heartbeat address (never a package's, which moves)", () => {
    expect(apiUrlFor(["0.0.0.0:7443"], subnets, n1)).toBe("https://198.18.2.11:7443");
    expect(apiUrlFor(["[::]:8443"], subnets, n1)).toBe("https://198.18.2.11:8443");
  });

  it("listening on one address: that address", () => {
    expect(apiUrlFor(["198.18.1.11:7443", "0.0.0.0:9000"], subnets, n1)).toBe("https://198.18.1.11:7443");
    expect(apiUrlFor(["[2001:db8::1]:7443"], subnets, n1)).toBe("https://[2001:db8::1]:7443");
    expect(apiUrlFor(["n1.example.net:7443"], subnets, n1)).toBe("https://n1.example.net:7443");
  });

  it("none when it cannot tell: no listener, no heartbeat address, a listener it cannot read", () => {
    expect(apiUrlFor([], subnets, n1)).toBeUndefined();
    expect(apiUrlFor(["0.0.0.0:7443"], subnets, n1.slice(0, 3))).toBeUndefined();
    expect(apiUrlFor(["0.0.0.0:7443"], [subnets[0]!], n1)).toBeUndefined();
    expect(apiUrlFor(["localhost"], subnets, n1)).toBeUndefined();
  });
});
