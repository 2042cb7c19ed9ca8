import { AuthMethod } from "../codec/auth.js";
import { ExchangeType, type IkeHeaderFields } from "../codec/header.js";
import { IdType, restOfIdPayload, type IdPayload } from "../codec/id.js";
import type { IkeMessage } from "../codec/message.js";
import { encodeMessage } from "../codec/message.js";
import { NotifyType, notify, isErrorNotify, type NotifyPayload } from "../codec/notify.js";
import type { InnerPayload, Payload } from "../codec/payload.js";
import { PayloadType } from "../codec/payload-type.js";
import { ProtocolId, type Proposal } from "../codec/sa.js";
import { TsType, isAddressRange, type TsPayload } from "../codec/ts.js";
import { pskAuth, signedOctets, verifyPskAuth } from "../crypto/auth.js";
import { dhGroup, type DhKeyPair } from "../crypto/dh.js";
import {
  deriveChildSaKeys,
  deriveInitialIkeSaKeys,
  type IkeSaKeys,
  type IkeSaSuite,
} from "../crypto/key-derivation.js";
import type { RandomSource } from "../crypto/random.js";
import { formatIdentity, type Identity } from "../config/identity.js";
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
import { describeIdentity, encodeIdentity, identityMatches, type WireIdentity } from "./identity-payload.js";
import { natDetectionHash } from "./nat-detection.js";
import {
  acceptAnswer,
  answerProposal,
  offerProposals,
  selectProposal,
  type ChosenProposal,
} from "./proposals.js";
import { innerPayloads, protect, unprotect, type SkContext } from "./sk-protection.js";
import { contains, narrow, resolveSelectors, type TrafficSelector } from "./traffic-selector.js";
import { NAT_T_PORT } from "./udp-demux.js";

/** Where messages of this IKE SA travel (addresses and UDP ports of both ends). */
export interface IkePath {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

export interface Outgoing {
  path: IkePath;
  message: Uint8Array;
}

/** What an IKE SA needs from its endpoint: randomness, connections and secrets. */
export interface IkeSaContext {
  random: RandomSource;
  /** The connections that may apply (for a responder: those whose addresses match). */
  connections: readonly ResolvedConnection[];
  /** The pre-shared key for a pair of identities, if one is configured. */
  sharedKey(local: Identity, remote: WireIdentity): Uint8Array | undefined;
}

type Phase =
  | { name: "init-sent" }
  | { name: "auth-sent" }
  | { name: "awaiting-auth" }
  | { name: "established" }
  | { name: "deleting" }
  | { name: "closed"; reason: string };

/** A request of ours, queued until the window is free (window size 1, RFC 7296 §2.3). */
type Task = { kind: "dpd" } | { kind: "delete-ike" };

interface ChildSa {
  keys: ChildSaKeys;
  createdAt: number;
}

const NONCE_LENGTH = 32;
const SPI_LENGTH = 8;
/** strongSwan's half_open_timeout: a responder waits this long for IKE_AUTH. */
const HALF_OPEN_TIMEOUT_MS = 30_000;
/** Above this many octets a protected message is fragmented when the peer supports RFC 7383. */
const FRAGMENT_ABOVE = 1280;
/** SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4): SHA2-256, SHA2-384, SHA2-512. */
const SIGNATURE_HASHES = Uint8Array.of(0, 2, 0, 3, 0, 4);

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function spiNumber(spi: Uint8Array): number {
  return Buffer.from(spi).readUInt32BE(0);
}

function notifiesOf(payloads: readonly Payload[]): NotifyPayload[] {
  return payloads.filter((p): p is NotifyPayload => p.type === PayloadType.NOTIFY);
}

/** The payload type whose `type` field admits T (ID payloads serve both IDi and IDr). */
type PayloadOf<T> = Payload extends infer P
  ? P extends { type: infer U }
    ? T extends U
      ? P
      : never
    : never
  : never;

function find<T extends Payload["type"]>(payloads: readonly Payload[], type: T): PayloadOf<T> | undefined {
  return payloads.find((p) => p.type === type) as PayloadOf<T> | undefined;
}

function toWireSelector(ts: TrafficSelector): TsPayload["selectors"][number] {
  return {
    tsType: ts.family === 4 ? TsType.IPV4_ADDR_RANGE : TsType.IPV6_ADDR_RANGE,
    ipProtocol: ts.protocol,
    startPort: ts.portStart,
    endPort: ts.portEnd,
    startAddress: ts.start,
    endAddress: ts.end,
  };
}

function fromWireSelectors(payload: TsPayload | undefined): TrafficSelector[] {
  return (payload?.selectors ?? []).filter(isAddressRange).map((s) => ({
    family: s.tsType === TsType.IPV4_ADDR_RANGE ? 4 : 6,
    protocol: s.ipProtocol,
    portStart: s.startPort,
    portEnd: s.endPort,
    start: s.startAddress,
    end: s.endAddress,
  }));
}

/**
 * One IKE SA and its Child SAs (RFC 7296), without I/O: the driver feeds it datagrams
 * (`handleMessage`) and time (`handleTimeout`), and after each call drains `pollTransmit`,
 * `pollEvent` and asks `pollTimeout` for the next deadline. Commands (`dpd`, `delete`) queue
 * requests that go out when the window is free.
 */
export class IkeSa {
  private phase: Phase;
  private readonly window: ExchangeWindow = newExchangeWindow();
  private readonly outbox: Outgoing[] = [];
  private readonly events: IkeEvent[] = [];
  private readonly tasks: Task[] = [];
  private readonly children: ChildSa[] = [];
  private spiR: Uint8Array = new Uint8Array(SPI_LENGTH);
  private nonceI: Uint8Array = new Uint8Array(0);
  private nonceR: Uint8Array = new Uint8Array(0);
  private initRequest: Uint8Array = new Uint8Array(0);
  private initResponse: Uint8Array = new Uint8Array(0);
  private suite: IkeSaSuite | undefined;
  private keys: IkeSaKeys | undefined;
  private dh: DhKeyPair | undefined;
  private dhGroupId = 0;
  private offeredIke: Proposal[] = [];
  private offeredChild: Proposal[] = [];
  /** Responder: what the peer offered in IKE_SA_INIT and what we chose from it. */
  private offeredByPeer: Proposal[] = [];
  private chosenIke: ChosenProposal | undefined;
  private pendingChild:
    | { child: ResolvedChild; spiIn: Uint8Array; localTs: TrafficSelector[]; remoteTs: TrafficSelector[] }
    | undefined;
  private cookie: Uint8Array | undefined;
  private fragments: FragmentSet | undefined;
  private peerFragmentation = false;
  private remoteId: WireIdentity | undefined;
  private lastHeardAt: number;
  private readonly createdAt: number;
  private halfOpenDeadline: number | undefined;

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
    if (!chosen || !connection || chosen.dh === undefined) {
      return refuse(NotifyType.NO_PROPOSAL_CHOSEN, new Uint8Array(0), "no proposal matches");
    }
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
    ikeSa.setKeys(chosen, shared.shared);
    ikeSa.chosenIke = chosen;
    ikeSa.offeredByPeer = sa.proposals;
    ikeSa.initRequest = raw;
    ikeSa.peerFragmentation = notifiesOf(request.payloads).some(
      (n) => n.notifyType === NotifyType.IKEV2_FRAGMENTATION_SUPPORTED,
    );
    const payloads: Payload[] = [
      { type: PayloadType.SA, proposals: [answerProposal(chosen, new Uint8Array(0))] },
      { type: PayloadType.KE, group: chosen.dh, data: pair.publicKey },
      { type: PayloadType.NONCE, data: ikeSa.nonceR },
      ...ikeSa.natDetectionNotifies(),
      ...(connection.config.fragmentation && ikeSa.peerFragmentation
        ? [notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED)]
        : []),
      notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, SIGNATURE_HASHES),
    ];
    ikeSa.initResponse = encodeMessage(ikeSa.header(ExchangeType.IKE_SA_INIT, true, 0), payloads);
    recordResponse(ikeSa.window, 0, [ikeSa.initResponse]);
    ikeSa.outbox.push({ path, message: ikeSa.initResponse });
    ikeSa.halfOpenDeadline = now + HALF_OPEN_TIMEOUT_MS;
    // Pavise always encapsulates ESP (§2.23 fake NAT detection): the peer floats to port 4500.
    return { sa: ikeSa };
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
      localId: "error" in localId ? "?" : describeIdentity(localId),
      remoteId: this.remoteId
        ? describeIdentity(this.remoteId)
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

  /** The next moment `handleTimeout` must be called, if any. */
  pollTimeout(): number | undefined {
    if (this.phase.name === "closed") return undefined;
    const deadlines: number[] = [];
    if (this.window.inFlight) deadlines.push(this.window.inFlight.deadline);
    if (this.halfOpenDeadline !== undefined) deadlines.push(this.halfOpenDeadline);
    const dpd = this.dpdDeadline();
    if (dpd !== undefined) deadlines.push(dpd);
    return deadlines.length === 0 ? undefined : Math.min(...deadlines);
  }

  handleTimeout(now: number): void {
    if (this.phase.name === "closed") return;
    if (this.halfOpenDeadline !== undefined && now >= this.halfOpenDeadline) {
      this.close(now, "no IKE_AUTH request arrived (half-open timeout)");
      return;
    }
    const outcome = onRequestTimeout(this.window, now, this.connection.config.retransmit);
    if (outcome.kind === "retransmit") {
      for (const message of outcome.datagrams) this.outbox.push({ path: this.path, message });
    } else if (outcome.kind === "give-up") {
      this.close(
        now,
        `peer did not answer ${outcome.exchangeType === ExchangeType.INFORMATIONAL ? "liveness checks" : "requests"} (retransmissions exhausted)`,
      );
      return;
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
    const header = message.header;
    if (header.response) this.handleResponse(now, path, message, raw);
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
    if (verdict.kind === "drop") return;
    if (header.exchangeType === ExchangeType.IKE_SA_INIT) return; // a repeat was answered above
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
        // Rekeying and further Child SAs are not implemented yet: refuse so that the peer keeps
        // the SAs it has (RFC 7296 §1.3: NO_ADDITIONAL_SAS).
        this.respond(header.exchangeType, header.messageId, [notify(NotifyType.NO_ADDITIONAL_SAS)]);
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
    if (!idi || !auth) return fail("IKE_AUTH request without IDi or AUTH");
    const peer: WireIdentity = { idType: idi.idType, data: idi.data };
    // Keep the connection IKE_SA_INIT chose when the identities fit it; otherwise switch to one
    // that fits them and could also have accepted the peer's IKE proposals.
    const fits = (c: ResolvedConnection): boolean =>
      identityMatches(c.config.remote.id, peer) &&
      (!idr ||
        c.config.local.id.kind === "any" ||
        identityMatches(c.config.local.id, { idType: idr.idType, data: idr.data }));
    const connection = fits(this.connection)
      ? this.connection
      : this.context.connections.find(
          (c) =>
            fits(c) &&
            this.chosenIke !== undefined &&
            selectProposal(this.offeredByPeer, c.ikeProposals, ProtocolId.IKE) !== undefined,
        );
    if (!connection) return fail(`no connection accepts identity ${describeIdentity(peer)}`);
    this.connection = connection;
    const secret = this.context.sharedKey(connection.config.local.id, peer);
    if (!secret || auth.method !== AuthMethod.SHARED_KEY_MIC || !this.keys || !this.suite) {
      return fail(`no pre-shared key for ${describeIdentity(peer)}`);
    }
    const octets = signedOctets({
      prf: this.suite.prf,
      realMessage: this.initRequest,
      peerNonce: this.nonceR,
      skP: this.keys.skPi,
      idPayloadBody: restOfIdPayload(idi),
    });
    if (!verifyPskAuth(this.suite.prf, secret, octets, auth.data))
      return fail(`authentication of ${describeIdentity(peer)} failed`);
    this.remoteId = peer;
    this.halfOpenDeadline = undefined;

    const localId = this.localIdentity();
    if ("error" in localId) return fail(localId.error);
    const idPayload: IdPayload = { type: PayloadType.IDr, idType: localId.idType, data: localId.data };
    const ours = signedOctets({
      prf: this.suite.prf,
      realMessage: this.initResponse,
      peerNonce: this.nonceI,
      skP: this.keys.skPr,
      idPayloadBody: restOfIdPayload(idPayload),
    });
    const response: InnerPayload[] = [
      idPayload,
      {
        type: PayloadType.AUTH,
        method: AuthMethod.SHARED_KEY_MIC,
        data: pskAuth(this.suite.prf, secret, ours),
      },
    ];

    const childResult = this.acceptFirstChild(inner);
    response.push(...childResult.payloads);
    this.respond(ExchangeType.IKE_AUTH, messageId, response);
    this.phase = { name: "established" };
    this.events.push({ type: "ike-up", sa: this.summary() });
    if (notifiesOf(inner).some((n) => n.notifyType === NotifyType.INITIAL_CONTACT)) {
      this.events.push({ type: "initial-contact", sa: this.summary() });
    }
    if (childResult.child) this.installChild(now, childResult.child);
    else if (childResult.reason) this.log("warn", `no Child SA: ${childResult.reason}`);
  }

  /** The responder half of the first Child SA (§1.2): proposal, selectors, mode, keys. */
  private acceptFirstChild(inner: InnerPayload[]): {
    payloads: InnerPayload[];
    child?: ChildSaKeys;
    reason?: string;
  } {
    const sa = find(inner, PayloadType.SA);
    const tsi = find(inner, PayloadType.TSi);
    const tsr = find(inner, PayloadType.TSr);
    if (!sa || !tsi || !tsr) return { payloads: [], reason: "the peer asked for none" };
    const proposedI = fromWireSelectors(tsi);
    const proposedR = fromWireSelectors(tsr);
    const wantsTransport = notifiesOf(inner).some((n) => n.notifyType === NotifyType.USE_TRANSPORT_MODE);
    let noProposal = false;
    for (const child of this.connection.children) {
      const chosen = selectProposal(sa.proposals, child.espProposals, ProtocolId.ESP, { withDh: false });
      if (!chosen) {
        noProposal = true;
        continue;
      }
      const remoteTs = narrow(proposedI, resolveSelectors(child.config.remoteTs, this.path.remoteAddress));
      const localTs = narrow(proposedR, resolveSelectors(child.config.localTs, this.path.localAddress));
      if (remoteTs.length === 0 || localTs.length === 0) continue;
      const transport = wantsTransport && child.config.mode === "transport";
      const spiIn = this.newChildSpi();
      const keys = this.childKeys(child, chosen, spiIn, localTs, remoteTs, transport);
      return {
        payloads: [
          { type: PayloadType.SA, proposals: [answerProposal(chosen, spiIn)] },
          { type: PayloadType.TSi, selectors: remoteTs.map(toWireSelector) },
          { type: PayloadType.TSr, selectors: localTs.map(toWireSelector) },
          ...(transport ? [notify(NotifyType.USE_TRANSPORT_MODE)] : []),
        ],
        child: keys,
      };
    }
    const notifyType = noProposal ? NotifyType.NO_PROPOSAL_CHOSEN : NotifyType.TS_UNACCEPTABLE;
    return {
      payloads: [notify(notifyType)],
      reason: noProposal ? "no ESP proposal matches" : "traffic selectors unacceptable",
    };
  }

  private answerInformational(now: number, messageId: number, inner: InnerPayload[]): void {
    const deletes = inner.filter((p) => p.type === PayloadType.DELETE);
    if (deletes.some((d) => d.protocolId === ProtocolId.IKE)) {
      this.respond(ExchangeType.INFORMATIONAL, messageId, []);
      this.close(now, "deleted by the peer");
      return;
    }
    const response: InnerPayload[] = [];
    const removed: Uint8Array[] = [];
    for (const d of deletes) {
      if (d.protocolId !== ProtocolId.ESP) continue;
      for (const spi of d.spis) {
        if (spi.length !== 4) continue;
        const child = this.children.find((c) => c.keys.spiOut === spiNumber(spi));
        if (!child) continue;
        const spiIn = Buffer.alloc(4);
        spiIn.writeUInt32BE(child.keys.spiIn);
        removed.push(new Uint8Array(spiIn));
        this.removeChild(child, "deleted by the peer");
      }
    }
    if (removed.length > 0)
      response.push({ type: PayloadType.DELETE, protocolId: ProtocolId.ESP, spiSize: 4, spis: removed });
    this.respond(ExchangeType.INFORMATIONAL, messageId, response);
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
    if (header.exchangeType === ExchangeType.IKE_AUTH && this.phase.name === "auth-sent") {
      this.handleAuthResponse(now, inner);
    } else if (header.exchangeType === ExchangeType.INFORMATIONAL && this.phase.name === "deleting") {
      this.close(now, "deleted");
      return;
    }
    this.runTasks(now);
  }

  private handleInitResponse(now: number, path: IkePath, message: IkeMessage, raw: Uint8Array): void {
    const payloads = message.payloads;
    const notifies = notifiesOf(payloads);
    const cookie = notifies.find((n) => n.notifyType === NotifyType.COOKIE);
    if (cookie) {
      // §2.6: repeat the request with the cookie first.
      completeRequest(this.window);
      this.window.nextRequestId = 0;
      this.cookie = cookie.data;
      this.sendInitRequest(now);
      return;
    }
    const invalidKe = notifies.find((n) => n.notifyType === NotifyType.INVALID_KE_PAYLOAD);
    if (invalidKe && invalidKe.data.length === 2) {
      const group = (invalidKe.data[0]! << 8) | invalidKe.data[1]!;
      const offered = this.connection.ikeProposals.some((p) => p.dh.some((d) => d.id === group));
      if (!offered || group === this.dhGroupId) {
        this.close(now, `peer asked for DH group ${group}, which we did not offer`);
        return;
      }
      completeRequest(this.window);
      this.window.nextRequestId = 0;
      this.dhGroupId = group;
      this.sendInitRequest(now);
      return;
    }
    const error = notifies.find((n) => isErrorNotify(n.notifyType));
    if (error) {
      this.close(now, `peer refused IKE_SA_INIT: notify ${error.notifyType}`);
      return;
    }
    const sa = find(payloads, PayloadType.SA);
    const ke = find(payloads, PayloadType.KE);
    const nonce = find(payloads, PayloadType.NONCE);
    if (!sa || !ke || !nonce || !this.dh) return; // not a valid answer: keep waiting (§2.21)
    const chosen = acceptAnswer(this.offeredIke, sa.proposals, ProtocolId.IKE);
    if ("error" in chosen) {
      this.close(now, `IKE_SA_INIT response unacceptable: ${chosen.error}`);
      return;
    }
    if (ke.group !== this.dhGroupId || chosen.dh !== this.dhGroupId) {
      this.close(now, `IKE_SA_INIT response uses DH group ${ke.group}, not ${this.dhGroupId}`);
      return;
    }
    const shared = this.dh.computeShared(ke.data);
    if (!shared.ok) {
      this.close(now, `IKE_SA_INIT response has a bad KE: ${shared.error.message}`);
      return;
    }
    completeRequest(this.window);
    this.spiR = message.header.responderSpi;
    this.nonceR = nonce.data;
    this.initResponse = raw;
    this.setKeys(chosen, shared.shared);
    this.dh = undefined;
    this.peerFragmentation = notifies.some((n) => n.notifyType === NotifyType.IKEV2_FRAGMENTATION_SUPPORTED);
    this.lastHeardAt = now;
    // §2.23: with NAT (which we always pretend, to force ESP in UDP) the initiator moves to 4500.
    this.path = { ...path, localPort: NAT_T_PORT, remotePort: NAT_T_PORT };
    this.sendAuthRequest(now);
  }

  private handleAuthResponse(now: number, inner: InnerPayload[]): void {
    const idr = find(inner, PayloadType.IDr);
    const auth = find(inner, PayloadType.AUTH);
    const error = notifiesOf(inner).find((n) => isErrorNotify(n.notifyType));
    if (!idr || !auth || !this.keys || !this.suite) {
      this.close(
        now,
        error ? `peer refused IKE_AUTH: notify ${error.notifyType}` : "IKE_AUTH response without IDr or AUTH",
      );
      return;
    }
    const peer: WireIdentity = { idType: idr.idType, data: idr.data };
    if (!identityMatches(this.connection.config.remote.id, peer)) {
      this.close(now, `peer identity ${describeIdentity(peer)} is not the configured one`);
      return;
    }
    const secret = this.context.sharedKey(this.connection.config.local.id, peer);
    const octets = signedOctets({
      prf: this.suite.prf,
      realMessage: this.initResponse,
      peerNonce: this.nonceI,
      skP: this.keys.skPr,
      idPayloadBody: restOfIdPayload(idr),
    });
    if (
      !secret ||
      auth.method !== AuthMethod.SHARED_KEY_MIC ||
      !verifyPskAuth(this.suite.prf, secret, octets, auth.data)
    ) {
      this.close(now, `authentication of ${describeIdentity(peer)} failed`);
      return;
    }
    this.remoteId = peer;
    this.phase = { name: "established" };
    this.events.push({ type: "ike-up", sa: this.summary() });
    const pending = this.pendingChild;
    this.pendingChild = undefined;
    const sa = find(inner, PayloadType.SA);
    if (!pending || !sa) {
      if (pending)
        this.log("warn", `the peer created no Child SA${error ? `: notify ${error.notifyType}` : ""}`);
      return;
    }
    const chosen = acceptAnswer(this.offeredChild, sa.proposals, ProtocolId.ESP);
    const localTs = fromWireSelectors(find(inner, PayloadType.TSi));
    const remoteTs = fromWireSelectors(find(inner, PayloadType.TSr));
    const narrowedOk =
      localTs.length > 0 &&
      remoteTs.length > 0 &&
      localTs.every((t) => pending.localTs.some((o) => contains(o, t))) &&
      remoteTs.every((t) => pending.remoteTs.some((o) => contains(o, t)));
    if ("error" in chosen || !narrowedOk || chosen.spi.length !== 4) {
      this.log(
        "warn",
        `refused the peer's Child SA: ${"error" in chosen ? chosen.error : "selectors not within ours"}`,
      );
      return;
    }
    const transport = notifiesOf(inner).some((n) => n.notifyType === NotifyType.USE_TRANSPORT_MODE);
    this.installChild(
      now,
      this.childKeys(
        pending.child,
        chosen,
        pending.spiIn,
        localTs,
        remoteTs,
        transport && pending.child.config.mode === "transport",
      ),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Our requests

  private sendInitRequest(now: number): void {
    const pair = dhGroup(this.dhGroupId).generate(this.context.random);
    this.dh = pair;
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
    this.transmitRequest(now, ExchangeType.IKE_SA_INIT, [this.initRequest]);
  }

  private sendAuthRequest(now: number): void {
    if (!this.keys || !this.suite) return;
    const localId = this.localIdentity();
    if ("error" in localId) {
      this.close(now, localId.error);
      return;
    }
    const secret =
      this.connection.config.remote.id.kind === "any"
        ? undefined
        : encodeIdentity(this.connection.config.remote.id);
    const idi: IdPayload = { type: PayloadType.IDi, idType: localId.idType, data: localId.data };
    const remoteForKey: WireIdentity =
      secret && !("error" in secret) ? secret : { idType: IdType.IPV4_ADDR, data: new Uint8Array(0) };
    const psk = this.context.sharedKey(this.connection.config.local.id, remoteForKey);
    if (!psk) {
      this.close(now, "no pre-shared key configured for this connection");
      return;
    }
    const octets = signedOctets({
      prf: this.suite.prf,
      realMessage: this.initRequest,
      peerNonce: this.nonceR,
      skP: this.keys.skPi,
      idPayloadBody: restOfIdPayload(idi),
    });
    const inner: InnerPayload[] = [idi];
    if (this.connection.config.sendInitialContact) inner.push(notify(NotifyType.INITIAL_CONTACT));
    if (secret && !("error" in secret))
      inner.push({ type: PayloadType.IDr, idType: secret.idType, data: secret.data });
    inner.push({
      type: PayloadType.AUTH,
      method: AuthMethod.SHARED_KEY_MIC,
      data: pskAuth(this.suite.prf, psk, octets),
    });
    const child = this.connection.children[0];
    if (child) {
      const spiIn = this.newChildSpi();
      const localTs = resolveSelectors(child.config.localTs, this.path.localAddress);
      const remoteTs = resolveSelectors(child.config.remoteTs, this.path.remoteAddress);
      this.offeredChild = offerProposals(child.espProposals, ProtocolId.ESP, spiIn, { withDh: false });
      this.pendingChild = { child, spiIn, localTs, remoteTs };
      if (child.config.mode === "transport") inner.push(notify(NotifyType.USE_TRANSPORT_MODE));
      inner.push(
        { type: PayloadType.SA, proposals: this.offeredChild },
        { type: PayloadType.TSi, selectors: localTs.map(toWireSelector) },
        { type: PayloadType.TSr, selectors: remoteTs.map(toWireSelector) },
      );
    }
    this.phase = { name: "auth-sent" };
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

  private runTasks(now: number): void {
    if (this.phase.name !== "established" || this.window.inFlight) return;
    const task = this.tasks.shift();
    if (!task) return;
    const inner: InnerPayload[] =
      task.kind === "delete-ike"
        ? [{ type: PayloadType.DELETE, protocolId: ProtocolId.IKE, spiSize: 0, spis: [] }]
        : [];
    if (task.kind === "delete-ike") {
      this.phase = { name: "deleting" };
      for (const child of [...this.children]) this.removeChild(child, "IKE SA deleted");
    }
    const messageId = this.window.nextRequestId;
    this.transmitRequest(
      now,
      ExchangeType.INFORMATIONAL,
      this.seal(ExchangeType.INFORMATIONAL, false, messageId, inner),
    );
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

  private setKeys(chosen: ChosenProposal, shared: Uint8Array): void {
    if (chosen.prf === undefined) throw new Error("setKeys: no PRF chosen");
    this.suite = {
      encr: chosen.encr.id,
      ...(chosen.encr.keyLength === undefined ? {} : { encrKeyLength: chosen.encr.keyLength }),
      prf: chosen.prf,
      ...(chosen.integ === undefined ? {} : { integ: chosen.integ }),
    };
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

  /**
   * NAT_DETECTION payloads (§2.23). The source hash is deliberately wrong (random): the peer
   * then believes we are behind a NAT and sends ESP in UDP/4500, which the user-space datapath
   * needs (DESIGN.md principle 4; the RFC allows faking NAT detection for this).
   */
  private natDetectionNotifies(): NotifyPayload[] {
    const spiR = this.initiator ? new Uint8Array(SPI_LENGTH) : this.spiR;
    const destination = natDetectionHash(this.spiI, spiR, this.path.remoteAddress, this.path.remotePort);
    const source = this.connection.config.encap
      ? this.context.random(20)
      : natDetectionHash(this.spiI, spiR, this.path.localAddress, this.path.localPort);
    return [
      notify(NotifyType.NAT_DETECTION_SOURCE_IP, source),
      notify(NotifyType.NAT_DETECTION_DESTINATION_IP, destination),
    ];
  }

  private localIdentity(): WireIdentity | { error: string } {
    const id = this.connection.config.local.id;
    return encodeIdentity(
      id.kind === "any"
        ? { kind: this.path.localAddress.includes(":") ? "ipv6" : "ipv4", value: this.path.localAddress }
        : id,
    );
  }

  /** A Child SA's inbound SPI: random, never one of the reserved values 0–255 (RFC 4303 §2.1). */
  private newChildSpi(): Uint8Array {
    for (;;) {
      const spi = this.context.random(4);
      if (spiNumber(spi) > 255 && !this.children.some((c) => c.keys.spiIn === spiNumber(spi))) return spi;
    }
  }

  private childKeys(
    child: ResolvedChild,
    chosen: ChosenProposal,
    spiIn: Uint8Array,
    localTs: TrafficSelector[],
    remoteTs: TrafficSelector[],
    transport: boolean,
  ): ChildSaKeys {
    if (!this.keys || !this.suite) throw new Error("childKeys: no IKE SA keys");
    const keys = deriveChildSaKeys({
      prf: this.suite.prf,
      skD: this.keys.skD,
      suite: {
        encr: chosen.encr.id,
        ...(chosen.encr.keyLength === undefined ? {} : { encrKeyLength: chosen.encr.keyLength }),
        ...(chosen.integ === undefined ? {} : { integ: chosen.integ }),
      },
      nonceI: this.nonceI,
      nonceR: this.nonceR,
    });
    const outbound = this.initiator ? keys.initiatorToResponder : keys.responderToInitiator;
    const inbound = this.initiator ? keys.responderToInitiator : keys.initiatorToResponder;
    const config = child.config;
    return {
      name: config.name,
      spiIn: spiNumber(spiIn),
      spiOut: spiNumber(chosen.spi),
      mode: transport ? "transport" : "tunnel",
      encap: this.connection.config.encap
        ? { localPort: this.path.localPort, remotePort: this.path.remotePort }
        : undefined,
      localAddress: this.path.localAddress,
      remoteAddress: this.path.remoteAddress,
      encr: chosen.encr,
      integ: chosen.integ,
      esn: chosen.esn === 1,
      keyIn: { encKey: inbound.encKey, integKey: inbound.integKey },
      keyOut: { encKey: outbound.encKey, integKey: outbound.integKey },
      localTs,
      remoteTs,
      replayWindow: config.replayWindow,
      lifetime: {
        softBytes: config.rekeyBytes,
        hardBytes: config.lifeBytes,
        softPackets: config.rekeyPackets,
        hardPackets: config.lifePackets,
      },
    };
  }

  private installChild(now: number, keys: ChildSaKeys): void {
    this.children.push({ keys, createdAt: now });
    this.events.push({ type: "child-up", sa: this.summary(), child: keys });
  }

  private removeChild(child: ChildSa, reason: string): void {
    const index = this.children.indexOf(child);
    if (index >= 0) this.children.splice(index, 1);
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
    const wasUp = this.phase.name === "established" || this.phase.name === "deleting";
    for (const child of [...this.children]) this.removeChild(child, reason);
    this.phase = { name: "closed", reason };
    this.halfOpenDeadline = undefined;
    this.window.inFlight = undefined;
    this.tasks.length = 0;
    this.events.push({
      type: "ike-down",
      sa: this.summary(),
      reason: wasUp ? reason : `not established: ${reason}`,
    });
    void now;
  }

  private log(level: "info" | "warn", message: string): void {
    this.events.push({
      type: "log",
      level,
      message: `${this.connection.config.name}[${hex(this.spiI).slice(0, 8)}]: ${message}`,
    });
  }

  /** How long the SA has existed, for status output. */
  ageMs(now: number): number {
    return now - this.createdAt;
  }
}
