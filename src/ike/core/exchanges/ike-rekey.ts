// CREATE_CHILD_SA rekeying the IKE SA itself (RFC 7296 §1.3.2, §2.18), with its collision
// (§2.8.2): new SPIs, nonces and KE; the successor SA takes over the children.
import { ExchangeType } from "../../codec/header.js";
import { NotifyType, isErrorNotify } from "../../codec/notify.js";
import type { InnerPayload } from "../../codec/payload.js";
import { PayloadType } from "../../codec/payload-type.js";
import { ProtocolId } from "../../codec/sa.js";
import { dhGroup } from "../../crypto/dh.js";
import { deriveRekeyedIkeSaKeys } from "../../crypto/key-derivation.js";
import { find, notifiesOf } from "../payload-helpers.js";
import { acceptAnswer, answerProposal, offerProposals, selectProposal } from "../proposals.js";
import { NONCE_LENGTH, SPI_LENGTH, suiteOf, type ExchangeContext, type Pending } from "./exchange-context.js";

/** CREATE_CHILD_SA rekeying the IKE SA itself (§1.3.2): new SPI, nonce and KE. */
export function startIkeRekey(ike: ExchangeContext, now: number): boolean {
  if (ike.state.phase.name !== "established") return false;
  const spiI = ike.context.random(SPI_LENGTH);
  const nonce = ike.context.random(NONCE_LENGTH);
  const dh = dhGroup(ike.state.dhGroupId).generate(ike.context.random);
  const offered = offerProposals(ike.state.connection.ikeProposals, ProtocolId.IKE, spiI);
  const inner: InnerPayload[] = [
    { type: PayloadType.SA, proposals: offered },
    { type: PayloadType.NONCE, data: nonce },
    { type: PayloadType.KE, group: ike.state.dhGroupId, data: dh.publicKey },
  ];
  ike.state.pending = { kind: "rekey-ike", spiI, nonce, dh, offered };
  ike.request(now, ExchangeType.CREATE_CHILD_SA, inner);
  return true;
}

export function answerIkeRekey(
  ike: ExchangeContext,
  now: number,
  messageId: number,
  inner: InnerPayload[],
  refuse: (notifyType: number, reason: string, data?: Uint8Array) => void,
): void {
  const sa = find(inner, PayloadType.SA);
  const nonce = find(inner, PayloadType.NONCE);
  const ke = find(inner, PayloadType.KE);
  if (!sa || !nonce || !ke || !ike.state.keys || !ike.state.suite)
    return refuse(NotifyType.INVALID_SYNTAX, "IKE rekey without SA, Ni or KE");
  if (ike.requestInFlight() || ike.state.tasks.some((t) => t.kind === "rekey-ike")) {
    // A request of ours is still under way on this IKE SA (an IKE SA rekey collision, §2.8.2,
    // or a Child SA exchange whose answer must still reach this SA): TEMPORARY_FAILURE
    // (§2.25) makes the peer retry after a random delay, when we are done.
    return refuse(NotifyType.TEMPORARY_FAILURE, "an exchange of ours is under way");
  }
  const chosen = selectProposal(sa.proposals, ike.state.connection.ikeProposals, ProtocolId.IKE);
  if (!chosen || chosen.dh === undefined || chosen.prf === undefined || chosen.spi.length !== SPI_LENGTH) {
    return refuse(NotifyType.NO_PROPOSAL_CHOSEN, "no IKE proposal matches for the rekey");
  }
  if (ke.group !== chosen.dh)
    return refuse(
      NotifyType.INVALID_KE_PAYLOAD,
      `KE group ${ke.group}`,
      Uint8Array.of(chosen.dh >> 8, chosen.dh & 0xff),
    );
  const pair = dhGroup(chosen.dh).generate(ike.context.random);
  const result = pair.computeShared(ke.data);
  if (!result.ok) return refuse(NotifyType.INVALID_SYNTAX, `bad KE: ${result.error.message}`);
  const ourNonce = ike.context.random(NONCE_LENGTH);
  const newSpiR = ike.context.random(SPI_LENGTH);
  const suite = suiteOf(chosen);
  const keys = deriveRekeyedIkeSaKeys({
    suite,
    oldPrf: ike.state.suite.prf,
    oldSkD: ike.state.keys.skD,
    sharedSecret: result.shared,
    nonceI: nonce.data,
    nonceR: ourNonce,
    spiI: chosen.spi,
    spiR: newSpiR,
  });
  result.shared.fill(0);
  ike.respond(ExchangeType.CREATE_CHILD_SA, messageId, [
    { type: PayloadType.SA, proposals: [answerProposal(chosen, newSpiR)] },
    { type: PayloadType.NONCE, data: ourNonce },
    { type: PayloadType.KE, group: chosen.dh, data: pair.publicKey },
  ]);
  // The peer started the rekey: it is the initiator of the new IKE SA (§2.18).
  ike.successor(now, false, chosen.spi, newSpiR, suite, keys, chosen.dh);
}

export function handleIkeRekeyResponse(
  ike: ExchangeContext,
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
    !ike.state.keys ||
    !ike.state.suite ||
    chosen.dh === undefined
  ) {
    ike.log(
      "warn",
      `rekeying the IKE SA failed${error ? `: notify ${error.notifyType}` : ""}; retrying later`,
    );
    ike.state.rekeyAt = now + ike.retryDelay();
    return;
  }
  const suite = suiteOf(chosen);
  const keys = deriveRekeyedIkeSaKeys({
    suite,
    oldPrf: ike.state.suite.prf,
    oldSkD: ike.state.keys.skD,
    sharedSecret: shared.shared,
    nonceI: pending.nonce,
    nonceR: nonce.data,
    spiI: pending.spiI,
    spiR: chosen.spi,
  });
  shared.shared.fill(0);
  ike.successor(now, true, pending.spiI, chosen.spi, suite, keys, chosen.dh);
  // §2.18: the initiator of the rekey deletes the old IKE SA.
  ike.state.tasks.push({ kind: "delete-ike" });
}
