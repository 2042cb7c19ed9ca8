import { ExchangeType, type IkeHeaderFields } from "../codec/header.js";
import type { IkeMessage } from "../codec/message.js";
import type { InnerPayload } from "../codec/payload.js";
import type { IkeSaKeys, IkeSaSuite } from "../crypto/key-derivation.js";
import { formatIdentity, type Identity } from "../config/identity.js";
import type { RetransmitConfig } from "../config/read-connections.js";
import { describeAuthIdentity } from "../auth/auth-identity.js";
import type { ChildSa } from "./child-sa.js";
import type { ResolvedConnection } from "./connection.js";
import type { ChildSaKeys, IkeDownCause, IkeEvent, IkeSaSummary } from "./events.js";
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
import { expectedPeerIdentity, ownIdentity, type AuthSecrets } from "./ike-authentication.js";
import type { IkePath, Outgoing } from "./ike-path.js";
import { hex, randomBelow, spiNumber } from "./payload-helpers.js";
import { innerPayloads, protect, unprotect, type SkContext } from "./sk-protection.js";
import { b64, childKeysFromJson, childKeysToJson, unb64, type IkeSaSnapshot } from "./ike-sa-snapshot.js";
import {
  NONCE_LENGTH,
  SPI_LENGTH,
  type ExchangeContext,
  type IkeSaContext,
  type IkeSaState,
  type Task,
} from "./exchanges/exchange-context.js";
import {
  answerCreateChildSa,
  handleChildCreateResponse,
  startChildCreate,
} from "./exchanges/create-child-sa.js";
import { answerAuth, handleAuthResponse } from "./exchanges/ike-auth.js";
import { handleIkeRekeyResponse, startIkeRekey } from "./exchanges/ike-rekey.js";
import { answerInit, handleInitResponse, sendInitRequest } from "./exchanges/ike-sa-init.js";
import type { ExchangeOutcome } from "./exchange-counters.js";
import {
  answerInformational,
  handleInformationalResponse,
  startInformational,
} from "./exchanges/informational.js";

export type { IkePath, Outgoing } from "./ike-path.js";
export type { IkeSaContext } from "./exchanges/exchange-context.js";

/** How long a rekeyed IKE SA waits for the peer to delete it before it goes by itself. */
const REKEYED_TIMEOUT_MS = 30_000;
/** Above this many octets a protected message is fragmented when the peer supports RFC 7383. */
const FRAGMENT_ABOVE = 1280;

/** A contact SA's handshake: 0.5 s, then × 1.5, three retransmissions (≈ 4 s to give up). */
const CONTACT_RETRANSMIT: RetransmitConfig = { timeoutMs: 500, base: 1.5, tries: 3 };

/**
 * One IKE SA and its Child SAs (RFC 7296), without I/O: the driver feeds it datagrams
 * (`handleMessage`) and time (`handleTimeout`), and after each call drains `pollTransmit`,
 * `pollEvent`, `pollSpawned` (the successor after an IKE SA rekey) and asks `pollTimeout` for
 * the next deadline. Commands (`dpd`, `delete`, `rekey`) queue requests that go out when the
 * window is free.
 */
export class IkeSa {
  /** What the exchanges read and change (see IkeSaState). */
  private readonly st: IkeSaState;
  /** This SA as its exchanges see it: the state and the task manager's services. */
  private readonly ike: ExchangeContext;
  private readonly window: ExchangeWindow = newExchangeWindow();
  private readonly outbox: Outgoing[] = [];
  private readonly events: IkeEvent[] = [];
  private readonly spawned: IkeSa[] = [];
  /** Exchanges that ended, for the endpoint's counters (exchange-counters.ts). */
  private readonly exchangesEnded: ExchangeOutcome[] = [];
  private fragments: FragmentSet | undefined;
  private establishedIds: { local: WireIdentity | undefined; remote: WireIdentity | undefined } | undefined;
  private createdAt: number;
  private expireAt: number | undefined;

  private constructor(
    private readonly context: IkeSaContext,
    connection: ResolvedConnection,
    path: IkePath,
    spiI: Uint8Array,
    initiator: boolean,
    now: number,
  ) {
    this.st = {
      phase: initiator ? { name: "init-sent" } : { name: "awaiting-auth" },
      connection,
      path,
      spiI,
      spiR: new Uint8Array(SPI_LENGTH),
      initiator,
      tasks: [],
      pending: undefined,
      children: [],
      nonceI: new Uint8Array(0),
      nonceR: new Uint8Array(0),
      initRequest: new Uint8Array(0),
      initResponse: new Uint8Array(0),
      suite: undefined,
      keys: undefined,
      dh: undefined,
      dhGroupId: 0,
      fakeNatSource: undefined,
      dhFor: 0,
      offeredIke: [],
      offeredByPeer: [],
      cookie: undefined,
      peerFragmentation: false,
      peerHashes: undefined,
      remoteId: undefined,
      initialContact: connection.config.sendInitialContact,
      contact: false,
      sentInitialContact: false,
      lastHeardAt: now,
      lingerDeadline: undefined,
      rekeyAt: undefined,
    };
    this.createdAt = now;
    this.ike = {
      state: this.st,
      context,
      transmitRequest: (at, exchangeType, datagrams) => this.transmitRequest(at, exchangeType, datagrams),
      request: (at, exchangeType, inner) =>
        this.transmitRequest(
          at,
          exchangeType,
          this.seal(exchangeType, false, this.window.nextRequestId, inner),
        ),
      sendResponse: (messageId, datagrams) => this.sendResponse(messageId, datagrams),
      respond: (exchangeType, messageId, inner) => this.respond(exchangeType, messageId, inner),
      completeRequest: () => completeRequest(this.window),
      resetForInitRetry: () => {
        completeRequest(this.window);
        this.window.nextRequestId = 0;
      },
      requestInFlight: () => this.window.inFlight !== undefined,
      header: (exchangeType, response, messageId) => this.header(exchangeType, response, messageId),
      emit: (event) => this.events.push(event),
      log: (level, message) => this.log(level, message),
      summary: () => this.summary(),
      secrets: () => this.secrets(),
      close: (at, reason, cause) => this.close(at, reason, cause),
      retire: (at) => this.retire(at),
      setIkeLifetime: (at) => this.setIkeLifetime(at),
      newChildSpi: () => this.newChildSpi(),
      installChild: (child) => this.installChild(child),
      removeChild: (child, reason, byPeer) => this.removeChild(child, reason, byPeer),
      retryDelay: () => this.retryDelay(),
      successor: (at, initiator, spiI, spiR, suite, keys, dhGroupId) => {
        this.successor(at, initiator, spiI, spiR, suite, keys, dhGroupId);
      },
    };
  }

  // -------------------------------------------------------------------------------------------
  // Creation

  /**
   * Starts an IKE SA as initiator: the IKE_SA_INIT request goes out at once. `remoteId` names
   * the one peer identity to send in IDr and accept (within the connection's remote id);
   * `contact` marks contact after a takeover (see IkeSaInitiateOptions).
   */
  static initiate(
    context: IkeSaContext,
    connection: ResolvedConnection,
    path: IkePath,
    now: number,
    options: IkeSaInitiateOptions = {},
  ): IkeSa {
    const narrowed = options.remoteId ? withRemoteId(connection, options.remoteId) : connection;
    const sa = new IkeSa(context, narrowed, path, context.random(SPI_LENGTH), true, now);
    if (options.contact) sa.st.initialContact = sa.st.contact = true;
    sa.st.nonceI = context.random(NONCE_LENGTH);
    const firstGroup = connection.ikeProposals[0]?.dh[0]?.id;
    if (firstGroup === undefined)
      throw new Error("initiate: the connection's first proposal has no DH group");
    sa.st.dhGroupId = firstGroup;
    sendInitRequest(sa.ike, now);
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
    return answerInit(context, request, raw, now, (connection) => {
      const sa = new IkeSa(context, connection, path, request.header.initiatorSpi, false, now);
      return { sa, ike: sa.ike };
    });
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
    const next = new IkeSa(this.context, this.st.connection, this.st.path, spiI, initiator, now);
    next.st.spiR = spiR;
    next.st.suite = suite;
    next.st.keys = keys;
    next.st.dhGroupId = dhGroupId;
    next.st.remoteId = this.st.remoteId;
    next.st.peerFragmentation = this.st.peerFragmentation;
    next.st.children = this.st.children;
    this.st.children = [];
    next.st.phase = { name: "established" };
    next.setIkeLifetime(now);
    this.st.phase = { name: "rekeyed", successor: hex(spiI) };
    this.st.rekeyAt = undefined;
    this.expireAt = undefined;
    // Queued work for the children (rekeys, deletes) goes with them to the successor.
    next.st.tasks.push(...this.st.tasks.filter((t) => t.kind !== "delete-ike"));
    this.st.tasks.length = 0;
    this.st.lingerDeadline = now + REKEYED_TIMEOUT_MS;
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
    if (this.st.phase.name !== "established" || !this.st.suite || !this.st.keys) {
      throw new Error(
        `snapshot: only an established IKE SA can be exported (this one is ${this.st.phase.name})`,
      );
    }
    const keys = this.st.keys;
    return {
      version: 1,
      connection: this.st.connection.config.name,
      path: { ...this.st.path },
      initiator: this.st.initiator,
      spiI: b64(this.st.spiI),
      spiR: b64(this.st.spiR),
      suite: { ...this.st.suite },
      keys: {
        skD: b64(keys.skD),
        skAi: b64(keys.skAi),
        skAr: b64(keys.skAr),
        skEi: b64(keys.skEi),
        skEr: b64(keys.skEr),
        skPi: b64(keys.skPi),
        skPr: b64(keys.skPr),
      },
      dhGroupId: this.st.dhGroupId,
      remoteId: this.st.remoteId
        ? { idType: this.st.remoteId.idType, data: b64(this.st.remoteId.data) }
        : undefined,
      peerFragmentation: this.st.peerFragmentation,
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
      lastHeardAt: this.st.lastHeardAt,
      rekeyAt: this.st.rekeyAt,
      expireAt: this.expireAt,
      children: this.st.children.map((c) => ({
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
    sa.st.spiR = unb64(snapshot.spiR);
    sa.st.suite = snapshot.suite;
    const k = snapshot.keys;
    sa.st.keys = {
      skD: unb64(k.skD),
      skAi: unb64(k.skAi),
      skAr: unb64(k.skAr),
      skEi: unb64(k.skEi),
      skEr: unb64(k.skEr),
      skPi: unb64(k.skPi),
      skPr: unb64(k.skPr),
    };
    sa.st.dhGroupId = snapshot.dhGroupId;
    sa.st.remoteId = snapshot.remoteId
      ? { idType: snapshot.remoteId.idType, data: unb64(snapshot.remoteId.data) }
      : undefined;
    sa.st.peerFragmentation = snapshot.peerFragmentation;
    sa.window.nextRequestId = snapshot.window.nextRequestId;
    sa.window.expectedPeerRequestId = snapshot.window.expectedPeerRequestId;
    const last = snapshot.window.lastResponse;
    sa.window.lastResponse = last
      ? { messageId: last.messageId, datagrams: last.datagrams.map(unb64) }
      : undefined;
    sa.st.lastHeardAt = snapshot.lastHeardAt;
    sa.st.rekeyAt = snapshot.rekeyAt;
    sa.expireAt = snapshot.expireAt;
    sa.st.phase = { name: "established" };
    for (const c of snapshot.children) {
      const config = connection.children.find((child) => child.config.name === c.child);
      if (!config) throw new Error(`restore: connection ${connection.config.name} has no child ${c.child}`);
      sa.st.children.push({
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
    for (const child of sa.st.children)
      sa.events.push({ type: "child-up", sa: sa.summary(), child: child.keys });
    return sa;
  }

  // -------------------------------------------------------------------------------------------
  // Driver interface

  get initiatorSpi(): Uint8Array {
    return this.st.spiI;
  }

  get responderSpi(): Uint8Array {
    return this.st.spiR;
  }

  get state(): string {
    return this.st.phase.name;
  }

  get isClosed(): boolean {
    return this.st.phase.name === "closed";
  }

  get connectionName(): string {
    return this.st.connection.config.name;
  }

  /** Whether we started this IKE SA (the original initiator). */
  get isInitiator(): boolean {
    return this.st.initiator;
  }

  /** Whether our IKE_AUTH request carried INITIAL_CONTACT (RFC 7296 §2.4). */
  get sentInitialContact(): boolean {
    return this.st.sentInitialContact;
  }

  /**
   * The two identities this IKE SA joins: ours, and the peer's once authenticated (before that
   * the one we expect, if the connection names one). Undefined where not known.
   */
  identities(): { local: WireIdentity | undefined; remote: WireIdentity | undefined } {
    if (this.establishedIds) return this.establishedIds;
    const local = this.localIdentity();
    const ids = {
      local: "error" in local ? undefined : local,
      remote: this.st.remoteId ?? expectedPeerIdentity(this.st.connection),
    };
    // Once authenticated they no longer change; the endpoint asks for them on every new IKE SA.
    if (this.st.phase.name === "established" && this.st.remoteId) this.establishedIds = ids;
    return ids;
  }

  /** The path the IKE SA uses now (it follows the peer after NAT rebinding). */
  get path(): IkePath {
    return this.st.path;
  }

  summary(): IkeSaSummary {
    const localId = this.localIdentity();
    return {
      connection: this.st.connection.config.name,
      spiI: hex(this.st.spiI),
      spiR: hex(this.st.spiR),
      initiator: this.st.initiator,
      localAddress: this.st.path.localAddress,
      remoteAddress: this.st.path.remoteAddress,
      localId: "error" in localId ? "?" : describeAuthIdentity(localId),
      remoteId: this.st.remoteId
        ? describeAuthIdentity(this.st.remoteId)
        : formatIdentity(this.st.connection.config.remote.id),
    };
  }

  /** The negotiated IKE SA transforms, once IKE_SA_INIT is done. */
  algorithms(): (IkeSaSuite & { dh: number }) | undefined {
    return this.st.suite ? { ...this.st.suite, dh: this.st.dhGroupId } : undefined;
  }

  /** The Child SAs currently installed. */
  childSas(): ChildSaKeys[] {
    return this.st.children.map((c) => c.keys);
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

  /** The next exchange that ended (ok, failed, timed out), for the endpoint's counters. */
  pollExchange(): ExchangeOutcome | undefined {
    return this.exchangesEnded.shift();
  }

  /** The next moment `handleTimeout` must be called, if any. */
  pollTimeout(): number | undefined {
    if (this.st.phase.name === "closed") return undefined;
    // Called after every datagram: a plain minimum, no arrays.
    let next = earliest(this.window.inFlight?.deadline, this.st.lingerDeadline);
    next = earliest(next, this.dpdDeadline());
    next = earliest(next, earliest(this.st.rekeyAt, this.expireAt));
    for (const child of this.st.children) {
      next = earliest(next, earliest(child.rekeying ? undefined : child.rekeyAt, child.expireAt));
    }
    return next;
  }

  handleTimeout(now: number): void {
    if (this.st.phase.name === "closed") return;
    if (this.st.lingerDeadline !== undefined && now >= this.st.lingerDeadline) {
      this.close(
        now,
        this.st.phase.name === "rekeyed"
          ? "rekeyed; the peer did not delete the old SA"
          : "no IKE_AUTH request arrived (half-open timeout)",
      );
      return;
    }
    const unanswered = this.window.inFlight?.exchangeType;
    const outcome = onRequestTimeout(this.window, now, this.retransmitPolicy());
    if (outcome.kind === "retransmit") {
      for (const message of outcome.datagrams) this.outbox.push({ path: this.st.path, message });
    } else if (outcome.kind === "give-up") {
      this.st.pending = undefined;
      if (unanswered !== undefined) this.exchangeEnded(unanswered, "initiator", "timeout");
      this.close(now, "peer did not answer (retransmissions exhausted)", "dead-peer");
      return;
    }
    if (this.expireAt !== undefined && now >= this.expireAt) {
      this.close(now, "IKE SA lifetime expired");
      return;
    }
    if (this.st.rekeyAt !== undefined && now >= this.st.rekeyAt) {
      this.st.rekeyAt = undefined;
      this.queue(now, { kind: "rekey-ike" });
    }
    for (const child of [...this.st.children]) {
      if (child.expireAt !== undefined && now >= child.expireAt) {
        child.expireAt = undefined;
        this.queue(now, { kind: "delete-child", spiIn: child.keys.spiIn, reason: "lifetime expired" });
      } else if (!child.rekeying && child.rekeyAt !== undefined && now >= child.rekeyAt) {
        child.rekeying = true;
        this.queue(now, { kind: "rekey-child", spiIn: child.keys.spiIn });
      }
    }
    const dpd = this.dpdDeadline();
    if (dpd !== undefined && now >= dpd && !this.st.tasks.some((t) => t.kind === "dpd"))
      this.queue(now, { kind: "dpd" });
  }

  /** Starts a liveness check (an empty INFORMATIONAL request, §1.4). */
  dpd(now: number): void {
    this.queue(now, { kind: "dpd" });
  }

  /** Deletes the IKE SA and with it every Child SA (§1.4.1). */
  delete(now: number): void {
    if (this.st.phase.name !== "established") {
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
    const child = this.st.children.find((c) => c.keys.spiIn === spiIn);
    if (!child || child.rekeying) return;
    child.rekeying = true;
    this.queue(now, { kind: "rekey-child", spiIn });
  }

  /**
   * Sets up one more Child SA of the connection's child `name` (CREATE_CHILD_SA, §1.3.1), e.g.
   * close_action start after the peer deleted it. False when the connection has no such child
   * or the IKE SA is not established.
   */
  createChild(now: number, name: string): boolean {
    const child = this.st.connection.children.find((c) => c.config.name === name);
    if (!child || this.st.phase.name !== "established") return false;
    this.queue(now, { kind: "create-child", child });
    return true;
  }

  /** Deletes a Child SA, named by its inbound SPI (e.g. at its hard limit). */
  deleteChild(now: number, spiIn: number, reason = "deleted locally"): void {
    this.queue(now, { kind: "delete-child", spiIn, reason });
  }

  /** Ends the SA without telling the peer (e.g. when INITIAL_CONTACT said it is stale). */
  abandon(now: number, reason: string, cause: IkeDownCause = "other"): void {
    this.close(now, reason, cause);
  }

  /**
   * Starts a liveness check (§1.4) unless one is not needed: the SA is not established, or a
   * request of ours is in flight or queued (its answer, or its running out of retransmissions,
   * tells as much). Returns whether a check was started.
   */
  checkLivenessIfIdle(now: number): boolean {
    if (this.st.phase.name !== "established" || this.window.inFlight || this.st.tasks.length > 0)
      return false;
    this.queue(now, { kind: "dpd" });
    return true;
  }

  /**
   * Sends one DELETE for the IKE SA and ends it at once, without waiting for the answer
   * (strongSwan's `delete(ike_sa, force)`): for an SA that must go now, whether or not the peer
   * still knows it. A request of ours still in flight is given up. Before IKE_AUTH is done
   * nothing can be sent, so the SA is only abandoned.
   */
  deleteNow(now: number, reason: string, cause: IkeDownCause = "other"): void {
    if (this.st.phase.name === "established" && this.st.keys) {
      this.window.inFlight = undefined;
      this.st.pending = undefined;
      startInformational(this.ike, now, { kind: "delete-ike" });
    }
    this.close(now, reason, cause);
  }

  /**
   * A message for this IKE SA (the endpoint matched its SPIs), decoded, with its raw bytes
   * (IKE_SA_INIT messages are signed as they were sent). Never throws on its content.
   */
  handleMessage(now: number, path: IkePath, message: IkeMessage, raw: Uint8Array): void {
    if (this.st.phase.name === "closed") return;
    if (message.header.response) this.handleResponse(now, path, message, raw);
    else this.handleRequest(now, path, message);
  }

  // -------------------------------------------------------------------------------------------
  // Requests from the peer

  private handleRequest(now: number, path: IkePath, message: IkeMessage): void {
    const header = message.header;
    if (header.initiator === this.st.initiator) return; // our own reflection or a confused peer
    const verdict = classifyRequest(this.window, header.messageId);
    if (verdict.kind === "repeat") {
      for (const datagram of verdict.datagrams) this.outbox.push({ path, message: datagram });
      return;
    }
    if (verdict.kind === "drop" || header.exchangeType === ExchangeType.IKE_SA_INIT) return;
    const inner = this.open(header.messageId, message);
    if (!inner) return;
    this.st.lastHeardAt = now;
    this.followPeer(path);
    switch (header.exchangeType) {
      case ExchangeType.IKE_AUTH:
        if (this.st.phase.name !== "awaiting-auth") return;
        answerAuth(this.ike, now, header.messageId, inner);
        break;
      case ExchangeType.INFORMATIONAL:
        answerInformational(this.ike, now, header.messageId, inner);
        break;
      case ExchangeType.CREATE_CHILD_SA:
        answerCreateChildSa(this.ike, now, header.messageId, inner);
        break;
      default:
        return;
    }
    this.exchangeEnded(
      header.exchangeType,
      "responder",
      this.setUpFailed(header.exchangeType) ? "failed" : "ok",
    );
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

  // -------------------------------------------------------------------------------------------
  // Responses to our requests

  private handleResponse(now: number, path: IkePath, message: IkeMessage, raw: Uint8Array): void {
    const header = message.header;
    if (header.initiator === this.st.initiator) return;
    if (!matchesInFlight(this.window, header.messageId, header.exchangeType)) return;
    if (header.exchangeType === ExchangeType.IKE_SA_INIT) {
      handleInitResponse(this.ike, now, path, message, raw);
      this.exchangeEnded(
        header.exchangeType,
        "initiator",
        this.setUpFailed(header.exchangeType) ? "failed" : "ok",
      );
      return;
    }
    const inner = this.open(header.messageId, message);
    if (!inner) return;
    completeRequest(this.window);
    this.st.lastHeardAt = now;
    this.followPeer(path);
    const pending = this.st.pending;
    this.st.pending = undefined;
    switch (pending?.kind) {
      case "auth":
        handleAuthResponse(this.ike, now, inner, pending);
        break;
      case "informational":
        handleInformationalResponse(this.ike, now, inner, pending.task);
        break;
      case "create-child":
        handleChildCreateResponse(this.ike, now, inner, pending);
        break;
      case "rekey-ike":
        handleIkeRekeyResponse(this.ike, now, inner, pending);
        break;
      default:
        break;
    }
    this.exchangeEnded(
      header.exchangeType,
      "initiator",
      this.setUpFailed(header.exchangeType) ? "failed" : "ok",
    );
    if (!this.isClosed) this.runTasks(now);
  }

  // -------------------------------------------------------------------------------------------
  // Our requests

  private queue(now: number, task: Task): void {
    this.st.tasks.push(task);
    this.runTasks(now);
  }

  /** Sends the next queued request when the window is free. */
  private runTasks(now: number): void {
    while (
      !this.window.inFlight &&
      (this.st.phase.name === "established" || this.st.phase.name === "rekeyed")
    ) {
      const task = this.st.tasks.shift();
      if (!task) return;
      if (this.st.phase.name === "rekeyed" && task.kind !== "delete-ike") continue;
      if (this.startTask(now, task)) return;
    }
  }

  /** Starts one task; false when it turned out to have nothing to do. */
  private startTask(now: number, task: Task): boolean {
    switch (task.kind) {
      case "dpd":
      case "delete-ike":
      case "delete-child":
        return startInformational(this.ike, now, task);
      case "rekey-child": {
        const old = this.st.children.find((c) => c.keys.spiIn === task.spiIn);
        return old ? startChildCreate(this.ike, now, old.config, old) : false;
      }
      case "create-child":
        return startChildCreate(this.ike, now, task.child, undefined);
      case "rekey-ike":
        return startIkeRekey(this.ike, now);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Helpers

  private exchangeEnded(
    exchangeType: number,
    role: ExchangeOutcome["role"],
    result: ExchangeOutcome["result"],
  ): void {
    this.exchangesEnded.push({ exchangeType, role, result });
  }

  /** An IKE_SA_INIT or IKE_AUTH after which the SA is closed did not set it up (a refusal). */
  private setUpFailed(exchangeType: number): boolean {
    return (
      this.isClosed && (exchangeType === ExchangeType.IKE_SA_INIT || exchangeType === ExchangeType.IKE_AUTH)
    );
  }

  private transmitRequest(now: number, exchangeType: number, datagrams: Uint8Array[]): void {
    sendRequest(this.window, now, exchangeType, datagrams, this.retransmitPolicy());
    for (const message of datagrams) this.outbox.push({ path: this.st.path, message });
  }

  /**
   * The connection's retransmission schedule, except while a contact SA is being set up
   * (design §8): a peer that does not answer the adoptive node within a few seconds is retried
   * by the contact plan with backoff and reported, instead of holding a handshake for minutes
   * (the default schedule gives up after 165 s).
   */
  private retransmitPolicy(): RetransmitConfig {
    return this.st.contact && this.st.phase.name !== "established"
      ? CONTACT_RETRANSMIT
      : this.st.connection.config.retransmit;
  }

  private respond(exchangeType: number, messageId: number, inner: InnerPayload[]): void {
    this.sendResponse(messageId, this.seal(exchangeType, true, messageId, inner));
  }

  /** Sends a response and keeps it for a retransmitted request (§2.1). */
  private sendResponse(messageId: number, datagrams: Uint8Array[]): void {
    recordResponse(this.window, messageId, datagrams);
    for (const message of datagrams) this.outbox.push({ path: this.st.path, message });
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
      this.st.peerFragmentation && this.st.connection.config.fragmentation ? FRAGMENT_ABOVE : undefined;
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
      initiatorSpi: this.st.spiI,
      responderSpi: this.st.spiR,
      exchangeType,
      initiator: this.st.initiator,
      response,
      messageId,
    };
  }

  private skContext(): SkContext | undefined {
    return this.st.keys && this.st.suite
      ? { suite: this.st.suite, keys: this.st.keys, originalInitiator: this.st.initiator }
      : undefined;
  }

  /** IKE SA lifetime (strongSwan's rekey_time, rand_time, over_time). */
  private setIkeLifetime(now: number): void {
    const { rekeyTimeMs, randTimeMs, overTimeMs } = this.st.connection.config;
    this.st.rekeyAt =
      rekeyTimeMs > 0
        ? now + rekeyTimeMs - randomBelow(this.context.random, Math.min(randTimeMs, rekeyTimeMs))
        : undefined;
    this.expireAt = rekeyTimeMs > 0 ? now + rekeyTimeMs + overTimeMs : undefined;
  }

  private localIdentity(): WireIdentity | { error: string } {
    return ownIdentity(this.st.connection, this.st.path.localAddress);
  }

  /** A Child SA's inbound SPI: random, never one of the reserved values 0–255 (RFC 4303 §2.1). */
  private newChildSpi(): Uint8Array {
    for (;;) {
      const spi = this.context.random(4);
      if (spiNumber(spi) > 255 && !this.st.children.some((c) => c.keys.spiIn === spiNumber(spi))) return spi;
    }
  }

  private installChild(child: ChildSa): void {
    this.st.children.push(child);
    this.events.push({ type: "child-up", sa: this.summary(), child: child.keys });
  }

  private removeChild(child: ChildSa, reason: string, byPeer = false): void {
    const index = this.st.children.indexOf(child);
    if (index < 0) return;
    this.st.children.splice(index, 1);
    this.events.push({
      type: "child-down",
      sa: this.summary(),
      spiIn: child.keys.spiIn,
      spiOut: child.keys.spiOut,
      reason,
      byPeer,
    });
  }

  /** After an authenticated message the peer's address or port may have changed (NAT rebinding). */
  private followPeer(path: IkePath): void {
    if (
      path.remoteAddress !== this.st.path.remoteAddress ||
      path.remotePort !== this.st.path.remotePort ||
      path.localPort !== this.st.path.localPort
    ) {
      this.st.path = { ...path };
    }
  }

  private dpdDeadline(): number | undefined {
    const delay = this.st.connection.config.dpdDelayMs;
    if (this.st.phase.name !== "established" || delay <= 0 || this.window.inFlight) return undefined;
    return this.st.lastHeardAt + delay;
  }

  private close(now: number, reason: string, cause: IkeDownCause = "other"): void {
    if (this.st.phase.name === "closed") return;
    const wasUp =
      this.st.phase.name === "established" ||
      this.st.phase.name === "deleting" ||
      this.st.phase.name === "rekeyed";
    // Our own DELETE that went unanswered is not a dead peer to restart for.
    const why = cause === "dead-peer" && this.st.phase.name === "deleting" ? "other" : cause;
    for (const child of [...this.st.children]) this.removeChild(child, reason);
    this.st.phase = { name: "closed", reason };
    this.st.lingerDeadline = undefined;
    this.st.rekeyAt = undefined;
    this.expireAt = undefined;
    this.window.inFlight = undefined;
    this.st.tasks.length = 0;
    this.events.push({
      type: "ike-down",
      sa: this.summary(),
      reason: wasUp ? reason : `not established: ${reason}`,
      cause: why,
    });
    void now;
  }

  /** The old IKE SA after a rekey goes quietly: its children live on in the successor. */
  private retire(now: number): void {
    this.st.phase = { name: "closed", reason: "rekeyed" };
    this.st.lingerDeadline = undefined;
    this.window.inFlight = undefined;
    this.st.tasks.length = 0;
    void now;
  }

  private log(level: "info" | "warn", message: string): void {
    this.events.push({
      type: "log",
      level,
      message: `${this.st.connection.config.name}[${hex(this.st.spiI).slice(0, 8)}]: ${message}`,
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

export interface IkeSaInitiateOptions {
  /** The peer identity to name in IDr and to accept (it must fit the connection's remote id). */
  remoteId?: Identity;
  /**
   * Contact after a takeover: INITIAL_CONTACT whenever the peer's identity is known, whatever
   * the connection says, since the endpoint ends every other IKE SA of the pair once this one is up.
   */
  contact?: boolean;
}

/** The connection narrowed to one peer identity (for contact to a known peer, design §8). */
function withRemoteId(connection: ResolvedConnection, remoteId: Identity): ResolvedConnection {
  return {
    ...connection,
    config: { ...connection.config, remote: { ...connection.config.remote, id: remoteId } },
  };
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  return b === undefined || a <= b ? a : b;
}
