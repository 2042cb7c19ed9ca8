import type { IkeHeaderFields } from "../../codec/header.js";
import { NotifyType } from "../../codec/notify.js";
import type { InnerPayload, Payload } from "../../codec/payload.js";
import type { Proposal } from "../../codec/sa.js";
import type { DhKeyPair } from "../../crypto/dh.js";
import type { IkeSaKeys, IkeSaSuite } from "../../crypto/key-derivation.js";
import type { RandomSource } from "../../crypto/random.js";
import type { Identity } from "../../config/identity.js";
import {
  decodeSignatureHashes,
  encodeSignatureHashes,
  SUPPORTED_SIGNATURE_HASHES,
} from "../../auth/signature-schemes.js";
import type { ChildSa } from "../child-sa.js";
import type { ResolvedChild, ResolvedConnection } from "../connection.js";
import type { IkeDownCause, IkeEvent, IkeSaSummary } from "../events.js";
import type { WireIdentity } from "../identity-payload.js";
import type { AuthSecrets } from "../ike-authentication.js";
import type { IkePath } from "../ike-path.js";
import { notifiesOf } from "../payload-helpers.js";
import type { ChosenProposal } from "../proposals.js";
import type { TrafficSelector } from "../traffic-selector.js";

/** What an IKE SA needs from its endpoint: randomness, connections and secrets. */
export interface IkeSaContext {
  random: RandomSource;
  /** The connections that may apply (for a responder: those whose addresses match). */
  connections: readonly ResolvedConnection[];
  /** The pre-shared key for a pair of identities, if one is configured. */
  sharedKey(local: Identity, remote: WireIdentity): Uint8Array | undefined;
  /** Wall-clock time for certificate validity; the system clock when absent. */
  wallClock?: () => Date;
  /**
   * Whether another established IKE SA of the endpoint joins the same two identities (strongSwan's
   * `has_contact`); INITIAL_CONTACT is sent only when none does (RFC 7296 §2.4). Absent: none.
   */
  otherIkeSa?(self: Uint8Array, local: WireIdentity, remote: WireIdentity, localAddress: string): boolean;
}

export type Phase =
  | { name: "init-sent" }
  | { name: "auth-sent" }
  | { name: "awaiting-auth" }
  | { name: "established" }
  /** Replaced by a rekey (§2.18): only the DELETE of this old SA remains. */
  | { name: "rekeyed"; successor: string }
  | { name: "deleting" }
  | { name: "closed"; reason: string };

/** Work of ours waiting for the window (size 1, RFC 7296 §2.3). */
export type Task =
  | { kind: "dpd" }
  | { kind: "delete-ike" }
  | { kind: "delete-child"; spiIn: number; reason: string }
  | { kind: "rekey-child"; spiIn: number }
  | { kind: "create-child"; child: ResolvedChild }
  | { kind: "rekey-ike" };

/** What our request in flight is for, with what its response needs. */
export type Pending =
  | { kind: "init" }
  | {
      kind: "auth";
      child: ResolvedChild | undefined;
      spiIn: Uint8Array;
      offered: Proposal[];
      localTs: TrafficSelector[];
      remoteTs: TrafficSelector[];
    }
  | { kind: "informational"; task: Task }
  | {
      kind: "create-child";
      /** The Child SA this one replaces (a rekey, §1.3.3), or none (a further Child SA, §1.3.1). */
      old: ChildSa | undefined;
      /** The peer rekeyed the same Child SA meanwhile (§2.8.1): its exchange's nonces and SA. */
      collision?: { nonces: [Uint8Array, Uint8Array]; child: ChildSa };
      child: ResolvedChild;
      spiIn: Uint8Array;
      nonce: Uint8Array;
      dh: DhKeyPair | undefined;
      offered: Proposal[];
      localTs: TrafficSelector[];
      remoteTs: TrafficSelector[];
    }
  | { kind: "rekey-ike"; spiI: Uint8Array; nonce: Uint8Array; dh: DhKeyPair; offered: Proposal[] };

/**
 * The state of one IKE SA that its exchanges read and change. The task manager (IkeSa) keeps
 * the rest to itself: the message-ID window, the outbox, fragments, timers other than the
 * linger and rekey deadlines.
 */
export interface IkeSaState {
  phase: Phase;
  connection: ResolvedConnection;
  path: IkePath;
  readonly spiI: Uint8Array;
  spiR: Uint8Array;
  /** Whether we are the original initiator of this IKE SA. */
  readonly initiator: boolean;
  /** Our work waiting for the window. */
  readonly tasks: Task[];
  /** What our request in flight is for. */
  pending: Pending | undefined;
  children: ChildSa[];
  nonceI: Uint8Array;
  nonceR: Uint8Array;
  initRequest: Uint8Array;
  initResponse: Uint8Array;
  suite: IkeSaSuite | undefined;
  keys: IkeSaKeys | undefined;
  dh: DhKeyPair | undefined;
  dhGroupId: number;
  fakeNatSource: Uint8Array | undefined;
  /** The group `dh` belongs to. */
  dhFor: number;
  offeredIke: Proposal[];
  /** Responder: what the peer offered in IKE_SA_INIT. */
  offeredByPeer: Proposal[];
  cookie: Uint8Array | undefined;
  peerFragmentation: boolean;
  /** What the peer announced in SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4). */
  peerHashes: number[] | undefined;
  remoteId: WireIdentity | undefined;
  /** Send INITIAL_CONTACT in our IKE_AUTH request if it is true then (RFC 7296 §2.4). */
  initialContact: boolean;
  /**
   * Contact after a takeover (design §8): this IKE SA ends every other one of its two identities
   * when it comes up (the endpoint sees to it), so it is the only one and says so even while
   * others still exist.
   */
  contact: boolean;
  /** We did send it: this IKE SA asserted that it is the only one between the two identities. */
  sentInitialContact: boolean;
  lastHeardAt: number;
  /** Half-open (responder without IKE_AUTH) or rekeyed-awaiting-delete deadline. */
  lingerDeadline: number | undefined;
  rekeyAt: number | undefined;
}

/**
 * What an exchange's initiator and responder halves get from the task manager: the SA's
 * state, the endpoint's context, and the task manager's services. Message IDs,
 * retransmission and the response cache stay with the task manager.
 */
export interface ExchangeContext {
  readonly state: IkeSaState;
  readonly context: IkeSaContext;
  /** Sends a request of ours (already encoded datagrams) and starts its retransmission. */
  transmitRequest(now: number, exchangeType: number, datagrams: Uint8Array[]): void;
  /** Seals a request of ours with the next message ID and sends it. */
  request(now: number, exchangeType: number, inner: InnerPayload[]): void;
  /** Sends a response (already encoded datagrams) and keeps it for retransmitted requests. */
  sendResponse(messageId: number, datagrams: Uint8Array[]): void;
  /** Seals a response and sends it. */
  respond(exchangeType: number, messageId: number, inner: InnerPayload[]): void;
  /** Ends the request in flight (an IKE_SA_INIT answer checked by the exchange). */
  completeRequest(): void;
  /** Ends the IKE_SA_INIT request in flight for a retry: the next one is message ID 0 again. */
  resetForInitRetry(): void;
  /** Whether a request of ours is in flight. */
  requestInFlight(): boolean;
  header(exchangeType: number, response: boolean, messageId: number): IkeHeaderFields;
  emit(event: IkeEvent): void;
  log(level: "info" | "warn", message: string): void;
  summary(): IkeSaSummary;
  secrets(): AuthSecrets;
  close(now: number, reason: string, cause?: IkeDownCause): void;
  /** The old IKE SA after a rekey goes quietly. */
  retire(now: number): void;
  setIkeLifetime(now: number): void;
  /** A Child SA's inbound SPI: random, never one of the reserved values 0–255. */
  newChildSpi(): Uint8Array;
  installChild(child: ChildSa): void;
  removeChild(child: ChildSa, reason: string, byPeer?: boolean): void;
  /** A failed rekey is retried after 5–15 s. */
  retryDelay(): number;
  /** Hands the children and queued work to a new IKE SA that replaces this one (§2.18). */
  successor(
    now: number,
    initiator: boolean,
    spiI: Uint8Array,
    spiR: Uint8Array,
    suite: IkeSaSuite,
    keys: IkeSaKeys,
    dhGroupId: number,
  ): void;
}

export const NONCE_LENGTH = 32;
export const SPI_LENGTH = 8;
/** SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4): the hashes we can verify signatures with. */
export const SIGNATURE_HASHES = encodeSignatureHashes(SUPPORTED_SIGNATURE_HASHES);

/** The peer's SIGNATURE_HASH_ALGORITHMS, or undefined when it sent none (then classic AUTH methods). */
export function signatureHashesOf(payloads: readonly Payload[]): number[] | undefined {
  const notice = notifiesOf(payloads).find((n) => n.notifyType === NotifyType.SIGNATURE_HASH_ALGORITHMS);
  return notice ? decodeSignatureHashes(notice.data) : undefined;
}

export function suiteOf(chosen: ChosenProposal): IkeSaSuite {
  if (chosen.prf === undefined) throw new Error("suiteOf: no PRF chosen");
  return {
    encr: chosen.encr.id,
    ...(chosen.encr.keyLength === undefined ? {} : { encrKeyLength: chosen.encr.keyLength }),
    prf: chosen.prf,
    ...(chosen.integ === undefined ? {} : { integ: chosen.integ }),
  };
}
