import { describe, expect, it } from "vitest";
import { EventRing } from "../../src/api/view/event-ring.js";
import type { EventView } from "../../src/api/schema/view-types.js";

function event(revision: number, kind = "started", pkg: string | null = "web"): EventView {
  return {
    time: 1_790_000_000_000 + revision,
    node: "n1",
    kind,
    message: `${kind} ${pkg ?? "-"} at ${revision}`,
    revision,
    ...(pkg !== null ? { package: pkg } : {}),
  };
}

describe("event ring", () => {
  it("keeps events in revision order whatever order they come in, and says which were new", () => {
    const ring = new EventRing(10);
    expect(ring.add([event(7), event(3), event(5)]).map((e) => e.revision)).toEqual([3, 5, 7]);
    expect(ring.add([event(4), event(9)]).map((e) => e.revision)).toEqual([4, 9]);
    expect(ring.query().map((e) => e.revision)).toEqual([3, 4, 5, 7, 9]);
    expect(ring.newestRevision).toBe(9);
    expect(ring.oldestRevision).toBe(3);
  });

  it("adds an event it already has only once (a range overlapping the watch, a resumed watch)", () => {
    const ring = new EventRing(10);
    ring.add([event(3), event(4)]);
    expect(ring.add([event(4), event(5), event(5)]).map((e) => e.revision)).toEqual([5]);
    expect(ring.size).toBe(3);
  });

  it("keeps the newest `capacity` events and drops the oldest", () => {
    const ring = new EventRing(3);
    ring.add([1, 2, 3].map((r) => event(r)));
    expect(ring.add([event(4), event(5)]).map((e) => e.revision)).toEqual([4, 5]);
    expect(ring.query().map((e) => e.revision)).toEqual([3, 4, 5]);
    // Older than everything kept and the ring is full: not kept, so not news.
    expect(ring.add([event(1)])).toEqual([]);
    expect(ring.query().map((e) => e.revision)).toEqual([3, 4, 5]);
  });

  it("holds 1,000 events by default", () => {
    const ring = new EventRing();
    ring.add(Array.from({ length: 1500 }, (_, i) => event(i + 1)));
    expect(ring.size).toBe(1000);
    expect(ring.oldestRevision).toBe(501);
  });

  it("filters by revision, kind and package, and limit keeps the newest (still oldest first)", () => {
    const ring = new EventRing();
    ring.add([
      event(10, "started", "web"),
      event(11, "plan-move", "web"),
      event(12, "started", "db"),
      event(13, "node-failed", null),
      event(14, "started", "web"),
    ]);
    expect(ring.query({ sinceRevision: 11 }).map((e) => e.revision)).toEqual([12, 13, 14]);
    expect(ring.query({ kind: "started" }).map((e) => e.revision)).toEqual([10, 12, 14]);
    expect(ring.query({ package: "web" }).map((e) => e.revision)).toEqual([10, 11, 14]);
    expect(ring.query({ package: "web", kind: "started", limit: 1 }).map((e) => e.revision)).toEqual([14]);
    expect(ring.query({ limit: 2 }).map((e) => e.revision)).toEqual([13, 14]);
    expect(ring.query({ limit: 0 })).toEqual([]);
  });

  it("refuses a capacity that is not a positive whole number", () => {
    expect(() => new EventRing(0)).toThrow(/capacity 0/);
    expect(() => new EventRing(2.5)).toThrow(/capacity 2.5/);
  });
});
