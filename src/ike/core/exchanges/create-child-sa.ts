// CREATE_CHILD_SA for Child SAs (RFC 7296 §1.3.1, §1.3.3): a further Child SA, or a rekey of
// one with REKEY_SA, with its collisions (§2.8.1). A request that rekeys the IKE SA itself goes
// on to ike-rekey.ts.
import { ExchangeType } from "../../codec/header.js";
import { NotifyType, isErrorNotify, notify, type NotifyPayload } from "../../codec/notify.js";
import type { InnerPayload } from "../../codec/payload.js";
import { PayloadType } from "../../codec/payload-type.js";
import { ProtocolId, type Proposal } from "../../codec/sa.js";
import { dhGroup } from "../../crypto/dh.js";
import { childAnswer, childOffer, decideChild, makeChildSa, type ChildSa } from "../child-sa.js";
import type { ResolvedChild } from "../connection.js";
import {
  find,
  fromWireSelectors,
  hasNotify,
  hex,
  notifiesOf,
  spiBytes,
  spiNumber,
} from "../payload-helpers.js";
import { acceptAnswer, offerProposals, type ChosenProposal } from "../proposals.js";
import { contains, type TrafficSelector } from "../traffic-selector.js";
import { NONCE_LENGTH, type ExchangeContext, type Pending } from "./exchange-context.js";
import { answerIkeRekey } from "./ike-rekey.js";

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
 * CREATE_CHILD_SA for a Child SA (§1.3.1), or with REKEY_SA to replace one (§1.3.3); with a
 * KE payload when the ESP proposals ask for PFS.
 */
export function startChildCreate(
  ike: ExchangeContext,
  now: number,
  child: ResolvedChild,
  old: ChildSa | undefined,
): boolean {
  const group = child.espProposals[0]?.dh[0]?.id;
  const dh = group === undefined ? undefined : dhGroup(group).generate(ike.context.random);
  const newSpi = ike.newChildSpi();
  const nonce = ike.context.random(NONCE_LENGTH);
  const offered = offerProposals(child.espProposals, ProtocolId.ESP, newSpi, { withDh: dh !== undefined });
  const built = childOffer(child, ike.state.path, offered);
  const inner: InnerPayload[] = [
    ...(old ? [rekeySaNotify(old.keys.spiIn)] : []),
    ...built.payloads.filter((p) => p.type === PayloadType.NOTIFY),
    { type: PayloadType.SA, proposals: offered },
    { type: PayloadType.NONCE, data: nonce },
    ...(dh && group !== undefined ? [{ type: PayloadType.KE, group, data: dh.publicKey } as const] : []),
    ...built.payloads.filter((p) => p.type === PayloadType.TSi || p.type === PayloadType.TSr),
  ];
  ike.state.pending = {
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
  ike.request(now, ExchangeType.CREATE_CHILD_SA, inner);
  return true;
}

/** CREATE_CHILD_SA (§1.3): a new Child SA, a Child SA rekey (REKEY_SA), or an IKE SA rekey. */
export function answerCreateChildSa(
  ike: ExchangeContext,
  now: number,
  messageId: number,
  inner: InnerPayload[],
): void {
  const refuse = (notifyType: number, reason: string, data?: Uint8Array): void => {
    ike.respond(ExchangeType.CREATE_CHILD_SA, messageId, [notify(notifyType, data)]);
    ike.log("info", `refused CREATE_CHILD_SA: ${reason}`);
  };
  if (ike.state.phase.name !== "established" || !ike.state.keys || !ike.state.suite)
    return refuse(NotifyType.TEMPORARY_FAILURE, "not established");
  // While our IKE SA rekey is under way a new Child SA would be left behind on this SA.
  if (ike.state.pending?.kind === "rekey-ike")
    return refuse(NotifyType.TEMPORARY_FAILURE, "an IKE SA rekey is under way");
  const sa = find(inner, PayloadType.SA);
  const nonce = find(inner, PayloadType.NONCE);
  const ke = find(inner, PayloadType.KE);
  if (!sa || !nonce) return refuse(NotifyType.INVALID_SYNTAX, "SA or Ni missing");
  if (sa.proposals.some((p) => p.protocolId === ProtocolId.IKE))
    return answerIkeRekey(ike, now, messageId, inner, refuse);

  const rekey = notifiesOf(inner).find((n) => n.notifyType === NotifyType.REKEY_SA);
  let old: ChildSa | undefined;
  if (rekey) {
    // The SPI in REKEY_SA is the one the requester receives on: our outbound SPI.
    old = ike.state.children.find((c) => c.keys.spiOut === spiNumber(rekey.spi));
    if (!old) return refuse(NotifyType.CHILD_SA_NOT_FOUND, `no Child SA with outbound SPI ${hex(rekey.spi)}`);
    // §2.25.1: a Child SA we are about to close (already replaced by our own rekey) gets
    // TEMPORARY_FAILURE; one we are rekeying right now is answered as usual, and the
    // redundant pair is sorted out by nonces when our own rekey completes (§2.8.1).
    const ourRekey =
      ike.state.pending?.kind === "create-child" && ike.state.pending.old === old
        ? ike.state.pending
        : undefined;
    if (old.rekeying && !ourRekey)
      return refuse(NotifyType.TEMPORARY_FAILURE, "this Child SA is being closed");
  }
  const decision = decideChild(inner, ike.state.connection, ike.state.path, {
    keGroup: ke?.group,
    ...(old ? { children: [old.config] } : {}),
  });
  if (!decision.ok) return refuse(decision.notifyType, decision.reason, decision.data);
  let ourKe: InnerPayload[] = [];
  let shared: Uint8Array | undefined;
  if (ke && decision.chosen.dh !== undefined) {
    const pair = dhGroup(ke.group).generate(ike.context.random);
    const result = pair.computeShared(ke.data);
    if (!result.ok) return refuse(NotifyType.INVALID_SYNTAX, `bad KE: ${result.error.message}`);
    shared = result.shared;
    ourKe = [{ type: PayloadType.KE, group: ke.group, data: pair.publicKey }];
  }
  const ourNonce = ike.context.random(NONCE_LENGTH);
  const spiIn = ike.newChildSpi();
  const child = makeChild(
    ike,
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
  ike.respond(ExchangeType.CREATE_CHILD_SA, messageId, [
    answer[0]!,
    { type: PayloadType.NONCE, data: ourNonce },
    ...ourKe,
    ...answer.slice(1),
  ]);
  ike.installChild(child);
  // The rekeyed SA stays until its initiator deletes it (§2.8); mark it so we do not rekey it too.
  if (old) old.rekeying = true;
  if (old && ike.state.pending?.kind === "create-child" && ike.state.pending.old === old) {
    ike.state.pending.collision = { nonces: [nonce.data, ourNonce], child };
  }
}

export function handleChildCreateResponse(
  ike: ExchangeContext,
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
      : acceptChildAnswer(
          ike,
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
    ike.log(
      "warn",
      `${old ? "rekeying" : "creating"} CHILD SA ${pending.child.config.name} failed: ${child}`,
    );
    if (!old) return;
    // Keep the old SA; its hard lifetime ends it if no later rekey succeeds.
    old.rekeying = false;
    old.rekeyAt = now + ike.retryDelay();
    if (error?.notifyType === NotifyType.CHILD_SA_NOT_FOUND)
      ike.removeChild(old, "the peer has no such Child SA");
    return;
  }
  ike.installChild(child);
  if (old && pending.collision) {
    // §2.8.1: both sides rekeyed the same Child SA. The SA made with the lowest of the four
    // nonces is redundant and its creator deletes it; the creator of the survivor deletes the
    // old one. Both ends compute the same answer.
    const ours = [pending.nonce, nonce!.data];
    const lowest = [...ours, ...pending.collision.nonces].reduce((a, b) =>
      Buffer.compare(a, b) <= 0 ? a : b,
    );
    if (ours.includes(lowest)) {
      ike.state.tasks.unshift({
        kind: "delete-child",
        spiIn: child.keys.spiIn,
        reason: "redundant after a rekey collision",
      });
      return;
    }
  }
  // §2.8: the initiator of the rekey deletes the old SA.
  if (old) ike.state.tasks.unshift({ kind: "delete-child", spiIn: old.keys.spiIn, reason: "rekeyed" });
}

/** The initiator's check of a Child SA answer: proposal, selectors within ours, mode. */
export function acceptChildAnswer(
  ike: ExchangeContext,
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
  return makeChild(
    ike,
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

export function makeChild(
  ike: ExchangeContext,
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
  if (!ike.state.keys || !ike.state.suite) throw new Error("makeChild: no IKE SA keys");
  const made = makeChildSa({
    prf: ike.state.suite.prf,
    skD: ike.state.keys.skD,
    chosen,
    spiIn,
    nonceI,
    nonceR,
    ...(shared ? { shared } : {}),
    exchangeInitiator,
    child,
    path: ike.state.path,
    encap: ike.state.connection.config.encap,
    localTs,
    remoteTs,
    transport,
    now,
    random: ike.context.random,
  });
  shared?.fill(0);
  return made;
}
