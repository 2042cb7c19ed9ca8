/**
 * The IKEv2 pseudorandom functions PRF_HMAC_SHA2_256/384/512 (RFC 4868 §2.1.2, transform type 2
 * IDs 5, 6, 7) and prf+ (RFC 7296 §2.13).
 */
import { createHmac } from "node:crypto";
import { asUint8Array, checkBytes, checkInteger, wipe } from "./bytes.js";
import { badArgument } from "./errors.js";
import { PrfId, prfAlgorithm, type PrfAlgorithm } from "./transforms.js";

export interface Prf extends PrfAlgorithm {
  /** prf(key, data₁ | data₂ | …). HMAC takes keys of any length; an empty key is refused. */
  compute(key: Uint8Array, ...data: Uint8Array[]): Uint8Array;
}

function makePrf(algorithm: PrfAlgorithm): Prf {
  return Object.freeze({
    ...algorithm,
    compute(key: Uint8Array, ...data: Uint8Array[]): Uint8Array {
      checkBytes(key, "key", { min: 1 });
      const hmac = createHmac(algorithm.hash, key);
      data.forEach((chunk, index) => hmac.update(checkBytes(chunk, `data[${index}]`)));
      return asUint8Array(hmac.digest());
    },
  });
}

export const PRF_HMAC_SHA2_256: Prf = makePrf(prfAlgorithm(PrfId.HMAC_SHA2_256));
export const PRF_HMAC_SHA2_384: Prf = makePrf(prfAlgorithm(PrfId.HMAC_SHA2_384));
export const PRF_HMAC_SHA2_512: Prf = makePrf(prfAlgorithm(PrfId.HMAC_SHA2_512));

const BY_ID: ReadonlyMap<number, Prf> = new Map(
  [PRF_HMAC_SHA2_256, PRF_HMAC_SHA2_384, PRF_HMAC_SHA2_512].map((p) => [p.id, p]),
);

/** The PRF for a transform ID (5, 6 or 7); throws IKE_CRYPTO_UNSUPPORTED for others. */
export function prfById(id: number): Prf {
  const prf = BY_ID.get(id);
  if (prf !== undefined) return prf;
  prfAlgorithm(id); // throws IKE_CRYPTO_UNSUPPORTED naming the supported IDs
  throw new Error("unreachable");
}

/** RFC 7296 §2.13: the counter is one octet, so prf+ yields at most 255 blocks. */
export const PRF_PLUS_MAX_ITERATIONS = 255;

/**
 * prf+ (K, S) = T1 | T2 | T3 | …, truncated to `length` bytes, where
 *   T1 = prf (K, S | 0x01)
 *   Tn = prf (K, Tn-1 | S | n)      for n = 2 … 255
 * (RFC 7296 §2.13). Asking for more than 255 blocks is an error, not a wrap-around.
 */
export function prfPlus(
  prfOrId: Prf | number,
  key: Uint8Array,
  seed: Uint8Array,
  length: number,
): Uint8Array {
  const prf = typeof prfOrId === "number" ? prfById(prfOrId) : prfOrId;
  if (typeof prf?.compute !== "function") throw badArgument("prf", "expected a Prf or a PRF transform ID");
  checkBytes(key, "key", { min: 1 });
  checkBytes(seed, "seed");
  const max = PRF_PLUS_MAX_ITERATIONS * prf.outputLength;
  checkInteger(length, "length", 0, max);

  const out = new Uint8Array(length);
  const counter = new Uint8Array(1);
  let previous: Uint8Array = new Uint8Array(0);
  for (let n = 1, filled = 0; filled < length; n++) {
    counter[0] = n;
    const block = prf.compute(key, previous, seed, counter);
    wipe(previous);
    const take = Math.min(block.length, length - filled);
    out.set(block.subarray(0, take), filled);
    filled += take;
    previous = block;
  }
  wipe(previous);
  return out;
}
