import { describe, expect, it } from "vitest";
import { overlapsOfLiveHosts } from "../../src/lab/daemon-cluster.js";
import type { AddressOverlap } from "../../src/lab/probes/address-timeline.js";
import type { AddressHolder } from "../../src/lab/probes/holders.js";
import { CHAOS_PACKAGES } from "../../src/soak/chaos-cluster.js";
import { summariseByKind, type FaultRecord } from "../../src/soak/chaos-summary.js";
import type { ClusterKeysSnapshot } from "../../src/soak/cluster-keys-reader.js";
import { judgeSettled, NO_EXPECTATION } from "../../src/soak/settle-check.js";

// The soak's judgement of a settled cluster (settle-check.ts), of which overlaps count
// (overlapsOfLiveHosts) and its summary, on made-up snapshots.

type Status = "starting" | "up" | "halting" | "failed";

function snapshot(
  members: string[],
  owners: Record<string, string[]>,
  status: Record<string, Record<string, Status>> = {},
): ClusterKeysSnapshot {
  return {
    at: 0,
    members: new Set(members),
    owners: new Map(Object.entries(owners)),
    status: new Map(Object.entries(status).map(([pkg, byNode]) => [pkg, new Map(Object.entries(byNode))])),
  };
}

const address = (name: string): string => CHAOS_PACKAGES.find((p) => p.name === name)!.address;

function holders(on: Record<string, { host: string; nic?: string }[]>): Map<string, AddressHolder[]> {
  return new Map(
    Object.entries(on).map(([pkg, list]) => [
      address(pkg),
      list.map((h) => ({ host: h.host, nic: h.nic ?? "lan0", up: true })),
    ]),
  );
}

const allUpOn = (node: string): Record<string, Record<string, Status>> => ({
  db: { [node]: "up" },
  app: { [node]: "up" },
  web: { [node]: "up" },
});

describe("judgeSettled", () => {
  const nodes = ["n1", "n2", "n3"];

  it("accepts every package up on one node, owner and address together", () => {
    const j = judgeSettled(
      CHAOS_PACKAGES,
      snapshot(nodes, { db: ["n1"], app: ["n1"], web: ["n1"] }, allUpOn("n1")),
      holders({ db: [{ host: "n1" }], app: [{ host: "n1" }], web: [{ host: "n1" }] }),
      NO_EXPECTATION,
    );
    expect(j.problems).toEqual([]);
    expect([...j.running]).toEqual([
      ["db", "n1"],
      ["app", "n1"],
      ["web", "n1"],
    ]);
  });

  it("refuses an address left on a second node, and a node that should have left", () => {
    const j = judgeSettled(
      CHAOS_PACKAGES,
      snapshot(nodes, { db: ["n2"], app: ["n2"], web: ["n2"] }, allUpOn("n2")),
      holders({ db: [{ host: "n2" }, { host: "n1" }], app: [{ host: "n2" }], web: [{ host: "n2" }] }),
      { ...NO_EXPECTATION, absent: ["n1"] },
    );
    expect(j.problems).toEqual(["n1 is still a member", "db is owned by n2 but 198.18.1.61 is on n2, n1"]);
  });

  it("leaves out a crashed host's addresses", () => {
    const j = judgeSettled(
      CHAOS_PACKAGES,
      snapshot(["n2", "n3"], { db: ["n2"], app: ["n2"], web: ["n2"] }, allUpOn("n2")),
      holders({ db: [{ host: "n2" }, { host: "n1" }], app: [{ host: "n2" }], web: [{ host: "n2" }] }),
      { ...NO_EXPECTATION, absent: ["n1"], down: ["n1"] },
    );
    expect(j.problems).toEqual([]);
  });

  it("refuses app without db on its node (same_node), and an address still on a dead primary NIC", () => {
    const j = judgeSettled(
      CHAOS_PACKAGES,
      snapshot(
        nodes,
        { db: ["n1"], app: ["n2"], web: ["n3"] },
        {
          db: { n1: "up" },
          app: { n2: "up" },
          web: { n3: "up" },
        },
      ),
      holders({ db: [{ host: "n1" }], app: [{ host: "n2" }], web: [{ host: "n3", nic: "lan0" }] }),
      { ...NO_EXPECTATION, freeNics: [{ host: "n3", nic: "lan0" }] },
    );
    expect(j.problems).toEqual(["198.18.1.63 is still on n3 lan0", "app runs on n2 without db (on n1)"]);
  });

  it("wants a package that failed on every member down everywhere, and app with it", () => {
    const failed = { n1: "failed", n2: "failed", n3: "failed" } as const;
    const settled = judgeSettled(
      CHAOS_PACKAGES,
      snapshot(nodes, { web: ["n2"] }, { db: failed, web: { n2: "up" } }),
      holders({ db: [], app: [], web: [{ host: "n2" }] }),
      NO_EXPECTATION,
    );
    expect(settled.problems).toEqual([]);
    const left = judgeSettled(
      CHAOS_PACKAGES,
      snapshot(nodes, { app: ["n1"], web: ["n2"] }, { db: failed, web: { n2: "up" } }),
      holders({ db: [], app: [{ host: "n1" }], web: [{ host: "n2" }] }),
      NO_EXPECTATION,
    );
    expect(left.problems).toEqual([
      "app can run nowhere but is owned by n1",
      "app can run nowhere but 198.18.1.62 is on n1",
    ]);
  });

  it("refuses two owners, a package not yet up and a node that has not come back", () => {
    const j = judgeSettled(
      CHAOS_PACKAGES,
      snapshot(
        ["n1", "n2"],
        { db: ["n1", "n2"], app: ["n1"], web: ["n2"] },
        {
          app: { n1: "up" },
          web: { n2: "starting" },
        },
      ),
      holders({ db: [{ host: "n1" }], app: [{ host: "n1" }], web: [{ host: "n2" }] }),
      { ...NO_EXPECTATION, present: nodes },
    );
    expect(j.problems).toEqual(["n3 is not a member", "db has 2 owners (n1, n2)", "web is starting on n2"]);
  });
});

describe("overlapsOfLiveHosts", () => {
  const overlap = (hosts: string[], from: number): AddressOverlap => ({
    address: "198.18.1.61",
    from,
    to: from + 100,
    durationMs: 100,
    hosts,
    ongoing: false,
  });

  it("leaves out a host while it was down, and only then", () => {
    const down = [{ host: "n1", from: 1_000, to: 5_000 }];
    expect(overlapsOfLiveHosts([overlap(["n1", "n2"], 2_000)], down)).toEqual([]);
    expect(overlapsOfLiveHosts([overlap(["n1", "n2"], 500)], down)).toHaveLength(1);
    expect(overlapsOfLiveHosts([overlap(["n1", "n2"], 5_000)], down)).toHaveLength(1);
    expect(overlapsOfLiveHosts([overlap(["n1", "n2", "n3"], 2_000)], down)).toHaveLength(1);
  });
});

describe("summariseByKind", () => {
  it("counts each kind and takes the median and max of its recoveries", () => {
    const record = (kind: string, recoveryMs: number | undefined, gap: number): FaultRecord => ({
      index: 0,
      kind,
      description: kind,
      ...(recoveryMs === undefined ? {} : { recoveryMs }),
      gaps: { db: gap },
      violations: [],
    });
    const s = summariseByKind([
      record("node-crash", 1_000, 900),
      record("node-crash", 3_000, 2_500),
      record("node-crash", 2_000, 1_000),
      record("daemon-kill", undefined, 10),
    ]);
    expect(s).toEqual([
      {
        kind: "daemon-kill",
        count: 1,
        medianRecoveryMs: Number.NaN,
        maxRecoveryMs: Number.NaN,
        maxGapMs: 10,
      },
      { kind: "node-crash", count: 3, medianRecoveryMs: 2_000, maxRecoveryMs: 3_000, maxGapMs: 2_500 },
    ]);
  });
});
