/**
 * Reassembly of IKE fragments (RFC 7383 §2.6): fragments of one message (same message ID)
 * are collected after each one was authenticated on its own; once all have arrived their
 * plaintexts are joined in order. A fragment claiming a different total starts over, as the
 * RFC asks when the sender re-fragmented with another size.
 */
export interface FragmentSet {
  messageId: number;
  total: number;
  firstInnerType: number;
  pieces: (Uint8Array | undefined)[];
}

/** RFC 7383 leaves the limit to the receiver; 64 fragments hold any certificate chain we expect. */
export const MAX_FRAGMENTS = 64;

export type FragmentResult =
  | { kind: "complete"; firstInnerType: number; plaintext: Uint8Array }
  | { kind: "waiting"; set: FragmentSet }
  | { kind: "dropped"; reason: string };

export function addFragment(
  set: FragmentSet | undefined,
  messageId: number,
  fragment: { number: number; total: number; firstInnerType: number },
  plaintext: Uint8Array,
): FragmentResult {
  if (
    fragment.total < 1 ||
    fragment.total > MAX_FRAGMENTS ||
    fragment.number < 1 ||
    fragment.number > fragment.total
  ) {
    return { kind: "dropped", reason: `fragment ${fragment.number} of ${fragment.total} is out of range` };
  }
  let current = set;
  if (!current || current.messageId !== messageId || current.total !== fragment.total) {
    current = {
      messageId,
      total: fragment.total,
      firstInnerType: 0,
      pieces: new Array<Uint8Array | undefined>(fragment.total),
    };
  }
  if (current.pieces[fragment.number - 1] !== undefined) return { kind: "waiting", set: current };
  current.pieces[fragment.number - 1] = plaintext;
  if (fragment.number === 1) current.firstInnerType = fragment.firstInnerType;
  // A plain loop: Array#some skips holes, and a missing piece must count as missing.
  for (let i = 0; i < current.total; i++)
    if (current.pieces[i] === undefined) return { kind: "waiting", set: current };
  const pieces = current.pieces as Uint8Array[];
  const joined = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const piece of pieces) {
    joined.set(piece, offset);
    offset += piece.length;
  }
  return { kind: "complete", firstInnerType: current.firstInnerType, plaintext: joined };
}
