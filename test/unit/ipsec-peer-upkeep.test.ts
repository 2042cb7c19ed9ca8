import { describe, expect, it } from "vitest";
import type { PeerRecord } from "../../src/ipsec/registry/peer-record.js";
import {
  forgetAfterPeerDelete,
  recordAfterSetup,
  RESEEN_AFTER_MS,
  sweepPeers,
  type ObservedPeer,
} from "../../src/ipsec/registry/peer-upkeep.js";

const T0 = 1_795_000_000_000;
const HOUR = 3_600_000;
const observed: ObservedPeer = {
  id: "c1.clients.pavise.test",
  connection: "clients",
  address: "198.18.1.101",
  port: 500,
  natted: false,
  children: [{ name: "net", localTs: ["198.18.1.50/32"], remoteTs: ["198.18.1.101/32"] }],
  node: "n1",
};
const stored: PeerRecord = { ...observed, since: T0, seen: T0 };

describe("peer record upkeep", () => {
  it("writes a new peer, with since = seen = now", () => {
    expect(recordAfterSetup(undefined, observed, T0)).toEqual(stored);
  });

  it("does not rewrite an unchanged peer within the hour, and refreshes it after", () => {
    expect(recordAfterSetup(stored, observed, T0 + RESEEN_AFTER_MS - 1)).toBeUndefined();
    expect(recordAfterSetup(stored, observed, T0 + RESEEN_AFTER_MS)).toEqual({ ...stored, seen: T0 + HOUR });
  });

  it("rewrites when the address, port, node or selectors change, keeping since", () => {
    const later = T0 + 60_000;
    for (const change of [
      { address: "198.18.1.102" },
      { port: 4500 },
      { node: "n2" },
      { natted: true },
      { children: [] },
    ]) {
      expect(recordAfterSetup(stored, { ...observed, ...change }, later), JSON.stringify(change)).toEqual({
        ...stored,
        ...change,
        seen: later,
      });
    }
  });

  it("clears a contact state once the peer is reached", () => {
    const retrying: PeerRecord = { ...stored, contact: { state: "retrying", attempts: 2 } };
    expect(recordAfterSetup(retrying, observed, T0 + 1)).toEqual({ ...stored, seen: T0 + 1 });
  });

  it("the sweep forgets peers unseen for peers_retention, but refreshes those with a live SA", () => {
    const retention = 24 * HOUR;
    const now = T0 + 25 * HOUR;
    const quiet = { ...stored, id: "quiet" };
    const longLived = { ...stored, id: "rekeys-only" };
    const recent = { ...stored, id: "recent", seen: now - HOUR / 2 };
    const live = new Set(["rekeys-only", "recent"]);
    expect(sweepPeers([quiet, longLived, recent], now, retention, live)).toEqual({
      forget: ["quiet"],
      refresh: [{ ...longLived, seen: now }],
    });
    expect(sweepPeers([quiet], T0 + retention - 1, retention, new Set())).toEqual({
      forget: [],
      refresh: [],
    });
  });

  it("a DELETE from the peer forgets it only when it has no other IKE SA with us (reauthentication)", () => {
    expect(forgetAfterPeerDelete(0)).toBe(true);
    expect(forgetAfterPeerDelete(1)).toBe(false);
  });
});
