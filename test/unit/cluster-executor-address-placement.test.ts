import { describe, expect, it } from "vitest";
import {
  type HeldAddress,
  type LinkStatus,
  NODE_OWNER,
  placeAddresses,
  subnetsWithLink,
} from "../../src/cluster/executor/address-placement.js";
import type { NodeInterface } from "../../src/cluster/config/model.js";

const publicLan: NodeInterface = { subnet: "public", primary: "lan0", standby: ["lan1", "lan2"] };
const heartbeat: NodeInterface = { subnet: "heartbeat", primary: "hb0", standby: [] };
const interfaces = [publicLan, heartbeat];
const noReturn = { autoReturn: false, returnAfterMs: 2_000 };
const withReturn = { autoReturn: true, returnAfterMs: 2_000 };

function links(state: Record<string, boolean | [boolean, number]>): Map<string, LinkStatus> {
  return new Map(
    Object.entries(state).map(([nic, s]) => [
      nic,
      Array.isArray(s) ? { up: s[0], since: s[1] } : { up: s, since: 0 },
    ]),
  );
}

const node: HeldAddress = { address: "198.18.1.11", subnet: "public", nic: "lan0", owner: NODE_OWNER };
const web: HeldAddress = { address: "198.18.1.50", subnet: "public", nic: "lan0", owner: "web" };
const db: HeldAddress = { address: "198.18.1.51", subnet: "public", nic: "lan0", owner: "db" };

describe("local LAN failover placement", () => {
  it("leaves everything on the primary while it has link", () => {
    const d = placeAddresses(
      interfaces,
      links({ lan0: true, lan1: true, lan2: true, hb0: true }),
      [node, web],
      noReturn,
      0,
    );
    expect(d.moves).toEqual([]);
    expect(d.down).toEqual([]);
    expect(d.subnets).toContainEqual({ subnet: "public", nic: "lan0", role: "primary" });
  });

  it("moves a subnet's addresses to the first standby with link when the primary loses it, the node's own first", () => {
    const d = placeAddresses(
      interfaces,
      links({ lan0: false, lan1: false, lan2: true, hb0: true }),
      [web, node, db],
      noReturn,
      0,
    );
    expect(d.moves.map((m) => [m.address, m.from, m.to, m.reason])).toEqual([
      ["198.18.1.11", "lan0", "lan2", "link-down"],
      ["198.18.1.50", "lan0", "lan2", "link-down"],
      ["198.18.1.51", "lan0", "lan2", "link-down"],
    ]);
    expect(d.subnets).toContainEqual({ subnet: "public", nic: "lan2", role: "standby" });
  });

  it("says the subnet is down when no NIC of it has link, and moves nothing", () => {
    const d = placeAddresses(
      interfaces,
      links({ lan0: false, lan1: false, lan2: false, hb0: true }),
      [node, web],
      noReturn,
      0,
    );
    expect(d.moves).toEqual([]);
    expect(d.down).toEqual(["public"]);
  });

  it("treats a NIC it has never heard of as without link", () => {
    const d = placeAddresses(interfaces, links({ lan1: true, hb0: true }), [web], noReturn, 0);
    expect(d.moves).toMatchObject([
      { address: "198.18.1.50", from: "lan0", to: "lan1", reason: "link-down" },
    ]);
  });

  it("says a subnet the node has no NIC on is down", () => {
    const other: HeldAddress = { address: "198.18.5.5", subnet: "backup", nic: undefined, owner: "web" };
    expect(placeAddresses(interfaces, links({ lan0: true, hb0: true }), [other], noReturn, 0).down).toEqual([
      "backup",
    ]);
  });

  it("keeps addresses on the standby when the primary comes back, without autoReturn", () => {
    const onStandby = [
      { ...node, nic: "lan1" },
      { ...web, nic: "lan1" },
    ];
    const d = placeAddresses(
      interfaces,
      links({ lan0: [true, 0], lan1: true, hb0: true }),
      onStandby,
      noReturn,
      60_000,
    );
    expect(d.moves).toEqual([]);
    expect(d.recheckAt).toBeUndefined();
  });

  it("returns to the primary with autoReturn only once its link has been up for returnAfterMs", () => {
    const onStandby = [{ ...web, nic: "lan1" }];
    const l = links({ lan0: [true, 10_000], lan1: true, hb0: true });
    const early = placeAddresses(interfaces, l, onStandby, withReturn, 11_000);
    expect(early.moves).toEqual([]);
    expect(early.recheckAt).toBe(12_000);
    const due = placeAddresses(interfaces, l, onStandby, withReturn, 12_000);
    expect(due.moves).toMatchObject([{ from: "lan1", to: "lan0", reason: "primary-back" }]);
    expect(due.recheckAt).toBeUndefined();
  });

  it("moves from a standby that loses link to the primary if it has link, even without autoReturn", () => {
    const d = placeAddresses(
      interfaces,
      links({ lan0: true, lan1: false, lan2: true, hb0: true }),
      [{ ...web, nic: "lan1" }],
      noReturn,
      0,
    );
    expect(d.moves).toMatchObject([{ from: "lan1", to: "lan0", reason: "link-down" }]);
  });

  it("gathers a subnet's addresses on one NIC, the most preferred that holds any and has link", () => {
    const split = [
      { ...node, nic: "lan2" },
      { ...web, nic: "lan1" },
    ];
    const d = placeAddresses(
      interfaces,
      links({ lan0: false, lan1: true, lan2: true, hb0: true }),
      split,
      noReturn,
      0,
    );
    expect(d.moves).toMatchObject([
      { address: "198.18.1.11", from: "lan2", to: "lan1", reason: "consolidate" },
    ]);
  });

  it("places an address not yet on any NIC where the subnet's addresses are", () => {
    const fresh: HeldAddress = { ...db, nic: undefined };
    const d = placeAddresses(
      interfaces,
      links({ lan0: true, lan1: true, hb0: true }),
      [{ ...node, nic: "lan1" }, fresh],
      noReturn,
      0,
    );
    expect(d.moves).toMatchObject([{ address: "198.18.1.51", from: undefined, to: "lan1", reason: "place" }]);
  });

  it("lists the subnets with link (NodeState.subnetsUp)", () => {
    expect(subnetsWithLink(interfaces, links({ lan0: false, lan1: false, lan2: true, hb0: false }))).toEqual([
      "public",
    ]);
    expect(subnetsWithLink(interfaces, links({}))).toEqual([]);
  });
});
