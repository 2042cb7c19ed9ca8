import { describe, expect, it } from "vitest";
import type { PackageConfig, SubnetConfig } from "../../src/cluster/config/model.js";
import {
  isAlreadyGone,
  isAlreadyThere,
  parseAddressLocations,
  parseNicAddresses,
} from "../../src/cluster/executor/ip-address.js";
import { managedNicSysctls } from "../../src/cluster/executor/nic-settings.js";
import { formatLogLines, packageLogPath } from "../../src/cluster/executor/package-log.js";
import { describeStep, haltSteps, startSteps } from "../../src/cluster/executor/package-steps.js";
import { packageConfig } from "../support/cluster-fixtures.js";

const subnets: SubnetConfig[] = [
  { name: "public", cidr: "198.18.1.0/24", heartbeat: false },
  { name: "backup", cidr: "198.18.4.0/23", heartbeat: false },
];

function webPackage(overrides: Partial<PackageConfig> = {}): PackageConfig {
  return packageConfig("web", {
    addresses: [
      { address: "198.18.1.50", subnet: "public" },
      { address: "198.18.4.9", subnet: "backup" },
    ],
    services: [
      {
        name: "db",
        command: "sleep 100",
        restarts: 0,
        restartDelayMs: 0,
        haltTimeoutMs: 1_000,
        failFast: false,
      },
      {
        name: "http",
        command: "sleep 100",
        restarts: 0,
        restartDelayMs: 0,
        haltTimeoutMs: 1_000,
        failFast: false,
      },
    ],
    startScript: { command: "true", timeoutMs: 1_000 },
    haltScript: { command: "true", timeoutMs: 1_000 },
    ...overrides,
  });
}

describe("package steps", () => {
  it("starts with the script, then the addresses with their subnet's prefix, then the services", () => {
    expect(startSteps(webPackage(), subnets).map(describeStep)).toEqual([
      "start script",
      "address 198.18.1.50/24",
      "address 198.18.4.9/23",
      "service db",
      "service http",
    ]);
  });

  it("halts in reverse: services (all at once), addresses, halt script", () => {
    expect(haltSteps(webPackage(), subnets).map(describeStep)).toEqual([
      "halting services http, db",
      "removing address 198.18.4.9/23",
      "removing address 198.18.1.50/24",
      "halt script",
    ]);
  });

  it("leaves out what the package does not have", () => {
    const bare = webPackage({
      services: [],
      startScript: undefined,
      haltScript: undefined,
      addresses: [],
    });
    expect(startSteps(bare, subnets)).toEqual([]);
    expect(haltSteps(bare, subnets)).toEqual([]);
  });

  it("names the key and the subnets when an address is on an unknown subnet", () => {
    const bad = webPackage({ addresses: [{ address: "198.18.9.1", subnet: "nowhere" }] });
    expect(() => startSteps(bad, subnets)).toThrow(/subnet nowhere/);
    let caught: unknown;
    try {
      startSteps(bad, subnets);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: "EXECUTOR_UNKNOWN_SUBNET" });
    expect((caught as { hint: string }).hint).toContain("public, backup");
  });
});

describe("package log", () => {
  it("stamps every line with UTC time and who speaks", () => {
    expect(formatLogLines(Date.UTC(2026, 10, 27, 13, 2, 10, 231), "start script", "one\ntwo\n")).toBe(
      "2026-11-27T13:02:10.231Z start script: one\n2026-11-27T13:02:10.231Z start script: two\n",
    );
  });

  it("is the package's own log_file, or <directory>/<package>.log", () => {
    expect(packageLogPath({ name: "web", logFile: undefined }, "/var/log/pavise")).toBe(
      "/var/log/pavise/web.log",
    );
    expect(packageLogPath({ name: "web", logFile: "/srv/web.log" }, "/var/log/pavise")).toBe("/srv/web.log");
  });
});

describe("iproute2 answers", () => {
  it("tells an address already there or already gone from a real error, on new and old kernels", () => {
    expect(isAlreadyThere("Error: ipv4: Address already assigned.")).toBe(true);
    expect(isAlreadyThere("RTNETLINK answers: File exists")).toBe(true);
    expect(isAlreadyGone("Error: ipv4: Address not found.")).toBe(true);
    expect(isAlreadyGone("RTNETLINK answers: Cannot assign requested address")).toBe(true);
    expect(isAlreadyThere('Cannot find device "lan9"')).toBe(false);
    expect(isAlreadyGone("RTNETLINK answers: Operation not permitted")).toBe(false);
  });

  it("finds every NIC holding an address, with its prefix length", () => {
    const json = JSON.stringify([
      {
        ifname: "lan0",
        addr_info: [
          { family: "inet", local: "198.18.1.11", prefixlen: 24 },
          { family: "inet", local: "198.18.1.50", prefixlen: 24 },
        ],
      },
      { ifname: "lan1", addr_info: [{ family: "inet", local: "198.18.1.50", prefixlen: 32 }] },
    ]);
    expect(parseAddressLocations(json, "198.18.1.50")).toEqual([
      { nic: "lan0", prefixLength: 24 },
      { nic: "lan1", prefixLength: 32 },
    ]);
    expect(parseNicAddresses(json, "lan0").map((a) => a.address)).toEqual(["198.18.1.11", "198.18.1.50"]);
  });
});

describe("NIC settings", () => {
  it("asks for promote_secondaries, ignore_routes_with_linkdown and quiet ARP on each NIC once", () => {
    expect(managedNicSysctls(["lan0", "lan0"])).toEqual([
      "net.ipv4.conf.lan0.promote_secondaries=1",
      "net.ipv4.conf.lan0.ignore_routes_with_linkdown=1",
      "net.ipv4.conf.lan0.arp_ignore=1",
      "net.ipv4.conf.lan0.arp_announce=2",
    ]);
  });
});
