import { describe, expect, it } from "vitest";
import { parseFailoverBenchOptions } from "../../src/bench/failover-bench-options.js";
import { PaviseError } from "../../src/util/errors.js";

function usageError(argv: string[]): string {
  try {
    parseFailoverBenchOptions(argv);
  } catch (error) {
    if (error instanceof PaviseError && error.code === "BENCH_USAGE") return error.message;
    throw error;
  }
  throw new Error(`expected BENCH_USAGE for ${argv.join(" ")}`);
}

describe("bench:failover options", () => {
  it("defaults: both systems, both etcd placements, crash and move, 3 runs, lab bfail", () => {
    expect(parseFailoverBenchOptions([])).toEqual({
      json: false,
      runs: 3,
      systems: ["pavise", "keepalived"],
      placements: ["colocated", "separate"],
      scenarios: ["crash", "move"],
      ipsecClients: [],
      run: { labName: "bfail", etcdTuning: {} },
    });
    expect(parseFailoverBenchOptions(["--help"])).toBe("help");
  });

  it("reads the etcd placement, scenarios, etcd tuning, timing and lab name", () => {
    expect(
      parseFailoverBenchOptions([
        "--etcd",
        "separate",
        "--scenarios",
        "crash,etcd-leader,steady",
        "--election-timeout",
        "250",
        "--no-pre-vote",
        "--etcd-leader",
        "n1",
        "--timing",
        "fence_after=850ms,event_loop_budget=100ms",
        "--lab",
        "bnfail",
        "--json",
      ]),
    ).toMatchObject({
      json: true,
      placements: ["separate"],
      scenarios: ["crash", "etcd-leader", "steady"],
      run: {
        labName: "bnfail",
        etcdTuning: { electionTimeoutMs: 250, preVote: false },
        etcdLeaderOn: "n1",
        timing: { fence_after: "850ms", event_loop_budget: "100ms" },
      },
    });
  });

  it("says what is wrong with a bad value", () => {
    expect(usageError(["--etcd", "elsewhere"])).toBe(
      "--etcd takes colocated, separate, both, not 'elsewhere'",
    );
    expect(usageError(["--scenarios", "crash,reboot"])).toContain("not 'reboot'");
    expect(usageError(["--election-timeout", "200"])).toContain("250 or more");
    expect(usageError(["--timing", "fence=1s"])).toContain("keys member_timeout, keepalive_interval");
    expect(usageError(["--lab", "Bad-Name"])).toContain("--lab must be");
    expect(usageError(["--runs", "0"])).toContain("--runs must be");
    expect(usageError(["--etcd-leader", "n2"])).toContain("--etcd-leader takes n1, other");
  });

  it("reads the IPsec clients: none adds nothing, duplicates count once", () => {
    expect(parseFailoverBenchOptions(["--ipsec", "none"])).toMatchObject({ ipsecClients: [] });
    expect(
      parseFailoverBenchOptions(["--ipsec", "strongswan, strongswan-dpd,pavise,none,pavise"]),
    ).toMatchObject({
      ipsecClients: ["strongswan", "strongswan-dpd", "pavise"],
      systems: ["pavise", "keepalived"],
      scenarios: ["crash", "move"],
    });
  });

  it("refuses IPsec clients it cannot run", () => {
    expect(usageError(["--ipsec", "libreswan"])).toBe(
      "--ipsec takes none, strongswan, strongswan-dpd, pavise, not 'libreswan'",
    );
    expect(usageError(["--ipsec", "pavise", "--only", "keepalived"])).toContain("--only must include pavise");
    expect(usageError(["--ipsec", "strongswan", "--scenarios", "steady,etcd-leader"])).toContain(
      "--scenarios must include one",
    );
    // Without a client, the same options are fine.
    expect(parseFailoverBenchOptions(["--ipsec", "none", "--only", "keepalived"])).toMatchObject({
      systems: ["keepalived"],
    });
  });
});
