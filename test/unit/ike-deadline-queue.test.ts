import { describe, expect, it } from "vitest";
import { DeadlineQueue } from "../../src/ike/core/deadline-queue.js";
import { seededRandom } from "../support/seeded-random.js";

describe("deadline queue", () => {
  it("gives the earliest deadline and takes what is due, in order", () => {
    const q = new DeadlineQueue<string>();
    q.set("a", 30);
    q.set("b", 10);
    q.set("c", 20);
    expect(q.next()).toBe(10);
    expect(q.takeDue(20)).toEqual(["b", "c"]);
    expect(q.next()).toBe(30);
  });

  it("moving or clearing a deadline leaves no stale answer", () => {
    const q = new DeadlineQueue<string>();
    q.set("a", 10);
    q.set("a", 50);
    q.set("b", 20);
    q.set("b", undefined);
    expect(q.next()).toBe(50);
    expect(q.takeDue(49)).toEqual([]);
    expect(q.takeDue(50)).toEqual(["a"]);
    expect(q.next()).toBeUndefined();
  });

  it("agrees with a plain scan over 20,000 random updates", () => {
    const next = seededRandom(42);
    const q = new DeadlineQueue<number>();
    const truth = new Map<number, number>();
    let now = 0;
    for (let i = 0; i < 20_000; i++) {
      const item = Math.floor(next() * 300);
      const at = next() < 0.1 ? undefined : now + Math.floor(next() * 1000);
      q.set(item, at);
      if (at === undefined) truth.delete(item);
      else truth.set(item, at);
      if (i % 50 === 0) {
        now += Math.floor(next() * 200);
        const due = q.takeDue(now).sort((x, y) => x - y);
        const expected = [...truth]
          .filter(([, t]) => t <= now)
          .map(([k]) => k)
          .sort((x, y) => x - y);
        expect(due).toEqual(expected);
        for (const k of expected) truth.delete(k);
      }
      const min = truth.size === 0 ? undefined : Math.min(...truth.values());
      expect(q.next()).toBe(min);
    }
  });
});
