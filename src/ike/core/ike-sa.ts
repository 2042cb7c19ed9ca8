import { ExchangeType, type IkeHeaderFields } from "../codec/header.js";
import type { IdPayload } from "../codec/id.js";
import { encodeMessage, type IkeMessage } from "../codec/message.js";
import { NotifyType, isErrorNotify, notify, type NotifyPayload } from "../codec/notify.js";
import type { InnerPayload, Payload } from "../codec/payload.js";
import { PayloadType } from "../codec/payload-type.js";
import { ProtocolId, type Proposal } from "../codec/sa.js";
import { dhGroup, type DhKeyPair } from "../crypto/dh.js";
import {
  deriveInitialIkeSaKeys,
  deriveRekeyedIkeSaKeys,
  type IkeSaKeys,
  type IkeSaSuite,
} from "../crypto/key-derivation.js";
import type { RandomSource } from "../crypto/random.js";
import { formatIdentity, type Identity } from "../config/identity.js";
import { childAnswer, childOffer, decideChild, makeChildSa, type ChildSa } from "./child-sa.js";
import type { ResolvedChild, ResolvedConnection } from "./connection.js";
import type { ChildSaKeys, IkeEvent, IkeSaSummary } from "./events.js";
import {
  classifyRequest,
  completeRequest,
  matchesInFlight,
  newExchangeWindow,
  onRequestTimeout,
  recordResponse,
  sendRequest,
  type ExchangeWindow,
} from "./exchange-window.js";
import { addFragment, type FragmentSet } from "./fragment-reassembly.js";
import type { WireIdentity } from "./identity-payload.js";
import { describeAuthIdentity } from "../auth/auth-identity.js";
import {
  decodeSignatureHashes,
  encodeSignatureHashes,
  SUPPORTED_SIGNATURE_HASHES,
} from "../auth/signature-schemes.js";
import {
  certificatePayloads,
  expectedPeerIdentity,
  localIdentityAccepted,
  ownAuth,
  ownIdentity,
  peerIdentityAccepted,
  verifyPeer,
  type AuthSecrets,
} from "./ike-authentication.js";
import type { IkePath, Outgoing } from "./ike-path.js";
import { natDetectionHash } from "./nat-detection.js";
import {
  find,
  fromWireSelectors,
  hasNotify,
  hex,
  notifiesOf,
  randomBelow,
  spiBytes,
  spiNumber,
} from "./payload-helpers.js";
import {
  acceptAnswer,
  answerProposal,
  offerProposals,
  selectProposal,
  type ChosenProposal,
} from "./proposals.js";
import { innerPayloads, protect, unprotect, type SkContext } from "./sk-protection.js";
import { contains, type TrafficSelector } from "./traffic-selector.js";
import { NAT_T_PORT } from "./udp-demux.js";
import { b64, childKeysFromJson, childKeysToJson, unb64, type IkeSaSnapshot } from "./ike-sa-snapshot.js";

export type { IkePath, Outgoing } from "./ike-path.js";

/** What an IKE SA needs from its endpoint: randomness, connections and secrets. */
export interface IkeSaContext {
  random: RandomSource;
  /** The connections that may apply (for a responder: those whose addresses match). */
  connections: readonly ResolvedConnection[];
  /** The pre-shared key for a pair of identities, if one is configured. */
  sharedKey(local: Identity, remote: WireIdentity): Uint8Array | undefined;
  /** Wall-clock time for certificate validity; the system clock when absent. */
  wallClock?: () => Date;
}

type Phase =
  | { name: "init-sent" }
  | { name: "auth-sent" }
  | { name: "awaiting-auth" }
  | { name: "established" }
  /** Replaced by a rekey (§2.18): only the DELETE of this old SA remains. */
  | { name: "rekeyed"; successor: string }
  | { name: "deleting" }
  | { name: "closed"; reason: string };

/** Work of ours waiting for the window (size 1, RFC 7296 §2.3). */
type Task =
  | { kind: "dpd" }
  | { kind: "delete-ike" }
  | { kind: "delete-child"; spiIn: number; reason: string }
  | { kind: "rekey-child"; spiIn: number }
  | { kind: "create-child"; child: ResolvedChild }
  | { kind: "rekey-ike" };

/** What our request in flight is for, with what its response needs. */
type Pending =
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

const NONCE_LENGTH = 32;
const SPI_LENGTH = 8;
/** strongSwan's half_open_timeout: a responder waits this long for IKE_AUTH. */
const HALF_OPEN_TIMEOUT_MS = 30_000;
/** How long a rekeyed IKE SA waits for the peer to delete it before it goes by itself. */
const REKEYED_TIMEOUT_MS = 30_000;
/** Above this many octets a protected message is fragmented when the peer supports RFC 7383. */
const FRAGMENT_ABOVE = 1280;
/** SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4): the hashes we can verify signatures with. */
const SIGNATURE_HASHES = encodeSignatureHashes(SUPPORTED_SIGNATURE_HASHES);

/** The peer's SIGNATURE_HASH_ALGORITHMS, or undefined when it sent none (then classic AUTH methods). */
function signatureHashesOf(payloads: readonly Payload[]): number[] | undefined {
  const notice = notifiesOf(payloads).find((n) => n.notifyType === NotifyType.SIGNATURE_HASH_ALGORITHMS);
  return notice ? decodeSignatureHashes(notice.data) : undefined;
}

function rekeySaNotify(spiIn: number): NotifyPayload {
  return {
    type: PayloadType.NOTIFY,
    protocolId: ProtocolId.ESP,
    spi: spiBytes(spiIn),
    notifyType: NotifyType.REKEY_SA,
    data: new Uint8Array(0),
  };
}

/**
 * One IKE SA and its Child SAs (RFC 7296), without I/O: the driver feeds it datagrams
 * (`handleMessage`) and time (`handleTimeout`), and after each call drains `pollTransmit`,
 * `pollEvent`, `pollSpawned` (the successor after an IKE SA rekey) and asks `pollTimeout` for
 * the next deadline. Commands (`dpd`, `delete`, `rekey`) queue requests that go out when the
 * window is free.
 */
export class IkeSa {
  private phase: Phase;
  private readonly window: ExchangeWindow = newExchangeWindow();
  private readonly outbox: Outgoing[] = [];
  private readonly events: IkeEvent[] = [];
  private readonly spawned: IkeSa[] = [];
  private readonly tasks: Task[] = [];
  private children: ChildSa[] = [];
  private pending: Pending | undefined;
  private spiR: Uint8Array = new Uint8Array(SPI_LENGTH);
  private nonceI: Uint8Array = new Uint8Array(0);
  private nonceR: Uint8Array = new Uint8Array(0);
  private initRequest: Uint8Array = new Uint8Array(0);
  private initResponse: Uint8Array = new Uint8Array(0);
  private suite: IkeSaSuite | undefined;
  private keys: IkeSaKeys | undefined;
  private dh: DhKeyPair | undefined;
  private dhGroupId = 0;
  private fakeNatSource: Uint8Array | undefined;
  /** The group `dh` belongs to. */
  private dhFor = 0;
  private offeredIke: Proposal[] = [];
  /** Responder: what the peer offered in IKE_SA_INIT. */
  private offeredByPeer: Proposal[] = [];
  private cookie: Uint8Array | undefined;
  private fragments: FragmentSet | undefined;
  private peerFragmentation = false;
  /** What the peer announced in SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4). */
  private peerHashes: number[] | undefined;
  private remoteId: WireIdentity | undefined;
  private lastHeardAt: number;
  private createdAt: number;
  /** Half-open (responder without IKE_AUTH) or rekeyed-awaiting-delete deadline. */
  private lingerDeadline: number | undefined;
  private rekeyAt: number | undefined;
  private expireAt: number | undefined;

  private constructor(
    private readonly context: IkeSaContext,
    private connection: ResolvedConnection,
    private path: IkePath,
    private readonly spiI: Uint8Array,
    private readonly initiator: boolean,
    now: number,
  ) {
    this.phase = initiator ? { name: "init-sent" } : { name: "awaiting-auth" };
    this.lastHeardAt = now;
    this.createdAt = now;
  }

  // -------------------------------------------------------------------------------------------
  // Creation

  /** Starts an IKE SA as initiator: the IKE_SA_INIT request goes out at once. */
  static initiate(context: IkeSaContext, connection: ResolvedConnection, path: IkePath, now: number): IkeSa {
    const sa = new IkeSa(context, connection, path, context.random(SPI_LENGTH), true, now);
    sa.nonceI = context.random(NONCE_LENGTH);
    const firstGroup = connection.ikeProposals[0]?.dh[0]?.id;
    if (firstGroup === undefined)
      throw new Error("initiate: the connection's first proposal has no DH group");
    sa.dhGroupId = firstGroup;
    sa.sendInitRequest(now);
    return sa;
  }

  /**
   * Answers an IKE_SA_INIT request. Returns the new IKE SA (awaiting IKE_AUTH), or only a reply
   * for the cases that keep no state (INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN, INVALID_SYNTAX).
   */
  static respond(
    context: IkeSaContext,
    path: IkePath,
    request: IkeMessage,
    raw: Uint8Array,
    now: number,
  ): { sa: IkeSa; reply?: undefined } | { sa?: undefined; reply: Uint8Array | undefined; reason: string } {
    const header = request.header;
    const refuse = (notifyType: number, data: Uint8Array, reason: string) => ({
      reply: encodeMessage(
        {
          initiatorSpi: header.initiatorSpi,
          responderSpi: new Uint8Array(SPI_LENGTH),
          exchangeType: ExchangeType.IKE_SA_INIT,
          initiator: false,
          response: true,
          messageId: 0,
        },
        [notify(notifyType, data)],
      ),
      reason,
    });
    const sa = find(request.payloads, PayloadType.SA);
    const ke = find(request.payloads, PayloadType.KE);
    const nonce = find(request.payloads, PayloadType.NONCE);
    if (!sa || !ke || !nonce)
      return refuse(NotifyType.INVALID_SYNTAX, new Uint8Array(0), "IKE_SA_INIT lacks SA, KE or Ni");
    let chosen: ChosenProposal | undefined;
    let connection: ResolvedConnection | undefined;
    for (const candidate of context.connections) {
      chosen = selectProposal(sa.proposals, candidate.ikeProposals, ProtocolId.IKE);
      if (chosen) {
        connection = candidate;
        break;
      }
    }
    if (!chosen || !connection || chosen.dh === undefined)
      return refuse(NotifyType.NO_PROPOSAL_CHOSEN, new Uint8Array(0), "no proposal matches");
    if (ke.group !== chosen.dh) {
      // §1.2: tell the initiator which group we want; it retries with that KE.
      return refuse(
        NotifyType.INVALID_KE_PAYLOAD,
        Uint8Array.of(chosen.dh >> 8, chosen.dh & 0xff),
        `KE group ${ke.group} instead of ${chosen.dh}`,
      );
    }
    const ikeSa = new IkeSa(context, connection, path, header.initiatorSpi, false, now);
    ikeSa.spiR = context.random(SPI_LENGTH);
    ikeSa.nonceI = nonce.data;
    ikeSa.nonceR = context.random(NONCE_LENGTH);
    ikeSa.dhGroupId = chosen.dh;
    const pair = dhGroup(chosen.dh).generate(context.random);
    const shared = pair.computeShared(ke.data);
    if (!shared.ok)
      return refuse(NotifyType.INVALID_SYNTAX, new Uint8Array(0), `bad KE data: ${shared.error.message}`);
    ikeSa.setInitialKeys(chosen, shared.shared);
    ikeSa.offeredByPeer = sa.proposals;
    ikeSa.initRequest = raw;
    ikeSa.peerFragmentation = hasNotify(request.payloads, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED);
    ikeSa.peerHashes = signatureHashesOf(request.payloads);
    const payloads: Payload[] = [
      { type: PayloadType.SA, proposals: [answerProposal(chosen, new Uint8Array(0))] },
      { type: PayloadType.KE, group: chosen.dh, data: pair.publicKey },
      { type: PayloadType.NONCE, data: ikeSa.nonceR },
      ...ikeSa.natDetectionNotifies(),
      ...(connection.config.fragmentation && ikeSa.peerFragmentation
        ? [notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED)]
        : []),
      ...(connection.peerTrust
        ? [certificatePayloads(connection).certReq].filter((p) => p !== undefined)
        : []),
      notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, SIGNATURE_HASHES),
    ];
    ikeSa.initResponse = encodeMessage(ikeSa.header(ExchangeType.IKE_SA_INIT, true, 0), payloads);
    recordResponse(ikeSa.window, 0, [ikeSa.initResponse]);
    ikeSa.outbox.push({ path, message: ikeSa.initResponse });
    ikeSa.lingerDeadline = now + HALF_OPEN_TIMEOUT_MS;
    // Pavise always encapsulates ESP (§2.23 fake NAT detection): the peer floats to port 4500.
    return { sa: ikeSa };
  }

  /** The successor of a rekeyed IKE SA (§2.18): new SPIs and keys, the same children and peer. */
  private successor(
    now: number,
    initiator: boolean,
    spiI: Uint8Array,
    spiR: Uint8Array,
    suite: IkeSaSuite,
    keys: IkeSaKeys,
    dhGroupId: number,
  ): IkeSa {
    const next = new IkeSa(this.context, this.connection, this.path, spiI, initiator, now);
    next.spiR = spiR;
    next.suite = suite;
    next.keys = keys;
    next.dhGroupId = dhGroupId;
    next.remoteId = this.remoteId;
    next.peerFragmentation = this.peerFragmentation;
    next.children = this.children;
    this.children = [];
    next.phase = { name: "established" };
    next.setIkeLifetime(now);
    this.phase = { name: "rekeyed", successor: hex(spiI) };
    this.rekeyAt = undefined;
    this.expireAt = undefined;
    // Queued work for the children (rekeys, deletes) goes with them to the successor.
    next.tasks.push(...this.tasks.filter((t) => t.kind !== "delete-ike"));
    this.tasks.length = 0;
    this.lingerDeadline = now + REKEYED_TIMEOUT_MS;
    this.events.push({ type: "ike-rekeyed", sa: this.summary(), successor: next.summary() });
    this.spawned.push(next);
    next.runTasks(now);
    return next;
  }

  /**
   * The whole state of an established IKE SA (see IkeSaSnapshot). A request of ours still in
   * flight is not part of it: the restored SA goes on with the next message ID, which the
   * peer expects anyway once it has answered.
   */
  snapshot(): IkeSaSnapshot {
    if (this.phase.name !== "established" || !this.suite || !this.keys) {
      throw new Error(
        `snapshot: only an established IKE SA can be exported (this one is ${this.phase.name})`,
      );
    }
    const keys = this.keys;
    return {
      version: 1,
      connection: this.connection.config.name,
      path: { ...this.path },
      initiator: this.initiator,
      spiI: b64(this.spiI),
      spiR: b64(this.spiR),
      suite: { ...this.suite },
      keys: {
        skD: b64(keys.skD),
        skAi: b64(keys.skAi),
        skAr: b64(keys.skAr),
        skEi: b64(keys.skEi),
        skEr: b64(keys.skEr),
        skPi: b64(keys.skPi),
        skPr: b64(keys.skPr),
      },
      dhGroupId: this.dhGroupId,
      remoteId: this.remoteId ? { idType: this.remoteId.idType, data: b64(this.remoteId.data) } : undefined,
      peerFragmentation: this.peerFragmentation,
      window: {
        nextRequestId: this.window.nextRequestId,
        expectedPeerRequestId: this.window.expectedPeerRequestId,
        lastResponse: this.window.lastResponse
          ? {
              messageId: this.window.lastResponse.messageId,
              datagrams: this.window.lastResponse.datagrams.map(b64),
            }
          : undefined,
      },
      createdAt: this.createdAt,
      lastHeardAt: this.lastHeardAt,
      rekeyAt: this.rekeyAt,
      expireAt: this.expireAt,
      children: this.children.map((c) => ({
        child: c.config.config.name,
        keys: childKeysToJson(c.keys),
        createdAt: c.createdAt,
        rekeyAt: c.rekeyAt,
        expireAt: c.expireAt,
      })),
    };
  }

  /** An IKE SA continued from a snapshot; its connection and children are found by name. */
  static restore(context: IkeSaContext, snapshot: IkeSaSnapshot): IkeSa {
    const connection = context.connections.find((c) => c.config.name === snapshot.connection);
    if (!connection) throw new Error(`restore: no connection ${snapshot.connection}`);
    const sa = new IkeSa(
      context,
      connection,
      snapshot.path,
      unb64(snapshot.spiI),
      snapshot.initiator,
      snapshot.createdAt,
    );
    sa.spiR = unb64(snapshot.spiR);
    sa.suite = snapshot.suite;
    const k = snapshot.keys;
    sa.keys = {
      skD: unb64(k.skD),
      skAi: unb64(k.skAi),
      skAr: unb64(k.skAr),
      skEi: unb64(k.skEi),
      skEr: unb64(k.skEr),
      skPi: unb64(k.skPi),
      skPr: unb64(k.skPr),
    };
    sa.dhGroupId = snapshot.dhGroupId;
    sa.remoteId = snapshot.remoteId
      ? { idType: snapshot.remoteId.idType, data: unb64(snapshot.remoteId.data) }
      : undefined;
    sa.peerFragmentation = snapshot.peerFragmentation;
    sa.window.nextRequestId = snapshot.window.nextRequestId;
    sa.window.expectedPeerRequestId = snapshot.window.expectedPeerRequestId;
    const last = snapshot.window.lastResponse;
    sa.window.lastResponse = last
      ? { messageId: last.messageId, datagrams: last.datagrams.map(unb64) }
      : undefined;
    sa.lastHeardAt = snapshot.lastHeardAt;
    sa.rekeyAt = snapshot.rekeyAt;
    sa.expireAt = snapshot.expireAt;
    sa.phase = { name: "established" };
    for (const c of snapshot.children) {
      const config = connection.children.find((child) => child.config.name === c.child);
      if (!config) throw new Error(`restore: connection ${connection.config.name} has no child ${c.child}`);
      sa.children.push({
        keys: childKeysFromJson(c.keys),
        config,
        createdAt: c.createdAt,
        rekeyAt: c.rekeyAt,
        expireAt: c.expireAt,
        rekeying: false,
      });
    }
    // The adopting node installs what it took over, as if it had set it up itself.
    sa.events.push({ type: "ike-up", sa: sa.summary() });
    for (const child of sa.children)
      sa.events.push({ type: "child-up", sa: sa.summary(), child: child.keys });
    return sa;
  }

  // -------------------------------------------------------------------------------------------
  // Driver interface

  get initiatorSpi(): Uint8Array {
    return this.spiI;
  }

  get responderSpi(): Uint8Array {
    return this.spiR;
  }

  get state(): string {
    return this.phase.name;
  }

  get isClosed(): boolean {
    return this.phase.name === "closed";
  }

  get connectionName(): string {
    return this.connection.config.name;
  }

  summary(): IkeSaSummary {
    const localId = this.localIdentity();
    return {
      connection: this.connection.config.name,
      spiI: hex(this.spiI),
      spiR: hex(this.spiR),
      initiator: this.initiator,
      localAddress: this.path.localAddress,
      remoteAddress: this.path.remoteAddress,
      localId: "error" in localId ? "?" : describeAuthIdentity(localId),
      remoteId: this.remoteId
        ? describeAuthIdentity(this.remoteId)
        : formatIdentity(this.connection.config.remote.id),
    };
  }

  /** The negotiated IKE SA transforms, once IKE_SA_INIT is done. */
  algorithms(): (IkeSaSuite & { dh: number }) | undefined {
    return this.suite ? { ...this.suite, dh: this.dhGroupId } : undefined;
  }

  /** The Child SAs currently installed. */
  childSas(): ChildSaKeys[] {
    return this.children.map((c) => c.keys);
  }

  pollTransmit(): Outgoing | undefined {
    return this.outbox.shift();
  }

  pollEvent(): IkeEvent | undefined {
    return this.events.shift();
  }

  /** A new IKE SA that replaced this one (after a rekey), for the endpoint to take over. */
  pollSpawned(): IkeSa | undefined {
    return this.spawned.shift();
  }

  /** The next moment `handleTimeout` must be called, if any. */
  pollTimeout(): number | undefined {
    if (this.phase.name === "closed") return undefined;
    // Called after every datagram: a plain minimum, no arrays.
    let next = earliest(this.window.inFlight?.deadline, this.lingerDeadline);
    next = earliest(next, this.dpdDeadline());
    next = earliest(next, earliest(this.rekeyAt, this.expireAt));
    for (const child of this.children) {
      next = earliest(next, earliest(child.rekeying ? undefined : child.rekeyAt, child.expireAt));
    }
    return next;
  }

  handleTimeout(now: number): void {
    if (this.phase.name === "closed") return;
    if (this.lingerDeadline !== undefined && now >= this.lingerDeadline) {
      this.close(
        now,
        this.phase.name === "rekeyed"
          ? "rekeyed; the peer did not delete the old SA"
          : "no IKE_AUTH request arrived (half-open timeout)",
      );
      return;
    }
    const outcome = onRequestTimeout(this.window, now, this.connection.config.retransmit);
    if (outcome.kind === "retransmit") {
      for (const message of outcome.datagrams) this.outbox.push({ path: this.path, message });
    } else if (outcome.kind === "give-up") {
      this.pending = undefined;
      this.close(now, "peer did not answer (retransmissions exhausted)");
      return;
    }
    if (this.expireAt !== undefined && now >= this.expireAt) {
      this.close(now, "IKE SA lifetime expired");
      return;
    }
    if (this.rekeyAt !== undefined && now >= this.rekeyAt) {
      this.rekeyAt = undefined;
      this.queue(now, { kind: "rekey-ike" });
    }
    for (const child of [...this.children]) {
      if (child.expireAt !== undefined && now >= child.expireAt) {
        child.expireAt = undefined;
        this.queue(now, { kind: "delete-child", spiIn: child.keys.spiIn, reason: "lifetime expired" });
      } else if (!child.rekeying && child.rekeyAt !== undefined && now >= child.rekeyAt) {
        child.rekeying = true;
        this.queue(now, { kind: "rekey-child", spiIn: child.keys.spiIn });
      }
    }
    const dpd = this.dpdDeadline();
    if (dpd !== undefined && now >= dpd && !this.tasks.some((t) => t.kind === "dpd"))
      this.queue(now, { kind: "dpd" });
  }

  /** Starts a liveness check (an empty INFORMATIONAL request, §1.4). */
  dpd(now: number): void {
    this.queue(now, { kind: "dpd" });
  }

  /** Deletes the IKE SA and with it every Child SA (§1.4.1). */
  delete(now: number): void {
    if (this.phase.name !== "established") {
      this.close(now, "deleted locally before it was established");
      return;
    }
    this.queue(now, { kind: "delete-ike" });
  }

  /** Rekeys the IKE SA (CREATE_CHILD_SA, §1.3.2). */
  rekey(now: number): void {
    this.queue(now, { kind: "rekey-ike" });
  }

  /** Rekeys a Child SA, named by its inbound SPI (e.g. when the datapath reports its soft limit). */
  rekeyChild(now: number, spiIn: number): void {
    const child = this.children.find((c) => c.keys.spiIn === spiIn);
    if (!child || child.rekeying) return;
    child.rekeying = true;
    this.queue(now, { kind: "rekey-child", spiIn });
  }

  /** Deletes a Child SA, named by its inbound SPI (e.g. at its hard limit). */
  deleteChild(now: number, spiIn: number, reason = "deleted locally"): void {
    this.queue(now, { kind: "delete-child", spiIn, reason });
  }

  /** Ends the SA without telling the peer (e.g. when INITIAL_CONTACT said it is stale). */
  abandon(now: number, reason: string): void {
    this.close(now, reason);
  }

  /**
   * A message for this IKE SA (the endpoint matched its SPIs), decoded, with its raw bytes
   * (IKE_SA_INIT messages are signed as they were sent). Never throws on its content.
   */
  handleMessage(now: number, path: IkePath, message: IkeMessage, raw: Uint8Array): void {
    if (this.phase.name === "closed") return;
    if (message.header.response) this.handleResponse(now, path, message, raw);
    else this.handleRequest(now, path, message);
  }

  // -------------------------------------------------------------------------------------------
  // Requests from the peer

  private handleRequest(now: number, path: IkePath, message: IkeMessage): void {
    const header = message.header;
    if (header.initiator === this.initiator) return; // our own reflection or a confused peer
    const verdict = classifyRequest(this.window, header.messageId);
    if (verdict.kind === "repeat") {
      for (const datagram of verdict.datagrams) this.outbox.push({ path, message: datagram });
      return;
    }
    if (verdict.kind === "drop" || header.exchangeType === ExchangeType.IKE_SA_INIT) return;
    const inner = this.open(header.messageId, message);
    if (!inner) return;
    this.lastHeardAt = now;
    this.followPeer(path);
    switch (header.exchangeType) {
      case ExchangeType.IKE_AUTH:
        if (this.phase.name === "awaiting-auth") this.answerAuth(now, header.messageId, inner);
        return;
      case ExchangeType.INFORMATIONAL:
        this.answerInformational(now, header.messageId, inner);
        return;
      case ExchangeType.CREATE_CHILD_SA:
        this.answerCreateChildSa(now, header.messageId, inner);
        return;
      default:
        return;
    }
  }

  /** Authenticates and decrypts SK (or collects SKF fragments); undefined means "drop it". */
  private open(messageId: number, message: IkeMessage): InnerPayload[] | undefined {
    const encrypted = message.encrypted;
    const sk = this.skContext();
    if (!encrypted || !sk) return undefined;
    const opened = unprotect(sk, encrypted);
    if (!opened.ok) {
      this.log("warn", `dropped a message that failed its integrity check: ${opened.reason}`);
      return undefined;
    }
    let firstType = encrypted.firstInnerType;
    let plaintext = opened.plaintext;
    if (encrypted.fragment) {
      const result = addFragment(
        this.fragments,
        messageId,
        { ...encrypted.fragment, firstInnerType: encrypted.firstInnerType },
        plaintext,
      );
      if (result.kind !== "complete") {
        this.fragments = result.kind === "waiting" ? result.set : undefined;
        return undefined;
      }
      this.fragments = undefined;
      firstType = result.firstInnerType;
      plaintext = result.plaintext;
    }
    const payloads = innerPayloads(firstType, plaintext);
    if ("error" in payloads) {
      this.log("warn", `dropped an authenticated message with bad payloads: ${payloads.error}`);
      return undefined;
    }
    return payloads;
  }

  private answerAuth(now: number, messageId: number, inner: InnerPayload[]): void {
    const idi = find(inner, PayloadType.IDi);
    const idr = find(inner, PayloadType.IDr);
    const auth = find(inner, PayloadType.AUTH);
    const fail = (reason: string): void => {
      this.respond(ExchangeType.IKE_AUTH, messageId, [notify(NotifyType.AUTHENTICATION_FAILED)]);
      this.close(now, reason);
    };
    if (!idi || !auth || !this.keys || !this.suite) return fail("IKE_AUTH request without IDi or AUTH");
    const peer: WireIdentity = { idType: idi.idType, data: idi.data };
    // Keep the connection IKE_SA_INIT chose when the identities fit it; otherwise switch to one
    // that fits them and could also have accepted the peer's IKE proposals.
    const fits = (c: ResolvedConnection): boolean =>
      peerIdentityAccepted(c, peer) &&
      (!idr || localIdentityAccepted(c, { idType: idr.idType, data: idr.data }));
    const connection = fits(this.connection)
      ? this.connection
      : this.context.connections.find(
          (c) => fits(c) && selectProposal(this.offeredByPeer, c.ikeProposals, ProtocolId.IKE) !== undefined,
        );
    if (!connection) return fail(`no connection accepts identity ${describeAuthIdentity(peer)}`);
    this.connection = connection;
    const certs = inner.filter((p) => p.type === PayloadType.CERT);
    const verdict = verifyPeer(connection, this.secrets(), idi, certs, auth, {
      prf: this.suite.prf,
      realMessage: this.initRequest,
      peerNonce: this.nonceR,
      skP: this.keys.skPi,
    });
    if (!verdict.ok) return fail(`authentication of ${describeAuthIdentity(peer)} failed: ${verdict.reason}`);
    this.remoteId = peer;
    this.lingerDeadline = undefined;

    const localId = ownIdentity(connection, this.path.localAddress);
    if ("error" in localId) return fail(localId.error);
    const idPayload: IdPayload = { type: PayloadType.IDr, idType: localId.idType, data: localId.data };
    const ourAuth = ownAuth(
      connection,
      this.secrets(),
      idPayload,
      peer,
      { prf: this.suite.prf, realMessage: this.initResponse, peerNonce: this.nonceI, skP: this.keys.skPr },
      this.peerHashes,
    );
    if ("error" in ourAuth) return fail(ourAuth.error);
    const response: InnerPayload[] = [idPayload, ...certificatePayloads(connection).certs, ourAuth];

    // The first Child SA (§1.2): DH is never part of it.
    let child: ChildSa | undefined;
    if (find(inner, PayloadType.SA)) {
      const decision = decideChild(inner, connection, this.path, { keGroup: undefined });
      if (decision.ok) {
        const spiIn = this.newChildSpi();
        response.push(...childAnswer(decision, spiIn));
        child = this.makeChild(
          now,
          decision.chosen,
          spiIn,
          this.nonceI,
          this.nonceR,
          undefined,
          false,
          decision.child,
          decision.localTs,
          decision.remoteTs,
          decision.transport,
        );
      } else {
        response.push(notify(decision.notifyType, decision.data));
        this.log("warn", `no Child SA: ${decision.reason}`);
      }
    }
    this.respond(ExchangeType.IKE_AUTH, messageId, response);
    this.phase = { name: "established" };
    this.setIkeLifetime(now);
    this.events.push({ type: "ike-up", sa: this.summary() });
    if (hasNotify(inner, NotifyType.INITIAL_CONTACT))
      this.events.push({ type: "initial-contact", sa: this.summary() });
    if (child) this.installChild(child);
  }

  private answerInformational(now: number, messageId: number, inner: InnerPayload[]): void {
    const deletes = inner.filter((p) => p.type === PayloadType.DELETE);
    if (deletes.some((d) => d.protocolId === ProtocolId.IKE)) {
      this.respond(ExchangeType.INFORMATIONAL, messageId, []);
      if (this.phase.name === "rekeyed") this.retire(now);
      else this.close(now, "deleted by the peer");
      return;
    }
    // §1.4.1: answer a Child SA delete with the deletes of our inbound halves.
    const ours: Uint8Array[] = [];
    for (const d of deletes) {
      if (d.protocolId !== ProtocolId.ESP) continue;
      for (const spi of d.spis) {
        const child = this.children.find((c) => c.keys.spiOut === spiNumber(spi));
        if (!child) continue;
        ours.push(spiBytes(child.keys.spiIn));
        this.removeChild(child, "deleted by the peer");
      }
    }
    this.respond(
      ExchangeType.INFORMATIONAL,
      messageId,
      ours.length > 0
        ? [{ type: PayloadType.DELETE, protocolId: ProtocolId.ESP, spiSize: 4, spis: ours }]
        : [],
    );
  }

  /** CREATE_CHILD_SA (§1.3): a new Child SA, a Child SA rekey (REKEY_SA), or an IKE SA rekey. */
  private answerCreateChildSa(now: number, messageId: number, inner: InnerPayload[]): void {
    const refuse = (notifyType: number, reason: string, data?: Uint8Array): void => {
      this.respond(ExchangeType.CREATE_CHILD_SA, messageId, [notify(notifyType, data)]);
      this.log("info", `refused CREATE_CHILD_SA: ${reason}`);
    };
    if (this.phase.name !== "established" || !this.keys || !this.suite)
      return refuse(NotifyType.TEMPORARY_FAILURE, "not established");
    // While our IKE SA rekey is under way a new Child SA would be left behind on this SA.
    if (this.pending?.kind === "rekey-ike")
      return refuse(NotifyType.TEMPORARY_FAILURE, "an IKE SA rekey is under way");
    const sa = find(inner, PayloadType.SA);
    const nonce = find(inner, PayloadType.NONCE);
    const ke = find(inner, PayloadType.KE);
    if (!sa || !nonce) return refuse(NotifyType.INVALID_SYNTAX, "SA or Ni missing");
    if (sa.proposals.some((p) => p.protocolId === ProtocolId.IKE))
      return this.answerIkeRekey(now, messageId, inner, refuse);

    const rekey = notifiesOf(inner).find((n) => n.notifyType === NotifyType.REKEY_SA);
    let old: ChildSa | undefined;
    if (rekey) {
      // The SPI in REKEY_SA is the one the requester receives on: our outbound SPI.
      old = this.children.find((c) => c.keys.spiOut === spiNumber(rekey.spi));
      if (!old)
        return refuse(NotifyType.CHILD_SA_NOT_FOUND, `no Child SA with outbound SPI ${hex(rekey.spi)}`);
      // §2.25.1: a Child SA we are about to close (already replaced by our own rekey) gets
      // TEMPORARY_FAILURE; one we are rekeying right now is answered as usual, and the
      // redundant pair is sorted out by nonces when our own rekey completes (§2.8.1).
      const ourRekey =
        this.pending?.kind === "create-child" && this.pending.old === old ? this.pending : undefined;
      if (old.rekeying && !ourRekey)
        return refuse(NotifyType.TEMPORARY_FAILURE, "this Child SA is being closed");
    }
    const decision = decideChild(inner, this.connection, this.path, {
      keGroup: ke?.group,
      ...(old ? { children: [old.config] } : {}),
    });
    if (!decision.ok) return refuse(decision.notifyType, decision.reason, decision.data);
    let ourKe: InnerPayload[] = [];
    let shared: Uint8Array | undefined;
    if (ke && decision.chosen.dh !== undefined) {
      const pair = dhGroup(ke.group).generate(this.context.random);
      const result = pair.computeShared(ke.data);
      if (!result.ok) return refuse(NotifyType.INVALID_SYNTAX, `bad KE: ${result.error.message}`);
      shared = result.shared;
      ourKe = [{ type: PayloadType.KE, group: ke.group, data: pair.publicKey }];
    }
    const ourNonce = this.context.random(NONCE_LENGTH);
    const spiIn = this.newChildSpi();
    const child = this.makeChild(
      now,
      decision.chosen,
      spiIn,
      nonce.data,
      ourNonce,
      shared,
      false,
      decision.child,
      decision.localTs,
      decision.remoteTs,
      decision.transport,
    );
    const answer = childAnswer(decision, spiIn);
    this.respond(ExchangeType.CREATE_CHILD_SA, messageId, [
      answer[0]!,
      { type: PayloadType.NONCE, data: ourNonce },
      ...ourKe,
      ...answer.slice(1),
    ]);
    this.installChild(child);
    // The rekeyed SA stays until its initiator deletes it (§2.8); mark it so we do not rekey it too.
    if (old) old.rekeying = true;
    if (old && this.pending?.kind === "create-child" && this.pending.old === old) {
      this.pending.collision = { nonces: [nonce.data, ourNonce], child };
    }
  }

  private answerIkeRekey(
    now: number,
    messageId: number,
    inner: InnerPayload[],
    refuse: (notifyType: number, reason: string, data?: Uint8Array) => void,
  ): void {
    const sa = find(inner, PayloadType.SA);
    const nonce = find(inner, PayloadType.NONCE);
    const ke = find(inner, PayloadType.KE);
    if (!sa || !nonce || !ke || !this.keys || !this.suite)
      return refuse(NotifyType.INVALID_SYNTAX, "IKE rekey without SA, Ni or KE");
    if (this.window.inFlight || this.tasks.some((t) => t.kind === "rekey-ike")) {
      // A request of ours is still under way on this IKE SA (an IKE SA rekey collision, §2.8.2,
      // or a Child SA exchange whose answer must still reach this SA): TEMPORARY_FAILURE
      // (§2.25) makes the peer retry after a random delay, when we are done.
      return refuse(NotifyType.TEMPORARY_FAILURE, "an exchange of ours is under way");
    }
    const chosen = selectProposal(sa.proposals, this.connection.ikeProposals, ProtocolId.IKE);
    if (!chosen || chosen.dh === undefined || chosen.prf === undefined || chosen.spi.length !== SPI_LENGTH) {
      return refuse(NotifyType.NO_PROPOSAL_CHOSEN, "no IKE proposal matches for the rekey");
    }
    if (ke.group !== chosen.dh)
      return refuse(
        NotifyType.INVALID_KE_PAYLOAD,
        `KE group ${ke.group}`,
        Uint8Array.of(chosen.dh >> 8, chosen.dh & 0xff),
      );
    const pair = dhGroup(chosen.dh).generate(this.context.random);
    const result = pair.computeShared(ke.data);
    if (!result.ok) return refuse(NotifyType.INVALID_SYNTAX, `bad KE: ${result.error.message}`);
    const ourNonce = this.context.random(NONCE_LENGTH);
    const newSpiR = this.context.random(SPI_LENGTH);
    const suite = suiteOf(chosen);
    const keys = deriveRekeyedIkeSaKeys({
      suite,
      oldPrf: this.suite.prf,
      oldSkD: this.keys.skD,
      sharedSecret: result.shared,
      nonceI: nonce.data,
      nonceR: ourNonce,
      spiI: chosen.spi,
      spiR: newSpiR,
    });
    result.shared.fill(0);
    this.respond(ExchangeType.CREATE_CHILD_SA, messageId, [
      { type: PayloadType.SA, proposals: [answerProposal(chosen, newSpiR)] },
      { type: PayloadType.NONCE, data: ourNonce },
      { type: PayloadType.KE, group: chosen.dh, data: pair.publicKey },
    ]);
    // The peer started the rekey: it is the initiator of the new IKE SA (§2.18).
    this.successor(now, false, chosen.spi, newSpiR, suite, keys, chosen.dh);
  }

  // -------------------------------------------------------------------------------------------
  // Responses to our requests

  private handleResponse(now: number, path: IkePath, message: IkeMessage, raw: Uint8Array): void {
    const header = message.header;
    if (header.initiator === this.initiator) return;
    if (!matchesInFlight(this.window, header.messageId, header.exchangeType)) return;
    if (header.exchangeType === ExchangeType.IKE_SA_INIT) {
      this.handleInitResponse(now, path, message, raw);
      return;
    }
    const inner = this.open(header.messageId, message);
    if (!inner) return;
    completeRequest(this.window);
    this.lastHeardAt = now;
    this.followPeer(path);
    const pending = this.pending;
    this.pending = undefined;
    switch (pending?.kind) {
      case "auth":
        this.handleAuthResponse(now, inner, pending);
        break;
      case "informational":
        this.handleInformationalResponse(now, inner, pending.task);
        break;
      case "create-child":
        this.handleChildCreateResponse(now, inner, pending);
        break;
      case "rekey-ike":
        this.handleIkeRekeyResponse(now, inner, pending);
        break;
      default:
        break;
    }
    if (!this.isClosed) this.runTasks(now);
  }

  private handleInitResponse(now: number, path: IkePath, message: IkeMessage, raw: Uint8Array): void {
    const payloads = message.payloads;
    const notifies = notifiesOf(payloads);
    const cookie = notifies.find((n) => n.notifyType === NotifyType.COOKIE);
    if (cookie) {
      // §2.6: repeat the request with the cookie first.
      this.restartInit(now, () => (this.cookie = cookie.data));
      return;
    }
    const invalidKe = notifies.find((n) => n.notifyType === NotifyType.INVALID_KE_PAYLOAD);
    if (invalidKe && invalidKe.data.length === 2) {
      const group = (invalidKe.data[0]! << 8) | invalidKe.data[1]!;
      const offered = this.connection.ikeProposals.some((p) => p.dh.some((d) => d.id === group));
      if (!offered || group === this.dhGroupId)
        return this.close(now, `peer asked for DH group ${group}, which we did not offer`);
      this.restartInit(now, () => (this.dhGroupId = group));
      return;
    }
    const error = notifies.find((n) => isErrorNotify(n.notifyType));
    if (error) return this.close(now, `peer refused IKE_SA_INIT: notify ${error.notifyType}`);
    const sa = find(payloads, PayloadType.SA);
    const ke = find(payloads, PayloadType.KE);
    const nonce = find(payloads, PayloadType.NONCE);
    if (!sa || !ke || !nonce || !this.dh) return; // not a valid answer: keep waiting (§2.21)
    const chosen = acceptAnswer(this.offeredIke, sa.proposals, ProtocolId.IKE);
    if ("error" in chosen) return this.close(now, `IKE_SA_INIT response unacceptable: ${chosen.error}`);
    if (ke.group !== this.dhGroupId || chosen.dh !== this.dhGroupId)
      return this.close(now, `IKE_SA_INIT response uses DH group ${ke.group}, not ${this.dhGroupId}`);
    const shared = this.dh.computeShared(ke.data);
    if (!shared.ok) return this.close(now, `IKE_SA_INIT response has a bad KE: ${shared.error.message}`);
    completeRequest(this.window);
    this.pending = undefined;
    this.spiR = message.header.responderSpi;
    this.nonceR = nonce.data;
    this.initResponse = raw;
    this.setInitialKeys(chosen, shared.shared);
    this.dh = undefined;
    this.peerFragmentation = notifies.some((n) => n.notifyType === NotifyType.IKEV2_FRAGMENTATION_SUPPORTED);
    this.peerHashes = signatureHashesOf(payloads);
    this.lastHeardAt = now;
    // §2.23: with NAT (which we always pretend, to force ESP in UDP) the initiator moves to 4500.
    this.path = { ...path, localPort: NAT_T_PORT, remotePort: NAT_T_PORT };
    this.sendAuthRequest(now);
  }

  private restartInit(now: number, change: () => void): void {
    completeRequest(this.window);
    this.window.nextRequestId = 0;
    change();
    this.sendInitRequest(now);
  }

  private handleAuthResponse(
    now: number,
    inner: InnerPayload[],
    pending: Extract<Pending, { kind: "auth" }>,
  ): void {
    const idr = find(inner, PayloadType.IDr);
    const auth = find(inner, PayloadType.AUTH);
    const error = notifiesOf(inner).find((n) => isErrorNotify(n.notifyType));
    if (!idr || !auth || !this.keys || !this.suite) {
      return this.close(
        now,
        error ? `peer refused IKE_AUTH: notify ${error.notifyType}` : "IKE_AUTH response without IDr or AUTH",
      );
    }
    const peer: WireIdentity = { idType: idr.idType, data: idr.data };
    if (!peerIdentityAccepted(this.connection, peer)) {
      return this.close(now, `peer identity ${describeAuthIdentity(peer)} is not the configured one`);
    }
    const certs = inner.filter((p) => p.type === PayloadType.CERT);
    const verdict = verifyPeer(this.connection, this.secrets(), idr, certs, auth, {
      prf: this.suite.prf,
      realMessage: this.initResponse,
      peerNonce: this.nonceI,
      skP: this.keys.skPr,
    });
    if (!verdict.ok)
      return this.close(now, `authentication of ${describeAuthIdentity(peer)} failed: ${verdict.reason}`);
    this.remoteId = peer;
    this.phase = { name: "established" };
    this.setIkeLifetime(now);
    this.events.push({ type: "ike-up", sa: this.summary() });
    // The connection's further children come up with CREATE_CHILD_SA (§1.3.1).
    for (const further of this.connection.children.slice(1))
      this.tasks.push({ kind: "create-child", child: further });
    if (!pending.child) return;
    const child = this.acceptChildAnswer(
      now,
      inner,
      pending.child,
      pending.offered,
      pending.spiIn,
      pending.localTs,
      pending.remoteTs,
      this.nonceI,
      this.nonceR,
      undefined,
    );
    if (typeof child === "string")
      this.log("warn", `no Child SA: ${error ? `notify ${error.notifyType}` : child}`);
    else this.installChild(child);
  }

  /** The initiator's check of a Child SA answer: proposal, selectors within ours, mode. */
  private acceptChildAnswer(
    now: number,
    inner: InnerPayload[],
    child: ResolvedChild,
    offered: Proposal[],
    spiIn: Uint8Array,
    ourLocalTs: TrafficSelector[],
    ourRemoteTs: TrafficSelector[],
    nonceI: Uint8Array,
    nonceR: Uint8Array,
    shared: Uint8Array | undefined,
  ): ChildSa | string {
    const sa = find(inner, PayloadType.SA);
    if (!sa) return "the peer created none";
    const chosen = acceptAnswer(offered, sa.proposals, ProtocolId.ESP);
    if ("error" in chosen) return chosen.error;
    if (chosen.spi.length !== 4) return "the peer's SPI is not 4 octets";
    const localTs = fromWireSelectors(find(inner, PayloadType.TSi));
    const remoteTs = fromWireSelectors(find(inner, PayloadType.TSr));
    const within =
      localTs.length > 0 &&
      remoteTs.length > 0 &&
      localTs.every((t) => ourLocalTs.some((o) => contains(o, t))) &&
      remoteTs.every((t) => ourRemoteTs.some((o) => contains(o, t)));
    if (!within) return "the peer's selectors are not within ours";
    const transport = hasNotify(inner, NotifyType.USE_TRANSPORT_MODE) && child.config.mode === "transport";
    return this.makeChild(
      now,
      chosen,
      spiIn,
      nonceI,
      nonceR,
      shared,
      true,
      child,
      localTs,
      remoteTs,
      transport,
    );
  }

  private handleInformationalResponse(now: number, inner: InnerPayload[], task: Task): void {
    if (task.kind === "delete-ike") {
      if (this.phase.name === "rekeyed") this.retire(now);
      else this.close(now, "deleted");
    } else if (task.kind === "delete-child") {
      const child = this.children.find((c) => c.keys.spiIn === task.spiIn);
      if (child) this.removeChild(child, task.reason);
    }
    void inner;
  }

  private handleChildCreateResponse(
    now: number,
    inner: InnerPayload[],
    pending: Extract<Pending, { kind: "create-child" }>,
  ): void {
    const error = notifiesOf(inner).find((n) => isErrorNotify(n.notifyType));
    const nonce = find(inner, PayloadType.NONCE);
    const ke = find(inner, PayloadType.KE);
    let shared: Uint8Array | undefined;
    if (pending.dh && ke) {
      const result = pending.dh.computeShared(ke.data);
      shared = result.ok ? result.shared : undefined;
    }
    const child =
      error || !nonce || (pending.dh && !shared)
        ? `refused${error ? `: notify ${error.notifyType}` : ""}`
        : this.acceptChildAnswer(
            now,
            inner,
            pending.child,
            pending.offered,
            pending.spiIn,
            pending.localTs,
            pending.remoteTs,
            pending.nonce,
            nonce.data,
            shared,
          );
    const old = pending.old;
    if (typeof child === "string") {
      this.log(
        "warn",
        `${old ? "rekeying" : "creating"} CHILD SA ${pending.child.config.name} failed: ${child}`,
      );
      if (!old) return;
      // Keep the old SA; its hard lifetime ends it if no later rekey succeeds.
      old.rekeying = false;
      old.rekeyAt = now + this.retryDelay();
      if (error?.notifyType === NotifyType.CHILD_SA_NOT_FOUND)
        this.removeChild(old, "the peer has no such Child SA");
      return;
    }
    this.installChild(child);
    if (old && pending.collision) {
      // §2.8.1: both sides rekeyed the same Child SA. The SA made with the lowest of the four
      // nonces is redundant and its creator deletes it; the creator of the survivor deletes the
      // old one. Both ends compute the same answer.
      const ours = [pending.nonce, nonce!.data];
      const lowest = [...ours, ...pending.collision.nonces].reduce((a, b) =>
        Buffer.compare(a, b) <= 0 ? a : b,
      );
      if (ours.includes(lowest)) {
        this.tasks.unshift({
          kind: "delete-child",
          spiIn: child.keys.spiIn,
          reason: "redundant after a rekey collision",
        });
        return;
      }
    }
    // §2.8: the initiator of the rekey deletes the old SA.
    if (old) this.tasks.unshift({ kind: "delete-child", spiIn: old.keys.spiIn, reason: "rekeyed" });
  }

  private handleIkeRekeyResponse(
    now: number,
    inner: InnerPayload[],
    pending: Extract<Pending, { kind: "rekey-ike" }>,
  ): void {
    const sa = find(inner, PayloadType.SA);
    const nonce = find(inner, PayloadType.NONCE);
    const ke = find(inner, PayloadType.KE);
    const error = notifiesOf(inner).find((n) => isErrorNotify(n.notifyType));
    const chosen = sa ? acceptAnswer(pending.offered, sa.proposals, ProtocolId.IKE) : undefined;
    const shared = ke ? pending.dh.computeShared(ke.data) : undefined;
    if (
      error ||
      !chosen ||
      "error" in chosen ||
      !nonce ||
      !shared?.ok ||
      chosen.spi.length !== SPI_LENGTH ||
      !this.keys ||
      !this.suite ||
      chosen.dh === undefined
    ) {
      this.log(
        "warn",
        `rekeying the IKE SA failed${error ? `: notify ${error.notifyType}` : ""}; retrying later`,
      );
      this.rekeyAt = now + this.retryDelay();
      return;
    }
    const suite = suiteOf(chosen);
    const keys = deriveRekeyedIkeSaKeys({
      suite,
      oldPrf: this.suite.prf,
      oldSkD: this.keys.skD,
      sharedSecret: shared.shared,
      nonceI: pending.nonce,
      nonceR: nonce.data,
      spiI: pending.spiI,
      spiR: chosen.spi,
    });
    shared.shared.fill(0);
    this.successor(now, true, pending.spiI, chosen.spi, suite, keys, chosen.dh);
    // §2.18: the initiator of the rekey deletes the old IKE SA.
    this.tasks.push({ kind: "delete-ike" });
  }

  // -------------------------------------------------------------------------------------------
  // Our requests

  private sendInitRequest(now: number): void {
    // A retry with a cookie repeats every other payload unchanged (§2.6); one after
    // INVALID_KE_PAYLOAD needs a key of the other group (§1.2).
    const pair =
      this.dh && this.dhFor === this.dhGroupId
        ? this.dh
        : dhGroup(this.dhGroupId).generate(this.context.random);
    this.dh = pair;
    this.dhFor = this.dhGroupId;
    this.offeredIke = offerProposals(this.connection.ikeProposals, ProtocolId.IKE, new Uint8Array(0));
    const payloads: Payload[] = [
      ...(this.cookie ? [notify(NotifyType.COOKIE, this.cookie)] : []),
      { type: PayloadType.SA, proposals: this.offeredIke },
      { type: PayloadType.KE, group: this.dhGroupId, data: pair.publicKey },
      { type: PayloadType.NONCE, data: this.nonceI },
      ...this.natDetectionNotifies(),
      ...(this.connection.config.fragmentation ? [notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED)] : []),
      notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, SIGNATURE_HASHES),
    ];
    this.initRequest = encodeMessage(this.header(ExchangeType.IKE_SA_INIT, false, 0), payloads);
    this.pending = { kind: "init" };
    this.transmitRequest(now, ExchangeType.IKE_SA_INIT, [this.initRequest]);
  }

  private sendAuthRequest(now: number): void {
    if (!this.keys || !this.suite) return;
    const localId = ownIdentity(this.connection, this.path.localAddress);
    if ("error" in localId) return this.close(now, localId.error);
    const remoteId = expectedPeerIdentity(this.connection);
    const idi: IdPayload = { type: PayloadType.IDi, idType: localId.idType, data: localId.data };
    const auth = ownAuth(
      this.connection,
      this.secrets(),
      idi,
      remoteId,
      { prf: this.suite.prf, realMessage: this.initRequest, peerNonce: this.nonceR, skP: this.keys.skPi },
      this.peerHashes,
    );
    if ("error" in auth) return this.close(now, auth.error);
    // §3.6-3.8 order as strongSwan sends it: IDi, CERT…, CERTREQ, N(INITIAL_CONTACT), IDr, AUTH.
    const { certs, certReq } = certificatePayloads(this.connection);
    const inner: InnerPayload[] = [idi, ...certs, ...(certReq ? [certReq] : [])];
    if (this.connection.config.sendInitialContact) inner.push(notify(NotifyType.INITIAL_CONTACT));
    if (remoteId) inner.push({ type: PayloadType.IDr, idType: remoteId.idType, data: remoteId.data });
    inner.push(auth);
    const child = this.connection.children[0];
    const spiIn = this.newChildSpi();
    let offer = {
      offered: [] as Proposal[],
      localTs: [] as TrafficSelector[],
      remoteTs: [] as TrafficSelector[],
    };
    if (child) {
      const offered = offerProposals(child.espProposals, ProtocolId.ESP, spiIn, { withDh: false });
      const built = childOffer(child, this.path, offered);
      inner.push(...built.payloads);
      offer = { offered, localTs: built.localTs, remoteTs: built.remoteTs };
    }
    this.phase = { name: "auth-sent" };
    this.pending = { kind: "auth", child, spiIn, ...offer };
    this.transmitRequest(
      now,
      ExchangeType.IKE_AUTH,
      this.seal(ExchangeType.IKE_AUTH, false, this.window.nextRequestId, inner),
    );
  }

  private queue(now: number, task: Task): void {
    this.tasks.push(task);
    this.runTasks(now);
  }

  /** Sends the next queued request when the window is free. */
  private runTasks(now: number): void {
    while (!this.window.inFlight && (this.phase.name === "established" || this.phase.name === "rekeyed")) {
      const task = this.tasks.shift();
      if (!task) return;
      if (this.phase.name === "rekeyed" && task.kind !== "delete-ike") continue;
      if (this.startTask(now, task)) return;
    }
  }

  /** Starts one task; false when it turned out to have nothing to do. */
  private startTask(now: number, task: Task): boolean {
    switch (task.kind) {
      case "dpd":
        return this.sendInformational(now, task, []);
      case "delete-ike":
        if (this.phase.name === "established") {
          this.phase = { name: "deleting" };
          for (const child of [...this.children]) this.removeChild(child, "IKE SA deleted");
        }
        return this.sendInformational(now, task, [
          { type: PayloadType.DELETE, protocolId: ProtocolId.IKE, spiSize: 0, spis: [] },
        ]);
      case "delete-child": {
        const child = this.children.find((c) => c.keys.spiIn === task.spiIn);
        if (!child) return false;
        return this.sendInformational(now, task, [
          {
            type: PayloadType.DELETE,
            protocolId: ProtocolId.ESP,
            spiSize: 4,
            spis: [spiBytes(child.keys.spiIn)],
          },
        ]);
      }
      case "rekey-child": {
        const old = this.children.find((c) => c.keys.spiIn === task.spiIn);
        return old ? this.startChildCreate(now, old.config, old) : false;
      }
      case "create-child":
        return this.startChildCreate(now, task.child, undefined);
      case "rekey-ike":
        return this.startIkeRekey(now);
    }
  }

  private sendInformational(now: number, task: Task, inner: InnerPayload[]): boolean {
    this.pending = { kind: "informational", task };
    this.transmitRequest(
      now,
      ExchangeType.INFORMATIONAL,
      this.seal(ExchangeType.INFORMATIONAL, false, this.window.nextRequestId, inner),
    );
    return true;
  }

  /** CREATE_CHILD_SA with REKEY_SA (§1.3.3), with KE when the ESP proposals ask for PFS. */
  /**
   * CREATE_CHILD_SA for a Child SA (§1.3.1), or with REKEY_SA to replace one (§1.3.3); with a
   * KE payload when the ESP proposals ask for PFS.
   */
  private startChildCreate(now: number, child: ResolvedChild, old: ChildSa | undefined): boolean {
    const group = child.espProposals[0]?.dh[0]?.id;
    const dh = group === undefined ? undefined : dhGroup(group).generate(this.context.random);
    const newSpi = this.newChildSpi();
    const nonce = this.context.random(NONCE_LENGTH);
    const offered = offerProposals(child.espProposals, ProtocolId.ESP, newSpi, { withDh: dh !== undefined });
    const built = childOffer(child, this.path, offered);
    const inner: InnerPayload[] = [
      ...(old ? [rekeySaNotify(old.keys.spiIn)] : []),
      ...built.payloads.filter((p) => p.type === PayloadType.NOTIFY),
      { type: PayloadType.SA, proposals: offered },
      { type: PayloadType.NONCE, data: nonce },
      ...(dh && group !== undefined ? [{ type: PayloadType.KE, group, data: dh.publicKey } as const] : []),
      ...built.payloads.filter((p) => p.type === PayloadType.TSi || p.type === PayloadType.TSr),
    ];
    this.pending = {
      kind: "create-child",
      old,
      child,
      spiIn: newSpi,
      nonce,
      dh,
      offered,
      localTs: built.localTs,
      remoteTs: built.remoteTs,
    };
    this.transmitRequest(
      now,
      ExchangeType.CREATE_CHILD_SA,
      this.seal(ExchangeType.CREATE_CHILD_SA, false, this.window.nextRequestId, inner),
    );
    return true;
  }

  /** CREATE_CHILD_SA rekeying the IKE SA itself (§1.3.2): new SPI, nonce and KE. */
  private startIkeRekey(now: number): boolean {
    if (this.phase.name !== "established") return false;
    const spiI = this.context.random(SPI_LENGTH);
    const nonce = this.context.random(NONCE_LENGTH);
    const dh = dhGroup(this.dhGroupId).generate(this.context.random);
    const offered = offerProposals(this.connection.ikeProposals, ProtocolId.IKE, spiI);
    const inner: InnerPayload[] = [
      { type: PayloadType.SA, proposals: offered },
      { type: PayloadType.NONCE, data: nonce },
      { type: PayloadType.KE, group: this.dhGroupId, data: dh.publicKey },
    ];
    this.pending = { kind: "rekey-ike", spiI, nonce, dh, offered };
    this.transmitRequest(
      now,
      ExchangeType.CREATE_CHILD_SA,
      this.seal(ExchangeType.CREATE_CHILD_SA, false, this.window.nextRequestId, inner),
    );
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Helpers

  private transmitRequest(now: number, exchangeType: number, datagrams: Uint8Array[]): void {
    sendRequest(this.window, now, exchangeType, datagrams, this.connection.config.retransmit);
    for (const message of datagrams) this.outbox.push({ path: this.path, message });
  }

  private respond(exchangeType: number, messageId: number, inner: InnerPayload[]): void {
    const datagrams = this.seal(exchangeType, true, messageId, inner);
    recordResponse(this.window, messageId, datagrams);
    for (const message of datagrams) this.outbox.push({ path: this.path, message });
  }

  private seal(
    exchangeType: number,
    response: boolean,
    messageId: number,
    inner: InnerPayload[],
  ): Uint8Array[] {
    const sk = this.skContext();
    if (!sk) throw new Error("seal: no keys yet");
    const fragmentAbove =
      this.peerFragmentation && this.connection.config.fragmentation ? FRAGMENT_ABOVE : undefined;
    return protect(
      sk,
      this.header(exchangeType, response, messageId),
      inner,
      this.context.random,
      fragmentAbove,
    );
  }

  private header(exchangeType: number, response: boolean, messageId: number): IkeHeaderFields {
    return {
      initiatorSpi: this.spiI,
      responderSpi: this.spiR,
      exchangeType,
      initiator: this.initiator,
      response,
      messageId,
    };
  }

  private skContext(): SkContext | undefined {
    return this.keys && this.suite
      ? { suite: this.suite, keys: this.keys, originalInitiator: this.initiator }
      : undefined;
  }

  private setInitialKeys(chosen: ChosenProposal, shared: Uint8Array): void {
    this.suite = suiteOf(chosen);
    this.keys = deriveInitialIkeSaKeys({
      suite: this.suite,
      sharedSecret: shared,
      nonceI: this.nonceI,
      nonceR: this.nonceR,
      spiI: this.spiI,
      spiR: this.spiR,
    });
    shared.fill(0);
  }

  /** IKE SA lifetime (strongSwan's rekey_time, rand_time, over_time). */
  private setIkeLifetime(now: number): void {
    const { rekeyTimeMs, randTimeMs, overTimeMs } = this.connection.config;
    this.rekeyAt =
      rekeyTimeMs > 0
        ? now + rekeyTimeMs - randomBelow(this.context.random, Math.min(randTimeMs, rekeyTimeMs))
        : undefined;
    this.expireAt = rekeyTimeMs > 0 ? now + rekeyTimeMs + overTimeMs : undefined;
  }

  /**
   * NAT_DETECTION payloads (§2.23). The source hash is deliberately wrong (random): the peer
   * then believes we are behind a NAT and sends ESP in UDP/4500, which the user-space datapath
   * needs (DESIGN.md principle 4; the RFC allows faking NAT detection for this).
   */
  private natDetectionNotifies(): NotifyPayload[] {
    const spiR = this.initiator ? new Uint8Array(SPI_LENGTH) : this.spiR;
    const destination = natDetectionHash(this.spiI, spiR, this.path.remoteAddress, this.path.remotePort);
    // The fake hash stays the same for a retried IKE_SA_INIT (§2.6: payloads unchanged).
    const source = this.connection.config.encap
      ? (this.fakeNatSource ??= this.context.random(20))
      : natDetectionHash(this.spiI, spiR, this.path.localAddress, this.path.localPort);
    return [
      notify(NotifyType.NAT_DETECTION_SOURCE_IP, source),
      notify(NotifyType.NAT_DETECTION_DESTINATION_IP, destination),
    ];
  }

  private localIdentity(): WireIdentity | { error: string } {
    return ownIdentity(this.connection, this.path.localAddress);
  }

  /** A Child SA's inbound SPI: random, never one of the reserved values 0–255 (RFC 4303 §2.1). */
  private newChildSpi(): Uint8Array {
    for (;;) {
      const spi = this.context.random(4);
      if (spiNumber(spi) > 255 && !this.children.some((c) => c.keys.spiIn === spiNumber(spi))) return spi;
    }
  }

  private makeChild(
    now: number,
    chosen: ChosenProposal,
    spiIn: Uint8Array,
    nonceI: Uint8Array,
    nonceR: Uint8Array,
    shared: Uint8Array | undefined,
    exchangeInitiator: boolean,
    child: ResolvedChild,
    localTs: TrafficSelector[],
    remoteTs: TrafficSelector[],
    transport: boolean,
  ): ChildSa {
    if (!this.keys || !this.suite) throw new Error("makeChild: no IKE SA keys");
    const made = makeChildSa({
      prf: this.suite.prf,
      skD: this.keys.skD,
      chosen,
      spiIn,
      nonceI,
      nonceR,
      ...(shared ? { shared } : {}),
      exchangeInitiator,
      child,
      path: this.path,
      encap: this.connection.config.encap,
      localTs,
      remoteTs,
      transport,
      now,
      random: this.context.random,
    });
    shared?.fill(0);
    return made;
  }

  private installChild(child: ChildSa): void {
    this.children.push(child);
    this.events.push({ type: "child-up", sa: this.summary(), child: child.keys });
  }

  private removeChild(child: ChildSa, reason: string): void {
    const index = this.children.indexOf(child);
    if (index < 0) return;
    this.children.splice(index, 1);
    this.events.push({
      type: "child-down",
      sa: this.summary(),
      spiIn: child.keys.spiIn,
      spiOut: child.keys.spiOut,
      reason,
    });
  }

  /** After an authenticated message the peer's address or port may have changed (NAT rebinding). */
  private followPeer(path: IkePath): void {
    if (
      path.remoteAddress !== this.path.remoteAddress ||
      path.remotePort !== this.path.remotePort ||
      path.localPort !== this.path.localPort
    ) {
      this.path = { ...path };
    }
  }

  private dpdDeadline(): number | undefined {
    const delay = this.connection.config.dpdDelayMs;
    if (this.phase.name !== "established" || delay <= 0 || this.window.inFlight) return undefined;
    return this.lastHeardAt + delay;
  }

  private close(now: number, reason: string): void {
    if (this.phase.name === "closed") return;
    const wasUp =
      this.phase.name === "established" || this.phase.name === "deleting" || this.phase.name === "rekeyed";
    for (const child of [...this.children]) this.removeChild(child, reason);
    this.phase = { name: "closed", reason };
    this.lingerDeadline = undefined;
    this.rekeyAt = undefined;
    this.expireAt = undefined;
    this.window.inFlight = undefined;
    this.tasks.length = 0;
    this.events.push({
      type: "ike-down",
      sa: this.summary(),
      reason: wasUp ? reason : `not established: ${reason}`,
    });
    void now;
  }

  /** The old IKE SA after a rekey goes quietly: its children live on in the successor. */
  private retire(now: number): void {
    this.phase = { name: "closed", reason: "rekeyed" };
    this.lingerDeadline = undefined;
    this.window.inFlight = undefined;
    this.tasks.length = 0;
    void now;
  }

  private log(level: "info" | "warn", message: string): void {
    this.events.push({
      type: "log",
      level,
      message: `${this.connection.config.name}[${hex(this.spiI).slice(0, 8)}]: ${message}`,
    });
  }

  private secrets(): AuthSecrets {
    return {
      sharedKey: (local, remote) => this.context.sharedKey(local, remote),
      wallClock: this.context.wallClock ?? (() => new Date()),
    };
  }

  /** A failed rekey is retried after 5–15 s, at random so that two colliding peers part ways. */
  private retryDelay(): number {
    return 5_000 + randomBelow(this.context.random, 10_000);
  }

  /** How long the SA has existed, for status output. */
  ageMs(now: number): number {
    return now - this.createdAt;
  }
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  return b === undefined || a <= b ? a : b;
}

function suiteOf(chosen: ChosenProposal): IkeSaSuite {
  if (chosen.prf === undefined) throw new Error("suiteOf: no PRF chosen");
  return {
    encr: chosen.encr.id,
    ...(chosen.encr.keyLength === undefined ? {} : { encrKeyLength: chosen.encr.keyLength }),
    prf: chosen.prf,
    ...(chosen.integ === undefined ? {} : { integ: chosen.integ }),
  };
}
