import { describe, expect, it } from "vitest";
import {
  renderFailoverIpsecSummary,
  summariseFailoverIpsec,
  type FailoverIpsecClient,
} from "../../src/bench/failover-ipsec-summary.js";
import { summariseFailover, type FailoverRun } from "../../src/bench/failover-summary.js";

const plain = (scenario: FailoverRun["scenario"], gapMs: number): FailoverRun => ({
  system: "pavise",
  scenario,
  etcd: "separate",
  gapMs,
  takeoverMs: gapMs - 100,
  overlapMs: 0,
  answered: 100,
  sent: 110,
});

const through = (
  client: FailoverIpsecClient,
  scenario: FailoverRun["scenario"],
  gapMs: number,
  contactMs?: number,
  more: Partial<NonNullable<FailoverRun["ipsec"]>> = {},
): FailoverRun => ({
  ...plain(scenario, gapMs),
  ipsec: {
    client,
    ...(contactMs === undefined ? {} : { contactMs }),
    peerBackMs: gapMs - 50,
    newSa: true,
    tunnelPacketsIn: 120,
    ...more,
  },
});

describe("bench:failover IPsec rows", () => {
  const runs = [
    plain("crash", 1400),
    plain("crash", 1600),
    plain("move", 200),
    through("strongswan", "crash", 1500, 20),
    { ...through("strongswan", "crash", 2100, 40), etcdLeaderCrashed: true },
    through("strongswan", "crash", 1700, 30),
    through("strongswan", "move", 400, 90),
    through("strongswan-dpd", "crash", 3600, undefined, { newSa: false }),
    through("pavise", "crash", 1300, 25),
  ];

  it("keeps the IPsec runs out of the plain rows", () => {
    const summary = summariseFailover(runs);
    expect(summary.figures.map((f) => [f.scenario, f.runs, f.gapMedianMs])).toEqual([
      ["crash", 2, 1500],
      ["move", 1, 200],
    ]);
  });

  it("takes medians per client and scenario, the contact from its lines, the overhead against the plain row", () => {
    const summary = summariseFailoverIpsec(runs);
    const crash = summary.figures.find((f) => f.client === "strongswan" && f.scenario === "crash");
    expect(crash).toMatchObject({
      etcd: "separate",
      runs: 3,
      gapMedianMs: 1700,
      gapMaxMs: 2100,
      takeoverMedianMs: 1600,
      contactMedianMs: 30,
      contactMaxMs: 40,
      contactRuns: 3,
      peerBackMedianMs: 1650,
      plainGapMedianMs: 1500,
      overheadMs: 200,
      runsNotThroughNewSa: 0,
      etcdLeaderCrashes: { runs: 1, gapsMs: [2100] },
    });
    expect(crash?.overheadRatio).toBeCloseTo(1700 / 1500);
    const dpd = summary.figures.find((f) => f.client === "strongswan-dpd");
    expect(dpd).toMatchObject({ contactRuns: 0, runsNotThroughNewSa: 1 });
    expect(dpd?.contactMedianMs).toBeUndefined();
    // Rows: every crash row before the move rows.
    expect(summary.figures.map((f) => `${f.client} ${f.scenario}`)).toEqual([
      "strongswan crash",
      "strongswan-dpd crash",
      "pavise crash",
      "strongswan move",
    ]);
  });

  it("checks the targets for strongswan and pavise, none for strongswan-dpd", () => {
    const summary = summariseFailoverIpsec(runs);
    const of = (client: FailoverIpsecClient) =>
      summary.targets.find((t) => t.client === client)?.targets.map((t) => [t.name, t.valueMs, t.met]);
    expect(of("strongswan")).toEqual([
      ["node crash to service through IPsec (max)", 2100, false],
      ["planned move gap through IPsec (max)", 400, true],
      ["two owners at once (max)", 0, true],
    ]);
    expect(of("pavise")).toEqual([
      ["node crash to service through IPsec (max)", 1300, true],
      ["planned move gap through IPsec (max)", undefined, undefined],
      ["two owners at once (max)", 0, true],
    ]);
    expect(of("strongswan-dpd")).toEqual([["two owners at once (max)", 0, true]]);
    const text = renderFailoverIpsecSummary(summary);
    expect(text).toContain(
      "target strongswan, etcd separate: node crash to service through IPsec (max) < 2,000 ms: 2,100 ms (NOT met)",
    );
    expect(text).toContain(
      "target pavise, etcd separate: planned move gap through IPsec (max) < 500 ms: - (not measured)",
    );
    expect(text).toContain("strongswan-dpd, etcd separate: no gap target");
    expect(text).toContain("+200 ms (1.13×)");
    expect(text).toContain(
      "strongswan, etcd separate, owner node crashes: etcd's leader went down with n1 (etcd elects first) in 1 of 3 run(s) (gaps 2,100 ms)",
    );
    expect(text).toContain(
      "WARNING strongswan-dpd, etcd separate, owner node crashes: 1 of 1 run(s) ended without a new SA",
    );
  });

  it("says nothing without IPsec runs, and no overhead without a plain row", () => {
    expect(renderFailoverIpsecSummary(summariseFailoverIpsec([plain("crash", 1400)]))).toBe("");
    const alone = summariseFailoverIpsec([through("pavise", "crash", 1300, 25)]);
    expect(alone.figures[0]?.overheadMs).toBeUndefined();
    expect(renderFailoverIpsecSummary(alone)).toMatch(/0 ms +-\n/);
  });
});
