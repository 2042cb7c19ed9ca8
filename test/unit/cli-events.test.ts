import { describe, expect, it } from "vitest";
import type { KeyValue } from "../../src/cluster/etcd/wire.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import { eventLine, eventsFrom, eventsSince } from "../../src/cli/events-render.js";

// pavise events (events-render.ts): events/ keys → lines in the order etcd wrote them.

const keys = new ClusterKeys("/pavise/demo/");
const T = Date.UTC(2026, 10, 27, 14, 0, 0);

function kv(key: string, value: string, modRevision: number): KeyValue {
  return { key, value, createRevision: modRevision, modRevision, version: 1, lease: "0" };
}

describe("pavise events rendering", () => {
  // n2's clock is ahead: its key sorts first, but etcd wrote it after n1's.
  const kvs = [
    kv(
      keys.event(T + 500, "n2", 1),
      JSON.stringify({ time: T + 500, node: "n2", kind: "started", message: "package web started in 12 ms" }),
      20,
    ),
    kv(
      keys.event(T, "n1", 1),
      JSON.stringify({ time: T, node: "n1", kind: "plan-start", message: "start web on n2: n1 failed" }),
      10,
    ),
    kv(keys.event(T + 900, "n3", 1), "not json", 30),
  ];

  it("orders events by the revision they were written at, not by key", () => {
    expect(eventsFrom(kvs).map((e) => e.revision)).toEqual([10, 20, 30]);
  });

  it("prints time, node and what happened", () => {
    const [first, second] = eventsFrom(kvs);
    expect(eventLine(first!)).toBe("2026-11-27T14:00:00.000Z  n1  plan-start: start web on n2: n1 failed");
    expect(eventLine(second!)).toBe("2026-11-27T14:00:00.500Z  n2  started: package web started in 12 ms");
  });

  it("shows an unreadable value instead of dropping it", () => {
    const last = eventsFrom(kvs)[2]!;
    expect(last.kind).toBe("unreadable");
    expect(eventLine(last)).toContain("not json");
  });

  it("keeps only events since a time", () => {
    expect(eventsSince(eventsFrom(kvs), T + 100).map((e) => e.node)).toEqual(["n2"]);
    expect(eventsSince(eventsFrom(kvs), undefined)).toHaveLength(3);
  });
});
