import { describe, expect, it } from "vitest";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";

describe("etcd key layout", () => {
  const keys = ClusterKeys.forCluster("prod");

  it("puts every key under the cluster's prefix", () => {
    expect(keys.node("n1")).toBe("/pavise/prod/nodes/n1");
    expect(keys.owner("web", "n2")).toBe("/pavise/prod/owners/web/n2");
    expect(keys.packageOwners("web")).toBe("/pavise/prod/owners/web/");
    expect(keys.leader).toBe("/pavise/prod/leader");
    expect(keys.placements).toBe("/pavise/prod/placements");
    expect(keys.config).toBe("/pavise/prod/config");
    expect(keys.event(1_764_000_000_123, "n1", 7)).toBe("/pavise/prod/events/1764000000123-n1-7");
  });

  it("event keys sort by time", () => {
    const a = keys.event(999, "n2", 1);
    const b = keys.event(1000, "n1", 1);
    expect([b, a].sort()).toEqual([a, b]);
  });

  it("parses its own keys back and nothing else", () => {
    expect(keys.parseNode("/pavise/prod/nodes/n3")).toBe("n3");
    expect(keys.parseNode("/pavise/other/nodes/n3")).toBeUndefined();
    expect(keys.parseOwner("/pavise/prod/owners/web/n2")).toEqual({ package: "web", node: "n2" });
    expect(keys.parseOwner("/pavise/prod/owners/web/n2/x")).toBeUndefined();
    expect(keys.parseOwner("/pavise/prod/owners/web/")).toBeUndefined();
  });

  it("one package's owner prefix never covers another package's keys", () => {
    // "web" and "web2": owners/web/ is not a prefix of owners/web2/n1.
    expect(keys.owner("web2", "n1").startsWith(keys.packageOwners("web"))).toBe(false);
  });

  it("refuses names that would break the layout, naming them", () => {
    expect(() => keys.node("a/b")).toThrow(/node name "a\/b"/);
    expect(() => keys.owner("", "n1")).toThrow(/package name ""/);
    expect(() => new ClusterKeys("pavise/x")).toThrow(/start and end with "\/"/);
  });
});
