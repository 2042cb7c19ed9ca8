import { describe, expect, it } from "vitest";
import { statusView } from "../../src/cli/status-render.js";
import { nodeDetail } from "../../src/api/view/node-detail.js";
import { packageDetail } from "../../src/api/view/package-detail.js";
import { labLikeRead as read } from "../support/view-fixture.js";

describe("node detail", () => {
  const r = read();
  const view = statusView({ ...r, etcd: [] });
  const [n1, n2, n3] = view.nodes.map((n) => nodeDetail(r, n, view.cluster.leader));

  it("shows the NIC the owner reports its address on as carrying the subnet, with link", () => {
    expect(n1?.nics).toEqual([
      { subnet: "public", nic: "lan0", role: "primary", link: "unknown", carrying: false },
      { subnet: "public", nic: "lan1", role: "standby", link: "up", carrying: true },
      { subnet: "heartbeat", nic: "hb0", role: "primary", link: "up", carrying: true },
    ]);
    expect(n1?.packages).toEqual(["web"]);
    expect(n1?.apiUrl).toBe("https://198.18.2.11:7443");
  });

  it("says every NIC of a subnet that is down has no link, and the leader", () => {
    expect(n2?.nics.filter((n) => n.subnet === "public").map((n) => n.link)).toEqual(["down", "down"]);
    expect(n2?.leader).toBe(true);
    expect(n1?.leader).toBe(false);
    expect(n2?.apiUrl).toBeUndefined();
  });

  it("knows nothing of a failed node's links", () => {
    expect(n3?.status).toBe("failed");
    expect(n3?.nics.every((n) => n.link === "unknown" && !n.carrying)).toBe(true);
  });

  it("gives resources with the operator who set one (the operator's setting wins)", () => {
    expect(n1?.resources).toEqual({ disk: { status: "down", setBy: "alice@api/n2" } });
    expect(n2?.resources).toEqual({ disk: { status: "up" } });
  });
});

describe("package detail", () => {
  const r = read();
  const view = statusView({ ...r, etcd: [] });
  const web = packageDetail(
    r,
    view.packages.find((p) => p.name === "web")!,
  );
  const db = packageDetail(
    r,
    view.packages.find((p) => p.name === "db")!,
  );

  it("gives each service's restarts and state on the node that runs it", () => {
    expect(web.services).toEqual([
      { name: "httpd", node: "n1", restarts: 2, state: "running" },
      { name: "logger", node: "n1", restarts: 0, state: "running" },
    ]);
    expect(web.nodes).toEqual(["n1"]);
    expect(web.addresses[0]).toMatchObject({ address: "198.18.1.50", nic: "lan1", nicFrom: "reported" });
  });

  it("lists services of a package that runs nowhere as halted, restarts unknown", () => {
    expect(db.services).toEqual([{ name: "pg", node: undefined, restarts: undefined, state: "halted" }]);
    expect(db.status).toBe("failed");
  });

  it("gives the package's resources on each of its nodes", () => {
    expect(web.resources).toEqual({
      n1: { disk: { status: "down", setBy: "alice@api/n2" } },
      n2: { disk: { status: "up" } },
      // n3 is not a member: the resource's initial status.
      n3: { disk: { status: "up" } },
    });
  });

  it("says on which of its nodes it could run now, with the scheduler's reasons", () => {
    expect(web.nodeChoices).toEqual([
      { node: "n1", eligible: false, why: "resource disk is down on n1" },
      { node: "n2", eligible: false, why: "subnet public is down on n2" },
      { node: "n3", eligible: false, why: "node n3 failed" },
    ]);
    expect(db.nodeChoices).toEqual([
      { node: "n2", eligible: false, why: "failed on n2" },
      { node: "n1", eligible: true },
    ]);
  });
});
