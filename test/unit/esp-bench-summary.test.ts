import { describe, expect, it } from "vitest";
import { parseEspBenchArgs } from "../../src/bench/esp-bench-options.js";
import { median, summarise, type PathId, type PathRound } from "../../src/bench/esp-bench-summary.js";
import { renderEspBenchReport, type EspBenchSettings } from "../../src/bench/esp-bench-table.js";

function round(path: PathId, n: number, tcp: number, pps: number, cpu?: [number, number]): PathRound {
  const cpuSeconds = cpu ? { sender: cpu[0], receiver: cpu[1] } : { sender: undefined, receiver: undefined };
  return {
    path,
    round: n,
    tcp: { mbitPerSecond: tcp, retransmits: 10 * n, cpuSeconds },
    udp: { receivedPps: pps, sentPps: pps * 2, lossPercent: 50, cpuSeconds },
  };
}

const SETTINGS: EspBenchSettings = {
  sender: { host: "n1", outer: "198.18.1.11", inner: "198.18.10.11" },
  receiver: { host: "n2", outer: "198.18.1.12", inner: "198.18.20.12" },
  ikeProposal: "aes128gcm16-prfsha256-x25519",
  espProposal: "aes128gcm16",
  seconds: 5,
  repeat: 1,
  udpPayloadBytes: 64,
  strongswanVersion: "5.9.8",
  iperf3Version: "3.12",
  node: "20.0.0",
  cpus: 2,
};

describe("median", () => {
  it("takes the middle of an odd count, the mean of the two middles of an even one", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeUndefined();
  });
});

describe("summarise", () => {
  const all = [
    round("a", 1, 10_000, 100_000),
    round("b", 1, 500, 20_000, [4.5, 4]),
    round("c", 1, 400, 30_000, [4, 3]),
    round("d", 1, 800, 40_000, [3, 2]),
  ];

  it("orders paths a-b-c-d whatever order the rounds came in", () => {
    const summary = summarise([...all].reverse());
    expect(summary.paths.map((p) => p.path)).toEqual(["a", "b", "c", "d"]);
    expect(summary.paths[1]).toMatchObject({ label: "strongSwan ↔ strongSwan", rounds: 1 });
  });

  it("divides the medians: (c)/(b), (d)/(b), (d)/(a) for TCP and UDP pps", () => {
    expect(summarise(all).ratios).toEqual({
      "c/b": { tcp: 0.8, udpPps: 1.5 },
      "d/b": { tcp: 1.6, udpPps: 2 },
      "d/a": { tcp: 0.08, udpPps: 0.4 },
    });
  });

  it("meets the target at (d)/(b) ≥ 1.5 and misses it below", () => {
    expect(summarise(all).target).toEqual({
      ratio: "d/b",
      atLeast: 1.5,
      tcp: { value: 1.6, met: true },
      udpPps: { value: 2, met: true },
    });
    const slower = summarise([round("b", 1, 500, 20_000), round("d", 1, 740, 29_000)]);
    expect(slower.target.tcp).toEqual({ value: 1.48, met: false });
    expect(slower.target.udpPps).toEqual({ value: 1.45, met: false });
  });

  it("leaves ratios and the target undefined when a path was not measured", () => {
    const summary = summarise([round("a", 1, 10_000, 100_000), round("d", 1, 800, 40_000)]);
    expect(summary.ratios["d/b"]).toEqual({ tcp: undefined, udpPps: undefined });
    expect(summary.ratios["d/a"].tcp).toBe(0.08);
    expect(summary.target.tcp).toEqual({ value: undefined, met: undefined });
  });

  it("takes the median of each figure over the rounds and keeps every round's value", () => {
    const summary = summarise([
      round("b", 1, 500, 20_000, [4, 4]),
      round("d", 1, 700, 45_000, [3, 2]),
      round("b", 2, 300, 22_000, [5, 3]),
      round("d", 2, 900, 41_000, [2, 2]),
      round("b", 3, 450, 21_000, [4.5, 3.5]),
      round("d", 3, 800, 39_000, [2.5, 1]),
    ]);
    const [b, d] = summary.paths;
    expect(b).toMatchObject({
      rounds: 3,
      tcp: { mbitPerSecond: 450, retransmits: 20, cpuSeconds: { sender: 4.5, receiver: 3.5 } },
      udp: { receivedPps: 21_000, sentPps: 42_000 },
      perRound: { tcpMbitPerSecond: [500, 300, 450], udpReceivedPps: [20_000, 22_000, 21_000] },
    });
    expect(d?.tcp.mbitPerSecond).toBe(800);
    expect(summary.ratios["d/b"]).toEqual({ tcp: 1.78, udpPps: 1.95 });
  });

  it("has no CPU figures for the bare path", () => {
    const [a] = summarise([round("a", 1, 10_000, 100_000)]).paths;
    expect(a?.tcp.cpuSeconds).toEqual({ sender: undefined, receiver: undefined });
  });
});

describe("renderEspBenchReport", () => {
  it("prints a row per path, the ratios and whether the target is met", () => {
    const text = renderEspBenchReport(
      summarise([
        round("a", 1, 16_488, 103_689),
        round("b", 1, 425.1, 21_248, [3.84, 4.39]),
        round("c", 1, 224.9, 16_965, [2.19, 2.2]),
        round("d", 1, 178.8, 19_617, [2.26, 1.9]),
      ]),
      SETTINGS,
    );
    const lines = text.split("\n");
    expect(lines[0]).toContain("iperf3 from n1 (198.18.10.11) to n2 (198.18.20.12)");
    expect(lines.find((l) => l.startsWith("(a) bare path"))).toMatch(/16,488\.0 .* - .*103,689/);
    expect(lines.find((l) => l.startsWith("(b) strongSwan ↔ strongSwan"))).toMatch(/425\.1 .*3\.84\/4\.39/);
    expect(lines.find((l) => l.startsWith("(d)/(b)"))).toMatch(/^\(d\)\/\(b\)\s+0\.42\s+0\.92$/);
    expect(text).toContain(
      "target (d)/(b) ≥ 1.5 (DESIGN.md, ESP throughput): TCP 0.42 (NOT met); UDP pps 0.92",
    );
    expect(text).not.toContain("each round");
  });

  it("says 'not measured' for a target it cannot judge and lists rounds when there are several", () => {
    const text = renderEspBenchReport(
      summarise([round("a", 1, 10_000, 90_000), round("a", 2, 12_000, 95_000)]),
      { ...SETTINGS, repeat: 2 },
    );
    expect(text).toContain("median of 2 rounds taken in turns");
    expect(text).toContain("TCP not measured; UDP pps not measured");
    expect(text).toMatch(/^path\s+TCP #1\s+TCP #2\s+pps #1\s+pps #2$/m);
    expect(text).toMatch(/^\(a\)\s+10,000\.0\s+12,000\.0\s+90,000\s+95,000$/m);
  });
});

describe("parseEspBenchArgs", () => {
  it("defaults: all four paths, 5 s, one round, a table", () => {
    expect(parseEspBenchArgs([])).toEqual({
      kind: "run",
      options: { json: false, seconds: 5, repeat: 1, only: ["a", "b", "c", "d"] },
    });
  });

  it("reads --json, --seconds, --repeat and --only (kept in a-b-c-d order)", () => {
    expect(parseEspBenchArgs(["--json", "--seconds", "3", "--repeat", "4", "--only", "d, B"])).toEqual({
      kind: "run",
      options: { json: true, seconds: 3, repeat: 4, only: ["b", "d"] },
    });
  });

  it("answers --help", () => {
    expect(parseEspBenchArgs(["--help"])).toEqual({ kind: "help" });
  });

  it.each([
    [["--seconds", "0"], /--seconds must be a whole number from 1 to 600, not "0"/],
    [["--seconds", "2.5"], /--seconds must be a whole number/],
    [["--repeat", ""], /--repeat must be a whole number/],
    [["--only", "a,e"], /--only: unknown path "e"; the paths are a, b, c, d/],
    [["--only", ""], /--only: unknown path ""/],
    [["--fast"], /Unknown option '--fast'/],
    [["extra"], /positional/i],
  ])("refuses %j with a BENCH_USAGE error", (argv, message) => {
    expect(() => parseEspBenchArgs(argv)).toThrow(message);
    try {
      parseEspBenchArgs(argv);
    } catch (err) {
      expect((err as { code?: string }).code).toBe("BENCH_USAGE");
    }
  });
});
