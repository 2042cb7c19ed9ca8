import { createHash } from "node:crypto";
import { ExchangeType } from "../codec/header.js";
import { PayloadType } from "../codec/payload-type.js";
import { addressBytes } from "../config/traffic-selector-spec.js";
import { decodeMessage, encodeMessage, type IkeMessage } from "../codec/message.js";
import { NotifyType, notify } from "../codec/notify.js";
import type { Identity } from "../config/identity.js";
import type { RandomSource } from "../crypto/random.js";
import type { ResolvedConnection } from "./connection.js";
import type { IkeEvent } from "./events.js";
import type { WireIdentity } from "./identity-payload.js";
import { IkeSa, type IkePath, type IkeSaInitiateOptions, type Outgoing } from "./ike-sa.js";
import { sameIdentityPair } from "./identity-pair.js";
import type { IkeSaContext } from "./exchanges/exchange-context.js";
import { authIdentityMatches, encodeAuthIdentity } from "../auth/auth-identity.js";
import { formatIdentity } from "../config/identity.js";
import type { IkeSaSnapshot } from "./ike-sa-snapshot.js";
import { DeadlineQueue } from "./deadline-queue.js";
import { addressMatchesEntry } from "../config/address-entry.js";
import { HintRateLimit, stateLostHint, type StateLostHint } from "./state-lost-hint.js";
import { ExchangeCounters, type ExchangeCount } from "./exchange-counters.js";

export interface IkeEndpointOptions {
  random: RandomSource;
  connections: readonly ResolvedConnection[];
  sharedKey(local: Identity, remote: WireIdentity): Uint8Array | undefined;
  /** Wall-clock time for certificate validity (the system clock when absent). */
  wallClock?: () => Date;
  /**
   * Above this many half-open IKE SAs (answered IKE_SA_INIT, no IKE_AUTH yet) new initiators
   * must return a cookie first (§2.6), so a flood of forged requests costs us no state. 0: always.
   */
  cookieThreshold?: number;
}

/** strongSwan's charon.cookie_threshold is 30; we allow more before asking for cookies. */
const DEFAULT_COOKIE_THRESHOLD = 100;
/** The cookie secret changes this often; cookies made with the previous one stay valid. */
const COOKIE_SECRET_LIFETIME_MS = 120_000;

/**
 * A peer's IKE SA that started up to this long after our contact SA came up still counts as
 * crossing it: we cannot see when the peer started, only when its IKE_SA_INIT arrived, and a
 * lost one is retransmitted after 4 s (strongSwan's retransmit_timeout). Later ones are the
 * peer's own business (a restart with INITIAL_CONTACT replaces ours).
 */
const CROSSING_GRACE_MS = 5_000;

/** At most this many INVALID_IKE_SPI answers per second (RFC 7296 §2.21.4 lets us send some). */
const INVALID_SPI_PER_SECOND = 10;

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

/**
 * Every IKE SA of one endpoint, without I/O: routes each datagram to its IKE SA by SPIs, answers
 * new IKE_SA_INIT requests, and answers requests for unknown SPIs with INVALID_IKE_SPI
 * (rate-limited, never a state change, §2.21.4). Same driver contract as IkeSa.
 */
export class IkeEndpoint {
  private readonly sas = new Map<string, IkeSa>();
  /** Connections by tag ("" for those given to the constructor); names are unique across tags. */
  private readonly connectionsByTag = new Map<string, readonly ResolvedConnection[]>();
  /** Local addresses of stopped packages: nothing arriving there is answered. */
  private readonly silenced = new Set<string>();
  /** When each IKE SA started and came up, and whether it is a contact SA (see initiate). */
  private readonly records = new WeakMap<IkeSa, SaRecord>();
  /** The live contact SAs: few, so each new IKE SA checks them, not all SAs, for a crossing. */
  private readonly contactSas = new Set<IkeSa>();
  private readonly deadlines = new DeadlineQueue<IkeSa>();
  private readonly outbox: Outgoing[] = [];
  private readonly events: IkeEvent[] = [];
  private invalidSpiWindow = { second: -1, sent: 0 };
  private readonly hintLimit = new HintRateLimit();
  private readonly exchanges = new ExchangeCounters();
  private cookieSecrets: { version: number; secret: Uint8Array; since: number }[];

  constructor(private readonly options: IkeEndpointOptions) {
    this.cookieSecrets = [{ version: 1, secret: options.random(32), since: 0 }];
    this.connectionsByTag.set("", options.connections);
  }

  /**
   * Starts an IKE SA for a connection to the given path. With `contact: true` this is contact
   * after a takeover (design §8): it sends INITIAL_CONTACT whenever the peer's identity is known
   * (the connection names it, or `remoteId` does, from the peer registry), and it wins against
   * every other IKE SA of its two identities: those that exist when it comes up and those the
   * peer started before or just after that (a crossing) get one DELETE and are gone (see
   * cameUp). Without `contact`, INITIAL_CONTACT follows the connection's send_initial_contact
   * and is sent only if no other established IKE SA joins the two identities (RFC 7296 §2.4).
   */
  initiate(now: number, connectionName: string, path: IkePath, options: InitiateOptions = {}): IkeSa {
    const connection = this.allConnections().find((c) => c.config.name === connectionName);
    if (!connection) throw new Error(`initiate: no connection ${connectionName}`);
    if (options.remoteId) {
      const wire = encodeAuthIdentity(options.remoteId);
      if (!wire.ok || !authIdentityMatches(connection.config.remote.id, wire.value))
        throw new Error(
          `initiate: remote id ${formatIdentity(options.remoteId)} is not within connection ${connectionName}'s remote id ${formatIdentity(connection.config.remote.id)}`,
        );
    }
    const saOptions: IkeSaInitiateOptions = {
      ...(options.remoteId ? { remoteId: options.remoteId } : {}),
      ...(options.contact ? { contact: true } : {}),
    };
    const sa = IkeSa.initiate(this.context([connection]), connection, path, now, saOptions);
    this.records.set(sa, {
      started: now,
      established: undefined,
      contact: options.contact === true,
    });
    if (options.contact) this.contactSas.add(sa);
    this.sas.set(hex(sa.initiatorSpi), sa);
    this.drain(now, sa);
    return sa;
  }

  /**
   * Loads (or replaces) the connections of one tag, e.g. a package (design §5). Their local
   * addresses are answered again if the tag was stopped. Names must be unique across tags.
   */
  setConnections(tag: string, connections: readonly ResolvedConnection[]): void {
    if (tag === "") throw new Error("setConnections: the empty tag is the constructor's connections");
    for (const c of connections) {
      const owner = this.tagOf(c.config.name);
      if (owner !== undefined && owner !== tag)
        throw new Error(
          `setConnections: connection ${c.config.name} already belongs to ${owner === "" ? "the endpoint" : owner}`,
        );
    }
    this.connectionsByTag.set(tag, connections);
    for (const address of localAddressesOf(connections)) this.silenced.delete(address);
  }

  /** The IKE SAs of a tag: those of its connections or on one of its local addresses. */
  ikeSasOf(tag: string): IkeSa[] {
    const connections = this.connectionsByTag.get(tag) ?? [];
    const names = new Set(connections.map((c) => c.config.name));
    const addresses = localAddressesOf(connections);
    return this.ikeSas().filter((sa) => names.has(sa.connectionName) || addresses.has(sa.path.localAddress));
  }

  /**
   * Stops one tag (a package that halts or moves, design §6): every IKE SA of it ends now, with
   * one DELETE each when `tellPeers` (halted for good) or without a word (moving: the adoptive
   * node's INITIAL_CONTACT replaces them at the peer). Child SAs go with them (child-down
   * events). Its connections are removed and nothing arriving on its local addresses is
   * answered any more, not even with INVALID_IKE_SPI: the address is about to leave this node.
   * The DELETEs are queued for pollTransmit before this returns.
   */
  stopPackage(now: number, tag: string, options: { tellPeers: boolean }): void {
    const connections = this.connectionsByTag.get(tag);
    if (!connections || tag === "") return;
    const reason = options.tellPeers ? `package ${tag} halted` : `package ${tag} moved away (no DELETE)`;
    for (const sa of this.ikeSasOf(tag)) {
      if (options.tellPeers) sa.deleteNow(now, reason);
      else sa.abandon(now, reason);
      this.drain(now, sa);
    }
    for (const address of localAddressesOf(connections)) this.silenced.add(address);
    this.connectionsByTag.delete(tag);
  }

  /** Rekeys an IKE SA (§1.3.2) or, given an inbound SPI, one of its Child SAs (§1.3.3). */
  rekey(now: number, sa: IkeSa, childSpiIn?: number): void {
    if (childSpiIn === undefined) sa.rekey(now);
    else sa.rekeyChild(now, childSpiIn);
    this.drain(now, sa);
  }

  /** Takes over an IKE SA exported by another endpoint (IkeSa.snapshot); it reports child-up again. */
  restoreSa(snapshot: IkeSaSnapshot): IkeSa {
    const sa = IkeSa.restore(this.context(this.allConnections()), snapshot);
    this.records.set(sa, { started: snapshot.createdAt, established: snapshot.createdAt, contact: false });
    this.sas.set(hex(sa.initiatorSpi), sa);
    this.drain(snapshot.lastHeardAt, sa);
    return sa;
  }

  /** Sets up one more Child SA of the connection's child `name` on an IKE SA (§1.3.1). */
  createChild(now: number, sa: IkeSa, name: string): boolean {
    const queued = sa.createChild(now, name);
    this.drain(now, sa);
    return queued;
  }

  /** Deletes one Child SA of an IKE SA, named by its inbound SPI (§1.4.1). */
  deleteChild(now: number, sa: IkeSa, spiIn: number, reason: string): void {
    sa.deleteChild(now, spiIn, reason);
    this.drain(now, sa);
  }

  /** Deletes an IKE SA (INFORMATIONAL with DELETE, §1.4.1). */
  deleteSa(now: number, sa: IkeSa): void {
    sa.delete(now);
    this.drain(now, sa);
  }

  /** Starts a liveness check on an IKE SA. */
  checkLiveness(now: number, sa: IkeSa): void {
    sa.dpd(now);
    this.drain(now, sa);
  }

  ikeSas(): IkeSa[] {
    return [...this.sas.values()];
  }

  /** Exchanges that ended so far, by connection, type, role and result (design §6 metrics). */
  exchangeCounts(): ExchangeCount[] {
    return this.exchanges.entries();
  }

  handleDatagram(now: number, path: IkePath, bytes: Uint8Array): void {
    if (this.silenced.has(path.localAddress)) return;
    const decoded = decodeMessage(bytes);
    if (!decoded.ok) {
      this.events.push({
        type: "log",
        level: "warn",
        message: `dropped a malformed message from ${path.remoteAddress}: ${decoded.error.message}`,
      });
      return;
    }
    const message = decoded.value;
    const lost = stateLostHint(message);
    if (lost) {
      this.stateLostHint(now, path, lost);
      return;
    }
    const header = message.header;
    const sa = this.sas.get(hex(header.initiatorSpi));
    if (
      sa &&
      (header.exchangeType === ExchangeType.IKE_SA_INIT ||
        Buffer.compare(sa.responderSpi, header.responderSpi) === 0)
    ) {
      sa.handleMessage(now, path, message, bytes);
      this.drain(now, sa);
      return;
    }
    if (
      header.exchangeType === ExchangeType.IKE_SA_INIT &&
      !header.response &&
      header.messageId === 0 &&
      header.initiator
    ) {
      this.answerInit(now, path, message, bytes);
      return;
    }
    this.unknownSpi(now, path, message);
  }

  /**
   * RFC 7296 §2.21.4: an unprotected INVALID_IKE_SPI / INVALID_SPI is only a hint that the peer
   * at that address lost our SAs (its address may have moved to a node without them). It
   * changes no SA; it starts a liveness check at once on each established IKE SA to that
   * address with none running, so a dead peer is noticed within one retransmission sequence
   * instead of after the next dpd_delay. Only a hint that names one of those SAs counts
   * (its IKE SPIs, or a Child SA's outbound SPI); rate-limited per address (state-lost-hint.ts).
   */
  private stateLostHint(now: number, path: IkePath, hint: StateLostHint): void {
    const sas = this.ikeSas().filter(
      (sa) => sa.state === "established" && sa.path.remoteAddress === path.remoteAddress,
    );
    const named = sas.some((sa) =>
      hint.notify === "INVALID_IKE_SPI"
        ? Buffer.compare(sa.initiatorSpi, hint.spiI) === 0 && Buffer.compare(sa.responderSpi, hint.spiR) === 0
        : sa.childSas().some((child) => child.spiOut === hint.espSpi),
    );
    if (!named) {
      this.events.push({
        type: "log",
        level: "info",
        message: `ignored an unprotected ${hint.notify} from ${path.remoteAddress}: it names none of our IKE or Child SAs`,
      });
      return;
    }
    if (!this.hintLimit.allow(now, path.remoteAddress)) return;
    let checked = 0;
    for (const sa of sas) {
      if (sa.checkLivenessIfIdle(now)) checked++;
      this.drain(now, sa);
    }
    this.events.push({ type: "peer-state-lost-hint", path: { ...path }, notify: hint.notify, checked });
  }

  private answerInit(now: number, path: IkePath, message: IkeMessage, bytes: Uint8Array): void {
    if (!this.cookieAccepted(now, path, message)) return;
    const candidates = this.allConnections().filter((c) => addressMatches(c, path));
    const result = IkeSa.respond(this.context(candidates), path, message, bytes, now);
    if (result.sa) {
      this.exchanges.record(result.sa.connectionName, {
        exchangeType: ExchangeType.IKE_SA_INIT,
        role: "responder",
        result: "ok",
      });
      this.records.set(result.sa, { started: now, established: undefined, contact: false });
      this.sas.set(hex(result.sa.initiatorSpi), result.sa);
      this.drain(now, result.sa);
    } else {
      // Before an IKE SA exists, a refusal belongs to a connection only when one alone matched.
      const connection = candidates.length === 1 ? candidates[0]!.config.name : "";
      this.exchanges.record(connection, {
        exchangeType: ExchangeType.IKE_SA_INIT,
        role: "responder",
        result: "failed",
      });
      this.events.push({
        type: "log",
        level: "info",
        message: `refused IKE_SA_INIT from ${path.remoteAddress}: ${result.reason}`,
      });
      if (result.reply) this.outbox.push({ path, message: result.reply });
    }
  }

  /**
   * Stateless cookies (RFC 7296 §2.6): under load an IKE_SA_INIT must carry, as its first
   * payload, Cookie = VersionIDofSecret | SHA-256(Ni | IPi | SPIi | secret); otherwise it is
   * answered with one and nothing is kept.
   */
  private cookieAccepted(now: number, path: IkePath, message: IkeMessage): boolean {
    const threshold = this.options.cookieThreshold ?? DEFAULT_COOKIE_THRESHOLD;
    let halfOpen = 0;
    for (const sa of this.sas.values()) if (sa.state === "awaiting-auth") halfOpen++;
    if (halfOpen < threshold) return true;
    const current = this.cookieSecrets[0]!;
    if (now - current.since > COOKIE_SECRET_LIFETIME_MS) {
      this.cookieSecrets = [
        { version: current.version + 1, secret: this.options.random(32), since: now },
        current,
      ];
    }
    const nonce = message.payloads.find((p) => p.type === PayloadType.NONCE);
    if (!nonce || nonce.type !== PayloadType.NONCE) return false;
    const first = message.payloads[0];
    if (
      first?.type === PayloadType.NOTIFY &&
      first.notifyType === NotifyType.COOKIE &&
      first.data.length === 4 + 32
    ) {
      const version = Buffer.from(first.data).readUInt32BE(0);
      const secret = this.cookieSecrets.find((s) => s.version === version);
      if (
        secret &&
        Buffer.compare(first.data, this.cookie(secret, nonce.data, path, message.header.initiatorSpi)) === 0
      )
        return true;
    }
    const header = message.header;
    this.outbox.push({
      path,
      message: encodeMessage(
        {
          initiatorSpi: header.initiatorSpi,
          responderSpi: new Uint8Array(8),
          exchangeType: ExchangeType.IKE_SA_INIT,
          initiator: false,
          response: true,
          messageId: 0,
        },
        [
          notify(
            NotifyType.COOKIE,
            this.cookie(this.cookieSecrets[0]!, nonce.data, path, header.initiatorSpi),
          ),
        ],
      ),
    });
    return false;
  }

  private cookie(
    secret: { version: number; secret: Uint8Array },
    nonce: Uint8Array,
    path: IkePath,
    spiI: Uint8Array,
  ): Uint8Array {
    const hash = createHash("sha256")
      .update(nonce)
      .update(addressBytes(path.remoteAddress))
      .update(spiI)
      .update(secret.secret)
      .digest();
    const cookie = new Uint8Array(4 + hash.length);
    new DataView(cookie.buffer).setUint32(0, secret.version);
    cookie.set(hash, 4);
    return cookie;
  }

  private unknownSpi(now: number, path: IkePath, message: IkeMessage): void {
    const header = message.header;
    if (header.response) {
      this.events.push({
        type: "log",
        level: "info",
        message: `response for unknown IKE SA ${hex(header.initiatorSpi)}_${hex(header.responderSpi)} from ${path.remoteAddress}`,
      });
      return;
    }
    // A request: the driver hears of it (and logs it) as an event of its own.
    this.events.push({ type: "unknown-ike-spi", path: { ...path } });
    const second = Math.floor(now / 1000);
    if (this.invalidSpiWindow.second !== second) this.invalidSpiWindow = { second, sent: 0 };
    if (this.invalidSpiWindow.sent >= INVALID_SPI_PER_SECOND) return;
    this.invalidSpiWindow.sent += 1;
    this.outbox.push({
      path,
      message: encodeMessage(
        {
          initiatorSpi: header.initiatorSpi,
          responderSpi: header.responderSpi,
          exchangeType: header.exchangeType,
          initiator: !header.initiator,
          response: true,
          messageId: header.messageId,
        },
        [notify(NotifyType.INVALID_IKE_SPI)],
      ),
    });
  }

  handleTimeout(now: number): void {
    for (const sa of this.deadlines.takeDue(now)) {
      sa.handleTimeout(now);
      this.drain(now, sa);
    }
  }

  /** The earliest deadline of any IKE SA, kept in a queue so that this costs no scan. */
  pollTimeout(): number | undefined {
    return this.deadlines.next();
  }

  pollTransmit(): Outgoing | undefined {
    return this.outbox.shift();
  }

  pollEvent(): IkeEvent | undefined {
    return this.events.shift();
  }

  /** Moves an SA's output to the endpoint's queues; acts on INITIAL_CONTACT; forgets closed SAs. */
  private drain(now: number, sa: IkeSa): void {
    for (let out = sa.pollTransmit(); out; out = sa.pollTransmit()) this.outbox.push(out);
    for (let event = sa.pollEvent(); event; event = sa.pollEvent()) {
      this.events.push(event);
      if (event.type === "ike-up") this.cameUp(now, sa);
      else if (event.type === "initial-contact" && !sa.isClosed) this.dropStale(now, sa);
      // deleteNow above may have queued a DELETE for this SA.
      for (let out = sa.pollTransmit(); out; out = sa.pollTransmit()) this.outbox.push(out);
    }
    for (let ended = sa.pollExchange(); ended; ended = sa.pollExchange())
      this.exchanges.record(sa.connectionName, ended);
    for (let next = sa.pollSpawned(); next; next = sa.pollSpawned()) {
      const record = this.records.get(sa);
      // A rekeyed IKE SA's successor carries on for it (§2.18): same start, same contact role.
      this.records.set(next, {
        started: record?.started ?? now,
        established: record?.established ?? now,
        contact: record?.contact ?? false,
      });
      if (record?.contact) this.contactSas.add(next);
      this.sas.set(hex(next.initiatorSpi), next);
      this.drain(now, next);
    }
    if (sa.isClosed) this.contactSas.delete(sa);
    if (sa.isClosed && this.sas.get(hex(sa.initiatorSpi)) === sa) this.sas.delete(hex(sa.initiatorSpi));
    // Every change to an IKE SA passes through here, so its deadline is always current.
    this.deadlines.set(sa, sa.isClosed ? undefined : sa.pollTimeout());
  }

  /**
   * "Our INITIAL_CONTACT wins" (design §8, §17 item 2). A contact SA that comes up ends every
   * other established IKE SA of its two identities; an SA that comes up later but started
   * before the contact SA came up, or within CROSSING_GRACE_MS after (a crossing: the peer
   * re-initiated while we contacted it), ends itself. Either way with one DELETE, sent once:
   * the peer drops it whether or not our INITIAL_CONTACT got there first (strongSwan destroys
   * only the SAs that are established when the INITIAL_CONTACT arrives and keeps one that
   * completes later), and one the peer already dropped costs no retransmissions. Ours, not
   * the peer's, must win: our INITIAL_CONTACT may already have made the peer destroy its own
   * SA, so keeping the peer's could leave none. One IKE SA remains (seeded interleavings in
   * test/unit/ike-endpoint-contact.test.ts).
   */
  private cameUp(now: number, sa: IkeSa): void {
    const record = this.records.get(sa);
    if (!record) return;
    record.established = now;
    for (const other of this.contactSasWithSamePair(sa)) {
      const theirs = this.records.get(other);
      if (
        theirs?.contact &&
        theirs.established !== undefined &&
        record.started <= theirs.established + CROSSING_GRACE_MS
      ) {
        sa.deleteNow(now, "crossed our contact IKE SA, which won", "replaced");
        return;
      }
    }
    if (!record.contact) return;
    for (const other of this.sasWithSamePair(sa)) {
      if (other.state !== "established") continue;
      other.deleteNow(now, "replaced by our contact IKE SA (INITIAL_CONTACT)", "replaced");
      this.drain(now, other);
    }
  }

  /**
   * §2.4: INITIAL_CONTACT means the peer lost its state: our other established IKE SAs joining
   * the same two identities are stale. As strongSwan's check_uniqueness: matched by (own id,
   * peer id, address family), not by connection, and ended without a DELETE; their Child SAs
   * go with them. A contact SA of ours that was not yet up when the peer started this one is
   * spared: it wins the crossing (see cameUp) and ends this SA when it comes up.
   */
  private dropStale(now: number, fresh: IkeSa): void {
    const freshRecord = this.records.get(fresh);
    for (const other of this.sasWithSamePair(fresh)) {
      const record = this.records.get(other);
      const crossing =
        record?.contact === true &&
        (record.established === undefined ||
          (freshRecord?.started ?? now) <= record.established + CROSSING_GRACE_MS);
      if (crossing) {
        this.events.push({
          type: "log",
          level: "info",
          message: `INITIAL_CONTACT from ${fresh.summary().remoteId} crossed our contact IKE SA, which wins`,
        });
        continue;
      }
      if (other.state !== "established") continue;
      other.abandon(now, "replaced: the peer sent INITIAL_CONTACT", "replaced");
      this.drain(now, other);
    }
  }

  /** The live contact SAs (see contactSas) joining the same two identities as `sa`. */
  private contactSasWithSamePair(sa: IkeSa): IkeSa[] {
    if (this.contactSas.size === 0) return [];
    const { local, remote } = sa.identities();
    if (!local || !remote) return [];
    return [...this.contactSas].filter(
      (other) => other !== sa && !other.isClosed && this.joins(other, local, remote, sa.path.localAddress),
    );
  }

  /** The other live IKE SAs joining the same two identities over the same address family. */
  private sasWithSamePair(sa: IkeSa): IkeSa[] {
    const { local, remote } = sa.identities();
    if (!local || !remote) return [];
    return this.ikeSas().filter(
      (other) => other !== sa && !other.isClosed && this.joins(other, local, remote, sa.path.localAddress),
    );
  }

  /** strongSwan's has_contact: another established IKE SA joins the same two identities. */
  private otherIkeSa(
    self: Uint8Array,
    local: WireIdentity,
    remote: WireIdentity,
    localAddress: string,
  ): boolean {
    return this.ikeSas().some(
      (other) =>
        Buffer.compare(other.initiatorSpi, self) !== 0 &&
        other.state === "established" &&
        this.joins(other, local, remote, localAddress),
    );
  }

  private joins(sa: IkeSa, local: WireIdentity, remote: WireIdentity, localAddress: string): boolean {
    if (sa.path.localAddress.includes(":") !== localAddress.includes(":")) return false;
    const theirs = sa.identities();
    return sameIdentityPair(local, remote, theirs.local, theirs.remote);
  }

  private allConnections(): ResolvedConnection[] {
    return [...this.connectionsByTag.values()].flat();
  }

  private tagOf(name: string): string | undefined {
    for (const [tag, list] of this.connectionsByTag) if (list.some((c) => c.config.name === name)) return tag;
    return undefined;
  }

  private context(connections: readonly ResolvedConnection[]): IkeSaContext {
    return {
      random: this.options.random,
      connections,
      sharedKey: (local, remote) => this.options.sharedKey(local, remote),
      ...(this.options.wallClock ? { wallClock: this.options.wallClock } : {}),
      otherIkeSa: (self, local, remote, localAddress) => this.otherIkeSa(self, local, remote, localAddress),
    };
  }
}

export interface InitiateOptions {
  /** The peer identity to name in IDr and accept; it must fit the connection's remote id. */
  remoteId?: Identity;
  /** Contact after a takeover: INITIAL_CONTACT, and this SA wins crossings (see initiate). */
  contact?: boolean;
}

/** When an IKE SA started (our IKE_SA_INIT sent, or the peer's received) and came up. */
interface SaRecord {
  started: number;
  established: number | undefined;
  /** Started by initiate({contact: true}). */
  contact: boolean;
}

/** The local addresses a set of connections names (a package's addresses, design §3). */
function localAddressesOf(connections: readonly ResolvedConnection[]): Set<string> {
  return new Set(connections.flatMap((c) => c.config.localAddrs));
}

function addressMatches(connection: ResolvedConnection, path: IkePath): boolean {
  const { localAddrs, remoteAddrs } = connection.config;
  const localOk = localAddrs.length === 0 || localAddrs.includes(path.localAddress);
  const remoteOk =
    remoteAddrs.length === 0 || remoteAddrs.some((r) => addressMatchesEntry(path.remoteAddress, r));
  return localOk && remoteOk;
}
