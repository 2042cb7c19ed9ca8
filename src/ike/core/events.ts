import type { IkePath } from "./ike-path.js";
import type { TrafficSelector } from "./traffic-selector.js";

/**
 * What an IKE SA reports to its driver. Child SA events carry everything a datapath needs to
 * install or remove the SA (the single IKE-to-datapath interface, DESIGN.md principle 4).
 */
export type IkeEvent =
  | { type: "ike-up"; sa: IkeSaSummary }
  | { type: "ike-down"; sa: IkeSaSummary; reason: string; cause: IkeDownCause }
  /** The IKE SA was rekeyed (§2.18): the successor carries on with the same Child SAs. */
  | { type: "ike-rekeyed"; sa: IkeSaSummary; successor: IkeSaSummary }
  | { type: "child-up"; sa: IkeSaSummary; child: ChildSaKeys }
  /** `byPeer`: the peer DELETEd this Child SA alone, its IKE SA stays (close_action acts on it). */
  | { type: "child-down"; sa: IkeSaSummary; spiIn: number; spiOut: number; reason: string; byPeer: boolean }
  /** The peer sent INITIAL_CONTACT (RFC 7296 §2.4): its other IKE SAs with us are stale. */
  | { type: "initial-contact"; sa: IkeSaSummary }
  /**
   * A request for an IKE SA this endpoint does not have (RFC 7296 §2.21.4): a peer still uses
   * an SA with an address that moved here. The driver may contact that peer (issue #6: the
   * adoptive node initiates with INITIAL_CONTACT) — each such request is reported, unthrottled;
   * the contact plan rate-limits its hints per peer.
   */
  | { type: "unknown-ike-spi"; path: IkePath }
  /**
   * An unprotected INVALID_IKE_SPI answer to one of our requests, or an unprotected INVALID_SPI
   * notification (RFC 7296 §1.5, §2.21.4): the peer at that address may have lost our SAs. A
   * forgery costs nothing, so it changes no state; the endpoint starts a liveness check on each
   * established IKE SA to that address that has none running (`checked`), at most once per
   * HINT_INTERVAL_MS per address (state-lost-hint.ts); reported only when acted on.
   */
  | {
      type: "peer-state-lost-hint";
      path: IkePath;
      notify: "INVALID_IKE_SPI" | "INVALID_SPI";
      checked: number;
    }
  | { type: "log"; level: "info" | "warn"; message: string };

/**
 * Why an IKE SA ended, for the driver's policies (strongSwan's dpd_action and close_action,
 * swanctl.conf(5)): "dead-peer" when a request of ours ran out of retransmissions (§2.4),
 * "deleted-by-peer" for the peer's DELETE (§1.4.1), "replaced" when the peer's INITIAL_CONTACT
 * or our own contact SA made it stale (§2.4), "other" for everything else (our DELETE, a
 * failed setup, a lifetime, a package moving away).
 */
export type IkeDownCause = "dead-peer" | "deleted-by-peer" | "replaced" | "other";

export interface IkeSaSummary {
  connection: string;
  spiI: string;
  spiR: string;
  initiator: boolean;
  localAddress: string;
  remoteAddress: string;
  localId: string;
  remoteId: string;
}

/** A Child SA as the datapath installs it: both directions, keys and selectors. */
export interface ChildSaKeys {
  name: string;
  /** Our inbound SPI (the peer sends with it) and the peer's (we send with it). */
  spiIn: number;
  spiOut: number;
  mode: "tunnel" | "transport";
  /** UDP encapsulation (RFC 3948): the ports to send ESP to and from. */
  encap: { localPort: number; remotePort: number } | undefined;
  localAddress: string;
  remoteAddress: string;
  encr: { id: number; keyLength: number | undefined };
  integ: number | undefined;
  esn: boolean;
  keyIn: { encKey: Uint8Array; integKey: Uint8Array };
  keyOut: { encKey: Uint8Array; integKey: Uint8Array };
  localTs: TrafficSelector[];
  remoteTs: TrafficSelector[];
  replayWindow: number;
  lifetime: { softBytes: number; hardBytes: number; softPackets: number; hardPackets: number };
}
