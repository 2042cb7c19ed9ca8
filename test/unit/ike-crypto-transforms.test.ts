import { describe, expect, it } from "vitest";
import {
  MAX_RANDOM_DRAW,
  deterministicRandom,
  drawRandom,
  systemRandom,
} from "../../src/ike/crypto/random.js";
import {
  DhId,
  EncrId,
  EsnId,
  IntegId,
  KEY_LENGTH_ATTRIBUTE,
  PrfId,
  TransformType,
  encrAlgorithm,
  encrKeyMaterialLength,
  parseProposalString,
  resolveEncrKeyLength,
} from "../../src/ike/crypto/transforms.js";
import { thrown, toHex } from "./ike-crypto-support.js";

describe("IANA numbers", () => {
  it("transform types 1-5 and the Key Length attribute", () => {
    expect(TransformType).toEqual({ ENCR: 1, PRF: 2, INTEG: 3, DH: 4, ESN: 5 });
    expect(KEY_LENGTH_ATTRIBUTE).toBe(14);
  });

  it("transform IDs", () => {
    expect(EncrId).toEqual({ AES_CBC: 12, AES_GCM_16: 20, CHACHA20_POLY1305: 28 });
    expect(PrfId).toEqual({ HMAC_SHA2_256: 5, HMAC_SHA2_384: 6, HMAC_SHA2_512: 7 });
    expect(IntegId).toEqual({ NONE: 0, HMAC_SHA2_256_128: 12, HMAC_SHA2_384_192: 13, HMAC_SHA2_512_256: 14 });
    expect(DhId).toEqual({
      NONE: 0,
      MODP_2048: 14,
      MODP_3072: 15,
      ECP_256: 19,
      ECP_384: 20,
      ECP_521: 21,
      CURVE25519: 31,
    });
    expect(EsnId).toEqual({ NO_ESN: 0, ESN: 1 });
  });
});

describe("algorithm table", () => {
  it("knows block, IV, ICV and salt sizes", () => {
    const row = (id: number) => {
      const a = encrAlgorithm(id);
      return [a.name, a.blockSize, a.ivLength, a.icvLength, a.saltLength, a.aead];
    };
    expect(row(12)).toEqual(["ENCR_AES_CBC", 16, 16, 0, 0, false]);
    expect(row(20)).toEqual(["ENCR_AES_GCM_16", 1, 8, 16, 4, true]);
    expect(row(28)).toEqual(["ENCR_CHACHA20_POLY1305", 1, 8, 16, 4, true]);
  });

  it("sizes encryption keying material: key, plus 4 octets of salt for AEAD", () => {
    expect(encrKeyMaterialLength(12, 128)).toBe(16);
    expect(encrKeyMaterialLength(12, 256)).toBe(32);
    expect(encrKeyMaterialLength(20, 128)).toBe(20);
    expect(encrKeyMaterialLength(20, 256)).toBe(36);
    expect(encrKeyMaterialLength(28, undefined)).toBe(36);
    expect(encrKeyMaterialLength(28, 256)).toBe(36);
  });

  it("refuses key lengths it does not implement, and AES without a Key Length attribute", () => {
    expect(thrown(() => resolveEncrKeyLength(12, 192)).code).toBe("IKE_CRYPTO_UNSUPPORTED");
    expect(thrown(() => resolveEncrKeyLength(28, 128)).code).toBe("IKE_CRYPTO_UNSUPPORTED");
    const missing = thrown(() => resolveEncrKeyLength(20, undefined));
    expect(missing.code).toBe("IKE_CRYPTO_UNSUPPORTED");
    expect(missing.where?.key).toBe("keyLength");
    expect(thrown(() => encrAlgorithm(3)).code).toBe("IKE_CRYPTO_UNSUPPORTED"); // 3DES
  });
});

describe("parseProposalString (strongSwan keywords)", () => {
  it("aes128gcm16-prfsha256-x25519", () => {
    expect(parseProposalString("aes128gcm16-prfsha256-x25519")).toEqual({
      encr: [{ type: 1, id: 20, keyLength: 128 }],
      prf: [{ type: 2, id: 5 }],
      integ: [],
      dh: [{ type: 4, id: 31 }],
      esn: [],
    });
  });

  it("several algorithms per type, in the written order", () => {
    expect(parseProposalString("aes256-aes128-sha384-sha256-prfsha384-ecp384-modp3072-ecp521")).toEqual({
      encr: [
        { type: 1, id: 12, keyLength: 256 },
        { type: 1, id: 12, keyLength: 128 },
      ],
      prf: [{ type: 2, id: 6 }],
      integ: [
        { type: 3, id: 13 },
        { type: 3, id: 12 },
      ],
      dh: [
        { type: 4, id: 20 },
        { type: 4, id: 15 },
        { type: 4, id: 21 },
      ],
      esn: [],
    });
  });

  it("derives the PRF from the integrity algorithms when none is written, as strongSwan does", () => {
    expect(parseProposalString("aes256-sha512-sha256-modp2048").prf).toEqual([
      { type: 2, id: 7 },
      { type: 2, id: 5 },
    ]);
  });

  it("knows the aliases: aes*gcm128, sha2_*, curve25519, ChaCha20 without a key length", () => {
    expect(parseProposalString("aes256gcm128-chacha20poly1305-prfsha512-curve25519-ecp256")).toEqual({
      encr: [
        { type: 1, id: 20, keyLength: 256 },
        { type: 1, id: 28 },
      ],
      prf: [{ type: 2, id: 7 }],
      integ: [],
      dh: [
        { type: 4, id: 31 },
        { type: 4, id: 19 },
      ],
      esn: [],
    });
    expect(parseProposalString("aes128-sha2_256-sha2_384-sha2_512-modp2048").integ.map((t) => t.id)).toEqual([
      12, 13, 14,
    ]);
  });

  it("ESP proposals: ESN defaults to noesn, DH is optional (PFS), esn/noesn accepted", () => {
    expect(parseProposalString("aes128gcm16", "esp")).toEqual({
      encr: [{ type: 1, id: 20, keyLength: 128 }],
      prf: [],
      integ: [],
      dh: [],
      esn: [{ type: 5, id: 0 }],
    });
    expect(parseProposalString("aes256-sha256-x25519-esn-noesn", "esp").esn).toEqual([
      { type: 5, id: 1 },
      { type: 5, id: 0 },
    ]);
  });

  const errors: [string, "ike" | "esp", string, RegExp][] = [
    ["aes192-sha256-modp2048", "ike", "aes192", /unknown or unsupported algorithm keyword "aes192"/],
    ["aes128-sha1-modp2048", "ike", "sha1", /"sha1"/],
    ["aes128gcm16-prfsha256-modp1024", "ike", "modp1024", /"modp1024"/],
    ["aes128--sha256-modp2048", "ike", "", /empty algorithm keyword/],
    ["aes128-sha256-modp2048-", "ike", "", /empty algorithm keyword/],
    ["aes128-sha256-sha256-modp2048", "ike", "sha256", /repeats/],
    [
      "aes128gcm16-sha256-prfsha256-x25519",
      "ike",
      "sha256",
      /integrity algorithm "sha256" given with an AEAD cipher/,
    ],
    ["aes128-prfsha256-x25519", "ike", "aes128-prfsha256-x25519", /no integrity algorithm/],
    ["sha256-prfsha256-x25519", "ike", "sha256-prfsha256-x25519", /no encryption algorithm/],
    ["aes128gcm16-x25519", "ike", "aes128gcm16-x25519", /no PRF/],
    ["aes128gcm16-prfsha256", "ike", "aes128gcm16-prfsha256", /no Diffie-Hellman group/],
    ["aes128-aes128gcm16-sha256-modp2048", "ike", "aes128gcm16", /AEAD and non-AEAD/],
    ["aes128gcm16-prfsha256-x25519-esn", "ike", "esn", /ESP proposals, not IKE/],
    ["aes128gcm16-prfsha256", "esp", "prfsha256", /ESP proposals do not have/],
    ["aes128-x25519", "esp", "aes128-x25519", /no integrity algorithm/],
  ];
  for (const [text, protocol, keyword, message] of errors) {
    it(`refuses ${protocol} "${text}", naming ${JSON.stringify(keyword)}`, () => {
      const error = thrown(() => parseProposalString(text, protocol));
      expect(error.code).toBe("IKE_PROPOSAL_INVALID");
      expect(error.where?.key).toBe("proposal");
      expect(error.where?.value).toBe(keyword);
      expect(error.message).toMatch(message);
      expect(error.message).toContain(`proposal "${text}"`);
    });
  }

  it("accepts upper case and surrounding blanks", () => {
    expect(parseProposalString(" AES128GCM16-PRFSHA256-X25519 ").dh).toEqual([{ type: 4, id: 31 }]);
  });
});

describe("RandomSource", () => {
  it("deterministicRandom is reproducible and a stream: 5 then 27 octets equal 32 at once", () => {
    const a = deterministicRandom("seed");
    const b = deterministicRandom("seed");
    const joined = toHex(new Uint8Array([...a(5), ...a(27)]));
    expect(joined).toBe(toHex(b(32)));
    expect(toHex(deterministicRandom("other")(32))).not.toBe(joined);
    expect(toHex(deterministicRandom(new TextEncoder().encode("seed"))(32))).toBe(joined);
  });

  it("systemRandom returns the length asked for, and refuses silly lengths", () => {
    expect(systemRandom(0)).toHaveLength(0);
    expect(systemRandom(48)).toHaveLength(48);
    expect(systemRandom(48)).toBeInstanceOf(Uint8Array);
    expect(thrown(() => systemRandom(MAX_RANDOM_DRAW + 1)).where?.key).toBe("length");
    expect(thrown(() => systemRandom(1.5)).where?.key).toBe("length");
  });

  it("drawRandom reports a source that returns the wrong length as a bad `random` argument", () => {
    const error = thrown(() => drawRandom(() => new Uint8Array(3), 32));
    expect(error.code).toBe("IKE_CRYPTO_BAD_ARGUMENT");
    expect(error.where?.key).toBe("random");
  });
});
