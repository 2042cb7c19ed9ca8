import { describe, expect, it } from "vitest";
import {
  daemonLogLines,
  etcdElectionEvents,
  failoverTimeline,
  ipsecContactTimeline,
} from "../../src/bench/failover-timeline.js";

// Lines as etcd 3.4.23 (zap) and `pavise daemon` write them in the lab.
const zap = (ts: string, msg: string): string =>
  JSON.stringify({ level: "info", ts, caller: "raft/raft.go:923", msg });
const FAULT = Date.parse("2026-11-27T15:10:00.000Z");

describe("bench:failover timeline from the logs", () => {
  it("finds the election in an etcd zap log", () => {
    const log = [
      zap("2026-11-27T15:09:58.000Z", "8e9e05c52164694d became leader at term 2"),
      zap("2026-11-27T15:10:00.612Z", "66c556facc5254fa is starting a new election at term 2"),
      zap("2026-11-27T15:10:00.614Z", "66c556facc5254fa became candidate at term 3"),
      zap("2026-11-27T15:10:00.631Z", "66c556facc5254fa became leader at term 3"),
      "not json",
      '{"broken":',
    ].join("\n");
    expect(etcdElectionEvents(log)).toEqual({
      electionStarted: [Date.parse("2026-11-27T15:10:00.612Z")],
      becameLeader: [Date.parse("2026-11-27T15:09:58.000Z"), Date.parse("2026-11-27T15:10:00.631Z")],
    });
  });

  it("reads the daemon's text lines", () => {
    expect(
      daemonLogLines("2026-11-27T15:10:02.100Z n2 node-failed: node n1 failed (its lease lapsed)\nnoise"),
    ).toEqual([
      {
        at: Date.parse("2026-11-27T15:10:02.100Z"),
        node: "n2",
        event: "node-failed",
        message: "node n1 failed (its lease lapsed)",
      },
    ]);
  });

  it("times each step from the fault, ignoring what came before it", () => {
    const etcd = [
      zap("2026-11-27T15:09:50.000Z", "a became leader at term 2"),
      zap("2026-11-27T15:10:00.700Z", "b is starting a new election at term 2"),
      zap("2026-11-27T15:10:00.720Z", "b became leader at term 3"),
    ].join("\n");
    const n2 = [
      "2026-11-27T15:09:51.000Z n2 started: package web started in 12 ms",
      "2026-11-27T15:10:00.650Z n2 fenced: lease-unconfirmed: no renewal was confirmed before the deadline; dropping addresses and halting packages",
      "2026-11-27T15:10:02.250Z n2 node-failed: node n1 failed (its lease lapsed)",
      "2026-11-27T15:10:02.330Z n2 started: package web started in 15 ms",
    ].join("\n");
    const n3 = "2026-11-27T15:10:00.640Z n3 fenced: lease-unconfirmed: …\n";
    expect(failoverTimeline(FAULT, "n1", [etcd, ""], [n2, n3])).toEqual({
      etcdElectionStartedMs: 700,
      etcdLeaderElectedMs: 720,
      nodeFailedMs: 2250,
      startedMs: 2330,
      fenced: ["n2", "n3"],
      etcdLeaderChangesBeforeFault: 0,
      etcdLeaderMovesBeforeFault: 0,
      fencedBeforeFault: [],
    });
    expect(failoverTimeline(FAULT, "n1", [], [])).toEqual({
      fenced: [],
      etcdLeaderChangesBeforeFault: 0,
      etcdLeaderMovesBeforeFault: 0,
      fencedBeforeFault: [],
    });
  });

  it("tells etcd leadership handed over by Pavise (etcd-leader-moved) from an election", () => {
    const etcd = [
      zap("2026-11-27T15:09:50.000Z", "a became leader at term 2"),
      zap("2026-11-27T15:09:53.000Z", "b became leader at term 3"),
      zap("2026-11-27T15:10:01.300Z", "c became leader at term 4"),
    ].join("\n");
    const n2 = [
      "2026-11-27T15:09:53.060Z n2 etcd-leader-moved: etcd's leadership moved from n1 to n2 in 55 ms: …",
      "2026-11-27T15:10:01.350Z n2 etcd-leader-moved: etcd's leadership moved from n2 to n3 in 50 ms: …",
    ].join("\n");
    expect(failoverTimeline(FAULT, "n1", [etcd], [n2])).toMatchObject({
      etcdLeaderChangesBeforeFault: 0,
      etcdLeaderMovesBeforeFault: 1,
    });
    // The move after the fault is not etcd electing a leader.
    expect(failoverTimeline(FAULT, "n1", [etcd], [n2]).etcdLeaderElectedMs).toBeUndefined();
  });

  it("counts what load alone did before the fault: leader changes in any member's log, fences", () => {
    const first = zap("2026-11-27T15:09:50.000Z", "a became leader at term 2");
    const spurious = zap("2026-11-27T15:09:55.000Z", "c became leader at term 3");
    const daemon = "2026-11-27T15:09:55.100Z n3 fenced: lease-unconfirmed: …\n";
    expect(failoverTimeline(FAULT, "n1", [first], [daemon], spurious)).toMatchObject({
      etcdLeaderChangesBeforeFault: 1,
      fencedBeforeFault: ["n3"],
      fenced: [],
    });
  });

  it("times the IPsec steps of the adoptive node for the client, from the daemons' lines", () => {
    const n1 = [
      "2026-11-27T15:09:55.000Z n1 ipsec: IPsec of web listens on 198.18.1.50 (IKE 500, 4500)",
      "2026-11-27T15:09:55.300Z n1 ipsec-peer-recorded: package web: peer 198.18.1.101 (198.18.1.101) recorded",
    ].join("\n");
    const n2 = [
      // Another client's contact, and n1's own lines, do not count.
      "2026-11-27T15:10:01.100Z n2 ipsec: IPsec of web listens on 198.18.1.50 (IKE 500, 4500)",
      "2026-11-27T15:10:01.150Z n2 ipsec-peer-contacted: package web: IPsec peer 198.18.1.102 (198.18.1.102) contacted with INITIAL_CONTACT 19 ms after the package's IPsec started",
      "2026-11-27T15:10:01.160Z n2 ipsec-peer-contacted: package web: IPsec peer 198.18.1.101 (198.18.1.101) contacted with INITIAL_CONTACT 31 ms after the package's IPsec started",
      "2026-11-27T15:10:01.170Z n2 ipsec-peer-recorded: package web: peer 198.18.1.101 (198.18.1.101) recorded",
    ].join("\n");
    expect(ipsecContactTimeline(FAULT, "n1", [n1, n2], "198.18.1.101")).toEqual({
      ipsecUpMs: 1100,
      contactMs: 31,
      peerBackMs: 1170,
    });
    // A client the node may not contact (initiate: no) only comes back; nothing after the fault: nothing.
    expect(
      ipsecContactTimeline(FAULT, "n1", [n1, n2.split("\n").slice(0, 1).join("\n")], "198.18.1.101"),
    ).toEqual({
      ipsecUpMs: 1100,
    });
    expect(ipsecContactTimeline(FAULT, "n1", [n1], "198.18.1.101")).toEqual({});
  });
});
