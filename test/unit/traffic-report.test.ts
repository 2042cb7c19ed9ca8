import { describe, expect, it } from "vitest";
import { findAgentError, findAgentReport, hasReadyLine } from "../../src/lab/probes/traffic-agent-output.js";
import { computeTrafficReport, percentile, type TrafficEvents } from "../../src/lab/probes/traffic-report.js";

/** Requests every `interval` ms from 0, for seqs [0, count). */
function sentEvery(interval: number, count: number): TrafficEvents["sent"] {
  return Array.from({ length: count }, (_, seq) => ({ seq, sentAt: seq * interval }));
}

describe("computeTrafficReport", () => {
  it("a clean run: every request answered 1 ms later", () => {
    const report = computeTrafficReport({
      startedAt: 0,
      stoppedAt: 100,
      sent: sentEvery(20, 5), // 0, 20, 40, 60, 80
      received: [0, 1, 2, 3, 4].map((seq) => ({ seq, receivedAt: seq * 20 + 1 })),
    });
    expect(report).toMatchObject({
      durationMs: 100,
      sent: 5,
      received: 5,
      lost: 0,
      lossRatio: 0,
      // 0→1, then 1→21 … 61→81 (20 each), then 81→100 (19)
      maxGapMs: 20,
      rttMs: { p50: 1, p99: 1, max: 1 },
      reconnects: 0,
      duplicates: 0,
      unexpected: 0,
    });
    expect(report.gaps).toEqual([
      { startOffsetMs: 1, durationMs: 20 },
      { startOffsetMs: 21, durationMs: 20 },
      { startOffsetMs: 41, durationMs: 20 },
      { startOffsetMs: 61, durationMs: 20 },
      { startOffsetMs: 81, durationMs: 19 },
    ]);
  });

  it("an outage in the middle: four requests lost, a 500 ms gap at 205 ms", () => {
    const report = computeTrafficReport({
      startedAt: 0,
      stoppedAt: 1000,
      sent: sentEvery(100, 10),
      received: [0, 1, 2, 7, 8, 9].map((seq) => ({ seq, receivedAt: seq * 100 + 5 })),
    });
    expect(report.sent).toBe(10);
    expect(report.received).toBe(6);
    expect(report.lost).toBe(4);
    expect(report.lossRatio).toBeCloseTo(0.4, 12);
    expect(report.maxGapMs).toBe(500); // 205 → 705
    expect(report.gaps[0]).toEqual({ startOffsetMs: 205, durationMs: 500 });
    // Then the 100 ms gaps, earliest first, then the 95 ms tail 905 → 1000.
    expect(report.gaps.slice(1)).toEqual([
      { startOffsetMs: 5, durationMs: 100 },
      { startOffsetMs: 105, durationMs: 100 },
      { startOffsetMs: 705, durationMs: 100 },
      { startOffsetMs: 805, durationMs: 100 },
    ]);
  });

  it("counts the time from the start to the first reply and from the last reply to the stop", () => {
    const head = computeTrafficReport({
      startedAt: 1000,
      stoppedAt: 1300,
      sent: [
        { seq: 0, sentAt: 1000 },
        { seq: 1, sentAt: 1100 },
        { seq: 2, sentAt: 1200 },
      ],
      received: [
        { seq: 1, receivedAt: 1250 },
        { seq: 2, receivedAt: 1260 },
      ],
    });
    expect(head.maxGapMs).toBe(250);
    expect(head.gaps[0]).toEqual({ startOffsetMs: 0, durationMs: 250 });

    const tail = computeTrafficReport({
      startedAt: 0,
      stoppedAt: 1000,
      sent: sentEvery(100, 10),
      received: [{ seq: 0, receivedAt: 2 }],
    });
    expect(tail.maxGapMs).toBe(998);
    expect(tail.gaps[0]).toEqual({ startOffsetMs: 2, durationMs: 998 });
  });

  it("no reply at all: the whole run is one gap and there is no RTT", () => {
    const report = computeTrafficReport({
      startedAt: 0,
      stoppedAt: 500,
      sent: sentEvery(100, 5),
      received: [],
    });
    expect(report).toMatchObject({ sent: 5, received: 0, lost: 5, lossRatio: 1, maxGapMs: 500, rttMs: null });
    expect(report.gaps).toEqual([{ startOffsetMs: 0, durationMs: 500 }]);
  });

  it("nothing sent: loss ratio 0, not NaN", () => {
    const report = computeTrafficReport({ startedAt: 0, stoppedAt: 50, sent: [], received: [] });
    expect(report).toMatchObject({ sent: 0, received: 0, lost: 0, lossRatio: 0, maxGapMs: 50 });
  });

  it("a request answered twice counts once, with its earliest reply; unknown replies are counted apart", () => {
    const report = computeTrafficReport({
      startedAt: 0,
      stoppedAt: 100,
      sent: sentEvery(50, 2),
      received: [
        { seq: 0, receivedAt: 30 },
        { seq: 0, receivedAt: 10 }, // a duplicate that arrived first but is listed second
        { seq: 1, receivedAt: 60 },
        { seq: 99, receivedAt: 70 }, // never sent
      ],
    });
    expect(report).toMatchObject({ sent: 2, received: 2, lost: 0, duplicates: 1, unexpected: 1 });
    expect(report.rttMs).toEqual({ p50: 10, p99: 10, max: 10 });
    expect(report.maxGapMs).toBe(50); // 10 → 60
  });

  it("a reply that arrives while the agent drains after the stop closes no gap beyond the stop", () => {
    const report = computeTrafficReport({
      startedAt: 0,
      stoppedAt: 100,
      sent: [{ seq: 0, sentAt: 90 }],
      received: [{ seq: 0, receivedAt: 130 }],
    });
    expect(report.received).toBe(1);
    expect(report.maxGapMs).toBe(100);
    expect(report.gaps).toEqual([
      { startOffsetMs: 0, durationMs: 100 },
      { startOffsetMs: 100, durationMs: 0 },
    ]);
    expect(report.rttMs?.max).toBe(40);
  });

  it("RTT percentiles by nearest rank over 100 values", () => {
    // RTTs 1..100 ms, listed in a shuffled order.
    const order = Array.from({ length: 100 }, (_, i) => (i * 37) % 100);
    const report = computeTrafficReport({
      startedAt: 0,
      stoppedAt: 20_000,
      sent: order.map((seq) => ({ seq, sentAt: seq * 100 })),
      received: order.map((seq) => ({ seq, receivedAt: seq * 100 + seq + 1 })),
    });
    expect(report.rttMs).toEqual({ p50: 50, p99: 99, max: 100 });
  });

  it("passes reconnects through and keeps as many gaps as asked", () => {
    const report = computeTrafficReport(
      {
        startedAt: 0,
        stoppedAt: 100,
        sent: sentEvery(20, 5),
        received: [0, 1, 2, 3, 4].map((seq) => ({ seq, receivedAt: seq * 20 + 1 })),
        reconnects: 3,
      },
      { topGaps: 2 },
    );
    expect(report.reconnects).toBe(3);
    expect(report.gaps).toHaveLength(2);
  });

  it("a stop before the start does not throw: the run has no length", () => {
    const report = computeTrafficReport({
      startedAt: 100,
      stoppedAt: 50,
      sent: [{ seq: 0, sentAt: 100 }],
      received: [{ seq: 0, receivedAt: 101 }],
    });
    expect(report.durationMs).toBe(0);
    expect(report.maxGapMs).toBe(0);
  });
});

describe("percentile", () => {
  it("nearest rank", () => {
    expect(percentile([], 50)).toBeUndefined();
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 51)).toBe(3);
    expect(percentile([1, 2, 3, 4], 100)).toBe(4);
    expect(percentile([1, 2, 3, 4], 0)).toBe(1);
  });
});

describe("reading the agent's log", () => {
  const report = {
    kind: "traffic-report",
    proto: "udp",
    to: "198.18.1.11",
    port: 7000,
    intervalMs: 10,
    sendErrors: 0,
    ...computeTrafficReport({ startedAt: 0, stoppedAt: 10, sent: [], received: [] }),
  };

  it("finds the ready line and the report among other lines", () => {
    const log = [
      "traffic-agent: ready send udp 198.18.1.11:7000 every 10 ms",
      "(node:123) some warning",
      JSON.stringify(report),
      "",
    ].join("\n");
    expect(hasReadyLine(log)).toBe(true);
    expect(findAgentReport(log)).toEqual(report);
  });

  it("no report yet while the line is only partly written", () => {
    const line = JSON.stringify(report);
    expect(findAgentReport(`traffic-agent: ready\n${line.slice(0, 20)}`)).toBeUndefined();
    expect(findAgentReport("")).toBeUndefined();
    expect(hasReadyLine("")).toBe(false);
  });

  it("other JSON is not a report", () => {
    expect(findAgentReport('{"kind":"something-else"}\n[1,2]\n')).toBeUndefined();
  });

  it("finds the agent's error message", () => {
    const log = "traffic-agent: error: cannot listen on udp 0.0.0.0:7000: bind EADDRINUSE 0.0.0.0:7000\n";
    expect(findAgentError(log)).toBe("cannot listen on udp 0.0.0.0:7000: bind EADDRINUSE 0.0.0.0:7000");
    expect(findAgentError("all fine\n")).toBeUndefined();
  });
});
