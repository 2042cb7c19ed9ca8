import { describe, expect, it } from "vitest";
import {
  classifyRequest,
  completeRequest,
  matchesInFlight,
  newExchangeWindow,
  onRequestTimeout,
  recordResponse,
  retransmitDelay,
  sendRequest,
} from "../../src/ike/core/exchange-window.js";

const policy = { timeoutMs: 4000, base: 1.8, tries: 5 };
const bytes = (n: number) => [Uint8Array.of(n)];

describe("retransmission (RFC 7296 §2.1) with strongSwan's default schedule", () => {
  it("waits 4, 7.2, 13, 23.3, 42 and 75.6 s, then gives up: 165 s in all", () => {
    const window = newExchangeWindow();
    sendRequest(window, 0, 37, bytes(1), policy);
    const times: number[] = [];
    let now = 0;
    for (;;) {
      now = window.inFlight?.deadline ?? now;
      const outcome = onRequestTimeout(window, now, policy);
      times.push(now);
      if (outcome.kind === "give-up") break;
      expect(outcome.kind).toBe("retransmit");
    }
    expect(times).toEqual([4000, 11200, 24160, 47488, 89478, 165061]);
    expect(window.inFlight).toBeUndefined();
  });

  it("does nothing before the deadline", () => {
    const window = newExchangeWindow();
    sendRequest(window, 100, 37, bytes(1), policy);
    expect(onRequestTimeout(window, 4099, policy)).toEqual({ kind: "idle" });
    expect(retransmitDelay(policy, 2)).toBe(7200);
  });
});

describe("message IDs with a window of one (RFC 7296 §2.3)", () => {
  it("numbers our requests 0, 1, 2 and refuses a second request in flight", () => {
    const window = newExchangeWindow();
    expect(sendRequest(window, 0, 34, bytes(1), policy).messageId).toBe(0);
    expect(() => sendRequest(window, 0, 35, bytes(2), policy)).toThrow(/window size 1/);
    expect(matchesInFlight(window, 0, 35)).toBe(false);
    expect(matchesInFlight(window, 0, 34)).toBe(true);
    completeRequest(window);
    expect(sendRequest(window, 0, 35, bytes(2), policy).messageId).toBe(1);
  });

  it("answers a repeated request from the cache, drops old and future ones", () => {
    const window = newExchangeWindow();
    expect(classifyRequest(window, 0)).toEqual({ kind: "new" });
    recordResponse(window, 0, bytes(9));
    expect(classifyRequest(window, 0)).toEqual({ kind: "repeat", datagrams: bytes(9) });
    expect(classifyRequest(window, 1)).toEqual({ kind: "new" });
    expect(classifyRequest(window, 2).kind).toBe("drop");
    recordResponse(window, 1, bytes(10));
    expect(classifyRequest(window, 0).kind).toBe("drop");
    expect(classifyRequest(window, 1)).toEqual({ kind: "repeat", datagrams: bytes(10) });
  });
});
