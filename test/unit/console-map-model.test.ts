import { describe, expect, it } from "vitest";
import { clusterMap, packageNotes } from "../../src/console/model/map-model.js";
import { statusN1Failed, statusThreeUp } from "./console-fixtures.js";
import type { NodeDetail, NodeView } from "../../src/api/schema/view-types.js";

describe("console map model", () => {
  it("lays a healthy cluster out as one column per node, packages with their addresses and NIC", () => {
    const map = clusterMap(statusThreeUp());
    expect(map.name).toBe("cocap");
    expect(map.healthText).toBe("all packages that should run are running");
    expect(map.etcdText).toBe("etcd: 3 of 3 members reachable, quorum");
    expect(map.columns.map((c) => [c.name, c.badge.text, c.leader, c.failed])).toEqual([
      ["n1", "up", true, false],
      ["n2", "up", false, false],
      ["n3", "up", false, false],
    ]);
    const n1 = map.columns[0]!;
    expect(n1.packages.map((p) => p.name)).toEqual(["web"]);
    expect(n1.packages[0]!.addresses.map((a) => a.text)).toEqual([
      "198.18.1.50 on lan0 (public)",
      "198.18.1.51 on lan0 (public)",
    ]);
    expect(map.columns[1]!.packages.map((p) => p.name)).toEqual(["db"]);
    expect(map.columns[2]!.packages).toEqual([]);
    expect(map.notRunning).toEqual([]);
    // Without GET /v1/nodes only the subnets with link are known.
    expect(n1.nicGroups).toEqual([
      { subnet: "public", up: true, nics: [] },
      { subnet: "heartbeat", up: true, nics: [] },
    ]);
  });

  it("marks a failed node failed, with no subnets, and shows the etcd members' health", () => {
    const map = clusterMap(statusN1Failed());
    const n1 = map.columns[0]!;
    expect(n1.failed).toBe(true);
    expect(n1.badge).toEqual({ text: "failed", icon: "✖", tone: "bad" });
    expect(n1.packages).toEqual([]);
    expect(n1.nicGroups).toEqual([]);
    expect(map.columns.find((c) => c.leader)?.name).toBe("n3");
    expect(map.columns[1]!.packages.map((p) => [p.name, p.notes])).toEqual([
      ["web", []],
      ["db", ["switching disabled"]],
    ]);
    expect(map.etcdText).toBe("etcd: 2 of 3 members reachable, quorum");
    expect(map.etcdMembers.map((m) => m.text)).toEqual(["etcd unreachable", "etcd member", "etcd leader"]);
  });

  it("puts each etcd member in its node's column when the node's API URL names the endpoint's host", () => {
    const view = statusN1Failed();
    // Without node details nothing matches (the endpoints are IP addresses, not node names).
    expect(clusterMap(view).columns.map((c) => c.etcd)).toEqual([undefined, undefined, undefined]);
    // A node publishes its API URL on its heartbeat address, where its etcd member listens too.
    const byApi = view.nodes.map((n, i) => detailOf(n, { apiUrl: `https://198.18.2.1${i + 1}:7443` }));
    expect(clusterMap(view, byApi).columns.map((c) => c.etcd?.text)).toEqual([
      "etcd unreachable",
      "etcd member",
      "etcd leader",
    ]);
    const named = {
      ...view,
      etcd: { ...view.etcd, endpoints: [{ endpoint: "https://n2:2379", reachable: true }] },
    };
    expect(clusterMap(named).columns.map((c) => c.etcd?.text)).toEqual([undefined, "etcd member", undefined]);
  });

  it("groups NICs per subnet, primary first, with their link state and which carries the addresses", () => {
    const view = statusThreeUp();
    const n2 = detailOf(view.nodes[1]!, {
      nics: [
        { subnet: "public", nic: "lan1", role: "standby" as const, link: "down" as const, carrying: false },
        { subnet: "public", nic: "lan0", role: "primary" as const, link: "up" as const, carrying: true },
        {
          subnet: "heartbeat",
          nic: "hb0",
          role: "primary" as const,
          link: "unknown" as const,
          carrying: false,
        },
      ],
    });
    const column = clusterMap(view, [n2]).columns[1]!;
    expect(column.nicGroups).toEqual([
      {
        subnet: "public",
        up: true,
        nics: [
          { nic: "lan0", role: "primary", carrying: true, linkUp: true, linkText: "link up" },
          { nic: "lan1", role: "standby", carrying: false, linkUp: false, linkText: "link down" },
        ],
      },
      {
        subnet: "heartbeat",
        up: true,
        nics: [{ nic: "hb0", role: "primary", carrying: false, linkUp: undefined, linkText: "" }],
      },
    ]);
  });

  it("lists a package that runs nowhere apart, with its addresses but no NIC", () => {
    const view = statusThreeUp();
    const web = view.packages[0]!;
    Object.assign(web, {
      status: "down",
      state: "halted",
      nodes: [],
      haltedByOperator: true,
      shouldRun: false,
    });
    web.addresses = web.addresses.map((a) => ({
      ...a,
      node: undefined,
      nic: "lan0",
      nicFrom: "configured" as const,
    }));
    const map = clusterMap(view);
    expect(map.columns[0]!.packages).toEqual([]);
    expect(
      map.notRunning.map((p) => [p.name, p.badge.text, p.notes, p.addresses.map((a) => a.text)]),
    ).toEqual([["web", "down", ["halted by operator"], ["198.18.1.50 (public)", "198.18.1.51 (public)"]]]);
  });

  it("says why a package is held back: maintenance, disabled and failed nodes, placement, dependencies", () => {
    const web = statusThreeUp().packages[0]!;
    Object.assign(web, {
      maintenance: true,
      disabledNodes: ["n3"],
      failedOn: [{ node: "n2", reason: "service sleeper exited" }],
      placedOn: ["n2"],
      dependencies: [{ name: "d", package: "db", condition: "up", location: "any", met: false }],
    });
    expect(packageNotes(web)).toEqual([
      "maintenance",
      "not on n3",
      "failed on n2",
      "placed on n2",
      "waits for db",
    ]);
  });
});

/** A node's GET /v1/nodes answer around its status view (what the test does not set is empty). */
function detailOf(node: NodeView, extra: Partial<NodeDetail>): NodeDetail {
  return { ...node, leader: false, nics: [], resources: {}, packages: [], apiUrl: undefined, ...extra };
}
