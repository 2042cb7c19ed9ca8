/**
 * AUTH payload signatures (src/ike/auth/signature-auth.ts, signature-schemes.ts): every method
 * both ways with keys generated here and with the pki fixtures, strongSwan's choice of scheme,
 * the RFC 7427 AlgorithmIdentifiers against the RFC's Appendix A (and its errata, as strongSwan's
 * test_signature_params.c carries them), and malformed AUTH data as error values.
 */
import {
  type KeyObject,
  constants,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
} from "node:crypto";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AuthMethod } from "../../src/ike/codec/auth.js";
import {
  SUPPORTED_SIGNATURE_HASHES,
  SignatureHash,
  algorithmIdentifier,
  decodeSignatureHashes,
  ecdsaScheme,
  encodeSignatureHashes,
  loadCertificateFile,
  loadPrivateKeyFile,
  pkcs1Scheme,
  pssScheme,
  schemeFromAlgorithmIdentifier,
  signAuth,
  verifyAuth,
} from "../../src/ike/auth/index.js";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const fromHex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ""), "hex"));
const ALL_HASHES = [
  SignatureHash.SHA2_256,
  SignatureHash.SHA2_384,
  SignatureHash.SHA2_512,
  SignatureHash.IDENTITY,
];
/** Stand-in for InitiatorSignedOctets: a message, a nonce and a prf output. */
const octets = new Uint8Array(randomBytes(400));

interface Pair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}
const keys: Record<string, Pair> = {
  rsa2048: generateKeyPairSync("rsa", { modulusLength: 2048 }),
  rsa3072: generateKeyPairSync("rsa", { modulusLength: 3072 }),
  rsa4096: generateKeyPairSync("rsa", { modulusLength: 4096 }),
  rsaPss: generateKeyPairSync("rsa-pss", { modulusLength: 2048 }),
  p256: generateKeyPairSync("ec", { namedCurve: "P-256" }),
  p384: generateKeyPairSync("ec", { namedCurve: "P-384" }),
  p521: generateKeyPairSync("ec", { namedCurve: "P-521" }),
  secp256k1: generateKeyPairSync("ec", { namedCurve: "secp256k1" }),
  ed25519: generateKeyPairSync("ed25519"),
};
const key = (name: string): Pair => keys[name]!;

function signed(
  pair: Pair,
  peerHashes: readonly number[] | undefined,
  options: { rsaPss?: boolean; prefer?: "classic" } = {},
) {
  const result = signAuth({ privateKey: pair.privateKey, octets, peerHashes, ...options });
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}

function verified(pair: Pair, auth: { method: number; data: Uint8Array }, data = octets) {
  return verifyAuth({ publicKey: pair.publicKey, method: auth.method, data: auth.data, octets: data });
}

describe("which method and scheme we send (strongSwan 5.9's choice)", () => {
  const cases: [
    string,
    readonly number[] | undefined,
    { rsaPss?: boolean; prefer?: "classic" },
    number,
    string,
  ][] = [
    ["rsa3072", ALL_HASHES, {}, 14, "sha256WithRSAEncryption"],
    ["rsa2048", ALL_HASHES, {}, 14, "sha256WithRSAEncryption"],
    ["rsa4096", ALL_HASHES, {}, 14, "sha384WithRSAEncryption"],
    ["rsa4096", [SignatureHash.SHA2_256], {}, 14, "sha256WithRSAEncryption"],
    ["rsa3072", [SignatureHash.SHA2_512], {}, 14, "sha512WithRSAEncryption"],
    ["rsa3072", ALL_HASHES, { rsaPss: true }, 14, "RSASSA-PSS(SHA-256, salt 32)"],
    ["rsa4096", ALL_HASHES, { rsaPss: true }, 14, "RSASSA-PSS(SHA-384, salt 48)"],
    ["rsaPss", ALL_HASHES, {}, 14, "RSASSA-PSS(SHA-256, salt 32)"],
    ["p256", ALL_HASHES, {}, 14, "ecdsa-with-SHA256"],
    ["p256", [SignatureHash.SHA2_512], {}, 14, "ecdsa-with-SHA512"],
    ["p384", ALL_HASHES, {}, 14, "ecdsa-with-SHA384"],
    ["p521", ALL_HASHES, {}, 14, "ecdsa-with-SHA512"],
    ["secp256k1", ALL_HASHES, {}, 14, "ecdsa-with-SHA256"],
    ["ed25519", ALL_HASHES, {}, 14, "Ed25519"],
    // No RFC 7427 from the peer: the classic method of the key.
    ["rsa3072", undefined, {}, 1, "RSA_SIGNATURE (PKCS#1 v1.5, SHA-1)"],
    ["p256", [], {}, 9, "ECDSA-256"],
    ["p384", undefined, {}, 10, "ECDSA-384"],
    ["p521", undefined, {}, 11, "ECDSA-521"],
    // RFC 7427 announced, but no hash in common: still the classic method.
    ["rsa3072", [SignatureHash.SHA1], {}, 1, "RSA_SIGNATURE (PKCS#1 v1.5, SHA-1)"],
    ["p384", [SignatureHash.SHA2_256], {}, 10, "ECDSA-384"],
    // Asked for.
    ["p256", ALL_HASHES, { prefer: "classic" }, 9, "ECDSA-256"],
    ["ed25519", ALL_HASHES, { prefer: "classic" }, 14, "Ed25519"],
  ];
  for (const [name, hashes, options, method, scheme] of cases) {
    it(`${name}, peer hashes ${hashes === undefined ? "none" : `[${hashes.join(",")}]`}${options.rsaPss ? ", rsa_pss" : ""}${options.prefer ? ", classic preferred" : ""}: method ${method} ${scheme}`, () => {
      const auth = signed(key(name), hashes, options);
      expect([auth.method, auth.scheme]).toEqual([method, scheme]);
      expect(verified(key(name), auth)).toEqual({
        ok: true,
        value: { scheme: auth.scheme.startsWith("RSA_SIGNATURE") ? "RSA_SIGNATURE (SHA-1)" : auth.scheme },
      });
    });
  }

  it("keys with no classic method and no common hash are an error value", () => {
    for (const [name, hashes] of [
      ["ed25519", undefined],
      ["ed25519", [SignatureHash.SHA2_256]],
      ["secp256k1", undefined],
      ["rsaPss", undefined],
    ] as const) {
      const result = signAuth({ privateKey: key(name).privateKey, octets, peerHashes: hashes });
      expect(result, name).toMatchObject({ ok: false, error: { code: "AUTH_NO_COMMON_HASH" } });
    }
    expect(signAuth({ privateKey: key("p256").publicKey, octets, peerHashes: ALL_HASHES })).toMatchObject({
      ok: false,
      error: { code: "AUTH_KEY_MISMATCH" },
    });
  });
});

describe("AUTH data layout", () => {
  it("classic ECDSA is r ‖ s of fixed size (RFC 4754), method 14 ECDSA is DER", () => {
    for (const [name, size] of [
      ["p256", 64],
      ["p384", 96],
      ["p521", 132],
    ] as const) {
      expect(signed(key(name), undefined).data.length).toBe(size);
      const ds = signed(key(name), ALL_HASHES).data;
      const signature = ds.subarray(1 + ds[0]!);
      expect(signature[0]).toBe(0x30);
    }
  });

  it("RSA method 1 and 14 signatures are as long as the modulus", () => {
    expect(signed(key("rsa3072"), undefined).data.length).toBe(384);
    const ds = signed(key("rsa3072"), ALL_HASHES).data;
    expect(ds.length).toBe(1 + 15 + 384);
  });

  it("method 14 data starts with the AlgorithmIdentifier's length and the AlgorithmIdentifier", () => {
    const ds = signed(key("p256"), ALL_HASHES).data;
    expect(hex(ds.subarray(0, 13))).toBe("0c300a06082a8648ce3d040302");
  });
});

/** RFC 7427 Appendix A (with errata 4260/4303), as carried by strongSwan's test suite. */
const RFC7427_ALGORITHM_IDENTIFIERS: [string, string, string | null][] = [
  ["A.1.2 sha256WithRSAEncryption", "300d06092a864886f70d01010b0500", "sha256WithRSAEncryption"],
  ["A.1.3 sha384WithRSAEncryption", "300d06092a864886f70d01010c0500", "sha384WithRSAEncryption"],
  ["A.1.4 sha512WithRSAEncryption", "300d06092a864886f70d01010d0500", "sha512WithRSAEncryption"],
  ["A.3.2 ecdsa-with-sha256", "300a06082a8648ce3d040302", "ecdsa-with-SHA256"],
  ["A.3.3 ecdsa-with-sha384", "300a06082a8648ce3d040303", "ecdsa-with-SHA384"],
  ["A.3.4 ecdsa-with-sha512", "300a06082a8648ce3d040304", "ecdsa-with-SHA512"],
  [
    "A.4.3 RSASSA-PSS with SHA-256 (as printed, with trailerField)",
    "3046 06092a864886f70d01010a 3039 a00f300d06096086480165030402010500 a11c301a06092a864886f70d010108300d06096086480165030402010500 a203020120 a303020101",
    "RSASSA-PSS(SHA-256, salt 32)",
  ],
  [
    "A.4.3 RSASSA-PSS with SHA-256 (errata: no trailerField)",
    "3041 06092a864886f70d01010a 3034 a00f300d06096086480165030402010500 a11c301a06092a864886f70d010108300d06096086480165030402010500 a203020120",
    "RSASSA-PSS(SHA-256, salt 32)",
  ],
  [
    "strongSwan: RSASSA-PSS SHA-512",
    "3041 06092a864886f70d01010a 3034 a00f300d06096086480165030402030500 a11c301a06092a864886f70d010108300d06096086480165030402030500 a203020140",
    "RSASSA-PSS(SHA-512, salt 64)",
  ],
  [
    "strongSwan: RSASSA-PSS SHA-256, no salt",
    "3041 06092a864886f70d01010a 3034 a00f300d06096086480165030402010500 a11c301a06092a864886f70d010108300d06096086480165030402010500 a203020100",
    "RSASSA-PSS(SHA-256, salt 0)",
  ],
  ["RFC 8420 Ed25519", "300506032b6570", "Ed25519"],
  // Refused: SHA-1 (RFC 8247), PSS defaults (SHA-1), unknown hash, MGF or trailer.
  ["A.1.1 sha1WithRSAEncryption", "300d06092a864886f70d0101050500", null],
  ["A.3.1 ecdsa-with-sha1", "300906072a8648ce3d0401", null],
  ["A.4.1 RSASSA-PSS, empty parameters", "300d06092a864886f70d01010a3000", null],
  ["RSASSA-PSS without parameters", "300b06092a864886f70d01010a", null],
  [
    "A.4.2 RSASSA-PSS, default parameters spelled out",
    "303e06092a864886f70d01010a3031a00b300906052b0e03021a0500a118301606092a864886f70d010108300906052b0e03021a0500a203020114a303020101",
    null,
  ],
  ["strongSwan: PSS, unknown hash", "301e06092a864886f70d01010a3011a00f300d06096086480165030402000500", null],
  [
    "strongSwan: PSS, unknown mgf",
    "302b06092a864886f70d01010a301ea11c301a06092a864886f70d010100300d06096086480165030402010500",
    null,
  ],
  ["strongSwan: PSS, incorrect trailer", "301206092a864886f70d01010a3005a303020102", null],
  ["strongSwan: PSS, too long trailer", "301306092a864886f70d01010a3006a30402020101", null],
  [
    "strongSwan: PSS, negative salt",
    "304d06092a864886f70d01010a3040a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a20a0208ffffffffffffffffa303020101",
    null,
  ],
  [
    "PSS, MGF1 with another hash",
    "3041 06092a864886f70d01010a 3034 a00f300d06096086480165030402010500 a11c301a06092a864886f70d010108300d06096086480165030402030500 a203020120",
    null,
  ],
  ["sha256WithRSAEncryption with junk parameters", "300e06092a864886f70d01010b020100", null],
];

describe("RFC 7427 AlgorithmIdentifiers", () => {
  for (const [what, der, scheme] of RFC7427_ALGORITHM_IDENTIFIERS) {
    it(`${what}: ${scheme ?? "refused"}`, () => {
      const lookup = schemeFromAlgorithmIdentifier(fromHex(der));
      if (scheme === null) expect(lookup.ok).toBe(false);
      else expect(lookup.ok && lookup.scheme.name).toBe(scheme);
    });
  }

  it("we write exactly what strongSwan writes (NULL for RSA, none for ECDSA, PSS without trailerField)", () => {
    expect(hex(algorithmIdentifier(pkcs1Scheme("sha256")))).toBe("300d06092a864886f70d01010b0500");
    expect(hex(algorithmIdentifier(ecdsaScheme("sha384")))).toBe("300a06082a8648ce3d040303");
    expect(hex(algorithmIdentifier(pssScheme("sha256")))).toBe(
      "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120",
    );
  });

  it("a PSS signature with another salt length than ours verifies (we read the salt from the parameters)", () => {
    const pair = key("rsa2048");
    const signature = signAuthWithScheme(pair.privateKey, pssScheme("sha384", 20));
    expect(verified(pair, { method: AuthMethod.DIGITAL_SIGNATURE, data: signature })).toEqual({
      ok: true,
      value: { scheme: "RSASSA-PSS(SHA-384, salt 20)" },
    });
  });
});

/** Method 14 data for a scheme signAuth would not pick itself. */
function signAuthWithScheme(privateKey: KeyObject, scheme: ReturnType<typeof pssScheme>): Uint8Array {
  const algorithm = algorithmIdentifier(scheme);
  const signature = sign(scheme.digest, octets, {
    key: privateKey,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: scheme.saltLength ?? 0,
  });
  return Uint8Array.from([algorithm.length, ...algorithm, ...signature]);
}

describe("verification failures are error values", () => {
  it("other octets, a flipped bit, another key of the same type", () => {
    for (const [name, hashes] of [
      ["rsa3072", ALL_HASHES],
      ["rsa3072", undefined],
      ["rsaPss", ALL_HASHES],
      ["p256", ALL_HASHES],
      ["p256", undefined],
      ["p384", undefined],
      ["p521", undefined],
      ["ed25519", ALL_HASHES],
    ] as const) {
      const auth = signed(key(name), hashes);
      const otherOctets = Uint8Array.from(octets);
      otherOctets[10]! ^= 1;
      expect(verified(key(name), auth, otherOctets), `${name} octets`).toMatchObject({
        ok: false,
        error: { code: "AUTH_SIGNATURE_INVALID" },
      });
      const flipped = Uint8Array.from(auth.data);
      flipped[flipped.length - 1]! ^= 1;
      expect(verified(key(name), { ...auth, data: flipped }).ok, `${name} flipped`).toBe(false);
      const others: Record<string, () => Pair> = {
        rsa3072: () => key("rsa2048"),
        rsaPss: () => generateKeyPairSync("rsa-pss", { modulusLength: 2048 }),
        p256: () => generateKeyPairSync("ec", { namedCurve: "P-256" }),
        p384: () => generateKeyPairSync("ec", { namedCurve: "P-384" }),
        p521: () => generateKeyPairSync("ec", { namedCurve: "P-521" }),
        ed25519: () => generateKeyPairSync("ed25519"),
      };
      const other = others[name]!();
      expect(verified(other, auth), `${name} other key`).toMatchObject({
        ok: false,
        error: { code: "AUTH_SIGNATURE_INVALID" },
      });
    }
  });

  it("a method that does not fit the certificate's key", () => {
    const ecdsa256 = signed(key("p256"), undefined);
    expect(verified(key("p384"), ecdsa256)).toMatchObject({
      ok: false,
      error: { code: "AUTH_KEY_MISMATCH" },
    });
    expect(verified(key("rsa3072"), ecdsa256)).toMatchObject({
      ok: false,
      error: { code: "AUTH_KEY_MISMATCH" },
    });
    expect(verified(key("p256"), signed(key("rsa3072"), undefined))).toMatchObject({
      ok: false,
      error: { code: "AUTH_KEY_MISMATCH" },
    });
    expect(verified(key("rsa3072"), signed(key("p256"), ALL_HASHES))).toMatchObject({
      ok: false,
      error: { code: "AUTH_KEY_MISMATCH" },
    });
    expect(verified(key("rsaPss"), signed(key("rsa2048"), ALL_HASHES))).toMatchObject({
      ok: false,
      error: { code: "AUTH_KEY_MISMATCH" },
    });
  });

  it("malformed AUTH data", () => {
    const p256 = key("p256");
    const ds = signed(p256, ALL_HASHES).data;
    const cases: [string, number, Uint8Array, string][] = [
      ["empty method 14", 14, new Uint8Array(0), "AUTH_MALFORMED"],
      ["length 0", 14, Uint8Array.of(0, 1, 2), "AUTH_MALFORMED"],
      ["length past the end", 14, Uint8Array.of(40, ...ds.subarray(1, 20)), "AUTH_MALFORMED"],
      ["no signature after the AlgorithmIdentifier", 14, ds.subarray(0, 13), "AUTH_MALFORMED"],
      ["length one short", 14, Uint8Array.of(11, ...ds.subarray(1)), "AUTH_MALFORMED"],
      [
        "DER garbage as signature",
        14,
        Uint8Array.of(...ds.subarray(0, 13), 0x30, 0x02, 0x02, 0x00),
        "AUTH_SIGNATURE_INVALID",
      ],
      ["classic ECDSA of the wrong size", 9, new Uint8Array(63), "AUTH_MALFORMED"],
      ["classic ECDSA given as DER", 9, ds.subarray(13), "AUTH_MALFORMED"],
      ["PSK MIC", 2, new Uint8Array(32), "AUTH_METHOD_UNSUPPORTED"],
      ["DSS", 3, new Uint8Array(40), "AUTH_METHOD_UNSUPPORTED"],
      ["NULL", 13, new Uint8Array(0), "AUTH_METHOD_UNSUPPORTED"],
      ["unknown method", 201, new Uint8Array(10), "AUTH_METHOD_UNSUPPORTED"],
    ];
    for (const [what, method, data, code] of cases) {
      expect(verified(p256, { method, data }), what).toMatchObject({ ok: false, error: { code } });
    }
  });

  it("never throws on random or mutated AUTH data (seeded fuzz)", () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const samples = [
      { pair: key("p256"), auth: signed(key("p256"), ALL_HASHES) },
      { pair: key("rsa2048"), auth: signed(key("rsa2048"), ALL_HASHES, { rsaPss: true }) },
      { pair: key("p384"), auth: signed(key("p384"), undefined) },
    ];
    for (let round = 0; round < 1500; round++) {
      const { pair, auth } = samples[round % samples.length]!;
      const data = Uint8Array.from(auth.data.subarray(0, auth.data.length - random(4)));
      for (let k = 0; k < 1 + random(3); k++) data[random(Math.min(data.length, 80))] = random(256);
      const method = random(10) === 0 ? random(16) : auth.method;
      expect(() => verifyAuth({ publicKey: pair.publicKey, method, data, octets })).not.toThrow();
    }
  });
});

describe("SIGNATURE_HASH_ALGORITHMS notify data (RFC 7427 §4)", () => {
  it("encodes and decodes 2-octet IDs; an odd last octet is ignored", () => {
    expect(hex(encodeSignatureHashes(SUPPORTED_SIGNATURE_HASHES))).toBe("0002000300040005");
    expect(decodeSignatureHashes(fromHex("000200030004000500"))).toEqual([2, 3, 4, 5]);
    expect(decodeSignatureHashes(new Uint8Array(0))).toEqual([]);
  });
});

describe("keys and certificates made by strongSwan's pki", () => {
  const PKI = fileURLToPath(new URL("./fixtures/pki/", import.meta.url));
  const pkiPair = (name: string): Pair => {
    const privateKey = loadPrivateKeyFile(`${PKI}${name}.key`);
    const certs = loadCertificateFile(`${PKI}${name}.crt`);
    if (!privateKey.ok || !certs.ok) throw new Error(`fixture ${name}`);
    return { privateKey: privateKey.value, publicKey: certs.value[0]!.publicKey };
  };
  for (const [name, classic] of [
    ["moon", 1],
    ["sun", 9],
    ["venus", 10],
    ["mars", 11],
  ] as const) {
    it(`${name}: classic method ${classic} and method 14 sign with the key and verify with the certificate`, () => {
      const pair = pkiPair(name);
      expect(createPublicKey(pair.privateKey).export({ format: "jwk" })).toEqual(
        pair.publicKey.export({ format: "jwk" }),
      );
      for (const [hashes, method] of [
        [undefined, classic],
        [ALL_HASHES, 14],
      ] as const) {
        const auth = signed(pair, hashes, { rsaPss: name === "moon" });
        expect(auth.method).toBe(method);
        expect(verified(pair, auth).ok).toBe(true);
      }
    });
  }
});
