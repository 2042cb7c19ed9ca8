import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type AddressEvent,
  type AddressTimeline,
  addressesOf,
  holdersAt,
  overlaps,
  ownershipHistory,
} from "../../src/lab/probes/address-timeline.js";
import {
  parseAddrShowJson,
  parseMonitorLine,
  type MonitorLine,
} from "../../src/lab/probes/ip-address-output.js";

// Captured on the lab machine (iproute2 6.1, kernel 6.18) from one namespace while adding
// 198.18.1.50/24, .51/32 with label prdev-va:1, .52/24 with brd, .53 peer .54/32, then
// `ip link set prdev-va down` and `up`, then deleting them all again, then adding and deleting
// .60/24 with finite lifetimes. Same run, two formats:
//   TZ=UTC ip -ts -o -n prdev-a monitor address   (what AddressWatch runs)
//   TZ=UTC ip -ts -n prdev-a monitor address      (continuation lines indented)
const fixture = (name: string): string =>
  readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
const oneLine = fixture("ip-ts-oneline-monitor-address.txt").split("\n");
const multiLine = fixture("ip-ts-monitor-address.txt").split("\n");

/** Milliseconds of 2026-11-27T09:56:SS.micro UTC, the capture's minute. */
const at = (second: number, micro: number): number => Date.UTC(2026, 10, 27, 9, 56, second) + micro / 1000;

type Event = Extract<MonitorLine, { kind: "event" }>;
const eventsOf = (lines: string[]): Event[] =>
  lines.map(parseMonitorLine).filter((l): l is Event => l.kind === "event");

describe("parseMonitorLine on captured `ip -ts -o monitor address` output", () => {
  it("reads time, change, interface, address and prefix length", () => {
    const events = eventsOf(oneLine);
    expect(events.map((e) => [e.change, e.entry.address, e.entry.prefixLength])).toEqual([
      ["add", "198.18.1.50", 24],
      ["add", "198.18.1.51", 32],
      ["add", "198.18.1.52", 24],
      ["add", "198.18.1.53", 32],
      ["del", "198.18.1.50", 24],
      ["del", "198.18.1.51", 32],
      ["del", "198.18.1.52", 24],
      ["del", "198.18.1.53", 32],
      ["add", "198.18.1.60", 24],
      ["del", "198.18.1.60", 24],
    ]);
    expect(events[0]).toEqual({
      kind: "event",
      at: at(5, 65209),
      change: "add",
      ifindex: 2,
      entry: { interface: "prdev-va", address: "198.18.1.50", prefixLength: 24 },
    });
    expect(events[1]?.entry).toEqual({
      interface: "prdev-va",
      address: "198.18.1.51",
      prefixLength: 32,
      label: "prdev-va:1",
    });
    expect(events[9]?.at).toBe(at(5, 86377));
  });

  it("skips IPv6 lines without counting them as unreadable", () => {
    const kinds = oneLine.filter((l) => l !== "").map((l) => parseMonitorLine(l).kind);
    expect(kinds.filter((k) => k === "ignored")).toHaveLength(3);
    expect(kinds.filter((k) => k === "unparsable")).toHaveLength(0);
  });

  // Pins the kernel behaviour the timeline relies on: between the adds and the deletes the link
  // went down and up, and only IPv6 addresses were deleted (and one re-added); the IPv4 ones stayed.
  it("a link going down and up deletes no IPv4 address", () => {
    const between = oneLine.slice(4, 7);
    expect(between.every((l) => / inet6 /.test(l))).toBe(true);
    expect(between.map((l) => parseMonitorLine(l).kind)).toEqual(["ignored", "ignored", "ignored"]);
  });

  it("the multi-line format gives the same events; its continuation lines are ignored", () => {
    const fromMulti = eventsOf(multiLine).map((e) => [e.change, e.entry]);
    expect(fromMulti).toEqual(eventsOf(oneLine).map((e) => [e.change, e.entry]));
    expect(multiLine.map(parseMonitorLine).filter((l) => l.kind === "unparsable")).toHaveLength(0);
  });

  it("odd lines are unparsable or ignored, never an error", () => {
    const unparsable = [
      "garbage",
      "Timestamp: Fri Nov 27 09:52:52 2026 560002 usec",
      "[not a time] 2: lan0    inet 198.18.1.50/24 scope global lan0",
      "[2026-11-27T09:56:05.065209] 2: lan0    inet 198.18.1.300/24 scope global lan0",
      "[2026-11-27T09:56:05.065209] 2: lan0    inet 198.18.1.50/40 scope global lan0",
      "[2026-11-27T09:56:05.065209] 2: lan0    link 00:11:22:33:44:55",
    ];
    for (const line of unparsable) expect(parseMonitorLine(line).kind, line).toBe("unparsable");
    const ignored = [
      "",
      "       valid_lft forever preferred_lft forever",
      "[2026-11-27T09:56:05.065209] 1: lo    inet 127.0.0.1/8 scope host lo",
    ];
    for (const line of ignored) expect(parseMonitorLine(line).kind, line).toBe("ignored");
  });

  it("a veth name with its peer suffix is the device name alone", () => {
    const parsed = parseMonitorLine(
      "[2026-11-27T09:56:05.5] 7: lan0@if8    inet 198.18.1.50/24 scope global lan0",
    );
    expect(parsed).toMatchObject({ kind: "event", at: at(5, 500000), entry: { interface: "lan0" } });
  });
});

describe("parseAddrShowJson", () => {
  it("reads the IPv4 addresses of captured `ip -j addr show` output", () => {
    expect(parseAddrShowJson(fixture("ip-j-addr-show.json"))).toEqual([
      { interface: "prdev-va", address: "198.18.1.11", prefixLength: 24 },
      { interface: "prdev-va", address: "198.18.1.51", prefixLength: 32, label: "prdev-va:1" },
    ]);
  });

  it("leaves out loopback and entries of odd shape; not JSON gives undefined", () => {
    const text = JSON.stringify([
      { ifname: "lo", addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8 }] },
      { ifname: "lan0", addr_info: [{ family: "inet", local: "198.18.1.11" }, "x", null] },
      { ifname: "lan1" },
      42,
      { ifname: "lan2", addr_info: [{ family: "inet", local: "198.18.1.12", prefixlen: 24 }] },
    ]);
    expect(parseAddrShowJson(text)).toEqual([
      { interface: "lan2", address: "198.18.1.12", prefixLength: 24 },
    ]);
    expect(parseAddrShowJson("not json")).toBeUndefined();
    expect(parseAddrShowJson('{"a":1}')).toBeUndefined();
  });
});

const VIP = "198.18.1.50";

function event(
  atMs: number,
  host: string,
  change: "add" | "del",
  iface = "lan0",
  address = VIP,
): AddressEvent {
  return { at: atMs, host, interface: iface, address, prefixLength: 24, change };
}

function timeline(events: AddressEvent[], extra: Partial<AddressTimeline> = {}): AddressTimeline {
  return { startedAt: 0, stoppedAt: 100, initial: [], events, unparsableLines: 0, ...extra };
}

describe("overlaps", () => {
  it("add on n1, add on n2, delete on n1: the two held it from the second add to the delete", () => {
    const t = timeline([event(10, "n1", "add"), event(20, "n2", "add"), event(30, "n1", "del")]);
    expect(overlaps(t)).toEqual([
      { address: VIP, from: 20, to: 30, durationMs: 10, hosts: ["n1", "n2"], ongoing: false },
    ]);
    expect(overlaps(t, VIP)).toHaveLength(1);
    expect(overlaps(t, "198.18.1.51")).toEqual([]);
  });

  it("a move without overlap (delete, then add elsewhere) has none", () => {
    const t = timeline([event(10, "n1", "add"), event(30, "n1", "del"), event(40, "n2", "add")]);
    expect(overlaps(t)).toEqual([]);
  });

  it("a delete and an add with the same stamp on two hosts count as an overlap of zero length", () => {
    const t = timeline([event(10, "n1", "add"), event(30, "n1", "del"), event(30, "n2", "add")]);
    expect(overlaps(t)).toEqual([
      { address: VIP, from: 30, to: 30, durationMs: 0, hosts: ["n1", "n2"], ongoing: false },
    ]);
  });

  it("a local LAN failover (lan0 to lan1 on one node, briefly both) is not an overlap", () => {
    const t = timeline([event(10, "n1", "add"), event(20, "n1", "add", "lan1"), event(30, "n1", "del")]);
    expect(overlaps(t)).toEqual([]);
    expect(holdersAt(t, VIP, 25)).toEqual([
      { host: "n1", interface: "lan0" },
      { host: "n1", interface: "lan1" },
    ]);
  });

  it("keeps each host's own order for equal stamps (delete then add again on n1)", () => {
    const t = timeline([
      event(10, "n1", "add"),
      event(20, "n1", "del"),
      event(20, "n1", "add"),
      event(50, "n2", "add"),
    ]);
    expect(overlaps(t)).toEqual([
      { address: VIP, from: 50, to: 100, durationMs: 50, hosts: ["n1", "n2"], ongoing: true },
    ]);
  });

  it("an overlap that exists at the start is reported from the start", () => {
    const t = timeline([event(40, "n2", "del")], {
      initial: [
        { host: "n1", interface: "lan0", address: VIP, prefixLength: 24 },
        { host: "n2", interface: "lan0", address: VIP, prefixLength: 24 },
      ],
    });
    expect(overlaps(t)).toEqual([
      { address: VIP, from: 0, to: 40, durationMs: 40, hosts: ["n1", "n2"], ongoing: false },
    ]);
  });

  it("three hosts within one overlap are all named", () => {
    const t = timeline([
      event(10, "n1", "add"),
      event(20, "n2", "add"),
      event(25, "n3", "add"),
      event(30, "n1", "del"),
      event(35, "n2", "del"),
      event(60, "n1", "add"),
      event(70, "n3", "del"),
    ]);
    expect(overlaps(t)).toEqual([
      { address: VIP, from: 20, to: 35, durationMs: 15, hosts: ["n1", "n2", "n3"], ongoing: false },
      { address: VIP, from: 60, to: 70, durationMs: 10, hosts: ["n1", "n3"], ongoing: false },
    ]);
  });

  it("addresses are separate: n1 with .50 and n2 with .51 is no overlap", () => {
    const t = timeline([event(10, "n1", "add"), event(20, "n2", "add", "lan0", "198.18.1.51")]);
    expect(overlaps(t)).toEqual([]);
    expect(addressesOf(t)).toEqual(["198.18.1.50", "198.18.1.51"]);
  });

  it("stamps outside the timeline are clamped and odd ones do not throw", () => {
    const t = timeline([
      event(-5, "n1", "add"),
      event(Number.NaN, "n2", "add"),
      event(500, "n1", "del"),
      event(20, "n3", "del"), // never held: no effect
    ]);
    expect(overlaps(t)).toEqual([
      { address: VIP, from: 0, to: 100, durationMs: 100, hosts: ["n1", "n2"], ongoing: false },
    ]);
  });
});

describe("ownershipHistory and holdersAt", () => {
  const t = timeline(
    [event(10, "n1", "del"), event(20, "n2", "add"), event(60, "n2", "del"), event(70, "n1", "add")],
    { initial: [{ host: "n1", interface: "lan0", address: VIP, prefixLength: 24 }] },
  );

  it("lists each uninterrupted holding", () => {
    expect(ownershipHistory(t)).toEqual([
      { host: "n1", interface: "lan0", address: VIP, from: 0, to: 10, stillHeld: false },
      { host: "n2", interface: "lan0", address: VIP, from: 20, to: 60, stillHeld: false },
      { host: "n1", interface: "lan0", address: VIP, from: 70, to: 100, stillHeld: true },
    ]);
    expect(ownershipHistory(t, "198.18.1.99")).toEqual([]);
  });

  it("answers who held the address at an instant", () => {
    expect(holdersAt(t, VIP, 5)).toEqual([{ host: "n1", interface: "lan0" }]);
    expect(holdersAt(t, VIP, 10)).toEqual([]);
    expect(holdersAt(t, VIP, 30)).toEqual([{ host: "n2", interface: "lan0" }]);
    expect(holdersAt(t, VIP, Number.POSITIVE_INFINITY)).toEqual([{ host: "n1", interface: "lan0" }]);
    expect(overlaps(t)).toEqual([]);
  });
});
