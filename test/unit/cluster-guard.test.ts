import { describe, expect, it } from "vitest";
import type { NodeConfig } from "../../src/cluster/config/model.js";
import { NODE_OWNER } from "../../src/cluster/executor/address-placement.js";
import {
  GUARD_EXIT_SILENCED,
  type GuardAction,
  GuardCore,
  parseGuardMessage,
} from "../../src/cluster/guard/guard-core.js";
import { guardHolding } from "../../src/cluster/guard/guard-holding.js";

const VIP = { package: "web", address: "198.18.1.50", prefixLength: 24, nic: "lan0" };
const ECHO = { package: "web", service: "echo", pgid: 4242 };
const hold = (addresses: unknown[], groups: unknown[]): string =>
  `${JSON.stringify({ type: "hold", addresses, groups })}\n`;

function drain(core: GuardCore): GuardAction[] {
  const out: GuardAction[] = [];
  for (let a = core.pollAction(); a; a = core.pollAction()) out.push(a);
  return out;
}

const ALIVE = '{"type":"alive"}\n';

// #5, "daemon frozen past the lease TTL then thawed": a frozen daemon keeps its pipe open, so
// only its silence tells; the clock here is virtual (ms).
describe("the guardian's liveness deadline (a frozen daemon)", () => {
  const DEADLINE = 600;

  function watching(): GuardCore {
    const core = new GuardCore({ deadlineMs: DEADLINE, now: 1000 });
    core.handleData(hold([VIP], [ECHO]), 1000);
    return core;
  }

  it("heartbeats keep the deadline moving; a deadline just met by a heartbeat does nothing", () => {
    const core = watching();
    expect(core.pollTimeout()).toBe(1600);
    core.handleData(ALIVE, 1150);
    expect(core.pollTimeout()).toBe(1750);
    core.handleTimeout(1749);
    core.handleData(ALIVE, 1749);
    core.handleTimeout(1750);
    expect(core.state.kind).toBe("watching");
    expect(core.pollTimeout()).toBe(2349);
    expect(drain(core)).toEqual([]);
  });

  it("a deadline just missed: addresses removed first, then groups killed; no exit, the daemon lives", () => {
    const core = watching();
    core.handleData(ALIVE, 1100);
    core.handleTimeout(1699);
    expect(drain(core)).toEqual([]);
    core.handleTimeout(1700);
    const actions = drain(core);
    expect(actions.map((a) => a.kind)).toEqual(["log", "remove-address", "kill-group"]);
    expect(actions[0]).toMatchObject({
      event: "guard",
      message: expect.stringContaining("silent for 600 ms") as string,
    });
    expect(actions[1]).toEqual({ kind: "remove-address", ...VIP });
    expect(actions[2]).toEqual({ kind: "kill-group", ...ECHO });
    expect(core.state).toEqual({ kind: "silenced", since: 1700 });
    expect(core.pollTimeout()).toBeUndefined();
  });

  it("a heartbeat after the guardian acted undoes nothing: it reports and exits", () => {
    const core = watching();
    core.handleTimeout(1600);
    drain(core);
    core.handleData(ALIVE + hold([VIP], [ECHO]), 2400);
    const actions = drain(core);
    expect(actions).toEqual([
      {
        kind: "log",
        event: "guard",
        message: expect.stringContaining("spoke again after 1400 ms of silence") as string,
      },
      { kind: "exit", code: GUARD_EXIT_SILENCED },
    ]);
    expect(core.state.kind).toBe("done");
    core.handleEnd();
    core.handleTimeout(10_000);
    expect(drain(core)).toEqual([]);
  });

  it("the pipe ending after the guardian acted: nothing more to do", () => {
    const core = watching();
    core.handleTimeout(1600);
    drain(core);
    core.handleEnd();
    expect(drain(core)).toEqual([
      { kind: "log", event: "guard", message: "the daemon is gone; its holding was already dropped" },
      { kind: "exit", code: 0 },
    ]);
  });

  it("silent from the start (frozen before the first line): the deadline runs from the guardian's start", () => {
    const core = new GuardCore({ deadlineMs: DEADLINE, now: 50 });
    expect(core.pollTimeout()).toBe(650);
    core.handleTimeout(650);
    expect(drain(core)).toEqual([
      { kind: "log", event: "guard", message: expect.stringContaining("this node holds nothing") as string },
    ]);
    expect(core.state.kind).toBe("silenced");
  });

  it("only whole lines count as signs of life", () => {
    const core = watching();
    core.handleData('{"type":"al', 1500);
    expect(core.pollTimeout()).toBe(1600);
    core.handleData('ive"}\n', 1550);
    expect(core.pollTimeout()).toBe(2150);
  });

  it("after a release the deadline stops (the daemon is leaving)", () => {
    const core = watching();
    core.handleData('{"type":"release"}\n', 1100);
    expect(core.pollTimeout()).toBeUndefined();
    core.handleTimeout(5000);
    expect(drain(core)).toEqual([]);
  });

  it("without a deadline only the end of the pipe counts", () => {
    const core = new GuardCore();
    core.handleData(hold([VIP], [ECHO]));
    expect(core.pollTimeout()).toBeUndefined();
    core.handleTimeout(1e9);
    expect(drain(core)).toEqual([]);
  });

  it("refuses a deadline that is not a positive number", () => {
    expect(() => new GuardCore({ deadlineMs: 0 })).toThrow(/deadlineMs/);
    expect(() => new GuardCore({ deadlineMs: Number.NaN })).toThrow(/deadlineMs/);
  });

  it("parses alive", () => {
    expect(parseGuardMessage('{"type":"alive"}')).toEqual({ type: "alive" });
  });
});

describe("the guardian's decisions (GuardCore)", () => {
  it("daemon gone while holding: addresses removed first, then groups killed, then exit", () => {
    const core = new GuardCore();
    core.handleData(hold([VIP], [ECHO]));
    expect(drain(core)).toEqual([]);
    core.handleEnd();
    const actions = drain(core);
    expect(actions.map((a) => a.kind)).toEqual(["log", "remove-address", "kill-group", "exit"]);
    expect(actions[1]).toEqual({ kind: "remove-address", ...VIP });
    expect(actions[2]).toEqual({ kind: "kill-group", ...ECHO });
    expect(core.state.kind).toBe("done");
  });

  it("the latest hold replaces the earlier one (a package halted: nothing left to remove)", () => {
    const core = new GuardCore();
    core.handleData(hold([VIP], [ECHO]) + hold([], []));
    core.handleEnd();
    expect(drain(core)).toEqual([
      { kind: "log", event: "guard", message: "the daemon is gone; this node held nothing" },
      { kind: "exit", code: 0 },
    ]);
  });

  it("release, then the end of the pipe: a normal exit, quiet", () => {
    const core = new GuardCore();
    core.handleData(hold([VIP], [ECHO]));
    core.handleData('{"type":"release"}\n');
    core.handleEnd();
    expect(drain(core)).toEqual([{ kind: "exit", code: 0 }]);
  });

  it("a hold after a release makes the end an alarm again", () => {
    const core = new GuardCore();
    core.handleData('{"type":"release"}\n' + hold([VIP], []));
    core.handleEnd();
    expect(drain(core).filter((a) => a.kind === "remove-address")).toHaveLength(1);
  });

  it("messages split across reads are put together", () => {
    const core = new GuardCore();
    const text = hold([VIP], [ECHO]);
    for (const ch of text) core.handleData(ch);
    core.handleEnd();
    expect(drain(core).map((a) => a.kind)).toEqual(["log", "remove-address", "kill-group", "exit"]);
  });

  it("a last message cut off mid-write is ignored: the holding before it stands", () => {
    const core = new GuardCore();
    core.handleData(hold([VIP], [ECHO]) + hold([], []).slice(0, 10));
    core.handleEnd();
    const actions = drain(core);
    expect(actions[0]).toMatchObject({ kind: "log", event: "guard-problem" });
    expect(actions.filter((a) => a.kind === "remove-address" || a.kind === "kill-group")).toHaveLength(2);
  });

  it("a bad message is reported and changes nothing", () => {
    const core = new GuardCore();
    core.handleData(hold([VIP], [ECHO]) + "nonsense\n" + hold([], [{ ...ECHO, pgid: 1 }]));
    expect(drain(core).map((a) => a.kind === "log" && a.event)).toEqual(["guard-problem", "guard-problem"]);
    core.handleEnd();
    expect(drain(core).filter((a) => a.kind === "kill-group")).toEqual([{ kind: "kill-group", ...ECHO }]);
  });

  it("nothing after the end", () => {
    const core = new GuardCore();
    core.handleEnd();
    drain(core);
    core.handleData(hold([VIP], []));
    core.handleEnd();
    expect(drain(core)).toEqual([]);
  });
});

describe("parseGuardMessage", () => {
  it.each([
    ["not JSON", "{"],
    ["not an object", "[]"],
    ['unknown type "x"', '{"type":"x"}'],
    ["hold needs addresses and groups (arrays)", '{"type":"hold","addresses":[]}'],
  ])("%s", (problem, line) => {
    expect(parseGuardMessage(line)).toBe(problem);
  });

  it("refuses what could make `ip` or kill() do harm", () => {
    const bad = [
      { ...VIP, nic: "lan0 dev x" },
      { ...VIP, address: "198.18.1.50/0" },
      { ...VIP, prefixLength: 33 },
    ];
    for (const a of bad) expect(parseGuardMessage(hold([a], []).trim())).toMatch(/^bad address/);
    for (const pgid of [0, 1, -5, 2.5]) {
      expect(parseGuardMessage(hold([], [{ ...ECHO, pgid }]).trim())).toMatch(/^bad group/);
    }
  });
});

describe("guardHolding: what the guardian is told", () => {
  const node: NodeConfig = {
    name: "n1",
    interfaces: [
      { subnet: "public", primary: "lan0", standby: ["lan1"] },
      { subnet: "heartbeat", primary: "hb0", standby: [] },
    ],
  };
  const config = {
    subnets: [
      { name: "public", cidr: "198.18.1.0/24", heartbeat: false },
      { name: "heartbeat", cidr: "198.18.2.0/24", heartbeat: true },
    ],
    packages: [
      { name: "web", addresses: [{ address: "198.18.1.50", subnet: "public" }] },
      { name: "db", addresses: [{ address: "198.18.1.51", subnet: "public" }] },
    ],
  } as unknown as Parameters<typeof guardHolding>[0]["config"];

  // bug-guardian-missed-an-address-moved-back: network_auto_failback moved app's address from
  // lan1 back to lan0 just as the daemon froze; the guardian, told "lan1", left it on lan0 for
  // 15 s while another node ran app. A placed address counts on its NIC first, then on the others.
  it("a placed address: where it is first, then every other NIC of its subnet; the node's own addresses never", () => {
    const holding = guardHolding({
      config,
      node,
      held: [
        { address: "198.18.1.50", subnet: "public", nic: "lan1", owner: "web" },
        { address: "198.18.1.11", subnet: "public", nic: "lan0", owner: NODE_OWNER },
      ],
      active: ["web"],
      groups: [ECHO],
    });
    expect(holding).toEqual({
      addresses: [
        { package: "web", address: "198.18.1.50", prefixLength: 24, nic: "lan1" },
        { package: "web", address: "198.18.1.50", prefixLength: 24, nic: "lan0" },
      ],
      groups: [ECHO],
    });
  });

  it("a package being started: written ahead on every NIC of the subnet", () => {
    const holding = guardHolding({ config, node, held: [], active: ["db"], groups: [] });
    expect(holding.addresses).toEqual([
      { package: "db", address: "198.18.1.51", prefixLength: 24, nic: "lan0" },
      { package: "db", address: "198.18.1.51", prefixLength: 24, nic: "lan1" },
    ]);
  });

  it("nothing active, nothing held: nothing", () => {
    expect(guardHolding({ config, node, held: [], active: [], groups: [] })).toEqual({
      addresses: [],
      groups: [],
    });
  });
});
