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

  it("compares the crash gaps and checks the targets", () => {
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
    expect(crash).toMatchObject({ runs: 3, gapMedianMs: 1600, gapMaxMs: 1700, takeoverMedianMs: 1500 });
    expect(summary.crashSpeedup).toBeCloseTo(3100 / 1600);
    expect(summary.targets.map((t) => [t.name, t.met])).toEqual([
      ["node crash to service (max)", true],
      ["planned move gap (max)", false],
      ["two owners at once (max)", true],
    ]);
    expect(summary.etcdLeaderCrashes).toEqual({ runs: 0, gapsMs: [] });
    const text = renderFailoverSummary(summary);
    expect(text).toContain("keepalived / Pavise = 1.94×");
    expect(text).toContain("target planned move gap (max) < 500 ms: 600 ms (NOT met)");
  });

  it("counts the crash runs in which etcd's leader went down too", () => {
    const summary = summariseFailover([
      { ...run("pavise", "crash", 1200), etcdLeaderCrashed: false },
      { ...run("pavise", "crash", 2700), etcdLeaderCrashed: true },
    ]);
    expect(summary.etcdLeaderCrashes).toEqual({ runs: 1, gapsMs: [2700] });
    expect(renderFailoverSummary(summary)).toContain(
      "went down with n1 (etcd elects first): 1 of 2 (gaps 2,700 ms)",
    );
  });

  it("fails the ownership target on any overlap, and says what was not measured", () => {
    const summary = summariseFailover([run("pavise", "move", 100, 12)]);
    expect(summary.targets.find((t) => t.name.startsWith("two owners"))?.met).toBe(false);
    expect(summary.crashSpeedup).toBeUndefined();
    expect(renderFailoverSummary(summary)).toContain(
      "node crash to service (max) < 2,000 ms: - (not measured)",
    );
  });
});
