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
import { IkeSa, type IkePath, type Outgoing } from "./ike-sa.js";
import type { IkeSaSnapshot } from "./ike-sa-snapshot.js";
import { DeadlineQueue } from "./deadline-queue.js";

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
  private readonly deadlines = new DeadlineQueue<IkeSa>();
  private readonly outbox: Outgoing[] = [];
  private readonly events: IkeEvent[] = [];
  private invalidSpiWindow = { second: -1, sent: 0 };
  private cookieSecrets: { version: number; secret: Uint8Array; since: number }[];

  constructor(private readonly options: IkeEndpointOptions) {
    this.cookieSecrets = [{ version: 1, secret: options.random(32), since: 0 }];
  }

  /** Starts an IKE SA for a connection to the given path. */
  initiate(now: number, connectionName: string, path: IkePath): IkeSa {
    const connection = this.options.connections.find((c) => c.config.name === connectionName);
    if (!connection) throw new Error(`initiate: no connection ${connectionName}`);
    const sa = IkeSa.initiate({ ...this.options, connections: [connection] }, connection, path, now);
    this.sas.set(hex(sa.initiatorSpi), sa);
    this.drain(sa);
    return sa;
  }

  /** Rekeys an IKE SA (§1.3.2) or, given an inbound SPI, one of its Child SAs (§1.3.3). */
  rekey(now: number, sa: IkeSa, childSpiIn?: number): void {
    if (childSpiIn === undefined) sa.rekey(now);
    else sa.rekeyChild(now, childSpiIn);
    this.drain(sa);
  }

  /** Takes over an IKE SA exported by another endpoint (IkeSa.snapshot); it reports child-up again. */
  restoreSa(snapshot: IkeSaSnapshot): IkeSa {
    const sa = IkeSa.restore(this.options, snapshot);
    this.sas.set(hex(sa.initiatorSpi), sa);
    this.drain(sa);
    return sa;
  }

  /** Deletes one Child SA of an IKE SA, named by its inbound SPI (§1.4.1). */
  deleteChild(now: number, sa: IkeSa, spiIn: number, reason: string): void {
    sa.deleteChild(now, spiIn, reason);
    this.drain(sa);
  }

  /** Deletes an IKE SA (INFORMATIONAL with DELETE, §1.4.1). */
  deleteSa(now: number, sa: IkeSa): void {
    sa.delete(now);
    this.drain(sa);
  }

  /** Starts a liveness check on an IKE SA. */
  checkLiveness(now: number, sa: IkeSa): void {
    sa.dpd(now);
    this.drain(sa);
  }

  ikeSas(): IkeSa[] {
    return [...this.sas.values()];
  }

  handleDatagram(now: number, path: IkePath, bytes: Uint8Array): void {
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
    const header = message.header;
    const sa = this.sas.get(hex(header.initiatorSpi));
    if (
      sa &&
      (header.exchangeType === ExchangeType.IKE_SA_INIT ||
        Buffer.compare(sa.responderSpi, header.responderSpi) === 0)
    ) {
      sa.handleMessage(now, path, message, bytes);
      this.drain(sa);
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

  private answerInit(now: number, path: IkePath, message: IkeMessage, bytes: Uint8Array): void {
    if (!this.cookieAccepted(now, path, message)) return;
    const candidates = this.options.connections.filter((c) => addressMatches(c, path));
    const result = IkeSa.respond({ ...this.options, connections: candidates }, path, message, bytes, now);
    if (result.sa) {
      this.sas.set(hex(result.sa.initiatorSpi), result.sa);
      this.drain(result.sa);
    } else {
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
    this.events.push({
      type: "log",
      level: "info",
      message: `message for unknown IKE SA ${hex(header.initiatorSpi)}_${hex(header.responderSpi)} from ${path.remoteAddress}`,
    });
    if (header.response) return;
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
      this.drain(sa);
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
  private drain(sa: IkeSa): void {
    for (let out = sa.pollTransmit(); out; out = sa.pollTransmit()) this.outbox.push(out);
    for (let event = sa.pollEvent(); event; event = sa.pollEvent()) {
      this.events.push(event);
      if (event.type === "initial-contact") this.dropStale(sa, event.sa.remoteId);
    }
    for (let next = sa.pollSpawned(); next; next = sa.pollSpawned()) {
      this.sas.set(hex(next.initiatorSpi), next);
      this.drain(next);
    }
    if (sa.isClosed && this.sas.get(hex(sa.initiatorSpi)) === sa) this.sas.delete(hex(sa.initiatorSpi));
    // Every change to an IKE SA passes through here, so its deadline is always current.
    this.deadlines.set(sa, sa.isClosed ? undefined : sa.pollTimeout());
  }

  /** §2.4: INITIAL_CONTACT means the peer lost its state: our other SAs with it are stale. */
  private dropStale(fresh: IkeSa, remoteId: string): void {
    for (const other of [...this.sas.values()]) {
      if (
        other === fresh ||
        other.summary().remoteId !== remoteId ||
        other.connectionName !== fresh.connectionName
      )
        continue;
      other.abandon(0, "replaced: the peer sent INITIAL_CONTACT");
      this.drain(other);
    }
  }
}

function addressMatches(connection: ResolvedConnection, path: IkePath): boolean {
  const { localAddrs, remoteAddrs } = connection.config;
  const localOk = localAddrs.length === 0 || localAddrs.includes(path.localAddress);
  const remoteOk = remoteAddrs.length === 0 || remoteAddrs.some((r) => inPrefix(path.remoteAddress, r));
  return localOk && remoteOk;
}

function inPrefix(address: string, prefix: string): boolean {
  const [network = "", lengthText] = prefix.split("/");
  if (lengthText === undefined) return address === network;
  if (address.includes(":") || network.includes(":")) return address === network;
  const toNumber = (ip: string) => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
  const length = Number(lengthText);
  const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
  return (toNumber(address) & mask) >>> 0 === (toNumber(network) & mask) >>> 0;
}
