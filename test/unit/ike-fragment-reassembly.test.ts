import { describe, expect, it } from "vitest";
import { addFragment, type FragmentSet } from "../../src/ike/core/fragment-reassembly.js";

const piece = (n: number) => Uint8Array.of(n, n);

describe("IKE fragment reassembly (RFC 7383 §2.6)", () => {
  it("bug: joined fragments 1 and 3 of 3 before 2 arrived (Array#some skipped the hole)", () => {
    let set: FragmentSet | undefined;
    for (const n of [1, 3]) {
      const result = addFragment(set, 1, { number: n, total: 3, firstInnerType: n === 1 ? 35 : 0 }, piece(n));
      expect(result.kind).toBe("waiting");
      set = result.kind === "waiting" ? result.set : undefined;
    }
    const done = addFragment(set, 1, { number: 2, total: 3, firstInnerType: 0 }, piece(2));
    expect(done).toEqual({
      kind: "complete",
      firstInnerType: 35,
      plaintext: Uint8Array.of(1, 1, 2, 2, 3, 3),
    });
  });

  it("ignores duplicates, starts over for another message or another total, drops nonsense", () => {
    const first = addFragment(undefined, 4, { number: 1, total: 2, firstInnerType: 35 }, piece(1));
    const set = first.kind === "waiting" ? first.set : undefined;
    expect(addFragment(set, 4, { number: 1, total: 2, firstInnerType: 35 }, piece(9)).kind).toBe("waiting");
    const other = addFragment(set, 5, { number: 2, total: 2, firstInnerType: 0 }, piece(2));
    expect(other.kind === "waiting" && other.set.messageId).toBe(5);
    expect(addFragment(set, 4, { number: 3, total: 2, firstInnerType: 0 }, piece(3)).kind).toBe("dropped");
    expect(addFragment(set, 4, { number: 1, total: 0, firstInnerType: 0 }, piece(3)).kind).toBe("dropped");
    expect(addFragment(set, 4, { number: 1, total: 65, firstInnerType: 0 }, piece(3)).kind).toBe("dropped");
  });
});
