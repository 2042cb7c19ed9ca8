import { describe, expect, it } from "vitest";
import { addressBytes } from "../../src/ike/config/traffic-selector-spec.js";
import type { TrafficSelector } from "../../src/ike/core/traffic-selector.js";
import {
  childSaRoutes,
  diffRoutes,
  interfacesToLoosen,
  needsLooseReversePath,
  policyRules,
  routeDeleteArgs,
  routeReplaceArgs,
  routesPeer,
  routeSource,
  routingTableProblem,
  ruleArgs,
  TunRouteBook,
  type RoutedChildSa,
} from "../../src/esp/driver/policy-routing-plan.js";
import { PolicyRouting, type PolicyRoutingSystem } from "../../src/esp/driver/policy-routing.js";

function ts(from: string, to = from, protocol = 0): TrafficSelector {
  const start = addressBytes(from);
  return {
    family: start.length === 4 ? 4 : 6,
    protocol,
    portStart: 0,
    portEnd: 65535,
    start,
    end: addressBytes(to),
  };
}

const N1 = "198.18.1.11";
const N2 = "198.18.1.12";
const HOST = ["127.0.0.1", "198.18.20.11", N1, "198.18.2.11", "::1", "fe80::1"];

const transport: RoutedChildSa = {
  localAddress: N1,
  remoteAddress: N2,
  localTs: [ts(N1)],
  remoteTs: [ts(N2)],
};

describe("policy rules", () => {
  it("sends Pavise's own UDP 500/4500 to main, then everything else to Pavise's table, for both families", () => {
    expect(policyRules(4500).map((rule) => `-${rule.family} ${ruleArgs(rule).join(" ")}`)).toEqual([
      "-4 priority 4500 ipproto udp sport 500 lookup main",
      "-4 priority 4500 ipproto udp sport 4500 lookup main",
      "-4 priority 4501 lookup 4500",
      "-6 priority 4500 ipproto udp sport 500 lookup main",
      "-6 priority 4500 ipproto udp sport 4500 lookup main",
      "-6 priority 4501 lookup 4500",
    ]);
    expect(ruleArgs(policyRules(4242, 100)[2]!)).toEqual(["priority", "101", "lookup", "4242"]);
  });

  it("refuses the kernel's own tables and numbers that are no table", () => {
    for (const table of [0, 253, 254, 255, -1, 1.5, 2 ** 32, Number.NaN]) {
      expect(routingTableProblem(table), String(table)).toBeDefined();
    }
    for (const table of [1, 220, 4500, 2 ** 32 - 1]) expect(routingTableProblem(table)).toBeUndefined();
    expect(routingTableProblem(254)).toContain('"main"');
  });
});

describe("routes for a Child SA", () => {
  it("routes the peer's own address in transport mode, from our own address (regression: it was left out)", () => {
    expect(childSaRoutes(transport, HOST)).toEqual([{ family: 4, prefix: `${N2}/32`, src: N1 }]);
    expect(routesPeer(transport)).toBe(true);
  });

  it("takes the inner address on lo as source for a tunnel between inner addresses", () => {
    const sa: RoutedChildSa = {
      localAddress: N1,
      remoteAddress: N2,
      localTs: [ts("198.18.20.11")],
      remoteTs: [ts("198.18.20.12")],
    };
    expect(childSaRoutes(sa, HOST)).toEqual([{ family: 4, prefix: "198.18.20.12/32", src: "198.18.20.11" }]);
    expect(routesPeer(sa)).toBe(false);
  });

  it("prefers the SA's own address when a local subnet holds it, and covers a full tunnel with 0.0.0.0/0", () => {
    const sa: RoutedChildSa = {
      localAddress: N1,
      remoteAddress: N2,
      localTs: [ts("198.18.0.0", "198.19.255.255")],
      remoteTs: [ts("0.0.0.0", "255.255.255.255")],
    };
    // 198.18.20.11 comes first among the host's addresses, but the SA's own address wins.
    expect(childSaRoutes(sa, HOST)).toEqual([{ family: 4, prefix: "0.0.0.0/0", src: N1 }]);
    expect(routesPeer(sa)).toBe(true);
  });

  it("lets the kernel choose when no address of the host is inside the local selectors", () => {
    const sa: RoutedChildSa = {
      localAddress: N1,
      remoteAddress: N2,
      localTs: [ts("198.19.5.0", "198.19.5.255")],
      remoteTs: [ts("198.19.6.1", "198.19.6.6")],
    };
    expect(childSaRoutes(sa, HOST)).toEqual([
      { family: 4, prefix: "198.19.6.1/32" },
      { family: 4, prefix: "198.19.6.2/31" },
      { family: 4, prefix: "198.19.6.4/31" },
      { family: 4, prefix: "198.19.6.6/32" },
    ]);
  });

  it("never picks a loopback or link-local source", () => {
    expect(routeSource(4, [ts("127.0.0.0", "127.255.255.255")], N1, HOST)).toBeUndefined();
    expect(routeSource(6, [ts("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")], N1, HOST)).toBeUndefined();
    expect(routeSource(6, [ts("2001:db8::", "2001:db8::ffff")], "2001:db8::1", ["2001:db8::1"])).toBe(
      "2001:db8::1",
    );
  });

  it("routes each prefix once, whatever the protocols and ports of the selectors", () => {
    const sa: RoutedChildSa = {
      ...transport,
      remoteTs: [ts(N2, N2, 6), ts(N2, N2, 17), ts("2001:db8::2")],
      localTs: [ts(N1), ts("2001:db8::1")],
    };
    expect(childSaRoutes(sa, [...HOST, "2001:db8::1"])).toEqual([
      { family: 4, prefix: `${N2}/32`, src: N1 },
      { family: 6, prefix: "2001:db8:0:0:0:0:0:2/128", src: "2001:db8::1" },
    ]);
  });

  it("spells the ip route commands for Pavise's table", () => {
    const route = { family: 4 as const, prefix: "198.18.1.0/24", src: N1 };
    expect(routeReplaceArgs(route, "pavise0", 4500).join(" ")).toBe(
      `-4 route replace 198.18.1.0/24 dev pavise0 table 4500 src ${N1}`,
    );
    expect(routeDeleteArgs(route, "pavise0", 4500).join(" ")).toBe(
      "-4 route del 198.18.1.0/24 dev pavise0 table 4500",
    );
  });
});

describe("the route book", () => {
  it("keeps a rekeyed SA's routes while its successor wants them", () => {
    const book = new TunRouteBook();
    book.set(1, childSaRoutes(transport, HOST));
    const applied = book.desired();
    book.set(2, childSaRoutes(transport, HOST));
    book.remove(1);
    expect(diffRoutes(applied, book.desired())).toEqual({ replace: [], remove: [] });
    book.remove(2);
    expect(diffRoutes(applied, book.desired())).toEqual({ replace: [], remove: applied });
  });

  it("gives a shared prefix the oldest owner's source, and the next one's when it goes", () => {
    const book = new TunRouteBook();
    book.set(1, [{ family: 4, prefix: "198.18.1.0/24", src: N1 }]);
    book.set(2, [{ family: 4, prefix: "198.18.1.0/24", src: "198.18.1.13" }]);
    const applied = book.desired();
    expect(applied).toEqual([{ family: 4, prefix: "198.18.1.0/24", src: N1 }]);
    book.remove(1);
    expect(diffRoutes(applied, book.desired())).toEqual({
      replace: [{ family: 4, prefix: "198.18.1.0/24", src: "198.18.1.13" }],
      remove: [],
    });
  });
});

describe("reverse-path filtering", () => {
  it("loosens an interface only where the kernel would be strict", () => {
    expect(needsLooseReversePath(0, 1)).toBe(true);
    expect(needsLooseReversePath(1, 0)).toBe(true);
    expect(needsLooseReversePath(1, 2)).toBe(false);
    expect(needsLooseReversePath(2, 1)).toBe(false);
    expect(needsLooseReversePath(0, 0)).toBe(false);
  });

  it("takes the NICs that stand in for the peer's interface with it, and nothing else", () => {
    const standIns = [["lan0", "lan1", "lan2"], ["hb0"]];
    expect(interfacesToLoosen("lan0", standIns)).toEqual(["lan0", "lan1", "lan2"]);
    // The address is on a standby already (the SA came up after a local LAN failover).
    expect(interfacesToLoosen("lan1", standIns)).toEqual(["lan1", "lan0", "lan2"]);
    expect(interfacesToLoosen("eth9", standIns)).toEqual(["eth9"]);
    expect(interfacesToLoosen("lan0", [])).toEqual(["lan0"]);
  });
});

/** A system that records `ip` commands and keeps rp_filter values and rules in memory. */
function fakeSystem(options: { ipv6?: boolean; rpFilter?: Record<string, number> } = {}) {
  const commands: string[] = [];
  const rules: string[] = [];
  const rpFilter = new Map(Object.entries(options.rpFilter ?? { all: 0, lan0: 1, pavise0: 0 }));
  let remembered = new Map<string, number>();
  const answer = (args: readonly string[]): { ok: boolean; stdout: string; error: string } => {
    const line = args.join(" ");
    commands.push(line);
    if (args[0] === "-6" && options.ipv6 === false) {
      return {
        ok: false,
        stdout: "",
        error: "RTNETLINK answers: Address family not supported by protocol",
      };
    }
    if (args[1] === "rule") {
      const rule = `${args[0]} ${args.slice(3).join(" ")}`;
      const at = rules.indexOf(rule);
      if (args[2] === "add") {
        if (at >= 0) return { ok: false, stdout: "", error: "RTNETLINK answers: File exists" };
        rules.push(rule);
      } else {
        if (at < 0) return { ok: false, stdout: "", error: "RTNETLINK answers: No such file or directory" };
        rules.splice(at, 1);
      }
    }
    if (args.includes("get")) return { ok: true, stdout: '[{"dst":"198.18.1.12","dev":"lan0"}]', error: "" };
    return { ok: true, stdout: "", error: "" };
  };
  const system: PolicyRoutingSystem = {
    ip: (args) => Promise.resolve(answer(args)),
    hostAddresses: () => HOST,
    readRpFilter: (device) => rpFilter.get(device),
    setRpFilter: (device, value) => void rpFilter.set(device, value),
    rememberRpFilters: (_table, previous) => void (remembered = new Map(previous)),
    rememberedRpFilters: () => new Map(remembered),
  };
  return { system, commands, rules, rpFilter, remembered: () => remembered };
}

describe("PolicyRouting (the driver, with a fake system)", () => {
  it("adds its rules, routes a Child SA, and removes exactly that on close", async () => {
    const fake = fakeSystem();
    const log: string[] = [];
    const routing = await PolicyRouting.open({
      tunName: "pavise0",
      system: fake.system,
      log: (m) => log.push(m),
    });
    expect(fake.rules).toEqual(policyRules(4500).map((r) => `-${r.family} ${ruleArgs(r).join(" ")}`));
    expect(fake.rpFilter.get("pavise0")).toBe(2);

    routing.routeChildSa(7, transport);
    expect(await routing.routes()).toEqual([{ family: 4, prefix: `${N2}/32`, src: N1 }]);
    // The peer is routed into the TUN: the strict LAN interface toward it is loosened and written down.
    expect(fake.rpFilter.get("lan0")).toBe(2);
    expect(fake.remembered()).toEqual(new Map([["lan0", 1]]));

    routing.unroute(7);
    expect(await routing.routes()).toEqual([]);
    await routing.close();
    expect(fake.rules).toEqual([]);
    expect(fake.rpFilter.get("lan0")).toBe(1);
    expect(fake.remembered().size).toBe(0);
    expect(fake.commands.filter((c) => c.includes(" route "))).toEqual([
      `-4 -j route get ${N2} from ${N1} ipproto udp sport 4500`,
      `-4 route replace ${N2}/32 dev pavise0 table 4500 src ${N1}`,
      `-4 route del ${N2}/32 dev pavise0 table 4500`,
    ]);
    // Nothing happens after close.
    routing.routeChildSa(8, transport);
    expect(await routing.routes()).toEqual([]);
  });

  it("replaces the rules and puts back the rp_filter a killed run left, rather than failing on EEXIST", async () => {
    const fake = fakeSystem();
    const first = await PolicyRouting.open({ tunName: "pavise0", system: fake.system, log: () => undefined });
    first.routeChildSa(7, transport);
    await first.routes();
    // The first run is killed: nothing closes. The next one opens on its leftovers.
    const log: string[] = [];
    const second = await PolicyRouting.open({
      tunName: "pavise0",
      system: fake.system,
      log: (m) => log.push(m),
    });
    expect(fake.rules).toHaveLength(6);
    expect(new Set(fake.rules).size).toBe(6);
    expect(fake.rpFilter.get("lan0")).toBe(1);
    expect(log).toContain("rp_filter of lan0 put back to 1 (left at 2 by a run that did not stop)");
    await second.close();
    expect(fake.rules).toEqual([]);
  });

  // T4 (ipsec-lan-failover): with "all" strict, as on RHEL, n1 stopped answering the client's
  // ARP requests once web's address had moved to the standby lan1, which was left strict.
  it("loosens the standby NICs of the peer's interface with it, puts them back on close, leaves other NICs", async () => {
    const fake = fakeSystem({ rpFilter: { all: 1, lan0: 0, lan1: 0, hb0: 0, pavise0: 0 } });
    const log: string[] = [];
    const routing = await PolicyRouting.open({
      tunName: "pavise0",
      system: fake.system,
      log: (m) => log.push(m),
      standIns: [["lan0", "lan1"], ["hb0"]],
    });
    routing.routeChildSa(7, transport);
    await routing.routes();
    expect(fake.rpFilter.get("lan0")).toBe(2);
    expect(fake.rpFilter.get("lan1")).toBe(2);
    expect(fake.rpFilter.get("hb0")).toBe(0);
    expect(fake.remembered()).toEqual(
      new Map([
        ["lan0", 0],
        ["lan1", 0],
      ]),
    );
    expect(
      log.some((m) => m.startsWith("rp_filter of lan1 set to 2 (loose) until Pavise stops: it stands in")),
    ).toBe(true);
    // One lookup per routed SA, not per NIC.
    expect(fake.commands.filter((c) => c.includes(" route get "))).toHaveLength(1);
    await routing.close();
    expect(fake.rpFilter.get("lan0")).toBe(0);
    expect(fake.rpFilter.get("lan1")).toBe(0);
    expect(fake.remembered().size).toBe(0);
  });

  it("leaves a loose or disabled rp_filter alone", async () => {
    const fake = fakeSystem({ rpFilter: { all: 2, lan0: 1, pavise0: 0 } });
    const routing = await PolicyRouting.open({
      tunName: "pavise0",
      system: fake.system,
      log: () => undefined,
    });
    routing.routeChildSa(7, transport);
    await routing.routes();
    expect(fake.rpFilter.get("lan0")).toBe(1);
    expect(fake.remembered().size).toBe(0);
    await routing.close();
  });

  it("carries on with IPv4 on a host without IPv6", async () => {
    const fake = fakeSystem({ ipv6: false });
    const log: string[] = [];
    const routing = await PolicyRouting.open({
      tunName: "pavise0",
      system: fake.system,
      log: (m) => log.push(m),
    });
    expect(fake.rules.every((r) => r.startsWith("-4 "))).toBe(true);
    routing.routeChildSa(7, {
      ...transport,
      localTs: [ts("2001:db8::1")],
      remoteTs: [ts(N2), ts("2001:db8::2")],
    });
    expect(await routing.routes()).toEqual([{ family: 4, prefix: `${N2}/32` }]);
    expect(log.some((m) => m.startsWith("no IPv6 policy routing"))).toBe(true);
    await routing.close();
    expect(fake.rules).toEqual([]);
  });

  it("refuses the main table as Pavise's table", async () => {
    await expect(
      PolicyRouting.open({
        tunName: "pavise0",
        table: 254,
        system: fakeSystem().system,
        log: () => undefined,
      }),
    ).rejects.toMatchObject({ code: "ESP_ROUTING_TABLE_INVALID" });
  });
});
