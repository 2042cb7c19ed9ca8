/**
 * Key derivation of RFC 7296: SKEYSEED and the seven IKE SA keys (§2.14), SKEYSEED of a rekeyed
 * IKE SA (§2.18) and the KEYMAT of Child SAs (§2.17). Key lengths follow the negotiated
 * transforms: AEAD ciphers get no integrity keys, and their encryption keys carry the 4-octet
 * salt at the end (RFC 5282 §7.1, RFC 7634 §2.1).
 */
import { checkBytes, wipe } from "./bytes.js";
import { badArgument } from "./errors.js";
import { prfById, prfPlus, type Prf } from "./prf.js";
import { IntegId, encrAlgorithm, encrKeyMaterialLength, integAlgorithm } from "./transforms.js";

/** RFC 7296 §3.9: Nonce Data is 16 to 256 octets (the codec refuses others before we get here). */
const NONCE = { min: 16, max: 256 } as const;
/** IKE SPIs are 8 octets (RFC 7296 §3.1). */
const SPI = { length: 8 } as const;

/** The negotiated transforms of an IKE SA. */
export interface IkeSaSuite {
  /** ENCR transform ID (12, 20, 28). */
  readonly encr: number;
  /** Key Length attribute in bits; may be omitted for ChaCha20-Poly1305. */
  readonly encrKeyLength?: number;
  /** PRF transform ID (5, 6, 7). */
  readonly prf: number;
  /** INTEG transform ID for non-AEAD ciphers (12, 13, 14); absent or 0 for AEAD. */
  readonly integ?: number;
}

/** The negotiated transforms of a Child SA (ESP). */
export interface ChildSaSuite {
  readonly encr: number;
  readonly encrKeyLength?: number;
  readonly integ?: number;
}

export interface IkeSaKeyLengths {
  /** SK_d, SK_pi, SK_pr: the PRF's preferred key length (RFC 7296 §2.14). */
  readonly skD: number;
  readonly skP: number;
  /** SK_ai, SK_ar: the integrity key length, 0 with AEAD. */
  readonly skA: number;
  /** SK_ei, SK_er: the cipher key, plus 4 octets of salt with AEAD. */
  readonly skE: number;
}

export interface IkeSaKeys {
  readonly skD: Uint8Array;
  readonly skAi: Uint8Array;
  readonly skAr: Uint8Array;
  readonly skEi: Uint8Array;
  readonly skEr: Uint8Array;
  readonly skPi: Uint8Array;
  readonly skPr: Uint8Array;
}

export interface ChildSaDirectionKeys {
  /** Encryption key (with the salt at the end for AEAD ciphers). */
  readonly encKey: Uint8Array;
  /** Integrity key; empty with AEAD ciphers. */
  readonly integKey: Uint8Array;
}

export interface ChildSaKeys {
  readonly initiatorToResponder: ChildSaDirectionKeys;
  readonly responderToInitiator: ChildSaDirectionKeys;
}

/** Octets of encryption and integrity key for a cipher/integrity pair; integrity 0 with AEAD. */
function cipherKeyLengths(
  encr: number,
  encrKeyLength: number | undefined,
  integ: number | undefined,
): { encKey: number; integKey: number } {
  const algorithm = encrAlgorithm(encr);
  const encKey = encrKeyMaterialLength(encr, encrKeyLength);
  const integId = integ ?? IntegId.NONE;
  if (algorithm.aead) {
    if (integId !== IntegId.NONE) {
      throw badArgument("integ", `${algorithm.name} is AEAD and takes no integrity transform`, integId);
    }
    return { encKey, integKey: 0 };
  }
  if (integId === IntegId.NONE) throw badArgument("integ", `${algorithm.name} needs an integrity transform`);
  return { encKey, integKey: integAlgorithm(integId).keyLength };
}

export function ikeSaKeyLengths(suite: IkeSaSuite): IkeSaKeyLengths {
  const prf = prfById(suite.prf);
  const { encKey, integKey } = cipherKeyLengths(suite.encr, suite.encrKeyLength, suite.integ);
  return { skD: prf.preferredKeyLength, skP: prf.preferredKeyLength, skA: integKey, skE: encKey };
}

/** SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 §2.14). Nonces are the Nonce Data, without headers. */
export function computeSkeyseed(
  prf: number,
  nonceI: Uint8Array,
  nonceR: Uint8Array,
  sharedSecret: Uint8Array,
): Uint8Array {
  checkBytes(nonceI, "nonceI", NONCE);
  checkBytes(nonceR, "nonceR", NONCE);
  checkBytes(sharedSecret, "sharedSecret", { min: 1 });
  const key = new Uint8Array(nonceI.length + nonceR.length);
  key.set(nonceI);
  key.set(nonceR, nonceI.length);
  const skeyseed = prfById(prf).compute(key, sharedSecret);
  wipe(key);
  return skeyseed;
}

/**
 * SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) for an IKE SA made by rekeying
 * (RFC 7296 §2.18). `oldPrf` is the PRF of the old IKE SA: "because the rekeying exchange
 * belongs to the old IKE SA, it is the old IKE SA's PRF that is used to generate SKEYSEED".
 */
export function computeRekeySkeyseed(
  oldPrf: number,
  oldSkD: Uint8Array,
  sharedSecret: Uint8Array,
  nonceI: Uint8Array,
  nonceR: Uint8Array,
): Uint8Array {
  checkBytes(oldSkD, "oldSkD", { min: 1 });
  checkBytes(sharedSecret, "sharedSecret", { min: 1 });
  checkBytes(nonceI, "nonceI", NONCE);
  checkBytes(nonceR, "nonceR", NONCE);
  return prfById(oldPrf).compute(oldSkD, sharedSecret, nonceI, nonceR);
}

export interface IkeSaSeed {
  readonly nonceI: Uint8Array;
  readonly nonceR: Uint8Array;
  /** The initiator's and responder's SPIs, 8 octets each, in that order whoever we are. */
  readonly spiI: Uint8Array;
  readonly spiR: Uint8Array;
}

/**
 * {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
 * (RFC 7296 §2.14), with the new IKE SA's PRF. Each key is its own copy; the expanded keying
 * material is wiped.
 */
export function deriveIkeSaKeys(suite: IkeSaSuite, skeyseed: Uint8Array, seed: IkeSaSeed): IkeSaKeys {
  checkBytes(skeyseed, "skeyseed", { min: 1 });
  const nonceI = checkBytes(seed.nonceI, "nonceI", NONCE);
  const nonceR = checkBytes(seed.nonceR, "nonceR", NONCE);
  const spiI = checkBytes(seed.spiI, "spiI", SPI);
  const spiR = checkBytes(seed.spiR, "spiR", SPI);
  const lengths = ikeSaKeyLengths(suite);
  const prf: Prf = prfById(suite.prf);

  const s = new Uint8Array(nonceI.length + nonceR.length + 16);
  s.set(nonceI);
  s.set(nonceR, nonceI.length);
  s.set(spiI, nonceI.length + nonceR.length);
  s.set(spiR, nonceI.length + nonceR.length + 8);
  const total = lengths.skD + 2 * lengths.skA + 2 * lengths.skE + 2 * lengths.skP;
  const keymat = prfPlus(prf, skeyseed, s, total);

  let offset = 0;
  const take = (length: number): Uint8Array => keymat.slice(offset, (offset += length));
  const keys: IkeSaKeys = {
    skD: take(lengths.skD),
    skAi: take(lengths.skA),
    skAr: take(lengths.skA),
    skEi: take(lengths.skE),
    skEr: take(lengths.skE),
    skPi: take(lengths.skP),
    skPr: take(lengths.skP),
  };
  wipe(keymat, s);
  return keys;
}

/** SKEYSEED and the IKE SA keys after IKE_SA_INIT; SKEYSEED is wiped. */
export function deriveInitialIkeSaKeys(
  params: IkeSaSeed & { readonly suite: IkeSaSuite; readonly sharedSecret: Uint8Array },
): IkeSaKeys {
  const skeyseed = computeSkeyseed(params.suite.prf, params.nonceI, params.nonceR, params.sharedSecret);
  try {
    return deriveIkeSaKeys(params.suite, skeyseed, params);
  } finally {
    wipe(skeyseed);
  }
}

/**
 * The keys of a new IKE SA made by a CREATE_CHILD_SA rekey (RFC 7296 §2.18): SKEYSEED from the
 * old SA's SK_d and PRF, then prf+ with the new suite's PRF over the new nonces and SPIs.
 */
export function deriveRekeyedIkeSaKeys(
  params: IkeSaSeed & {
    readonly suite: IkeSaSuite;
    readonly oldPrf: number;
    readonly oldSkD: Uint8Array;
    readonly sharedSecret: Uint8Array;
  },
): IkeSaKeys {
  const skeyseed = computeRekeySkeyseed(
    params.oldPrf,
    params.oldSkD,
    params.sharedSecret,
    params.nonceI,
    params.nonceR,
  );
  try {
    return deriveIkeSaKeys(params.suite, skeyseed, params);
  } finally {
    wipe(skeyseed);
  }
}

export interface ChildSaKeyParams {
  /** PRF transform ID of the IKE SA. */
  readonly prf: number;
  /** SK_d of the IKE SA. */
  readonly skD: Uint8Array;
  readonly suite: ChildSaSuite;
  /** Nonces of IKE_SA_INIT for the first Child SA, of the CREATE_CHILD_SA exchange otherwise. */
  readonly nonceI: Uint8Array;
  readonly nonceR: Uint8Array;
  /** g^ir (new) when the CREATE_CHILD_SA exchange carried KE payloads (PFS). */
  readonly sharedSecret?: Uint8Array;
}

/**
 * KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) (RFC 7296 §2.17), cut as: initiator→responder
 * encryption key, its integrity key, then responder→initiator encryption key, its integrity
 * key ("all keys for SAs carrying data from the initiator to the responder are taken before
 * SAs going from the responder to the initiator"; encryption before integrity, RFC 4301).
 */
export function deriveChildSaKeys(params: ChildSaKeyParams): ChildSaKeys {
  const skD = checkBytes(params.skD, "skD", { min: 1 });
  const nonceI = checkBytes(params.nonceI, "nonceI", NONCE);
  const nonceR = checkBytes(params.nonceR, "nonceR", NONCE);
  const shared =
    params.sharedSecret === undefined
      ? new Uint8Array(0)
      : checkBytes(params.sharedSecret, "sharedSecret", { min: 1 });
  const { encKey, integKey } = cipherKeyLengths(
    params.suite.encr,
    params.suite.encrKeyLength,
    params.suite.integ,
  );
  const prf = prfById(params.prf);

  const s = new Uint8Array(shared.length + nonceI.length + nonceR.length);
  s.set(shared);
  s.set(nonceI, shared.length);
  s.set(nonceR, shared.length + nonceI.length);
  const keymat = prfPlus(prf, skD, s, 2 * (encKey + integKey));

  let offset = 0;
  const take = (length: number): Uint8Array => keymat.slice(offset, (offset += length));
  const initiatorToResponder = { encKey: take(encKey), integKey: take(integKey) };
  const responderToInitiator = { encKey: take(encKey), integKey: take(integKey) };
  wipe(keymat, s);
  return { initiatorToResponder, responderToInitiator };
}
