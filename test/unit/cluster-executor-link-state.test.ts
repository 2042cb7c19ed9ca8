import { describe, expect, it } from "vitest";
import { linkIsUp, parseLinkMonitorLine, parseLinkShowJson } from "../../src/cluster/executor/link-state.js";

// Lines as `ip -o monitor link` (iproute2 6.1) printed them in the lab for n1's lan0.
const TAIL =
  " mtu 1500 qdisc noqueue state %s group default \\    link/ether 02:50:0a:01:00:01 brd ff:ff:ff:ff:ff:ff link-netns tmeas-switch";
const adminDown = `2: lan0@if4: <BROADCAST,MULTICAST>${TAIL.replace("%s", "DOWN")}`;
const comingUp = `2: lan0@if4: <NO-CARRIER,BROADCAST,MULTICAST,UP,LOWER_UP>${TAIL.replace("%s", "DOWN")}`;
const up = `2: lan0@if4: <BROADCAST,MULTICAST,UP,LOWER_UP>${TAIL.replace("%s", "UP")}`;
const carrierLost = `2: lan0@if4: <NO-CARRIER,BROADCAST,MULTICAST,UP>${TAIL.replace("%s", "DOWN")}`;

describe("link state from iproute2", () => {
  it("reads monitor lines: admin down, carrier coming, up, cable pulled", () => {
    expect(parseLinkMonitorLine(adminDown)).toEqual({ nic: "lan0", up: false, deleted: false });
    expect(parseLinkMonitorLine(comingUp)).toEqual({ nic: "lan0", up: false, deleted: false });
    expect(parseLinkMonitorLine(up)).toEqual({ nic: "lan0", up: true, deleted: false });
    expect(parseLinkMonitorLine(carrierLost)).toEqual({ nic: "lan0", up: false, deleted: false });
  });

  it("reads a removed link and names without a peer suffix", () => {
    expect(parseLinkMonitorLine(`Deleted ${up}`)).toEqual({ nic: "lan0", up: false, deleted: true });
    expect(parseLinkMonitorLine("5: eth0: <BROADCAST,UP,LOWER_UP> mtu 1500 state UP")).toEqual({
      nic: "eth0",
      up: true,
      deleted: false,
    });
  });

  it("ignores what is not a link line", () => {
    expect(parseLinkMonitorLine("")).toBeUndefined();
    expect(parseLinkMonitorLine("Timestamp: Fri Nov 27 13:02:10 2026 231000 usec")).toBeUndefined();
  });

  it("reads a snapshot, deciding UNKNOWN operstate by the flags", () => {
    const json = JSON.stringify([
      { ifname: "lo", flags: ["LOOPBACK", "UP", "LOWER_UP"], operstate: "UNKNOWN" },
      { ifname: "lan0", flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], operstate: "UP" },
      { ifname: "lan1", flags: ["NO-CARRIER", "BROADCAST", "MULTICAST", "UP"], operstate: "DOWN" },
      { ifname: "tun0", flags: ["POINTOPOINT", "UP"], operstate: "UNKNOWN" },
    ]);
    expect(parseLinkShowJson(json).map((l) => [l.nic, l.up])).toEqual([
      ["lo", true],
      ["lan0", true],
      ["lan1", false],
      ["tun0", false],
    ]);
  });

  it("never calls a link without carrier up", () => {
    expect(linkIsUp("UP", ["NO-CARRIER", "UP"])).toBe(false);
    expect(linkIsUp("LOWERLAYERDOWN", ["UP"])).toBe(false);
    expect(linkIsUp("DORMANT", ["UP", "LOWER_UP"])).toBe(false);
  });
});
