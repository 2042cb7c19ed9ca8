/**
 * Integrity transforms AUTH_HMAC_SHA2_256_128, AUTH_HMAC_SHA2_384_192 and AUTH_HMAC_SHA2_512_256
 * (RFC 4868, transform type 3 IDs 12, 13, 14): HMAC with a key as long as the hash output,
 * truncated to the left half.
 */
import { createHmac } from "node:crypto";
import { asUint8Array, checkBytes, equalBytes, wipe } from "./bytes.js";
import { badArgument } from "./errors.js";
import { IntegId, integAlgorithm, type IntegAlgorithm } from "./transforms.js";

export interface Integrity extends IntegAlgorithm {
  /** The ICV over data₁ | data₂ | …; the key must be exactly `keyLength` bytes (RFC 4868 §2.1.1). */
  compute(key: Uint8Array, ...data: Uint8Array[]): Uint8Array;
  /**
   * Constant-time check of a received ICV. An ICV of the wrong length is simply false: it came
   * from the network. A key of the wrong length throws: that is the caller's mistake.
   */
  verify(key: Uint8Array, icv: Uint8Array, ...data: Uint8Array[]): boolean;
}

function makeIntegrity(algorithm: IntegAlgorithm): Integrity {
  const compute = (key: Uint8Array, ...data: Uint8Array[]): Uint8Array => {
    checkBytes(key, "key", { length: algorithm.keyLength });
    const hmac = createHmac(algorithm.hash, key);
    data.forEach((chunk, index) => hmac.update(checkBytes(chunk, `data[${index}]`)));
    const full = asUint8Array(hmac.digest());
    const icv = full.slice(0, algorithm.icvLength);
    wipe(full);
    return icv;
  };
  return Object.freeze({
    ...algorithm,
    compute,
    verify(key: Uint8Array, icv: Uint8Array, ...data: Uint8Array[]): boolean {
      if (!(icv instanceof Uint8Array)) throw badArgument("icv", "expected a Uint8Array");
      const expected = compute(key, ...data);
      return equalBytes(expected, icv);
    },
  });
}

export const AUTH_HMAC_SHA2_256_128: Integrity = makeIntegrity(integAlgorithm(IntegId.HMAC_SHA2_256_128));
export const AUTH_HMAC_SHA2_384_192: Integrity = makeIntegrity(integAlgorithm(IntegId.HMAC_SHA2_384_192));
export const AUTH_HMAC_SHA2_512_256: Integrity = makeIntegrity(integAlgorithm(IntegId.HMAC_SHA2_512_256));

const BY_ID: ReadonlyMap<number, Integrity> = new Map(
  [AUTH_HMAC_SHA2_256_128, AUTH_HMAC_SHA2_384_192, AUTH_HMAC_SHA2_512_256].map((i) => [i.id, i]),
);

/** The integrity transform for an ID (12, 13 or 14); throws IKE_CRYPTO_UNSUPPORTED for others, NONE included. */
export function integrityById(id: number): Integrity {
  const integrity = BY_ID.get(id);
  if (integrity !== undefined) return integrity;
  integAlgorithm(id); // throws IKE_CRYPTO_UNSUPPORTED naming the supported IDs
  throw new Error("unreachable");
}
