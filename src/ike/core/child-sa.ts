import { NotifyType } from "../codec/notify.js";
import type { InnerPayload, Payload } from "../codec/payload.js";
import { PayloadType } from "../codec/payload-type.js";
import { ProtocolId, type Proposal } from "../codec/sa.js";
import { deriveChildSaKeys } from "../crypto/key-derivation.js";
import type { RandomSource } from "../crypto/random.js";
import type { ResolvedChild, ResolvedConnection } from "./connection.js";
import type { ChildSaKeys } from "./events.js";
import type { IkePath } from "./ike-path.js";
import {
  find,
  fromWireSelectors,
  hasNotify,
  randomBelow,
  spiNumber,
  toWireSelector,
} from "./payload-helpers.js";
import { answerProposal, selectProposal, type ChosenProposal } from "./proposals.js";
import { narrow, resolveSelectors, type TrafficSelector } from "./traffic-selector.js";

/** A Child SA of an IKE SA, with its lifetime deadlines (RFC 7296 §2.8). */
export interface ChildSa {
  keys: ChildSaKeys;
  config: ResolvedChild;
  createdAt: number;
  /** Soft lifetime: start a rekey (jittered by rand_time so both ends do not collide). */
  rekeyAt: number | undefined;
  /** Hard lifetime: delete it. */
  expireAt: number | undefined;
  /** A rekey of ours is under way, or it was replaced and awaits deletion. */
  rekeying: boolean;
}

export interface ChildKeying {
  prf: number;
  skD: Uint8Array;
  chosen: ChosenProposal;
  /** Our inbound SPI (chosen by us) — the peer's is in `chosen.spi`. */
  spiIn: Uint8Array;
  /** Nonces of the exchange that created it: IKE_SA_INIT for the first, CREATE_CHILD_SA after. */
  nonceI: Uint8Array;
  nonceR: Uint8Array;
  /** g^ir of a CREATE_CHILD_SA with KE (PFS). */
  shared?: Uint8Array;
  /** Whether we were the initiator of that exchange (decides which keys are ours, §2.17). */
  exchangeInitiator: boolean;
  child: ResolvedChild;
  path: IkePath;
  encap: boolean;
  localTs: TrafficSelector[];
  remoteTs: TrafficSelector[];
  transport: boolean;
  now: number;
  random: RandomSource;
}

/** Derives a Child SA's keys (§2.17) and sets its lifetimes. */
export function makeChildSa(k: ChildKeying): ChildSa {
  const keys = deriveChildSaKeys({
    prf: k.prf,
    skD: k.skD,
    suite: {
      encr: k.chosen.encr.id,
      ...(k.chosen.encr.keyLength === undefined ? {} : { encrKeyLength: k.chosen.encr.keyLength }),
      ...(k.chosen.integ === undefined ? {} : { integ: k.chosen.integ }),
    },
    nonceI: k.nonceI,
    nonceR: k.nonceR,
    ...(k.shared ? { sharedSecret: k.shared } : {}),
  });
  const outbound = k.exchangeInitiator ? keys.initiatorToResponder : keys.responderToInitiator;
  const inbound = k.exchangeInitiator ? keys.responderToInitiator : keys.initiatorToResponder;
  const config = k.child.config;
  const jitter = randomBelow(k.random, config.randTimeMs);
  return {
    keys: {
      name: config.name,
      spiIn: spiNumber(k.spiIn),
      spiOut: spiNumber(k.chosen.spi),
      mode: k.transport ? "transport" : "tunnel",
      encap: k.encap ? { localPort: k.path.localPort, remotePort: k.path.remotePort } : undefined,
      localAddress: k.path.localAddress,
      remoteAddress: k.path.remoteAddress,
      encr: k.chosen.encr,
      integ: k.chosen.integ,
      esn: k.chosen.esn === 1,
      keyIn: { encKey: inbound.encKey, integKey: inbound.integKey },
      keyOut: { encKey: outbound.encKey, integKey: outbound.integKey },
      localTs: k.localTs,
      remoteTs: k.remoteTs,
      replayWindow: config.replayWindow,
      lifetime: {
        softBytes: config.rekeyBytes,
        hardBytes: config.lifeBytes,
        softPackets: config.rekeyPackets,
        hardPackets: config.lifePackets,
      },
    },
    config: k.child,
    createdAt: k.now,
    rekeyAt: config.rekeyTimeMs > 0 ? k.now + config.rekeyTimeMs - jitter : undefined,
    expireAt: config.lifeTimeMs > 0 ? k.now + config.lifeTimeMs : undefined,
    rekeying: false,
  };
}

/** What a responder decided about a requested Child SA. */
export type ChildDecision =
  | {
      ok: true;
      child: ResolvedChild;
      chosen: ChosenProposal;
      localTs: TrafficSelector[];
      remoteTs: TrafficSelector[];
      transport: boolean;
    }
  | { ok: false; notifyType: number; reason: string; data?: Uint8Array };

/**
 * The responder's choice for a requested Child SA (§1.2, §1.3.1): a child configuration whose
 * ESP proposals and traffic selectors fit. `children` limits the candidates (a rekey keeps the
 * rekeyed SA's configuration). With a KE payload, DH must match the chosen group.
 */
export function decideChild(
  inner: readonly Payload[],
  connection: ResolvedConnection,
  path: IkePath,
  options: { keGroup: number | undefined; children?: readonly ResolvedChild[] },
): ChildDecision {
  const sa = find(inner, PayloadType.SA);
  const tsi = find(inner, PayloadType.TSi);
  const tsr = find(inner, PayloadType.TSr);
  if (!sa || !tsi || !tsr)
    return { ok: false, notifyType: NotifyType.INVALID_SYNTAX, reason: "SA, TSi or TSr missing" };
  const proposedI = fromWireSelectors(tsi);
  const proposedR = fromWireSelectors(tsr);
  const wantsTransport = hasNotify(inner, NotifyType.USE_TRANSPORT_MODE);
  let noProposal = false;
  for (const child of options.children ?? connection.children) {
    const chosen = selectProposal(sa.proposals, child.espProposals, ProtocolId.ESP, {
      withDh: options.keGroup !== undefined,
    });
    if (!chosen || chosen.spi.length !== 4) {
      noProposal = true;
      continue;
    }
    if (options.keGroup !== undefined && chosen.dh !== undefined && chosen.dh !== options.keGroup) {
      return {
        ok: false,
        notifyType: NotifyType.INVALID_KE_PAYLOAD,
        reason: `KE group ${options.keGroup} instead of ${chosen.dh}`,
        data: Uint8Array.of(chosen.dh >> 8, chosen.dh & 0xff),
      };
    }
    const remoteTs = narrow(proposedI, resolveSelectors(child.config.remoteTs, path.remoteAddress));
    const localTs = narrow(proposedR, resolveSelectors(child.config.localTs, path.localAddress));
    if (remoteTs.length === 0 || localTs.length === 0) continue;
    return {
      ok: true,
      child,
      chosen,
      localTs,
      remoteTs,
      transport: wantsTransport && child.config.mode === "transport",
    };
  }
  return noProposal
    ? { ok: false, notifyType: NotifyType.NO_PROPOSAL_CHOSEN, reason: "no ESP proposal matches" }
    : { ok: false, notifyType: NotifyType.TS_UNACCEPTABLE, reason: "traffic selectors unacceptable" };
}

/** The responder's payloads for an accepted Child SA. */
export function childAnswer(
  decision: Extract<ChildDecision, { ok: true }>,
  spiIn: Uint8Array,
): InnerPayload[] {
  return [
    { type: PayloadType.SA, proposals: [answerProposal(decision.chosen, spiIn)] },
    { type: PayloadType.TSi, selectors: decision.remoteTs.map(toWireSelector) },
    { type: PayloadType.TSr, selectors: decision.localTs.map(toWireSelector) },
    ...(decision.transport
      ? [
          {
            type: PayloadType.NOTIFY,
            protocolId: 0,
            spi: new Uint8Array(0),
            notifyType: NotifyType.USE_TRANSPORT_MODE,
            data: new Uint8Array(0),
          } as const,
        ]
      : []),
  ];
}

/** The initiator's request payloads for a Child SA: SA, TSi, TSr (and the transport notify). */
export function childOffer(
  child: ResolvedChild,
  path: IkePath,
  offered: Proposal[],
): { payloads: InnerPayload[]; localTs: TrafficSelector[]; remoteTs: TrafficSelector[] } {
  const localTs = resolveSelectors(child.config.localTs, path.localAddress);
  const remoteTs = resolveSelectors(child.config.remoteTs, path.remoteAddress);
  const payloads: InnerPayload[] = [];
  if (child.config.mode === "transport") {
    payloads.push({
      type: PayloadType.NOTIFY,
      protocolId: 0,
      spi: new Uint8Array(0),
      notifyType: NotifyType.USE_TRANSPORT_MODE,
      data: new Uint8Array(0),
    });
  }
  payloads.push(
    { type: PayloadType.SA, proposals: offered },
    { type: PayloadType.TSi, selectors: localTs.map(toWireSelector) },
    { type: PayloadType.TSr, selectors: remoteTs.map(toWireSelector) },
  );
  return { payloads, localTs, remoteTs };
}
