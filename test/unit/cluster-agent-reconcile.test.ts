import { describe, expect, it } from "vitest";
import { reconcile, type ReconcileInput } from "../../src/cluster/agent/reconcile.js";

// A node's own steps from the placements, the owner keys and its executor (reconcile.ts).

function input(over: Partial<ReconcileInput> = {}): ReconcileInput {
  return {
    node: "n2",
    packages: [
      { name: "db", exclusive: true },
      { name: "web", exclusive: true },
      { name: "exporter", exclusive: false },
    ],
    placements: {},
    owners: {},
    held: [],
    local: {},
    busy: [],
    failedHere: [],
    mayAct: true,
    leaving: false,
    ...over,
  };
}

describe("reconcile", () => {
  it("starts a package placed here that nobody holds", () => {
    expect(reconcile(input({ placements: { web: ["n2"] } }))).toEqual([
      { kind: "start", package: "web", reason: "placed on n2" },
    ]);
  });

  it("does nothing before the leader has written placements", () => {
    expect(reconcile(input({ placements: undefined }))).toEqual([]);
  });

  it("keeps running what it holds while no placements are written (a new leader is on its way)", () => {
    expect(
      reconcile(
        input({ placements: undefined, held: ["web"], local: { web: "up" }, owners: { web: ["n2"] } }),
      ),
    ).toEqual([]);
  });

  it("waits while another node still holds a failover package placed here (it halts and releases first)", () => {
    expect(reconcile(input({ placements: { web: ["n2"] }, owners: { web: ["n1"] } }))).toEqual([]);
  });

  it("starts a multi-node package even though other nodes hold theirs", () => {
    expect(
      reconcile(input({ placements: { exporter: ["n1", "n2", "n3"] }, owners: { exporter: ["n1", "n3"] } })),
    ).toEqual([{ kind: "start", package: "exporter", reason: "placed on n2" }]);
  });

  it("halts a package placed elsewhere (the daemon releases the key after the halt)", () => {
    expect(
      reconcile(
        input({ placements: { web: ["n3"] }, held: ["web"], local: { web: "up" }, owners: { web: ["n2"] } }),
      ),
    ).toEqual([{ kind: "halt", package: "web", reason: "placed on n3" }]);
  });

  it("halts a package placed nowhere", () => {
    expect(reconcile(input({ placements: { web: [] }, held: ["web"], local: { web: "up" } }))).toEqual([
      { kind: "halt", package: "web", reason: "placed nowhere" },
    ]);
  });

  it("leaves alone a package that runs here as placed", () => {
    expect(reconcile(input({ placements: { web: ["n2"] }, held: ["web"], local: { web: "up" } }))).toEqual(
      [],
    );
  });

  it("halts everything it runs when it may not act, and starts nothing", () => {
    expect(
      reconcile(
        input({
          mayAct: false,
          placements: { web: ["n2"], db: ["n2"] },
          held: ["web"],
          local: { web: "up" },
        }),
      ),
    ).toEqual([{ kind: "halt", package: "web", reason: "node n2 may not act (lease not confirmed)" }]);
  });

  it("halts a package that runs here without its ownership key", () => {
    expect(reconcile(input({ placements: { web: ["n2"] }, local: { web: "starting" } }))).toEqual([
      { kind: "halt", package: "web", reason: "node n2 does not hold its ownership key" },
    ]);
  });

  it("halts a package that failed here, even while still placed here, and does not start it again", () => {
    expect(
      reconcile(
        input({ placements: { web: ["n2"] }, held: ["web"], local: { web: "failed" }, failedHere: ["web"] }),
      ),
    ).toEqual([{ kind: "halt", package: "web", reason: "failed on n2" }]);
    expect(reconcile(input({ placements: { web: ["n2"] }, failedHere: ["web"] }))).toEqual([]);
  });

  it("halts a package the executor reports failed (subnet down) though its runner is still up", () => {
    expect(
      reconcile(
        input({ placements: { web: ["n2"] }, held: ["web"], local: { web: "up" }, failedHere: ["web"] }),
      ),
    ).toEqual([{ kind: "halt", package: "web", reason: "failed on n2" }]);
  });

  it("releases a key it holds for a package that is down and not placed here", () => {
    expect(reconcile(input({ placements: { web: ["n3"] }, held: ["web"] }))).toEqual([
      { kind: "release", package: "web", reason: "down on n2" },
    ]);
  });

  it("leaves busy and halting packages alone", () => {
    expect(
      reconcile(
        input({
          placements: { web: ["n3"], db: ["n2"] },
          held: ["web"],
          local: { web: "halting" },
          busy: ["db"],
        }),
      ),
    ).toEqual([]);
  });

  it("when leaving: halts everything, dependents first (reverse file order), starts nothing", () => {
    expect(
      reconcile(
        input({
          leaving: true,
          placements: { db: ["n2"], web: ["n2"], exporter: ["n2"] },
          held: ["db", "web"],
          local: { db: "up", web: "up" },
        }),
      ),
    ).toEqual([
      { kind: "halt", package: "web", reason: "node n2 is leaving" },
      { kind: "halt", package: "db", reason: "node n2 is leaving" },
    ]);
  });

  it("orders halts, then releases, then starts (file order)", () => {
    expect(
      reconcile(
        input({
          placements: { db: ["n2"], web: ["n1"], exporter: ["n2"] },
          held: ["web", "exporter"],
          local: { web: "up" },
        }),
      ),
    ).toEqual([
      { kind: "halt", package: "web", reason: "placed on n1" },
      { kind: "start", package: "db", reason: "placed on n2" },
      { kind: "start", package: "exporter", reason: "placed on n2" },
    ]);
  });

  // app listed before db, which it needs up on the same node: the daemon started app first and
  // ran it while db was still starting (or had failed to start).
  describe("bug-dependent-started-before-its-dependency", () => {
    const packages = [
      {
        name: "app",
        exclusive: true,
        dependencies: [{ package: "db", condition: "up" as const, location: "same_node" as const }],
      },
      { name: "db", exclusive: true },
    ];

    it("starts what a package needs here first, and the package only once that is up here", () => {
      const placements = { app: ["n2"], db: ["n2"] };
      expect(reconcile(input({ packages, placements }))).toEqual([
        { kind: "start", package: "db", reason: "placed on n2" },
      ]);
      expect(reconcile(input({ packages, placements, local: { db: "starting" }, held: ["db"] }))).toEqual([]);
      expect(reconcile(input({ packages, placements, local: { db: "failed" }, held: ["db"] }))).toEqual([
        { kind: "halt", package: "db", reason: "failed on n2" },
      ]);
      expect(reconcile(input({ packages, placements, local: { db: "up" }, held: ["db"] }))).toEqual([
        { kind: "start", package: "app", reason: "placed on n2" },
      ]);
    });

    it("halts the dependent before what it needs, whatever the file order", () => {
      expect(
        reconcile(
          input({
            packages,
            placements: { app: ["n1"], db: ["n1"] },
            held: ["app", "db"],
            local: { app: "up", db: "up" },
          }),
        ),
      ).toEqual([
        { kind: "halt", package: "app", reason: "placed on n1" },
        { kind: "halt", package: "db", reason: "placed on n1" },
      ]);
    });
  });

  it("halts a package the configuration no longer has", () => {
    expect(reconcile(input({ local: { old: "up" }, held: ["old"] }))).toEqual([
      { kind: "halt", package: "old", reason: "no longer in the configuration" },
    ]);
  });

  describe("dependencies (dependency_condition / dependency_location)", () => {
    // app is first in the file but needs db up on the same node; report needs db up anywhere;
    // batch needs db down on its node.
    const packages = [
      {
        name: "app",
        exclusive: true,
        dependencies: [{ package: "db", condition: "up" as const, location: "same_node" as const }],
      },
      {
        name: "report",
        exclusive: true,
        dependencies: [{ package: "db", condition: "up" as const, location: "any_node" as const }],
      },
      {
        name: "batch",
        exclusive: true,
        dependencies: [{ package: "db", condition: "down" as const, location: "same_node" as const }],
      },
      { name: "db", exclusive: true },
    ];
    const allHere = { app: ["n2"], report: ["n2"], batch: ["n2"], db: ["n2"] };

    it("starts what is needed first and holds back what needs it until it is up", () => {
      // batch needs db down here: db starting in the same round counts as running.
      expect(reconcile(input({ packages, placements: allHere }))).toEqual([
        { kind: "start", package: "db", reason: "placed on n2" },
      ]);
    });

    it("an any_node dependency may be up on another node; a same_node one may not", () => {
      expect(
        reconcile(
          input({ packages, placements: { app: ["n2"], report: ["n2"], db: ["n1"] }, upOn: { db: ["n1"] } }),
        ),
      ).toEqual([{ kind: "start", package: "report", reason: "placed on n2" }]);
    });

    it("a package that needs another down waits while it runs here", () => {
      expect(
        reconcile(
          input({ packages, placements: { batch: ["n2"], db: ["n2"] }, held: ["db"], local: { db: "up" } }),
        ),
      ).toEqual([]);
    });
  });
});
