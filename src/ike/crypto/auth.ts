/**
 * The octets an IKE SA authenticates and the shared-key AUTH value (RFC 7296 §2.15).
 *
 *   InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
 *   ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
 *   MACedIDForI = prf(SK_pi, RestOfInitIDPayload)
 *   MACedIDForR = prf(SK_pr, RestOfRespIDPayload)
 *   AUTH (shared key) = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
 *
 * RestOfInitIDPayload is the ID payload without its generic header: ID Type, three RESERVED
 * octets, Identification Data.
 */
import { checkBytes, concatBytes, equalBytes, wipe } from "./bytes.js";
import { prfById } from "./prf.js";

/** The 17 ASCII octets of "Key Pad for IKEv2", without a terminating NUL (RFC 7296 §2.15). */
export const KEY_PAD_FOR_IKEV2: Uint8Array = new TextEncoder().encode("Key Pad for IKEv2");

/** prf(SK_px, RestOfIDPayload). */
export function macedId(prf: number, skP: Uint8Array, idPayloadBody: Uint8Array): Uint8Array {
  checkBytes(skP, "skP", { min: 1 });
  checkBytes(idPayloadBody, "idPayloadBody", { min: 4 });
  return prfById(prf).compute(skP, idPayloadBody);
}

export interface SignedOctetsParams {
  /** PRF transform ID of the IKE SA. */
  readonly prf: number;
  /** The first message this side sent (IKE_SA_INIT request or response), exactly as sent. */
  readonly realMessage: Uint8Array;
  /** The peer's Nonce Data. */
  readonly peerNonce: Uint8Array;
  /** SK_pi for the initiator's octets, SK_pr for the responder's. */
  readonly skP: Uint8Array;
  /** This side's ID payload after the generic payload header. */
  readonly idPayloadBody: Uint8Array;
}

/** RealMessage | Nonce(peer) | prf(SK_p, RestOfIDPayload). */
export function signedOctets(params: SignedOctetsParams): Uint8Array {
  const realMessage = checkBytes(params.realMessage, "realMessage", { min: 28 });
  const peerNonce = checkBytes(params.peerNonce, "peerNonce", { min: 16, max: 256 });
  const maced = macedId(params.prf, params.skP, params.idPayloadBody);
  return concatBytes(realMessage, peerNonce, maced);
}

/** AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>). */
export function pskAuth(prf: number, sharedSecret: Uint8Array, octets: Uint8Array): Uint8Array {
  checkBytes(sharedSecret, "sharedSecret", { min: 1 });
  checkBytes(octets, "signedOctets", { min: 1 });
  const p = prfById(prf);
  const padded = p.compute(sharedSecret, KEY_PAD_FOR_IKEV2);
  const auth = p.compute(padded, octets);
  wipe(padded);
  return auth;
}

/** Constant-time check of a received shared-key AUTH value; wrong lengths are just false. */
export function verifyPskAuth(
  prf: number,
  sharedSecret: Uint8Array,
  octets: Uint8Array,
  received: Uint8Array,
): boolean {
  checkBytes(received, "received");
  const expected = pskAuth(prf, sharedSecret, octets);
  const equal = equalBytes(expected, received);
  wipe(expected);
  return equal;
}
