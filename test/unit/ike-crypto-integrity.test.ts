import { describe, expect, it } from "vitest";
import {
  AUTH_HMAC_SHA2_256_128,
  AUTH_HMAC_SHA2_384_192,
  AUTH_HMAC_SHA2_512_256,
  integrityById,
} from "../../src/ike/crypto/integrity.js";
import { hex, loadVectors, thrown, toHex } from "./ike-crypto-support.js";

interface Rfc4868 {
  cases: { name: string; integ: number; key: string; data: string; prf?: string; icv: string }[];
}
const rfc4868 = loadVectors<Rfc4868>("rfc4868-hmac-sha2-auth.json");

describe("AUTH_HMAC_SHA2_* on the RFC 4868 §2.7.2 authenticator vectors", () => {
  it("uses 8 of the RFC's 12 cases (AUTH384-2..4 and AUTH512-4 not transcribed)", () => {
    expect(rfc4868.cases).toHaveLength(8);
  });

  for (const vector of rfc4868.cases) {
    it(`${vector.name}: ICV is the left half of the HMAC, and verifies`, () => {
      const integrity = integrityById(vector.integ);
      const icv = integrity.compute(hex(vector.key), hex(vector.data));
      expect(toHex(icv)).toBe(vector.icv);
      if (vector.prf !== undefined) expect(vector.prf.startsWith(vector.icv)).toBe(true);
      expect(integrity.verify(hex(vector.key), hex(vector.icv), hex(vector.data))).toBe(true);
    });
  }

  it("maps IDs 12, 13, 14 with their key and ICV lengths", () => {
    expect(
      [AUTH_HMAC_SHA2_256_128, AUTH_HMAC_SHA2_384_192, AUTH_HMAC_SHA2_512_256].map((i) => [
        i.id,
        i.name,
        i.keyLength,
        i.icvLength,
      ]),
    ).toEqual([
      [12, "AUTH_HMAC_SHA2_256_128", 32, 16],
      [13, "AUTH_HMAC_SHA2_384_192", 48, 24],
      [14, "AUTH_HMAC_SHA2_512_256", 64, 32],
    ]);
  });
});

describe("integrity verification", () => {
  const vector = rfc4868.cases[0]!;
  const key = hex(vector.key);
  const data = hex(vector.data);
  const icv = hex(vector.icv);

  it("rejects a flipped bit anywhere in the ICV or the data", () => {
    for (let bit = 0; bit < icv.length * 8; bit++) {
      const bad = icv.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expect(AUTH_HMAC_SHA2_256_128.verify(key, bad, data)).toBe(false);
    }
    const badData = data.slice();
    badData[0]! ^= 0x80;
    expect(AUTH_HMAC_SHA2_256_128.verify(key, icv, badData)).toBe(false);
  });

  it("answers false, not an exception, for an ICV of the wrong length", () => {
    expect(AUTH_HMAC_SHA2_256_128.verify(key, icv.subarray(0, 15), data)).toBe(false);
    expect(AUTH_HMAC_SHA2_256_128.verify(key, hex(vector.prf!), data)).toBe(false);
    expect(AUTH_HMAC_SHA2_256_128.verify(key, new Uint8Array(0), data)).toBe(false);
  });

  it("throws for a key of the wrong length, naming the argument (RFC 4868 fixes the key length)", () => {
    const error = thrown(() => AUTH_HMAC_SHA2_256_128.compute(key.subarray(0, 20), data));
    expect(error.code).toBe("IKE_CRYPTO_BAD_ARGUMENT");
    expect(error.where?.key).toBe("key");
    expect(error.message).toBe("key: expected 32 bytes, got 20");
  });

  it("refuses INTEG NONE and unknown IDs", () => {
    expect(thrown(() => integrityById(0)).code).toBe("IKE_CRYPTO_UNSUPPORTED");
    expect(thrown(() => integrityById(2)).code).toBe("IKE_CRYPTO_UNSUPPORTED"); // AUTH_HMAC_SHA1_96
  });
});
