import type { PeerChild, PeerRecord } from "./peer-record.js";

/**
 * When the owner writes or removes a peer record (docs/ipsec-packages-design.md §7), as pure
 * decisions: the driver feeds IKE events and the hourly sweep through them and hands the result
 * to peer-registry.ts.
 */

/** A record whose `seen` is older than this is refreshed at the peer's next SA setup (§7). */
export const RESEEN_AFTER_MS = 3_600_000;

/** What the IKE layer knows when a peer's IKE SA or Child SA comes up (ike-up, child-up). */
export type ObservedPeer = Omit<PeerRecord, "since" | "seen" | "contact">;

function sameChildren(a: readonly PeerChild[], b: readonly PeerChild[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The record to put after an SA setup, or undefined when the stored one still tells the truth.
 * Rekeys never reach here (§7: "not on rekeys"); a fresh `seen` once an hour keeps the sweep
 * from removing a peer that keeps coming back. `since` survives every rewrite; the contact state
 * goes, because the peer is reached.
 */
export function recordAfterSetup(
  stored: PeerRecord | undefined,
  observed: ObservedPeer,
  now: number,
): PeerRecord | undefined {
  const fresh: PeerRecord = { ...observed, since: stored?.since ?? now, seen: now };
  if (!stored) return fresh;
  const unchanged =
    stored.id === observed.id &&
    stored.connection === observed.connection &&
    stored.address === observed.address &&
    stored.port === observed.port &&
    stored.natted === observed.natted &&
    stored.node === observed.node &&
    sameChildren(stored.children, observed.children) &&
    stored.contact === undefined &&
    now - stored.seen < RESEEN_AFTER_MS;
  return unchanged ? undefined : fresh;
}

export interface SweepResult {
  /** Identities to forget: not seen for `retentionMs` and no SA with this node now. */
  forget: string[];
  /** Records to rewrite with a fresh `seen`: the peer holds an SA with this node right now. */
  refresh: PeerRecord[];
}

/**
 * The owner's periodic sweep (§7, `peers_retention`, default 24 h). `seen` only moves at SA
 * setup, and a client can keep one IKE SA for days through rekeys alone, so a peer with a live
 * SA on this node is refreshed instead of forgotten — otherwise the sweep would drop exactly
 * the long-lived clients a failover must contact.
 */
export function sweepPeers(
  records: readonly PeerRecord[],
  now: number,
  retentionMs: number,
  liveIds: ReadonlySet<string>,
): SweepResult {
  const forget: string[] = [];
  const refresh: PeerRecord[] = [];
  for (const r of records) {
    const age = now - r.seen;
    if (liveIds.has(r.id)) {
      if (age >= RESEEN_AFTER_MS) refresh.push({ ...r, seen: now });
    } else if (age >= retentionMs) {
      forget.push(r.id);
    }
  }
  return { forget, refresh };
}

/**
 * Whether a DELETE of an IKE SA from the peer means the peer is done with us (§7). A client that
 * re-authenticates (strongSwan reauth_time, RFC 7296 §2.8.3) sets up its new IKE SA first and
 * then deletes the old one: the record must stay while any other IKE SA of that peer is up.
 */
export function forgetAfterPeerDelete(remainingSasOfPeer: number): boolean {
  return remainingSasOfPeer === 0;
}
