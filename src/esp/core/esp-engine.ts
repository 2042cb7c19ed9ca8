/**
 * The user-space ESP datapath without I/O (DESIGN.md principles 1 and 4): IKE installs Child
 * SAs through `IpsecDatapath`; the TUN driver hands inner packets to `outbound` and sends what
 * it returns as a UDP datagram; the UDP driver on port 4500 hands ESP packets (RFC 3948: ESP
 * directly as UDP payload, the non-ESP marker and NAT keepalives already taken out by the IKE
 * demultiplexer) to `inbound` and writes what it delivers to the TUN device.
 *
 * A driver calls, in any order as things happen: `outbound(packet, now)`,
 * `inbound(esp, from, now)`, `handleTimeout(now)` when `pollTimeout()` is due; and after each
 * of them `pollEvent()` until undefined (soft expiry: IKE rekeys; hard expiry: IKE deletes;
 * unknown SPI: someone sends with an SA we do not have). The engine never reads a clock, never
 * draws randomness (the IV source is injected) and never throws on packet bytes.
 *
 * Outbound (RFC 4301 §5.1): selectors of the inner packet → SPD → the policy's newest SA that
 * can still carry traffic → next sequence number → seal. Tunnel mode seals the whole inner
 * packet (next header 4 or 41), transport mode its upper-layer payload (transport-mode.ts).
 *
 * Inbound (RFC 4301 §5.2): SPI → SAD (unknown: event) → replay check, which changes nothing →
 * ICV check and decryption with the inferred ESN high half → only then the replay window
 * moves and counters and byte/packet lifetimes count → dummy packets (next header 59, RFC 4303
 * §2.6) are dropped → the inner packet's selectors must fit the SA's (§5.2 step 4).
 *
 * Counters: `packetsIn`/`bytesIn` count every authenticated packet (dummies and policy drops
 * included: they used the key), by inner packet length; `packetsOut`/`bytesOut` likewise.
 */
import type { ChildSaKeys } from "../../ike/core/events.js";
import { addressBytes } from "../../ike/config/traffic-selector-spec.js";
import type { InstalledSa, IpsecDatapath } from "../../ipsec/datapath.js";
import { espBadArgument } from "./esp-errors.js";
import type { EspIvSource } from "./esp-iv.js";
import { NextHeader, parseEspHeader } from "./esp-packet.js";
import { espTransformForChildSa, type EspTransform } from "./esp-transform.js";
import { Sad, type LifetimeReason, type SaCounters, type SaEntry } from "./sad.js";
import { extractSelectors, type PacketSelectors } from "./selectors.js";
import { inboundAllowed, Spd } from "./spd.js";
import { rebuildTransportPacket, stripTransportHeader } from "./transport-mode.js";

/** An address and UDP port. */
export interface EspEndpoint {
  address: string;
  port: number;
}

export type EspOutboundDropReason =
  /** No whole IPv4/IPv6 header, or (transport mode) a header that does not add up. */
  | "malformed"
  /** No policy covers it, or a discard policy does (RFC 4301 §5.1). */
  | "policy"
  /** Every SA of its policy is past its hard lifetime or out of sequence numbers. */
  | "expired"
  /** Transport mode cannot carry it (IPv4 options or fragments, IPv6 extension headers). */
  | "unsupported";

export type EspOutboundResult =
  | { kind: "send"; spiIn: number; to: EspEndpoint; from: EspEndpoint; datagram: Uint8Array }
  | { kind: "drop"; reason: EspOutboundDropReason }
  /** A bypass policy: send the packet in the clear. */
  | { kind: "bypass" }
  /** A protect policy without an SA (a trap policy): drop the packet, ask IKE for an SA. */
  | { kind: "acquire"; policy: string; selectors: PacketSelectors };

export type EspInboundDropReason =
  /** Shorter than the ESP header, or SPI 0. */
  | "malformed"
  | "unknown-spi"
  /** Its SA is past its hard lifetime. */
  | "expired"
  /** Seen before, or older than the replay window. */
  | "replay"
  /** ICV or tag wrong, or too short to carry one: not from the peer, or altered. */
  | "integrity"
  /** Authentic, but the padding or the inner packet's length is wrong. */
  | "invalid-payload"
  /** A dummy packet (next header 59). */
  | "dummy"
  /** The inner packet is not one this SA may carry. */
  | "policy";

export type EspInboundResult =
  { kind: "deliver"; spiIn: number; packet: Uint8Array } | { kind: "drop"; reason: EspInboundDropReason };

export type EspEvent =
  | { type: "soft-expire"; spiIn: number; reason: LifetimeReason }
  | { type: "hard-expire"; spiIn: number; reason: LifetimeReason }
  | { type: "unknown-spi"; spi: number; from: EspEndpoint };

/** The SAD's counters and the engine's own, per Child SA. */
export interface EspSaCounters extends SaCounters {
  dummyPackets: number;
  /** Authentic packets with bad padding or a bad inner length. */
  invalidPayloads: number;
}

/** Engine-wide counters: packets that never reached an SA. */
export interface EspEngineCounters {
  inboundMalformed: number;
  unknownSpi: number;
  outboundMalformed: number;
  outboundPolicyDrops: number;
}

export interface EspEngineOptions {
  /** The time for `installed()` (installedAt); packets and timeouts bring their own `now`. */
  clock: () => number;
  /** IVs of outbound packets; `espIvSource(random)` in drivers. */
  iv: EspIvSource;
}

/** Time-based lifetimes (IKE's rekeyAt / expireAt), when the datapath should watch them too. */
export interface EspInstallOptions {
  softExpireAt?: number | undefined;
  hardExpireAt?: number | undefined;
  /** See `OutboundSequenceOptions.softLimit`. */
  sequenceSoftLimit?: number;
}

interface EngineSa {
  readonly keys: ChildSaKeys;
  readonly entry: SaEntry;
  readonly inbound: EspTransform;
  readonly outbound: EspTransform;
  readonly to: EspEndpoint;
  readonly from: EspEndpoint;
  /** Addresses for rebuilding transport-mode packets. */
  readonly localBytes: Uint8Array;
  readonly remoteBytes: Uint8Array;
  dummyPackets: number;
  invalidPayloads: number;
}

export class EspEngine implements IpsecDatapath {
  private readonly sad = new Sad();
  private readonly spd = new Spd();
  private readonly sas = new Map<number, EngineSa>();
  private readonly events: EspEvent[] = [];
  private readonly engineCounters: EspEngineCounters = {
    inboundMalformed: 0,
    unknownSpi: 0,
    outboundMalformed: 0,
    outboundPolicyDrops: 0,
  };

  constructor(private readonly options: EspEngineOptions) {
    if (typeof options.clock !== "function") throw espBadArgument("clock", "expected a function");
    if (typeof options.iv !== "function") throw espBadArgument("iv", "expected an EspIvSource function");
  }

  /**
   * Installs both directions of a Child SA and its protect policy. A Child SA with the same
   * inbound SPI is replaced. Throws (ESP_BAD_ARGUMENT) for SAs this datapath cannot carry:
   * without UDP encapsulation (Pavise forces it, DESIGN.md principle 4), or with keys that do
   * not fit the suite.
   */
  installChildSa(keys: ChildSaKeys, options: EspInstallOptions = {}): void {
    if (keys.encap === undefined) {
      throw espBadArgument(
        "encap",
        `Child SA "${keys.name}": the user-space datapath carries ESP in UDP only (RFC 3948); set encap: true`,
      );
    }
    const inbound = espTransformForChildSa(keys, "inbound");
    const outbound = espTransformForChildSa(keys, "outbound");
    const localBytes = addressBytes(keys.localAddress);
    const remoteBytes = addressBytes(keys.remoteAddress);
    if (this.sas.has(keys.spiIn)) this.removeChildSa(keys.spiIn);
    const now = this.options.clock();
    const entry = this.sad.install(keys, {
      now,
      softExpireAt: options.softExpireAt,
      hardExpireAt: options.hardExpireAt,
      ...(options.sequenceSoftLimit === undefined ? {} : { sequenceSoftLimit: options.sequenceSoftLimit }),
    });
    this.spd.installChildSa(keys);
    this.sas.set(keys.spiIn, {
      keys,
      entry,
      inbound,
      outbound,
      to: { address: keys.remoteAddress, port: keys.encap.remotePort },
      from: { address: keys.localAddress, port: keys.encap.localPort },
      localBytes,
      remoteBytes,
      dummyPackets: 0,
      invalidPayloads: 0,
    });
  }

  /** Removes a Child SA (both directions) and its policy when no other SA uses it. */
  removeChildSa(spiIn: number, _spiOut?: number): void {
    const sa = this.sas.get(spiIn);
    if (!sa) return;
    this.sas.delete(spiIn);
    this.sad.remove(spiIn);
    this.spd.removeChildSa(spiIn);
    sa.inbound.dispose();
    sa.outbound.dispose();
  }

  installed(): InstalledSa[] {
    return [...this.sas.values()].map((sa) => ({
      name: sa.keys.name,
      spiIn: sa.keys.spiIn,
      spiOut: sa.keys.spiOut,
      localAddress: sa.keys.localAddress,
      remoteAddress: sa.keys.remoteAddress,
      installedAt: sa.entry.installedAt,
    }));
  }

  counters(spiIn: number): EspSaCounters | undefined {
    const sa = this.sas.get(spiIn);
    if (!sa) return undefined;
    return { ...sa.entry.counters, dummyPackets: sa.dummyPackets, invalidPayloads: sa.invalidPayloads };
  }

  engineStats(): EspEngineCounters {
    return { ...this.engineCounters };
  }

  /** Protects an inner packet (from the TUN device) for the peer. Never throws on its bytes. */
  outbound(packet: Uint8Array, now: number): EspOutboundResult {
    try {
      return this.protect(packet, now);
    } finally {
      this.collectEvents();
    }
  }

  /** Checks and opens an ESP packet that arrived in UDP from `from`. Never throws on its bytes. */
  inbound(datagram: Uint8Array, from: EspEndpoint, now: number): EspInboundResult {
    try {
      return this.unprotect(datagram, from, now);
    } finally {
      this.collectEvents();
    }
  }

  /** Time-based lifetimes. */
  handleTimeout(now: number): void {
    this.sad.tick(now);
    this.collectEvents();
  }

  /** When `handleTimeout` next has something to do, if ever. */
  pollTimeout(): number | undefined {
    return this.sad.nextDeadline();
  }

  pollEvent(): EspEvent | undefined {
    return this.events.shift();
  }

  private protect(packet: Uint8Array, now: number): EspOutboundResult {
    const selectors = extractSelectors(packet);
    if (!selectors) {
      this.engineCounters.outboundMalformed++;
      return { kind: "drop", reason: "malformed" };
    }
    const decision = this.spd.lookupOutbound(selectors);
    switch (decision.action) {
      case "discard":
        this.engineCounters.outboundPolicyDrops++;
        return { kind: "drop", reason: "policy" };
      case "bypass":
        return { kind: "bypass" };
      case "acquire":
        return { kind: "acquire", policy: decision.policy.name, selectors };
      case "protect":
        break;
    }
    const entry = this.sad.outboundFor(decision.policy);
    const sa = entry && this.sas.get(entry.keys.spiIn);
    if (!entry || !sa) return { kind: "drop", reason: "expired" };

    let payload: Uint8Array;
    let nextHeader: number;
    if (sa.keys.mode === "tunnel") {
      payload = packet;
      nextHeader = selectors.family === 4 ? NextHeader.IPV4 : NextHeader.IPV6;
    } else {
      const stripped = stripTransportHeader(packet);
      if (!stripped.ok) {
        if (stripped.reason === "malformed") this.engineCounters.outboundMalformed++;
        return { kind: "drop", reason: stripped.reason };
      }
      payload = stripped.payload;
      nextHeader = stripped.protocol;
    }
    if (!this.sad.nextOutbound(entry, payload.length, now)) return { kind: "drop", reason: "expired" };
    const seq = { high: entry.sequence.high, low: entry.sequence.low };
    const datagram = sa.outbound.seal({
      spi: sa.keys.spiOut,
      seq,
      iv: this.options.iv(sa.outbound.ivLength, seq),
      payload,
      nextHeader,
    });
    return { kind: "send", spiIn: sa.keys.spiIn, to: sa.to, from: sa.from, datagram };
  }

  private unprotect(datagram: Uint8Array, from: EspEndpoint, now: number): EspInboundResult {
    const header = parseEspHeader(datagram);
    if (!header.ok) {
      this.engineCounters.inboundMalformed++;
      return { kind: "drop", reason: "malformed" };
    }
    const entry = this.sad.inbound(header.spi, formatEndpoint(from), now);
    const sa = entry && this.sas.get(header.spi);
    if (!entry || !sa) {
      if (this.sas.has(header.spi)) return { kind: "drop", reason: "expired" };
      this.engineCounters.unknownSpi++;
      return { kind: "drop", reason: "unknown-spi" };
    }
    const verdict = this.sad.checkReplay(entry, header.seq);
    if (!verdict.ok) return { kind: "drop", reason: "replay" };
    const opened = sa.inbound.open(datagram, verdict.high);
    if (!opened.ok) {
      if (opened.reason === "padding" || opened.reason === "inner-length") {
        sa.invalidPayloads++;
        return { kind: "drop", reason: "invalid-payload" };
      }
      this.sad.integrityFailed(entry);
      return { kind: "drop", reason: "integrity" };
    }
    this.sad.acceptInbound(entry, verdict, opened.payload.length, now);
    if (opened.dummy) {
      sa.dummyPackets++;
      return { kind: "drop", reason: "dummy" };
    }

    let packet: Uint8Array | undefined;
    if (sa.keys.mode === "tunnel") {
      const expected = opened.payload.length > 0 ? opened.payload[0]! >>> 4 : 0;
      const fits =
        (opened.nextHeader === NextHeader.IPV4 && expected === 4) ||
        (opened.nextHeader === NextHeader.IPV6 && expected === 6);
      packet = fits ? opened.payload : undefined;
    } else {
      packet = rebuildTransportPacket(sa.remoteBytes, sa.localBytes, opened.nextHeader, opened.payload);
    }
    const selectors = packet && extractSelectors(packet);
    if (!packet || !selectors || !inboundAllowed(selectors, sa.keys)) {
      this.sad.policyDropped(entry);
      return { kind: "drop", reason: "policy" };
    }
    return { kind: "deliver", spiIn: sa.keys.spiIn, packet };
  }

  private collectEvents(): void {
    for (const event of this.sad.takeEvents()) {
      if (event.type === "unknown-spi") {
        this.events.push({ type: "unknown-spi", spi: event.spi, from: parseEndpoint(event.from) });
      } else {
        this.events.push(event);
      }
    }
  }
}

/** "198.18.1.1:4500" or "[2001:db8::1]:4500", as the SAD's unknown-SPI events carry it. */
function formatEndpoint(endpoint: EspEndpoint): string {
  return endpoint.address.includes(":")
    ? `[${endpoint.address}]:${endpoint.port}`
    : `${endpoint.address}:${endpoint.port}`;
}

function parseEndpoint(text: string): EspEndpoint {
  const at = text.lastIndexOf(":");
  const host = text.slice(0, at);
  return {
    address: host.startsWith("[") ? host.slice(1, -1) : host,
    port: Number(text.slice(at + 1)),
  };
}
