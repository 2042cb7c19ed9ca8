import { describe, expect, it } from "vitest";
import type { EventView } from "../../src/api/schema/view-types.js";
import {
  countNewer,
  filterChoices,
  filterEvents,
  mergeEvents,
  relativeTime,
  TIMELINE_CAP,
} from "../../src/console/model/timeline-model.js";
import { eventsFailover } from "./console-fixtures.js";

describe("console timeline model", () => {
  it("merges the snapshot and live events newest first, each once", () => {
    const log = eventsFailover();
    const snapshot = mergeEvents([], log.slice(0, 7));
    expect(snapshot.map((e) => e.revision)).toEqual([22, 19, 17, 16, 14, 9, 7]);
    // A reconnect replays from an older Last-Event-ID: the overlap is kept once.
    const merged = mergeEvents(snapshot, log.slice(4).reverse());
    expect(merged.map((e) => e.revision)).toEqual([29, 25, 24, 22, 19, 17, 16, 14, 9, 7]);
    expect(merged).toHaveLength(log.length);
  });

  it("keeps two different events written at the same revision", () => {
    const [a] = eventsFailover();
    const twin: EventView = { ...a!, kind: "plan-start", message: "start db n2" };
    expect(mergeEvents([a!], [twin, a!])).toHaveLength(2);
  });

  it("keeps the newest 500", () => {
    const base = eventsFailover()[0]!;
    const many = Array.from({ length: 700 }, (_, i) => ({ ...base, revision: i + 1, time: base.time + i }));
    const kept = mergeEvents([], many);
    expect(kept).toHaveLength(TIMELINE_CAP);
    expect(kept[0]!.revision).toBe(700);
    expect(kept.at(-1)!.revision).toBe(201);
  });

  it("filters by package and kind and offers the choices present", () => {
    const log = eventsFailover();
    expect(filterEvents(log, { package: "web" }).map((e) => e.kind)).toEqual([
      "plan-start",
      "started",
      "plan-start",
      "started",
    ]);
    expect(filterEvents(log, { kind: "node-failed" }).map((e) => e.message)).toEqual([
      "node n1 failed (its lease lapsed)",
    ]);
    expect(filterEvents(log, { package: "", kind: "" })).toHaveLength(log.length);
    expect(filterChoices(log)).toEqual({
      kinds: ["etcd-leader-moved", "node-failed", "operator", "plan-start", "started"],
      packages: ["db", "web"],
    });
  });

  it("says how long ago, with the clock passed in", () => {
    const t = 1_795_812_108_178;
    expect(relativeTime(t, t + 300)).toBe("just now");
    expect(relativeTime(t, t - 2_000)).toBe("just now");
    expect(relativeTime(t, t + 3_400)).toBe("3 s ago");
    expect(relativeTime(t, t + 59_999)).toBe("59 s ago");
    expect(relativeTime(t, t + 60_000)).toBe("1 min ago");
    expect(relativeTime(t, t + 3 * 3_600_000 + 5)).toBe("3 h ago");
    expect(relativeTime(t, t + 3 * 86_400_000)).toBe("3 d ago");
  });

  it("counts events newer than the last one seen", () => {
    expect(countNewer(eventsFailover(), 22)).toBe(3);
    expect(countNewer(eventsFailover(), 29)).toBe(0);
  });
});
