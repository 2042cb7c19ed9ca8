import { describe, expect, it } from "vitest";
import {
  median,
  renderFailoverSummary,
  summariseFailover,
  type FailoverRun,
} from "../../src/bench/failover-summary.js";

const run = (
  system: FailoverRun["system"],
  scenario: FailoverRun["scenario"],
  gapMs: number,
  overlapMs = 0,
): FailoverRun => ({
  system,
  scenario,
  gapMs,
  takeoverMs: gapMs - 100,
  overlapMs,
  answered: 100,
  sent: 110,
});

describe("bench:failover summary", () => {
  it("takes medians of odd and even counts", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it("compares the crash gaps and checks the targets (etcd co-located when not said)", () => {
    const summary = summariseFailover([
      run("pavise", "crash", 1500),
      run("pavise", "crash", 1700),
      run("pavise", "crash", 1600),
      run("keepalived", "crash", 3200),
      run("keepalived", "crash", 3000),
      run("pavise", "move", 300),
      run("pavise", "move", 600, 0),
    ]);
    const crash = summary.figures.find((f) => f.system === "pavise" && f.scenario === "crash");
    expect(crash).toMatchObject({
      etcd: "colocated",
      runs: 3,
      gapMedianMs: 1600,
      gapMaxMs: 1700,
      takeoverMedianMs: 1500,
    });
    expect(summary.placements).toHaveLength(1);
    const colocated = summary.placements[0]!;
    expect(colocated.crashSpeedup).toBeCloseTo(3100 / 1600);
    expect(colocated.targets.map((t) => [t.name, t.met])).toEqual([
      ["node crash to service (max)", true],
      ["planned move gap (max)", false],
      ["two owners at once (max)", true],
    ]);
    expect(colocated.etcdLeaderCrashes).toEqual({ runs: 0, gapsMs: [] });
    const text = renderFailoverSummary(summary);
    expect(text).toContain("keepalived / Pavise = 1.94×");
    expect(text).toContain("target planned move gap (max) < 500 ms: 600 ms (NOT met)");
  });

  it("counts the crash runs in which etcd's leader went down too", () => {
    const summary = summariseFailover([
      { ...run("pavise", "crash", 1200), etcdLeaderCrashed: false },
      { ...run("pavise", "crash", 2700), etcdLeaderCrashed: true },
    ]);
    expect(summary.placements[0]?.etcdLeaderCrashes).toEqual({ runs: 1, gapsMs: [2700] });
    expect(renderFailoverSummary(summary)).toContain(
      "went down with n1 (etcd elects first): 1 of 2 (gaps 2,700 ms)",
    );
  });

  it("fails the ownership target on any overlap, and says what was not measured", () => {
    const summary = summariseFailover([run("pavise", "move", 100, 12)]);
    expect(summary.placements[0]?.targets.find((t) => t.name.startsWith("two owners"))?.met).toBe(false);
    expect(summary.placements[0]?.crashSpeedup).toBeUndefined();
    expect(renderFailoverSummary(summary)).toContain(
      "node crash to service (max) < 2,000 ms: - (not measured)",
    );
  });

  it("keeps the etcd placements apart: figures, leader crashes, targets and ratio each", () => {
    const at = (etcd: "colocated" | "separate", gapMs: number, etcdLeaderCrashed: boolean): FailoverRun => ({
      ...run("pavise", "crash", gapMs),
      etcd,
      etcdLeaderCrashed,
    });
    const summary = summariseFailover([
      at("colocated", 2400, true),
      at("colocated", 1300, false),
      at("colocated", 2600, true),
      at("separate", 1250, false),
      at("separate", 1350, false),
      at("separate", 1400, false),
      { ...run("pavise", "move", 150), etcd: "separate" },
      run("keepalived", "crash", 3000),
    ]);
    expect(summary.figures.map((f) => [f.system, f.etcd, f.scenario, f.gapMedianMs, f.gapMaxMs])).toEqual([
      ["pavise", "colocated", "crash", 2400, 2600],
      ["pavise", "separate", "crash", 1350, 1400],
      ["keepalived", undefined, "crash", 3000, 3000],
      ["pavise", "separate", "move", 150, 150],
    ]);
    const [colocated, separate] = summary.placements;
    expect(colocated?.etcdLeaderCrashes).toEqual({ runs: 2, gapsMs: [2400, 2600] });
    expect(colocated?.targets[0]).toMatchObject({ valueMs: 2600, met: false });
    expect(colocated?.targets[1]?.met).toBeUndefined();
    expect(separate?.etcdLeaderCrashes).toEqual({ runs: 0, gapsMs: [] });
    expect(separate?.targets.map((t) => t.met)).toEqual([true, true, true]);
    expect(separate?.crashSpeedup).toBeCloseTo(3000 / 1350);
    const text = renderFailoverSummary(summary);
    expect(text).toMatch(/pavise\s+separate\s+owner node crashes\s+3\s+1,350 ms\s+1,400 ms/);
    expect(text).toContain("etcd on q1–q3, hosts without packages (separate):");
    expect(text).toContain("  target node crash to service (max) < 2,000 ms: 1,400 ms (met)");
    expect(text).toContain("  target node crash to service (max) < 2,000 ms: 2,600 ms (NOT met)");
  });

  it("splits the crash timeline by where etcd's leader was, and counts fences on a leader change", () => {
    const crash = (gapMs: number, crashed: boolean, elected: number | undefined): FailoverRun => ({
      ...run("pavise", "crash", gapMs),
      etcdLeaderCrashed: crashed,
      timeline: {
        ...(elected === undefined ? {} : { etcdLeaderElectedMs: elected }),
        nodeFailedMs: gapMs - 200,
        startedMs: gapMs - 50,
        fenced: [],
      },
    });
    const leaderDies = (gapMs: number, fenced: string[]): FailoverRun => ({
      ...run("pavise", "etcd-leader", gapMs),
      takeoverMs: 0,
      timeline: { fenced },
    });
    const summary = summariseFailover([
      crash(2400, true, 700),
      crash(2200, true, 600),
      crash(1300, false, undefined),
      leaderDies(20, []),
      leaderDies(1900, ["n1", "n2"]),
    ]);
    const p = summary.placements[0]!;
    expect(p.crashTimeline).toEqual([
      {
        etcdLeaderCrashed: true,
        runs: 2,
        medians: { gapMs: 2300, etcdLeaderElectedMs: 650, nodeFailedMs: 2100, startedMs: 2250 },
      },
      { etcdLeaderCrashed: false, runs: 1, medians: { gapMs: 1300, nodeFailedMs: 1100, startedMs: 1250 } },
    ]);
    expect(p.leaderChange).toEqual({ runs: 2, fencedRuns: 1, gapsMs: [20, 1900] });
    expect(p.beforeFault).toEqual({ runs: 5, etcdLeaderChanges: 0, runsWithFence: 0, etcdLeaderMoves: 0 });
    const text = renderFailoverSummary(summary);
    expect(text).toContain(
      "after the crash, etcd's leader on n1 (median of 2): new etcd leader 650 ms, n1's lease seen gone 2,100 ms, package started on another node 2,250 ms, client answered again 2,300 ms",
    );
    expect(text).toContain("etcd's leader alone dies: a package node fenced itself in 1 of 2 runs");
    expect(text).toMatch(/pavise\s+colocated\s+etcd leader dies\s+2/);
    const loaded = summariseFailover([
      {
        ...run("pavise", "steady", 30),
        takeoverMs: 0,
        timeline: { fenced: [], etcdLeaderChangesBeforeFault: 1, fencedBeforeFault: [] },
      },
      {
        ...run("pavise", "move", 150),
        timeline: { fenced: [], etcdLeaderChangesBeforeFault: 2, fencedBeforeFault: ["n2"] },
      },
    ]);
    expect(loaded.placements[0]?.beforeFault).toEqual({
      runs: 2,
      etcdLeaderChanges: 3,
      runsWithFence: 1,
      etcdLeaderMoves: 0,
    });
    expect(renderFailoverSummary(loaded)).toContain(
      "before the fault (2 runs): 3 etcd leader change(s) from load alone; a daemon fenced itself in 1 run(s); etcd's leadership handed off a package node by Pavise 0 time(s)",
    );
    expect(renderFailoverSummary(loaded)).toMatch(/pavise\s+colocated\s+nothing \(30 s\)\s+1\s+30 ms/);
  });
});
