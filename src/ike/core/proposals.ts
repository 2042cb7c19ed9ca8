import type { Proposal, Transform as WireTransform } from "../codec/sa.js";
import { TransformAttributeType } from "../codec/sa.js";
import { encrAlgorithm, type ProposalTransforms, TransformType } from "../crypto/transforms.js";

/** One transform of each type, as agreed (RFC 7296 §2.7, §3.3). */
export interface ChosenProposal {
  /** The number of the peer's proposal it came from (echoed in the response). */
  number: number;
  protocolId: number;
  /** The SPI in the chosen proposal (the peer's, for ESP and IKE rekeys). */
  spi: Uint8Array;
  encr: { id: number; keyLength: number | undefined };
  prf: number | undefined;
  integ: number | undefined;
  dh: number | undefined;
  esn: number | undefined;
}

interface Candidate {
  type: number;
  id: number;
  keyLength: number | undefined;
}

function keyLengthOf(transform: WireTransform): number | undefined {
  const attribute = transform.attributes.find((a) => a.attributeType === TransformAttributeType.KEY_LENGTH);
  return attribute?.format === "tv" ? attribute.value : undefined;
}

function candidatesOf(configured: ProposalTransforms, type: number): Candidate[] {
  const list =
    type === TransformType.ENCR
      ? configured.encr
      : type === TransformType.PRF
        ? configured.prf
        : type === TransformType.INTEG
          ? configured.integ
          : type === TransformType.DH
            ? configured.dh
            : configured.esn;
  return list.map((t) => ({ type, id: t.id, keyLength: "keyLength" in t ? t.keyLength : undefined }));
}

/** Our configured proposals as SA payload proposals, numbered from 1 (§3.3.1). */
export function offerProposals(
  configured: readonly ProposalTransforms[],
  protocolId: number,
  spi: Uint8Array,
  options: { withDh: boolean } = { withDh: true },
): Proposal[] {
  return configured.map((proposal, i) => {
    const transforms: WireTransform[] = [];
    for (const type of [
      TransformType.ENCR,
      TransformType.PRF,
      TransformType.INTEG,
      TransformType.DH,
      TransformType.ESN,
    ]) {
      if (type === TransformType.DH && !options.withDh) continue;
      for (const c of candidatesOf(proposal, type)) transforms.push(wireTransform(c.type, c.id, c.keyLength));
    }
    return { number: i + 1, protocolId, spi, transforms };
  });
}

function wireTransform(type: number, id: number, keyLength: number | undefined): WireTransform {
  return {
    transformType: type,
    transformId: id,
    attributes:
      keyLength === undefined
        ? []
        : [{ attributeType: TransformAttributeType.KEY_LENGTH, format: "tv", value: keyLength }],
  };
}

/**
 * The responder's choice (§2.7): our proposals in our order of preference, against the peer's in
 * theirs; within a type, our first transform the peer also offers. With an AEAD cipher no
 * integrity transform is chosen (RFC 5282 §8). DH is left out where the exchange has no KE
 * (the first Child SA in IKE_AUTH, §1.2). Undefined means NO_PROPOSAL_CHOSEN.
 */
export function selectProposal(
  offered: readonly Proposal[],
  configured: readonly ProposalTransforms[],
  protocolId: number,
  options: { withDh: boolean } = { withDh: true },
): ChosenProposal | undefined {
  for (const ours of configured) {
    for (const theirs of offered) {
      if (theirs.protocolId !== protocolId) continue;
      const chosen = match(ours, theirs, protocolId, options.withDh);
      if (chosen) return chosen;
    }
  }
  return undefined;
}

function match(
  ours: ProposalTransforms,
  theirs: Proposal,
  protocolId: number,
  withDh: boolean,
): ChosenProposal | undefined {
  const pick = (type: number): Candidate | undefined | null => {
    const offeredOfType = theirs.transforms.filter((t) => t.transformType === type);
    const mine = candidatesOf(ours, type);
    if (mine.length === 0) return offeredOfType.length === 0 ? undefined : null;
    for (const c of mine) {
      if (offeredOfType.some((t) => t.transformId === c.id && keyLengthOf(t) === c.keyLength)) return c;
    }
    return null;
  };
  const encr = pick(TransformType.ENCR);
  if (!encr) return undefined;
  const aead = isAead(encr.id);
  const integ = aead ? undefined : pick(TransformType.INTEG);
  if (integ === null || (!aead && integ === undefined)) return undefined;
  let prf: Candidate | undefined | null;
  if (protocolId === PROTOCOL_IKE) {
    prf = pick(TransformType.PRF);
    if (!prf) return undefined;
  }
  let dh: Candidate | undefined | null;
  if (withDh) {
    dh = pick(TransformType.DH);
    if (dh === null) return undefined;
    if (protocolId === PROTOCOL_IKE && !dh) return undefined;
  }
  let esn: Candidate | undefined | null;
  if (protocolId !== PROTOCOL_IKE) {
    // A peer that leaves ESN out offers no ESN (what RFC 4303 needs without ESN).
    esn = theirs.transforms.some((t) => t.transformType === TransformType.ESN)
      ? pick(TransformType.ESN)
      : { type: TransformType.ESN, id: 0, keyLength: undefined };
    if (!esn) return undefined;
  }
  return {
    number: theirs.number,
    protocolId,
    spi: theirs.spi,
    encr: { id: encr.id, keyLength: encr.keyLength },
    prf: prf?.id,
    integ: integ?.id,
    dh: dh?.id,
    esn: esn?.id,
  };
}

const PROTOCOL_IKE = 1;

function isAead(encrId: number): boolean {
  try {
    return encrAlgorithm(encrId).aead;
  } catch {
    return false;
  }
}

/** The single-transform proposal a responder sends back (§3.3.1: same number, its own SPI). */
export function answerProposal(chosen: ChosenProposal, spi: Uint8Array): Proposal {
  const transforms = [wireTransform(TransformType.ENCR, chosen.encr.id, chosen.encr.keyLength)];
  if (chosen.prf !== undefined) transforms.push(wireTransform(TransformType.PRF, chosen.prf, undefined));
  if (chosen.integ !== undefined)
    transforms.push(wireTransform(TransformType.INTEG, chosen.integ, undefined));
  if (chosen.dh !== undefined) transforms.push(wireTransform(TransformType.DH, chosen.dh, undefined));
  if (chosen.esn !== undefined) transforms.push(wireTransform(TransformType.ESN, chosen.esn, undefined));
  return { number: chosen.number, protocolId: chosen.protocolId, spi, transforms };
}

/**
 * The initiator's check of a response (§2.7): exactly one proposal, one transform of each type,
 * each one we offered in the proposal of that number. Anything else is a peer that lies.
 */
export function acceptAnswer(
  offered: readonly Proposal[],
  answer: readonly Proposal[],
  protocolId: number,
): ChosenProposal | { error: string } {
  if (answer.length !== 1) return { error: `the response carries ${answer.length} proposals, not one` };
  const [reply] = answer as [Proposal];
  const ours = offered.find((p) => p.number === reply.number);
  if (!ours || reply.protocolId !== protocolId) return { error: `proposal ${reply.number} was not offered` };
  const one = (type: number): WireTransform | undefined | null => {
    const of = reply.transforms.filter((t) => t.transformType === type);
    if (of.length > 1) return null;
    return of[0];
  };
  const chosen: ChosenProposal = {
    number: reply.number,
    protocolId,
    spi: reply.spi,
    encr: { id: 0, keyLength: undefined },
    prf: undefined,
    integ: undefined,
    dh: undefined,
    esn: undefined,
  };
  for (const type of [
    TransformType.ENCR,
    TransformType.PRF,
    TransformType.INTEG,
    TransformType.DH,
    TransformType.ESN,
  ]) {
    const t = one(type);
    if (t === null) return { error: `the response chose several transforms of type ${type}` };
    if (!t) continue;
    const wasOffered = ours.transforms.some(
      (o) => o.transformType === type && o.transformId === t.transformId && keyLengthOf(o) === keyLengthOf(t),
    );
    if (!wasOffered) return { error: `transform ${type}/${t.transformId} was not offered` };
    if (type === TransformType.ENCR) chosen.encr = { id: t.transformId, keyLength: keyLengthOf(t) };
    else if (type === TransformType.PRF) chosen.prf = t.transformId;
    else if (type === TransformType.INTEG) chosen.integ = t.transformId;
    else if (type === TransformType.DH) chosen.dh = t.transformId;
    else chosen.esn = t.transformId;
  }
  if (chosen.encr.id === 0) return { error: "the response chose no encryption transform" };
  if (protocolId === PROTOCOL_IKE && (chosen.prf === undefined || chosen.dh === undefined)) {
    return { error: "the response lacks a PRF or a DH group" };
  }
  if (!isAead(chosen.encr.id) && chosen.integ === undefined)
    return { error: "the response lacks an integrity transform" };
  return chosen;
}
