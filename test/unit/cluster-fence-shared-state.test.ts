import { describe, expect, it } from "vitest";
import { SharedLeaseState } from "../../src/cluster/membership/shared-lease-state.js";

describe("shared lease state (worker → main thread)", () => {
  it("hands every renewal over in order, with the worker's times", () => {
    const worker = new SharedLeaseState(4);
    const main = new SharedLeaseState(worker.buffer);
    worker.update({}, { sentAt: 0, receivedAt: 2, ttlMs: 1000 });
    worker.update({ consecutiveFailures: 0 }, { sentAt: 333, receivedAt: 334, ttlMs: 1000 });
    const first = main.read(0);
    expect(first.snapshot.renewals).toBe(2);
    expect(first.renewals).toEqual([
      { seq: 1, sentAt: 0, receivedAt: 2, ttlMs: 1000 },
      { seq: 2, sentAt: 333, receivedAt: 334, ttlMs: 1000 },
    ]);
    worker.update({}, { sentAt: 666, receivedAt: 667, ttlMs: 1000 });
    expect(main.read(2).renewals.map((r) => r.seq)).toEqual([3]);
    expect(main.read(3).renewals).toEqual([]);
  });

  it("after an overrun gives the newest `capacity` renewals", () => {
    const state = new SharedLeaseState(3);
    for (let i = 0; i < 10; i++) state.update({}, { sentAt: i * 100, receivedAt: i * 100 + 1, ttlMs: 1000 });
    expect(state.read(2).renewals.map((r) => r.seq)).toEqual([8, 9, 10]);
    expect(state.read(2).renewals[2]).toEqual({ seq: 10, sentAt: 900, receivedAt: 901, ttlMs: 1000 });
  });

  it("carries flags, counters and the main thread's heartbeat", () => {
    const state = new SharedLeaseState(2);
    state.update({ lost: true, lostAt: 5, failures: 3, consecutiveFailures: 2, stopped: true });
    expect(state.read().snapshot).toMatchObject({
      lost: true,
      lostAt: 5,
      failures: 3,
      consecutiveFailures: 2,
      stopped: true,
    });
    expect(state.lastBeat()).toBe(0);
    state.beat(1234.5);
    expect(new SharedLeaseState(state.buffer).lastBeat()).toBe(1234.5);
  });
});
