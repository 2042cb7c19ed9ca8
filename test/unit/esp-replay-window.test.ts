import { describe, expect, it } from "vitest";
import {
  OutboundSequence,
  ReplayWindow,
  sequence64,
  type ReplayCheck,
} from "../../src/esp/core/replay-window.js";

const TWO_32 = 0x1_0000_0000;

/** Check, and commit what passes (as after a good ICV). */
function receive(window: ReplayWindow, seqLow: number): ReplayCheck {
  const verdict = window.check(seqLow);
  if (verdict.ok) window.commit(verdict.high, verdict.low);
  return verdict;
}

function verdictOf(v: ReplayCheck): string {
  return v.ok ? "ok" : v.reason;
}

/** A window at an arbitrary 64-bit top (through commits, as a receiver gets there). */
function windowAt(size: number, esn: boolean, top: number): ReplayWindow {
  const window = new ReplayWindow({ size, esn });
  window.commit(Math.floor(top / TWO_32), top % TWO_32);
  return window;
}

describe("anti-replay window (RFC 4303 §3.4.3)", () => {
  it("accepts the first packet, then refuses it again", () => {
    const window = new ReplayWindow();
    expect(window.size).toBe(64);
    expect(receive(window, 1)).toEqual({ ok: true, high: 0, low: 1 });
    expect(receive(window, 1)).toEqual({ ok: false, reason: "replayed" });
    expect(window.top).toEqual({ high: 0, low: 1 });
  });

  it("accepts a first packet with any number, and never 0", () => {
    const window = new ReplayWindow();
    expect(window.check(0)).toEqual({ ok: false, reason: "too-old" });
    expect(receive(window, 1000)).toEqual({ ok: true, high: 0, low: 1000 });
    expect(verdictOf(window.check(937))).toBe("ok");
    expect(verdictOf(window.check(936))).toBe("too-old");
  });

  it("accepts reordering within the window once each", () => {
    const window = new ReplayWindow({ size: 64 });
    for (const seq of [1, 2, 5, 4, 3, 10, 7]) expect(verdictOf(receive(window, seq))).toBe("ok");
    for (const seq of [1, 2, 3, 4, 5, 7, 10]) expect(verdictOf(window.check(seq))).toBe("replayed");
    for (const seq of [6, 8, 9]) expect(verdictOf(window.check(seq))).toBe("ok");
  });

  it("the edge of the window: T - W + 1 is in, T - W is too old", () => {
    const window = new ReplayWindow({ size: 64 });
    receive(window, 100);
    expect(verdictOf(window.check(37))).toBe("ok");
    expect(verdictOf(window.check(36))).toBe("too-old");
  });

  it("a packet far ahead moves the window and forgets what it passed", () => {
    const window = new ReplayWindow({ size: 64 });
    for (let seq = 1; seq <= 64; seq++) receive(window, seq);
    expect(verdictOf(receive(window, 1_000_000))).toBe("ok");
    expect(verdictOf(window.check(64))).toBe("too-old");
    expect(verdictOf(window.check(1_000_000 - 63))).toBe("ok");
    expect(verdictOf(window.check(1_000_000))).toBe("replayed");
  });

  it("a move of less than the window keeps the bits still inside it", () => {
    const window = new ReplayWindow({ size: 64 });
    for (const seq of [10, 20, 30]) receive(window, seq);
    receive(window, 80);
    expect(verdictOf(window.check(10))).toBe("too-old");
    expect(verdictOf(window.check(16))).toBe("too-old");
    expect(verdictOf(window.check(17))).toBe("ok");
    expect(verdictOf(window.check(20))).toBe("replayed");
    expect(verdictOf(window.check(30))).toBe("replayed");
    expect(verdictOf(window.check(31))).toBe("ok");
  });

  it("check without commit leaves the window as it was (a forged packet moves nothing)", () => {
    const window = new ReplayWindow({ size: 64 });
    receive(window, 5);
    const before = window.snapshot();
    expect(window.check(10_000)).toEqual({ ok: true, high: 0, low: 10_000 });
    expect(window.check(6)).toEqual({ ok: true, high: 0, low: 6 });
    expect(window.snapshot()).toEqual(before);
    // The packet whose ICV failed can come again, genuine this time.
    expect(verdictOf(receive(window, 6))).toBe("ok");
    expect(verdictOf(window.check(4))).toBe("ok");
  });

  it("commit of a number that left the window meanwhile is ignored", () => {
    const window = new ReplayWindow({ size: 64 });
    receive(window, 10);
    const late = window.check(9);
    receive(window, 500);
    if (!late.ok) throw new Error("expected ok");
    window.commit(late.high, late.low);
    expect(window.top).toEqual({ high: 0, low: 500 });
    expect(verdictOf(window.check(500 - 64 + 9))).toBe("ok");
  });

  for (const size of [64, 1024, 4096]) {
    it(`size ${size}: edges, and a random walk agrees with a plain model`, () => {
      const window = new ReplayWindow({ size });
      receive(window, 10 * size);
      expect(verdictOf(window.check(9 * size + 1))).toBe("ok");
      expect(verdictOf(window.check(9 * size))).toBe("too-old");

      const model = modelWindow(size);
      const fresh = new ReplayWindow({ size });
      let state = 12345;
      const random = () => {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        return state / TWO_32;
      };
      let top = 1;
      for (let i = 0; i < 20_000; i++) {
        const r = random();
        const seq =
          r < 0.6
            ? top + Math.floor(random() * 8)
            : r < 0.95
              ? Math.max(0, top - Math.floor(random() * size * 1.5))
              : top + Math.floor(random() * size * 3);
        const got = fresh.check(seq);
        expect(verdictOf(got)).toBe(model.check(seq));
        // One in ten accepted packets fails its ICV: no commit.
        if (got.ok && random() > 0.1) {
          fresh.commit(got.high, got.low);
          model.commit(seq);
        }
        top = Math.max(top, seq);
      }
    });
  }

  it("takes sizes 0 to 4096 only; size 0 turns anti-replay off", () => {
    expect(() => new ReplayWindow({ size: 4097 })).toThrow(/size/);
    expect(() => new ReplayWindow({ size: -1 })).toThrow(/size/);
    expect(() => new ReplayWindow({ size: 1.5 })).toThrow(/size/);
    const off = new ReplayWindow({ size: 0 });
    receive(off, 100);
    expect(verdictOf(receive(off, 100))).toBe("ok");
    expect(verdictOf(off.check(1))).toBe("ok");
    expect(off.top).toEqual({ high: 0, low: 100 });
  });

  it("a size that is no power of two rejects exactly outside it", () => {
    const window = new ReplayWindow({ size: 100 });
    receive(window, 1000);
    expect(verdictOf(window.check(901))).toBe("ok");
    expect(verdictOf(window.check(900))).toBe("too-old");
  });

  it("without ESN, nothing follows 2^32 - 1: the low numbers are too old", () => {
    const window = new ReplayWindow({ size: 64 });
    expect(verdictOf(receive(window, 0xffff_ffff))).toBe("ok");
    expect(verdictOf(window.check(1))).toBe("too-old");
    expect(verdictOf(window.check(0xffff_ffc0))).toBe("ok");
  });

  it("snapshot and restore carry the whole state", () => {
    const window = new ReplayWindow({ size: 128, esn: true });
    for (const seq of [3, 90, 7, 200]) receive(window, seq);
    const copy = ReplayWindow.restore(JSON.parse(JSON.stringify(window.snapshot())) as never);
    for (const seq of [3, 7, 90, 100, 200, 201, 72, 73]) {
      expect(copy.check(seq)).toEqual(window.check(seq));
    }
  });
});

describe("extended sequence numbers (RFC 4303 Appendix A2.2)", () => {
  it("Case A (window within one epoch): below Bl is the next epoch", () => {
    // T = 2^32 - 10: Th = 0, Tl = 0xFFFFFFF6 >= W - 1, Bl = 0xFFFFFFB7.
    const window = windowAt(64, true, TWO_32 - 10);
    expect(window.check(0xffff_fff0)).toEqual({ ok: true, high: 0, low: 0xffff_fff0 });
    expect(window.check(0xffff_ffb7)).toEqual({ ok: true, high: 0, low: 0xffff_ffb7 });
    expect(window.check(0xffff_fff8)).toEqual({ ok: true, high: 0, low: 0xffff_fff8 });
    expect(window.check(5)).toEqual({ ok: true, high: 1, low: 5 });
    expect(window.check(0xffff_ffb6)).toEqual({ ok: true, high: 1, low: 0xffff_ffb6 });
    expect(window.check(0xffff_fff6)).toEqual({ ok: false, reason: "replayed" });
  });

  it("Case B (window spans the wrap): at or above Bl is the previous epoch", () => {
    // T = 2^32 + 5: Th = 1, Tl = 5 < W - 1, Bl = 5 - 63 mod 2^32 = 0xFFFFFFC6.
    const window = windowAt(64, true, TWO_32 - 20);
    expect(receive(window, 5)).toEqual({ ok: true, high: 1, low: 5 });
    expect(window.top).toEqual({ high: 1, low: 5 });
    expect(window.check(0xffff_fff0)).toEqual({ ok: true, high: 0, low: 0xffff_fff0 });
    expect(window.check(0xffff_ffc6)).toEqual({ ok: true, high: 0, low: 0xffff_ffc6 });
    expect(window.check(0xffff_ffec)).toEqual({ ok: false, reason: "replayed" });
    expect(window.check(3)).toEqual({ ok: true, high: 1, low: 3 });
    expect(window.check(6)).toEqual({ ok: true, high: 1, low: 6 });
    expect(window.check(0)).toEqual({ ok: true, high: 1, low: 0 });
    // Below Bl: the current epoch, far ahead; only its ICV can tell (and it will fail).
    expect(window.check(0xffff_ffc5)).toEqual({ ok: true, high: 1, low: 0xffff_ffc5 });
  });

  it("crosses 2^32 in order and out of order, committing each once", () => {
    const window = windowAt(64, true, TWO_32 - 3);
    const seen: bigint[] = [];
    for (const low of [0xffff_fffe, 0, 0xffff_ffff, 2, 1]) {
      const v = receive(window, low);
      if (!v.ok) throw new Error(`refused ${low}`);
      seen.push(sequence64(v.high, v.low));
    }
    expect(seen).toEqual([2n ** 32n - 2n, 2n ** 32n, 2n ** 32n - 1n, 2n ** 32n + 2n, 2n ** 32n + 1n]);
    for (const low of [0xffff_fffe, 0, 0xffff_ffff, 2, 1, 0xffff_fffd]) {
      expect(verdictOf(window.check(low))).toBe("replayed");
    }
    expect(window.top).toEqual({ high: 1, low: 2 });
  });

  it("in epoch 0, numbers that would fall before 0 are too old; 0 itself too", () => {
    const window = new ReplayWindow({ size: 64, esn: true });
    expect(window.check(0xffff_fff0)).toEqual({ ok: false, reason: "too-old" });
    expect(window.check(0)).toEqual({ ok: false, reason: "too-old" });
    expect(receive(window, 1)).toEqual({ ok: true, high: 0, low: 1 });
  });

  it("works the same with windows of 1024 and 4096 across the wrap", () => {
    for (const size of [1024, 4096]) {
      const window = windowAt(size, true, TWO_32 + 10);
      expect(window.check(0xffff_ffff - size + 12)).toEqual({
        ok: true,
        high: 0,
        low: 0xffff_ffff - size + 12,
      });
      expect(window.check(0xffff_ffff - size + 11)).toEqual({
        ok: true,
        high: 1,
        low: 0xffff_ffff - size + 11,
      });
      expect(window.check(10)).toEqual({ ok: false, reason: "replayed" });
    }
  });

  it("with anti-replay off, still infers the epoch (nearest to T)", () => {
    const window = windowAt(0, true, TWO_32 + 10);
    expect(window.check(0xffff_0000)).toEqual({ ok: true, high: 0, low: 0xffff_0000 });
    expect(window.check(0x7000_0000)).toEqual({ ok: true, high: 1, low: 0x7000_0000 });
    expect(window.check(10)).toEqual({ ok: true, high: 1, low: 10 });
  });
});

describe("outbound sequence numbers (RFC 4303 §3.3.3)", () => {
  it("starts at 1 and counts up", () => {
    const seq = new OutboundSequence();
    expect(seq.next()).toBe("ok");
    expect([seq.high, seq.low]).toEqual([0, 1]);
    expect(seq.next()).toBe("ok");
    expect([seq.high, seq.low]).toEqual([0, 2]);
  });

  it("without ESN: asks for a rekey from the soft limit, and sends nothing past 2^32 - 1", () => {
    const seq = new OutboundSequence({ softLimit: 0xffff_fffe });
    seq.resumeAfter(0, 0xffff_fffc);
    expect(seq.next()).toBe("ok");
    expect(seq.next()).toBe("rekey-needed");
    expect(seq.low).toBe(0xffff_fffe);
    expect(seq.next()).toBe("rekey-needed");
    expect(seq.low).toBe(0xffff_ffff);
    expect(seq.next()).toBe("exhausted");
    expect(seq.next()).toBe("exhausted");
    expect([seq.high, seq.low]).toEqual([0, 0xffff_ffff]);
  });

  it("with ESN: carries into the high half", () => {
    const seq = new OutboundSequence({ esn: true });
    seq.resumeAfter(0, 0xffff_ffff);
    expect(seq.next()).toBe("ok");
    expect([seq.high, seq.low]).toEqual([1, 0]);
    seq.resumeAfter(0xffff_ffff, 0xffff_fffe);
    expect(seq.next()).toBe("rekey-needed");
    expect(seq.next()).toBe("exhausted");
  });

  it("resumes forward only, and checks its limits", () => {
    const seq = new OutboundSequence();
    seq.resumeAfter(0, 500);
    seq.resumeAfter(0, 100);
    expect(seq.low).toBe(500);
    expect(() => seq.resumeAfter(1, 0)).toThrow(/ESN/);
    expect(() => new OutboundSequence({ softLimit: 0 })).toThrow(/softLimit/);
  });
});

/** The rule written plainly over a set: what the bitmap must agree with (32-bit numbers). */
function modelWindow(size: number) {
  let top = 0;
  const seen = new Set<number>();
  return {
    check(seq: number): string {
      if (seq === 0) return "too-old";
      if (seq > top) return "ok";
      if (top - seq >= size) return "too-old";
      return seen.has(seq) ? "replayed" : "ok";
    },
    commit(seq: number): void {
      seen.add(seq);
      top = Math.max(top, seq);
    },
  };
}
