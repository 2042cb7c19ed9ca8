import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  PRF_HMAC_SHA2_256,
  PRF_HMAC_SHA2_384,
  PRF_HMAC_SHA2_512,
  PRF_PLUS_MAX_ITERATIONS,
  prfById,
  prfPlus,
} from "../../src/ike/crypto/prf.js";
import { deterministicRandom } from "../../src/ike/crypto/random.js";
import { hex, loadVectors, thrown, toHex } from "./ike-crypto-support.js";

interface Rfc4231 {
  cases: {
    case: number;
    key: string;
    data: string;
    truncatedTo?: number;
    sha256: string;
    sha384: string;
    sha512: string;
  }[];
}
const rfc4231 = loadVectors<Rfc4231>("rfc4231-hmac-sha2.json");

/** prf+ written out plainly from RFC 7296 §2.13, independent of src/: concat and loop. */
function referencePrfPlus(hash: string, key: Uint8Array, seed: Uint8Array, length: number): string {
  let out: Buffer = Buffer.alloc(0);
  let t: Buffer = Buffer.alloc(0);
  for (let n = 1; out.length < length; n++) {
    t = createHmac(hash, key)
      .update(Buffer.concat([t, seed, Buffer.of(n)]))
      .digest();
    out = Buffer.concat([out, t]);
  }
  return out.subarray(0, length).toString("hex");
}

describe("PRF_HMAC_SHA2_* on the RFC 4231 test cases", () => {
  const prfs = [
    ["sha256", PRF_HMAC_SHA2_256],
    ["sha384", PRF_HMAC_SHA2_384],
    ["sha512", PRF_HMAC_SHA2_512],
  ] as const;

  it("covers 7 cases x 3 hashes (case 5 compared on its published 128 bits)", () => {
    expect(rfc4231.cases).toHaveLength(7);
  });

  for (const vector of rfc4231.cases) {
    for (const [hash, prf] of prfs) {
      it(`test case ${vector.case}, HMAC-${hash.toUpperCase()}`, () => {
        const out = toHex(prf.compute(hex(vector.key), hex(vector.data)));
        const expected = vector[hash];
        expect(vector.truncatedTo === undefined ? out : out.slice(0, 2 * vector.truncatedTo)).toBe(expected);
      });
    }
  }

  it("gives the same output for data in several chunks", () => {
    const data = hex(rfc4231.cases[6]!.data);
    const whole = toHex(PRF_HMAC_SHA2_256.compute(hex(rfc4231.cases[6]!.key), data));
    const parts = toHex(
      PRF_HMAC_SHA2_256.compute(
        hex(rfc4231.cases[6]!.key),
        data.subarray(0, 7),
        new Uint8Array(0),
        data.subarray(7),
      ),
    );
    expect(parts).toBe(whole);
  });
});

describe("prfById", () => {
  it("maps the IANA transform IDs 5, 6, 7 and knows the output lengths", () => {
    expect(
      [5, 6, 7].map((id) => [prfById(id).name, prfById(id).outputLength, prfById(id).preferredKeyLength]),
    ).toEqual([
      ["PRF_HMAC_SHA2_256", 32, 32],
      ["PRF_HMAC_SHA2_384", 48, 48],
      ["PRF_HMAC_SHA2_512", 64, 64],
    ]);
  });

  it("refuses other IDs with IKE_CRYPTO_UNSUPPORTED", () => {
    const error = thrown(() => prfById(2)); // PRF_HMAC_SHA1
    expect(error.code).toBe("IKE_CRYPTO_UNSUPPORTED");
    expect(error.message).toMatch(/^prf: /);
  });

  it("refuses an empty key, naming the argument", () => {
    const error = thrown(() => PRF_HMAC_SHA2_256.compute(new Uint8Array(0), new Uint8Array(1)));
    expect(error.code).toBe("IKE_CRYPTO_BAD_ARGUMENT");
    expect(error.where?.key).toBe("key");
  });
});

describe("prf+ (RFC 7296 §2.13)", () => {
  const random = deterministicRandom("prf+ cross-check");

  it("matches a plainly written prf+ for every PRF and many lengths", () => {
    for (const [hash, prf] of [
      ["sha256", PRF_HMAC_SHA2_256],
      ["sha384", PRF_HMAC_SHA2_384],
      ["sha512", PRF_HMAC_SHA2_512],
    ] as const) {
      for (const length of [0, 1, prf.outputLength - 1, prf.outputLength, prf.outputLength + 1, 136, 1000]) {
        const key = random(prf.outputLength);
        const seed = random(80);
        expect(toHex(prfPlus(prf, key, seed, length)), `${hash} ${length}`).toBe(
          referencePrfPlus(hash, key, seed, length),
        );
      }
    }
  });

  it("T1 alone is prf(K, S | 0x01)", () => {
    const key = hex("0b".repeat(32));
    const seed = new TextEncoder().encode("Hi There");
    const t1 = createHmac("sha256", key)
      .update(Buffer.concat([seed, Buffer.of(1)]))
      .digest("hex");
    expect(toHex(prfPlus(PRF_HMAC_SHA2_256, key, seed, 32))).toBe(t1);
  });

  it("takes a PRF transform ID as well as a Prf", () => {
    const key = random(48);
    const seed = random(48);
    expect(toHex(prfPlus(6, key, seed, 100))).toBe(toHex(prfPlus(PRF_HMAC_SHA2_384, key, seed, 100)));
  });

  it("a shorter output is a prefix of a longer one", () => {
    const key = random(32);
    const seed = random(40);
    const long = toHex(prfPlus(PRF_HMAC_SHA2_384, key, seed, 300));
    expect(long.startsWith(toHex(prfPlus(PRF_HMAC_SHA2_384, key, seed, 100)))).toBe(true);
  });

  it("gives at most 255 blocks, then refuses with the argument named", () => {
    const key = random(32);
    const seed = random(16);
    const max = PRF_PLUS_MAX_ITERATIONS * 32;
    expect(prfPlus(PRF_HMAC_SHA2_256, key, seed, max)).toHaveLength(8160);
    const error = thrown(() => prfPlus(PRF_HMAC_SHA2_256, key, seed, max + 1));
    expect(error.code).toBe("IKE_CRYPTO_BAD_ARGUMENT");
    expect(error.where?.key).toBe("length");
  });

  it("the 255th block matches the reference (counter octet 0xff, no wrap-around)", () => {
    const key = random(64);
    const seed = random(33);
    const length = 255 * 64;
    expect(toHex(prfPlus(PRF_HMAC_SHA2_512, key, seed, length))).toBe(
      referencePrfPlus("sha512", key, seed, length),
    );
  });
});
