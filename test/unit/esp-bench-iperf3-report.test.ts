import { describe, expect, it } from "vitest";
import { parseIperf3TcpReport, parseIperf3UdpReport } from "../../src/lab/probes/iperf3-report.js";

// The `end` sections of real iperf3 3.12 client reports from the lab (n1 → n2, bare path),
// trimmed to the fields the parsers read and a few they must ignore.
const TCP = JSON.stringify({
  start: { version: "iperf 3.12" },
  end: {
    sum_sent: { seconds: 3.000208, bytes: 7474445960, bits_per_second: 19930474047.132732, retransmits: 181 },
    sum_received: { seconds: 3.000208, bytes: 7472134144, bits_per_second: 19924309640.02 },
  },
});

const UDP = JSON.stringify({
  end: {
    sum: { seconds: 3.000184, packets: 571770, lost_packets: 965, lost_percent: 0.1687, sender: true },
    sum_sent: { seconds: 3.000057, bytes: 36593280, packets: 571770, lost_packets: 0, sender: true },
    sum_received: {
      seconds: 3.000184,
      bytes: 36531520,
      packets: 571770,
      lost_packets: 965,
      lost_percent: 0.16877415744092905,
      sender: false,
    },
  },
});

describe("parseIperf3TcpReport", () => {
  it("takes the receiver's rate and bytes and the sender's retransmits", () => {
    const figures = parseIperf3TcpReport(TCP, "TCP test");
    expect(figures.receivedMbitPerSecond).toBeCloseTo(19924.31, 2);
    expect(figures).toMatchObject({ receivedBytes: 7472134144, retransmits: 181, seconds: 3.000208 });
  });

  it("reports iperf3's own error", () => {
    expect(() =>
      parseIperf3TcpReport(JSON.stringify({ error: "unable to connect to server: Connection refused" }), "x"),
    ).toThrow("iperf3 x failed: unable to connect to server: Connection refused");
  });

  it("says which field a report lacks, and what it got when it is not JSON", () => {
    expect(() => parseIperf3TcpReport(JSON.stringify({ end: {} }), "x")).toThrow(
      "the report has no end.sum_received.bits_per_second",
    );
    expect(() => parseIperf3TcpReport("iperf3: error - bad\nmore", "x")).toThrow(
      "iperf3 x gave no JSON report: iperf3: error - bad",
    );
    expect(() => parseIperf3TcpReport("null", "x")).toThrow("not an object");
  });
});

describe("parseIperf3UdpReport", () => {
  it("counts what the receiver got: its packets minus those it found missing", () => {
    const figures = parseIperf3UdpReport(UDP, "UDP test");
    expect(figures.sentPackets).toBe(571770);
    expect(figures.receivedPackets).toBe(570805); // = 36531520 bytes / 64
    expect(figures.receivedPacketsPerSecond).toBeCloseTo(570805 / 3.000184, 3);
    expect(figures.sentPacketsPerSecond).toBeCloseTo(571770 / 3.000057, 3);
    expect(figures.lossPercent).toBeCloseTo(0.1688, 4);
  });

  it("takes loss against what was sent, so a tail the receiver never saw counts as lost", () => {
    const report = JSON.parse(UDP) as { end: { sum_sent: { packets: number } } };
    report.end.sum_sent.packets = 1_141_610; // twice what the receiver counted
    const figures = parseIperf3UdpReport(JSON.stringify(report), "UDP test");
    expect(figures.receivedPackets).toBe(570805);
    expect(figures.lossPercent).toBeCloseTo(50, 6);
  });

  it("refuses a TCP report", () => {
    expect(() => parseIperf3UdpReport(TCP, "UDP test")).toThrow("no end.sum_sent.packets");
  });
});
