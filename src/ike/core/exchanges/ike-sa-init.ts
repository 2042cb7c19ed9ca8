// IKE_SA_INIT (RFC 7296 §1.2): the initiator's request and its answer (with the COOKIE and
// INVALID_KE_PAYLOAD retries), and the responder's answer, which creates the IKE SA.
import { ExchangeType } from "../../codec/header.js";
import { encodeMessage, type IkeMessage } from "../../codec/message.js";
import { NotifyType, isErrorNotify, notify, type NotifyPayload } from "../../codec/notify.js";
import type { Payload } from "../../codec/payload.js";
import { PayloadType } from "../../codec/payload-type.js";
import { ProtocolId } from "../../codec/sa.js";
import { dhGroup } from "../../crypto/dh.js";
import { deriveInitialIkeSaKeys } from "../../crypto/key-derivation.js";
import type { ResolvedConnection } from "../connection.js";
import { certificatePayloads } from "../ike-authentication.js";
import type { IkePath } from "../ike-path.js";
import { natDetectionHash } from "../nat-detection.js";
import { find, hasNotify, notifiesOf } from "../payload-helpers.js";
import {
  acceptAnswer,
  answerProposal,
  offerProposals,
  selectProposal,
  type ChosenProposal,
} from "../proposals.js";
import { NAT_T_PORT } from "../udp-demux.js";
import {
  NONCE_LENGTH,
  SIGNATURE_HASHES,
  SPI_LENGTH,
  signatureHashesOf,
  suiteOf,
  type ExchangeContext,
  type IkeSaContext,
} from "./exchange-context.js";
import { sendAuthRequest } from "./ike-auth.js";

/** strongSwan's half_open_timeout: a responder waits this long for IKE_AUTH. */
const HALF_OPEN_TIMEOUT_MS = 30_000;

/**
 * Answers an IKE_SA_INIT request. `create` makes the new IKE SA (awaiting IKE_AUTH) once the
 * request is acceptable; the cases that keep no state (INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN,
 * INVALID_SYNTAX) get only a reply.
 */
export function answerInit<T>(
  context: IkeSaContext,
  request: IkeMessage,
  raw: Uint8Array,
  now: number,
  create: (connection: ResolvedConnection) => { sa: T; ike: ExchangeContext },
): { sa: T; reply?: undefined } | { sa?: undefined; reply: Uint8Array | undefined; reason: string } {
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
  const created = create(connection);
  const ike = created.ike;
  const state = ike.state;
  state.spiR = context.random(SPI_LENGTH);
  state.nonceI = nonce.data;
  state.nonceR = context.random(NONCE_LENGTH);
  state.dhGroupId = chosen.dh;
  const pair = dhGroup(chosen.dh).generate(context.random);
  const shared = pair.computeShared(ke.data);
  if (!shared.ok)
    return refuse(NotifyType.INVALID_SYNTAX, new Uint8Array(0), `bad KE data: ${shared.error.message}`);
  setInitialKeys(ike, chosen, shared.shared);
  state.offeredByPeer = sa.proposals;
  state.initRequest = raw;
  state.peerFragmentation = hasNotify(request.payloads, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED);
  state.peerHashes = signatureHashesOf(request.payloads);
  const payloads: Payload[] = [
    { type: PayloadType.SA, proposals: [answerProposal(chosen, new Uint8Array(0))] },
    { type: PayloadType.KE, group: chosen.dh, data: pair.publicKey },
    { type: PayloadType.NONCE, data: state.nonceR },
    ...natDetectionNotifies(ike),
    ...(connection.config.fragmentation && state.peerFragmentation
      ? [notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED)]
      : []),
    ...(connection.peerTrust ? [certificatePayloads(connection).certReq].filter((p) => p !== undefined) : []),
    notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, SIGNATURE_HASHES),
  ];
  state.initResponse = encodeMessage(ike.header(ExchangeType.IKE_SA_INIT, true, 0), payloads);
  ike.sendResponse(0, [state.initResponse]);
  state.lingerDeadline = now + HALF_OPEN_TIMEOUT_MS;
  // Pavise always encapsulates ESP (§2.23 fake NAT detection): the peer floats to port 4500.
  return { sa: created.sa };
}

export function sendInitRequest(ike: ExchangeContext, now: number): void {
  // A retry with a cookie repeats every other payload unchanged (§2.6); one after
  // INVALID_KE_PAYLOAD needs a key of the other group (§1.2).
  const pair =
    ike.state.dh && ike.state.dhFor === ike.state.dhGroupId
      ? ike.state.dh
      : dhGroup(ike.state.dhGroupId).generate(ike.context.random);
  ike.state.dh = pair;
  ike.state.dhFor = ike.state.dhGroupId;
  ike.state.offeredIke = offerProposals(ike.state.connection.ikeProposals, ProtocolId.IKE, new Uint8Array(0));
  const payloads: Payload[] = [
    ...(ike.state.cookie ? [notify(NotifyType.COOKIE, ike.state.cookie)] : []),
    { type: PayloadType.SA, proposals: ike.state.offeredIke },
    { type: PayloadType.KE, group: ike.state.dhGroupId, data: pair.publicKey },
    { type: PayloadType.NONCE, data: ike.state.nonceI },
    ...natDetectionNotifies(ike),
    ...(ike.state.connection.config.fragmentation ? [notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED)] : []),
    notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, SIGNATURE_HASHES),
  ];
  ike.state.initRequest = encodeMessage(ike.header(ExchangeType.IKE_SA_INIT, false, 0), payloads);
  ike.state.pending = { kind: "init" };
  ike.transmitRequest(now, ExchangeType.IKE_SA_INIT, [ike.state.initRequest]);
}

export function handleInitResponse(
  ike: ExchangeContext,
  now: number,
  path: IkePath,
  message: IkeMessage,
  raw: Uint8Array,
): void {
  const payloads = message.payloads;
  const notifies = notifiesOf(payloads);
  const cookie = notifies.find((n) => n.notifyType === NotifyType.COOKIE);
  if (cookie) {
    // §2.6: repeat the request with the cookie first.
    restartInit(ike, now, () => (ike.state.cookie = cookie.data));
    return;
  }
  const invalidKe = notifies.find((n) => n.notifyType === NotifyType.INVALID_KE_PAYLOAD);
  if (invalidKe && invalidKe.data.length === 2) {
    const group = (invalidKe.data[0]! << 8) | invalidKe.data[1]!;
    const offered = ike.state.connection.ikeProposals.some((p) => p.dh.some((d) => d.id === group));
    if (!offered || group === ike.state.dhGroupId)
      return ike.close(now, `peer asked for DH group ${group}, which we did not offer`);
    restartInit(ike, now, () => (ike.state.dhGroupId = group));
    return;
  }
  const error = notifies.find((n) => isErrorNotify(n.notifyType));
  if (error) return ike.close(now, `peer refused IKE_SA_INIT: notify ${error.notifyType}`);
  const sa = find(payloads, PayloadType.SA);
  const ke = find(payloads, PayloadType.KE);
  const nonce = find(payloads, PayloadType.NONCE);
  if (!sa || !ke || !nonce || !ike.state.dh) return; // not a valid answer: keep waiting (§2.21)
  const chosen = acceptAnswer(ike.state.offeredIke, sa.proposals, ProtocolId.IKE);
  if ("error" in chosen) return ike.close(now, `IKE_SA_INIT response unacceptable: ${chosen.error}`);
  if (ke.group !== ike.state.dhGroupId || chosen.dh !== ike.state.dhGroupId)
    return ike.close(now, `IKE_SA_INIT response uses DH group ${ke.group}, not ${ike.state.dhGroupId}`);
  const shared = ike.state.dh.computeShared(ke.data);
  if (!shared.ok) return ike.close(now, `IKE_SA_INIT response has a bad KE: ${shared.error.message}`);
  ike.completeRequest();
  ike.state.pending = undefined;
  ike.state.spiR = message.header.responderSpi;
  ike.state.nonceR = nonce.data;
  ike.state.initResponse = raw;
  setInitialKeys(ike, chosen, shared.shared);
  ike.state.dh = undefined;
  ike.state.peerFragmentation = notifies.some(
    (n) => n.notifyType === NotifyType.IKEV2_FRAGMENTATION_SUPPORTED,
  );
  ike.state.peerHashes = signatureHashesOf(payloads);
  ike.state.lastHeardAt = now;
  // §2.23: with NAT (which we always pretend, to force ESP in UDP) the initiator moves to 4500.
  ike.state.path = { ...path, localPort: NAT_T_PORT, remotePort: NAT_T_PORT };
  sendAuthRequest(ike, now);
}

function restartInit(ike: ExchangeContext, now: number, change: () => void): void {
  ike.resetForInitRetry();
  change();
  sendInitRequest(ike, now);
}

/**
 * NAT_DETECTION payloads (§2.23). The source hash is deliberately wrong (random): the peer
 * then believes we are behind a NAT and sends ESP in UDP/4500, which the user-space datapath
 * needs (DESIGN.md principle 4; the RFC allows faking NAT detection for this).
 */
function natDetectionNotifies(ike: ExchangeContext): NotifyPayload[] {
  const spiR = ike.state.initiator ? new Uint8Array(SPI_LENGTH) : ike.state.spiR;
  const destination = natDetectionHash(
    ike.state.spiI,
    spiR,
    ike.state.path.remoteAddress,
    ike.state.path.remotePort,
  );
  // The fake hash stays the same for a retried IKE_SA_INIT (§2.6: payloads unchanged).
  const source = ike.state.connection.config.encap
    ? (ike.state.fakeNatSource ??= ike.context.random(20))
    : natDetectionHash(ike.state.spiI, spiR, ike.state.path.localAddress, ike.state.path.localPort);
  return [
    notify(NotifyType.NAT_DETECTION_SOURCE_IP, source),
    notify(NotifyType.NAT_DETECTION_DESTINATION_IP, destination),
  ];
}

function setInitialKeys(ike: ExchangeContext, chosen: ChosenProposal, shared: Uint8Array): void {
  ike.state.suite = suiteOf(chosen);
  ike.state.keys = deriveInitialIkeSaKeys({
    suite: ike.state.suite,
    sharedSecret: shared,
    nonceI: ike.state.nonceI,
    nonceR: ike.state.nonceR,
    spiI: ike.state.spiI,
    spiR: ike.state.spiR,
  });
  shared.fill(0);
}
