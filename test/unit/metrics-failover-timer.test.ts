import { describe, expect, it } from "vitest";
import { FailoverTimer, type FailoverRound } from "../../src/metrics/failover-timer.js";

/**
 * The leader's failover timer on round sequences as the leader reads them from etcd: owner
 * keys, reports and node keys (a node whose lease lapsed has no key, nor owner keys or reports,
 * since they share its lease).
 */
interface Cluster {
  /** node → published status; a node absent here has no key. */
  nodes: Record<string, string>;
  /** package → node → report status (an entry means the node holds the owner key). */
  running: Record<string, Record<string, string>>;
}

function round(cluster: Cluster, leading = true, failover = (pkg: string) => pkg !== "multi"): FailoverRound {
  const owners = [];
  const reports = [];
  for (const [pkg, on] of Object.entries(cluster.running)) {
    for (const [node, status] of Object.entries(on)) {
      owners.push({ package: pkg, node });
      reports.push({ package: pkg, node, status });
    }
  }
  return {
    leading,
    owners,
    reports,
    nodes: Object.fromEntries(Object.entries(cluster.nodes).map(([n, status]) => [n, { status }])),
    isFailover: failover,
  };
}

const up3 = (): Record<string, string> => ({ n1: "up", n2: "up", n3: "up" });

describe("FailoverTimer", () => {
  it("times a node failure from the owner key vanishing with the node's lease to the new owner's up", () => {
    const t = new FailoverTimer();
    expect(t.observe(0, round({ nodes: up3(), running: { web: { n2: "up" } } }))).toEqual([]);
    // n2's lease lapsed: its node key, owner key and report are gone at once.
    expect(t.observe(1000, round({ nodes: { n1: "up", n3: "up" }, running: {} }))).toEqual([]);
    expect(t.timing()).toEqual({ web: "node-failed" });
    // The leader plans the takeover (a start, no owner to move from): not an operator change.
    t.planned(1005, {
      kind: "start",
      package: "web",
      reason: "node n2 failed",
      takeoverFrom: "n2",
      takeoverFromStatus: "failed",
    });
    expect(
      t.observe(1100, round({ nodes: { n1: "up", n3: "up" }, running: { web: { n3: "starting" } } })),
    ).toEqual([]);
    expect(t.observe(1650, round({ nodes: { n1: "up", n3: "up" }, running: { web: { n3: "up" } } }))).toEqual(
      [{ package: "web", cause: "node-failed", seconds: 0.65, from: "n2", to: "n3" }],
    );
    expect(t.timing()).toEqual({});
    // Once: later rounds with the same state give nothing more.
    expect(t.observe(2000, round({ nodes: { n1: "up", n3: "up" }, running: { web: { n3: "up" } } }))).toEqual(
      [],
    );
  });

  it("times a package failure from the failed report to the up report on another node", () => {
    const t = new FailoverTimer();
    const nodes = up3();
    t.observe(0, round({ nodes, running: { web: { n2: "up" }, db: { n1: "up" } } }));
    t.observe(500, round({ nodes, running: { web: { n2: "failed" }, db: { n1: "up" } } }));
    expect(t.timing()).toEqual({ web: "package-failed" });
    // n2 releases it (its node key stays): still the package failure, not a node failure.
    t.planned(520, { kind: "move", package: "web", from: "n2", reason: "failed on n2" });
    t.observe(600, round({ nodes, running: { db: { n1: "up" } } }));
    t.observe(700, round({ nodes, running: { web: { n3: "starting" }, db: { n1: "up" } } }));
    expect(t.observe(2000, round({ nodes, running: { web: { n3: "up" }, db: { n1: "up" } } }))).toEqual([
      { package: "web", cause: "package-failed", seconds: 1.5, from: "n2", to: "n3" },
    ]);
  });

  it("times an operator's move from the plan to the up report on the new node", () => {
    const t = new FailoverTimer();
    const nodes = up3();
    t.observe(0, round({ nodes, running: { web: { n1: "up" } } }));
    t.planned(100, { kind: "move", package: "web", from: "n1", reason: "moved by operator to n2" });
    expect(t.timing()).toEqual({ web: "operator" });
    // The old owner still runs it while it halts: that up report is no end.
    expect(t.observe(110, round({ nodes, running: { web: { n1: "up" } } }))).toEqual([]);
    t.observe(200, round({ nodes, running: { web: { n1: "halting" } } }));
    t.observe(300, round({ nodes, running: {} }));
    expect(t.observe(900, round({ nodes, running: { web: { n2: "up" } } }))).toEqual([
      { package: "web", cause: "operator", seconds: 0.8, from: "n1", to: "n2" },
    ]);
  });

  it("counts node halts and takeovers from a halted node as operator, like the move counter", () => {
    const t = new FailoverTimer();
    t.observe(0, round({ nodes: up3(), running: { web: { n1: "up" }, db: { n2: "up" } } }));
    t.planned(10, { kind: "move", package: "web", from: "n1", reason: "node n1 halted" });
    t.planned(10, {
      kind: "start",
      package: "db",
      reason: "x",
      takeoverFrom: "n2",
      takeoverFromStatus: "halted",
    });
    // Not operator: failback, resource, a plain start, a halt.
    t.planned(10, { kind: "move", package: "a", from: "n1", reason: "failback to preferred node n1" });
    t.planned(10, { kind: "move", package: "b", from: "n1", reason: "resource r1 is down on n1" });
    t.planned(10, { kind: "start", package: "c", reason: "auto_run" });
    t.planned(10, { kind: "halt", package: "d", reason: "halted by operator" });
    expect(t.timing()).toEqual({ web: "operator", db: "operator" });
    // n1 left on purpose: its key says halted when it lets go, which is no node failure.
    t.observe(50, round({ nodes: { n1: "halted", n2: "up", n3: "up" }, running: { db: { n2: "up" } } }));
    expect(t.timing()).toEqual({ web: "operator", db: "operator" });
    const done = t.observe(
      400,
      round({ nodes: { n2: "up", n3: "up" }, running: { web: { n3: "up" }, db: { n3: "up" } } }),
    );
    expect(done.map((s) => `${s.package} ${s.cause} ${s.seconds}`)).toEqual([
      "web operator 0.39",
      "db operator 0.39",
    ]);
  });

  it("loses a sample when the leadership changes in between", () => {
    const t = new FailoverTimer();
    t.observe(0, round({ nodes: up3(), running: { web: { n2: "up" } } }));
    t.observe(1000, round({ nodes: { n1: "up", n3: "up" }, running: {} }));
    expect(t.timing()).toEqual({ web: "node-failed" });
    t.observe(1100, round({ nodes: { n1: "up", n3: "up" }, running: {} }, false));
    expect(t.lost).toBe(1);
    expect(t.observe(1200, round({ nodes: { n1: "up", n3: "up" }, running: { web: { n3: "up" } } }))).toEqual(
      [],
    );
    expect(t.timing()).toEqual({});
  });

  it("starts nothing from the first round it leads in (it cannot know when that happened)", () => {
    const t = new FailoverTimer();
    t.observe(0, round({ nodes: up3(), running: { web: { n2: "up" } } }, false));
    // Becomes leader after n2 failed: the vanish happened while it followed.
    t.observe(1000, round({ nodes: { n1: "up", n3: "up" }, running: {} }));
    expect(t.timing()).toEqual({});
    expect(t.observe(1500, round({ nodes: { n1: "up", n3: "up" }, running: { web: { n3: "up" } } }))).toEqual(
      [],
    );
  });

  it("ignores multi-node packages, which do not move as one", () => {
    const t = new FailoverTimer();
    t.observe(0, round({ nodes: up3(), running: { multi: { n1: "up", n2: "up" } } }));
    t.observe(1000, round({ nodes: { n1: "up", n3: "up" }, running: { multi: { n1: "up" } } }));
    t.observe(1100, round({ nodes: { n1: "up", n3: "up" }, running: { multi: { n1: "failed" } } }));
    expect(t.timing()).toEqual({});
  });

  it("drops a timing when the package comes back up where it was, and after maxPendingMs", () => {
    const t = new FailoverTimer({ maxPendingMs: 5000 });
    t.observe(0, round({ nodes: up3(), running: { web: { n2: "up" }, db: { n3: "up" } } }));
    t.observe(1000, round({ nodes: { n1: "up" }, running: {} }));
    expect(t.timing()).toEqual({ web: "node-failed", db: "node-failed" });
    // n2 rejoins and runs web again (the only node it may run on): no failover took place.
    expect(t.observe(3000, round({ nodes: { n1: "up", n2: "up" }, running: { web: { n2: "up" } } }))).toEqual(
      [],
    );
    expect(t.timing()).toEqual({ db: "node-failed" });
    expect(t.observe(7000, round({ nodes: { n1: "up", n2: "up" }, running: { web: { n2: "up" } } }))).toEqual(
      [],
    );
    expect(t.timing()).toEqual({});
    expect(t.lost).toBe(2);
    // A later operator move is timed as such, not as the old failure.
    t.planned(8000, { kind: "move", package: "web", from: "n2", reason: "moved by operator to n1" });
    expect(t.observe(8200, round({ nodes: { n1: "up", n2: "up" }, running: { web: { n1: "up" } } }))).toEqual(
      [{ package: "web", cause: "operator", seconds: 0.2, from: "n2", to: "n1" }],
    );
  });

  it("keeps the first cause: a package that failed and then lost its node is a package failure", () => {
    const t = new FailoverTimer();
    t.observe(0, round({ nodes: up3(), running: { web: { n2: "up" } } }));
    t.observe(100, round({ nodes: up3(), running: { web: { n2: "failed" } } }));
    t.observe(200, round({ nodes: { n1: "up", n3: "up" }, running: {} }));
    const [sample] = t.observe(900, round({ nodes: { n1: "up", n3: "up" }, running: { web: { n3: "up" } } }));
    expect(sample).toMatchObject({ cause: "package-failed", seconds: 0.8 });
  });
});
