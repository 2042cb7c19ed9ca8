import type { IkeHeaderFields } from "../codec/header.js";
import {
  decodePayloadChain,
  encodeEncryptedFragments,
  encodeEncryptedMessage,
  type EncryptedPart,
} from "../codec/message.js";
import type { InnerPayload } from "../codec/payload.js";
import type { SkSealer } from "../codec/encrypted.js";
import { decryptSk, encryptSk, skBodyLength, type SkSuite } from "../crypto/encryption.js";
import type { IkeSaKeys, IkeSaSuite } from "../crypto/key-derivation.js";
import type { RandomSource } from "../crypto/random.js";
import { encrAlgorithm } from "../crypto/transforms.js";

/**
 * Protecting and checking IKE messages with the SK payload (RFC 7296 §3.14) and its fragments
 * (RFC 7383). Each side encrypts with its own keys: the original initiator with SK_ei/SK_ai,
 * the responder with SK_er/SK_ar.
 */
export interface SkContext {
  suite: IkeSaSuite;
  keys: IkeSaKeys;
  /** Whether we are the original initiator of the IKE SA (not of the exchange). */
  originalInitiator: boolean;
}

function skSuite(suite: IkeSaSuite): SkSuite {
  return {
    transform: suite.encr,
    ...(suite.encrKeyLength === undefined ? {} : { keyLength: suite.encrKeyLength }),
    ...(suite.integ === undefined ? {} : { integ: suite.integ }),
  };
}

function keysFor(context: SkContext, sender: "us" | "peer"): { encKey: Uint8Array; integKey: Uint8Array } {
  const initiatorSends = (sender === "us") === context.originalInitiator;
  return initiatorSends
    ? { encKey: context.keys.skEi, integKey: context.keys.skAi }
    : { encKey: context.keys.skEr, integKey: context.keys.skAr };
}

function sealer(context: SkContext, random: RandomSource): SkSealer {
  const suite = skSuite(context.suite);
  const { encKey, integKey } = keysFor(context, "us");
  const ivLength = encrAlgorithm(context.suite.encr).ivLength;
  return {
    bodyLength: (plaintextLength) => skBodyLength(suite, plaintextLength),
    seal: (aad, plaintext) =>
      encryptSk({
        ...suite,
        encKey,
        ...(integKey.length > 0 ? { integKey } : {}),
        aad,
        plaintext,
        iv: random(ivLength),
      }),
  };
}

/**
 * Builds a protected message. Above `fragmentAbove` octets (when the peer supports RFC 7383)
 * it is split into SKF fragments, each encrypted on its own.
 */
export function protect(
  context: SkContext,
  header: IkeHeaderFields,
  inner: readonly InnerPayload[],
  random: RandomSource,
  fragmentAbove?: number,
): Uint8Array[] {
  const whole = encodeEncryptedMessage(header, inner, sealer(context, random));
  if (fragmentAbove === undefined || whole.length <= fragmentAbove) return [whole];
  return encodeEncryptedFragments(header, inner, sealer(context, random), fragmentAbove);
}

export type Unprotected = { ok: true; plaintext: Uint8Array } | { ok: false; reason: string };

/** Decrypts and authenticates one SK or SKF payload; nothing in it is trusted before this. */
export function unprotect(context: SkContext, encrypted: EncryptedPart): Unprotected {
  const { encKey, integKey } = keysFor(context, "peer");
  const result = decryptSk({
    ...skSuite(context.suite),
    encKey,
    ...(integKey.length > 0 ? { integKey } : {}),
    aad: encrypted.aad,
    body: encrypted.body,
  });
  return result.ok ? { ok: true, plaintext: result.plaintext } : { ok: false, reason: result.error.message };
}

/** Parses what an SK payload carried. */
export function innerPayloads(
  firstInnerType: number,
  plaintext: Uint8Array,
): InnerPayload[] | { error: string } {
  const chain = decodePayloadChain(firstInnerType, plaintext);
  return chain.ok ? chain.value.payloads : { error: chain.error.message };
}
