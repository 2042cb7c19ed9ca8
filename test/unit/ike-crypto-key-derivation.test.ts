import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  KEY_PAD_FOR_IKEV2,
  macedId,
  pskAuth,
  signedOctets,
  verifyPskAuth,
} from "../../src/ike/crypto/auth.js";
import {
  computeRekeySkeyseed,
  computeSkeyseed,
  deriveChildSaKeys,
  deriveIkeSaKeys,
  deriveInitialIkeSaKeys,
  deriveRekeyedIkeSaKeys,
  ikeSaKeyLengths,
  type ChildSaSuite,
  type IkeSaSuite,
} from "../../src/ike/crypto/key-derivation.js";
import { deterministicRandom } from "../../src/ike/crypto/random.js";
import { hex, loadVectors, thrown, toHex } from "./ike-crypto-support.js";

// ---------------------------------------------------------------------------------------------
// A second, independent, plainly written IKEv2 KDF: Buffer.concat and a loop over createHmac,
// with the key lengths written out by hand. It shares no code with src/ike/crypto.
// ---------------------------------------------------------------------------------------------

const HASH_OF_PRF: Record<number, string> = { 5: "sha256", 6: "sha384", 7: "sha512" };

function hmac(hash: string, key: Uint8Array, ...data: Uint8Array[]): Buffer {
  return createHmac(hash, key).update(Buffer.concat(data)).digest();
}

function refPrfPlus(hash: string, key: Uint8Array, seed: Uint8Array, length: number): Buffer {
  let out: Buffer = Buffer.alloc(0);
  let t: Buffer = Buffer.alloc(0);
  for (let n = 1; out.length < length; n++) {
    t = hmac(hash, key, t, seed, Buffer.of(n));
    out = Buffer.concat([out, t]);
  }
  return out.subarray(0, length);
}

/** Octets of encryption key (with salt) and integrity key, by hand from RFC 4868/5282/7634. */
function refCipherKeyLengths(
  encr: number,
  keyBits: number | undefined,
  integ: number | undefined,
): [number, number] {
  const enc = encr === 12 ? keyBits! / 8 : encr === 20 ? keyBits! / 8 + 4 : 36;
  const integLength = integ === 12 ? 32 : integ === 13 ? 48 : integ === 14 ? 64 : 0;
  return [enc, integLength];
}

function refIkeSaKeys(
  suite: IkeSaSuite,
  skeyseed: Uint8Array,
  ni: Uint8Array,
  nr: Uint8Array,
  spiI: Uint8Array,
  spiR: Uint8Array,
): string[] {
  const hash = HASH_OF_PRF[suite.prf]!;
  const prfKey = { sha256: 32, sha384: 48, sha512: 64 }[hash]!;
  const [enc, integ] = refCipherKeyLengths(suite.encr, suite.encrKeyLength, suite.integ);
  const lengths = [prfKey, integ, integ, enc, enc, prfKey, prfKey];
  const keymat = refPrfPlus(
    hash,
    skeyseed,
    Buffer.concat([ni, nr, spiI, spiR]),
    lengths.reduce((a, b) => a + b),
  );
  let offset = 0;
  return lengths.map((length) => keymat.subarray(offset, (offset += length)).toString("hex"));
}

function refChildKeys(
  prf: number,
  skD: Uint8Array,
  suite: ChildSaSuite,
  ni: Uint8Array,
  nr: Uint8Array,
  shared?: Uint8Array,
): string[] {
  const [enc, integ] = refCipherKeyLengths(suite.encr, suite.encrKeyLength, suite.integ);
  const seed = Buffer.concat(shared ? [shared, ni, nr] : [ni, nr]);
  const keymat = refPrfPlus(HASH_OF_PRF[prf]!, skD, seed, 2 * (enc + integ));
  let offset = 0;
  return [enc, integ, enc, integ].map((length) =>
    keymat.subarray(offset, (offset += length)).toString("hex"),
  );
}

const ikeKeyList = (keys: ReturnType<typeof deriveIkeSaKeys>) =>
  [keys.skD, keys.skAi, keys.skAr, keys.skEi, keys.skEr, keys.skPi, keys.skPr].map(toHex);

// ---------------------------------------------------------------------------------------------

interface CavsVector {
  hash: string;
  gir: string;
  girNew: string;
  ni: string;
  nr: string;
  spii: string;
  spir: string;
  skeyseed: string;
  dkm: string;
  dkmChildSa: string;
  dkmChildSaDh: string;
  skeyseedRekey: string;
}

describe("the reference KDF of this test file", () => {
  it("reproduces the SP 800-135-format IKEv2 known answer (HMAC-SHA1) published with libreswan", () => {
    const v = loadVectors<CavsVector>("libreswan-ikev2-kdf-sha1.json");
    const [ni, nr, gir, girNew] = [hex(v.ni), hex(v.nr), hex(v.gir), hex(v.girNew)];
    const skeyseed = hmac(v.hash, Buffer.concat([ni, nr]), gir);
    expect(skeyseed.toString("hex")).toBe(v.skeyseed);
    const dkmLength = v.dkm.length / 2;
    const dkm = refPrfPlus(v.hash, skeyseed, Buffer.concat([ni, nr, hex(v.spii), hex(v.spir)]), dkmLength);
    expect(dkm.toString("hex")).toBe(v.dkm);
    const skD = dkm.subarray(0, 20);
    expect(refPrfPlus(v.hash, skD, Buffer.concat([ni, nr]), dkmLength).toString("hex")).toBe(v.dkmChildSa);
    expect(refPrfPlus(v.hash, skD, Buffer.concat([girNew, ni, nr]), dkmLength).toString("hex")).toBe(
      v.dkmChildSaDh,
    );
    expect(hmac(v.hash, skD, girNew, ni, nr).toString("hex")).toBe(v.skeyseedRekey);
  });
});

const IKE_SUITES: readonly IkeSaSuite[] = [
  { encr: 20, encrKeyLength: 128, prf: 5 },
  { encr: 20, encrKeyLength: 256, prf: 7 },
  { encr: 28, prf: 6 },
  { encr: 12, encrKeyLength: 128, prf: 5, integ: 12 },
  { encr: 12, encrKeyLength: 256, prf: 6, integ: 13 },
  { encr: 12, encrKeyLength: 256, prf: 7, integ: 14 },
];
const CHILD_SUITES: readonly ChildSaSuite[] = [
  { encr: 20, encrKeyLength: 128 },
  { encr: 20, encrKeyLength: 256, integ: 0 },
  { encr: 28 },
  { encr: 12, encrKeyLength: 128, integ: 12 },
  { encr: 12, encrKeyLength: 256, integ: 14 },
];

describe("IKE SA keys (RFC 7296 §2.14) against the reference", () => {
  const random = deterministicRandom("ike sa keys");
  for (const suite of IKE_SUITES) {
    it(`encr ${suite.encr}/${suite.encrKeyLength ?? "-"} prf ${suite.prf} integ ${suite.integ ?? "none"}`, () => {
      for (let round = 0; round < 5; round++) {
        const ni = random(16 + round * 40);
        const nr = random(32);
        const spiI = random(8);
        const spiR = random(8);
        const shared = random(round === 0 ? 256 : 32);
        const skeyseed = computeSkeyseed(suite.prf, ni, nr, shared);
        expect(toHex(skeyseed)).toBe(
          hmac(HASH_OF_PRF[suite.prf]!, Buffer.concat([ni, nr]), shared).toString("hex"),
        );
        const keys = deriveIkeSaKeys(suite, skeyseed, { nonceI: ni, nonceR: nr, spiI, spiR });
        expect(ikeKeyList(keys)).toEqual(refIkeSaKeys(suite, skeyseed, ni, nr, spiI, spiR));
        const initial = deriveInitialIkeSaKeys({
          suite,
          sharedSecret: shared,
          nonceI: ni,
          nonceR: nr,
          spiI,
          spiR,
        });
        expect(ikeKeyList(initial)).toEqual(ikeKeyList(keys));
      }
    });
  }

  it("key lengths: AEAD has no SK_a, and SK_e carries 4 octets of salt", () => {
    expect(ikeSaKeyLengths({ encr: 20, encrKeyLength: 128, prf: 5 })).toEqual({
      skD: 32,
      skP: 32,
      skA: 0,
      skE: 20,
    });
    expect(ikeSaKeyLengths({ encr: 28, prf: 7 })).toEqual({ skD: 64, skP: 64, skA: 0, skE: 36 });
    expect(ikeSaKeyLengths({ encr: 12, encrKeyLength: 256, prf: 6, integ: 13 })).toEqual({
      skD: 48,
      skP: 48,
      skA: 48,
      skE: 32,
    });
  });
});

describe("rekeyed IKE SA (RFC 7296 §2.18)", () => {
  const random = deterministicRandom("ike rekey");

  it("SKEYSEED uses the old SA's SK_d and PRF; prf+ uses the new SA's PRF", () => {
    const oldPrf = 7;
    const newSuite: IkeSaSuite = { encr: 20, encrKeyLength: 256, prf: 5 };
    const oldSkD = random(64);
    const shared = random(32);
    const [ni, nr, spiI, spiR] = [random(32), random(32), random(8), random(8)];
    const skeyseed = computeRekeySkeyseed(oldPrf, oldSkD, shared, ni, nr);
    const expectedSeed = hmac("sha512", oldSkD, shared, ni, nr);
    expect(toHex(skeyseed)).toBe(expectedSeed.toString("hex"));
    const keys = deriveRekeyedIkeSaKeys({
      suite: newSuite,
      oldPrf,
      oldSkD,
      sharedSecret: shared,
      nonceI: ni,
      nonceR: nr,
      spiI,
      spiR,
    });
    expect(ikeKeyList(keys)).toEqual(refIkeSaKeys(newSuite, expectedSeed, ni, nr, spiI, spiR));
    expect(keys.skD).toHaveLength(32); // the new PRF's key size, not the old one's 64
  });
});

describe("Child SA KEYMAT (RFC 7296 §2.17) against the reference", () => {
  const random = deterministicRandom("child sa keys");
  for (const prf of [5, 6, 7]) {
    for (const suite of CHILD_SUITES) {
      it(`prf ${prf}, encr ${suite.encr}/${suite.encrKeyLength ?? "-"} integ ${suite.integ ?? "none"}, with and without PFS`, () => {
        const skD = random(prf === 5 ? 32 : prf === 6 ? 48 : 64);
        const [ni, nr, shared] = [random(32), random(16), random(97)];
        for (const sharedSecret of [undefined, shared]) {
          const keys = deriveChildSaKeys({ prf, skD, suite, nonceI: ni, nonceR: nr, sharedSecret });
          const list = [
            keys.initiatorToResponder.encKey,
            keys.initiatorToResponder.integKey,
            keys.responderToInitiator.encKey,
            keys.responderToInitiator.integKey,
          ].map(toHex);
          expect(list).toEqual(refChildKeys(prf, skD, suite, ni, nr, sharedSecret));
        }
      });
    }
  }

  it("takes initiator→responder keys first, encryption before integrity", () => {
    const skD = random(32);
    const [ni, nr] = [random(16), random(16)];
    const keys = deriveChildSaKeys({
      prf: 5,
      skD,
      suite: { encr: 12, encrKeyLength: 128, integ: 12 },
      nonceI: ni,
      nonceR: nr,
    });
    const keymat = refPrfPlus("sha256", skD, Buffer.concat([ni, nr]), 2 * (16 + 32)).toString("hex");
    expect(toHex(keys.initiatorToResponder.encKey)).toBe(keymat.slice(0, 32));
    expect(toHex(keys.initiatorToResponder.integKey)).toBe(keymat.slice(32, 96));
    expect(toHex(keys.responderToInitiator.encKey)).toBe(keymat.slice(96, 128));
    expect(toHex(keys.responderToInitiator.integKey)).toBe(keymat.slice(128));
  });
});

interface Regression {
  inputs: Record<string, string>;
  suites: {
    name: string;
    ike: IkeSaSuite;
    childSuite: ChildSaSuite;
    skeyseed: string;
    keys: Record<"skD" | "skAi" | "skAr" | "skEi" | "skEr" | "skPi" | "skPr", string>;
    child: {
      pfs: boolean;
      initiatorToResponder: { encKey: string; integKey: string };
      responderToInitiator: { encKey: string; integKey: string };
    };
    rekey: { skeyseed: string; skD: string };
    initiatorAuth: { signedOctets: string; psk: string };
  }[];
}

describe("pinned regression vector (pavise-ikev2-kdf-regression.json)", () => {
  const v = loadVectors<Regression>("pavise-ikev2-kdf-regression.json");
  const input = (name: string) => hex(v.inputs[name]!);

  for (const s of v.suites) {
    it(`suite ${s.name}: SKEYSEED, the seven keys, Child SA keys, rekey, AUTH`, () => {
      const skeyseed = computeSkeyseed(s.ike.prf, input("nonceI"), input("nonceR"), input("sharedSecret"));
      expect(toHex(skeyseed)).toBe(s.skeyseed);
      const keys = deriveIkeSaKeys(s.ike, skeyseed, {
        nonceI: input("nonceI"),
        nonceR: input("nonceR"),
        spiI: input("spiI"),
        spiR: input("spiR"),
      });
      expect(ikeKeyList(keys)).toEqual([
        s.keys.skD,
        s.keys.skAi,
        s.keys.skAr,
        s.keys.skEi,
        s.keys.skEr,
        s.keys.skPi,
        s.keys.skPr,
      ]);

      const child = deriveChildSaKeys({
        prf: s.ike.prf,
        skD: keys.skD,
        suite: s.childSuite,
        nonceI: input("childNonceI"),
        nonceR: input("childNonceR"),
        ...(s.child.pfs ? { sharedSecret: input("childSharedSecret") } : {}),
      });
      expect(toHex(child.initiatorToResponder.encKey)).toBe(s.child.initiatorToResponder.encKey);
      expect(toHex(child.initiatorToResponder.integKey)).toBe(s.child.initiatorToResponder.integKey);
      expect(toHex(child.responderToInitiator.encKey)).toBe(s.child.responderToInitiator.encKey);
      expect(toHex(child.responderToInitiator.integKey)).toBe(s.child.responderToInitiator.integKey);

      const rekeySeed = computeRekeySkeyseed(
        s.ike.prf,
        keys.skD,
        input("childSharedSecret"),
        input("rekeyNonceI"),
        input("rekeyNonceR"),
      );
      expect(toHex(rekeySeed)).toBe(s.rekey.skeyseed);
      const rekeyed = deriveRekeyedIkeSaKeys({
        suite: s.ike,
        oldPrf: s.ike.prf,
        oldSkD: keys.skD,
        sharedSecret: input("childSharedSecret"),
        nonceI: input("rekeyNonceI"),
        nonceR: input("rekeyNonceR"),
        spiI: input("rekeySpiI"),
        spiR: input("rekeySpiR"),
      });
      expect(toHex(rekeyed.skD)).toBe(s.rekey.skD);

      const octets = signedOctets({
        prf: s.ike.prf,
        realMessage: input("realMessage"),
        peerNonce: input("nonceR"),
        skP: keys.skPi,
        idPayloadBody: input("idPayloadBody"),
      });
      expect(toHex(octets)).toBe(s.initiatorAuth.signedOctets);
      expect(toHex(pskAuth(s.ike.prf, input("pskSharedSecret"), octets))).toBe(s.initiatorAuth.psk);
    });
  }
});

describe("AUTH helpers (RFC 7296 §2.15)", () => {
  const random = deterministicRandom("auth");

  it('the key pad is the 17 ASCII octets of "Key Pad for IKEv2", no NUL', () => {
    expect(toHex(KEY_PAD_FOR_IKEV2)).toBe("4b65792050616420666f7220494b457632");
    expect(KEY_PAD_FOR_IKEV2).toHaveLength(17);
  });

  it("SignedOctets = RealMessage | peer Nonce | prf(SK_p, RestOfIDPayload)", () => {
    const [message, nonce, skP, id] = [random(300), random(32), random(48), random(20)];
    const octets = signedOctets({ prf: 6, realMessage: message, peerNonce: nonce, skP, idPayloadBody: id });
    expect(toHex(octets)).toBe(toHex(message) + toHex(nonce) + hmac("sha384", skP, id).toString("hex"));
    expect(toHex(macedId(6, skP, id))).toBe(hmac("sha384", skP, id).toString("hex"));
  });

  it("PSK AUTH = prf(prf(secret, key pad), octets), verified in constant time", () => {
    const [secret, octets] = [new TextEncoder().encode("a shared secret"), random(120)];
    const expected = hmac("sha256", hmac("sha256", secret, KEY_PAD_FOR_IKEV2), octets);
    const auth = pskAuth(5, secret, octets);
    expect(toHex(auth)).toBe(expected.toString("hex"));
    expect(verifyPskAuth(5, secret, octets, auth)).toBe(true);
    const bad = auth.slice();
    bad[31]! ^= 1;
    expect(verifyPskAuth(5, secret, octets, bad)).toBe(false);
    expect(verifyPskAuth(5, secret, octets, auth.subarray(0, 16))).toBe(false);
    expect(verifyPskAuth(5, new TextEncoder().encode("another secret"), octets, auth)).toBe(false);
  });
});

describe("argument checks name the argument", () => {
  const random = deterministicRandom("kdf arguments");
  it("nonces of 16..256 octets, SPIs of 8, a non-empty shared secret", () => {
    expect(thrown(() => computeSkeyseed(5, random(15), random(16), random(32))).where?.key).toBe("nonceI");
    expect(thrown(() => computeSkeyseed(5, random(16), random(257), random(32))).where?.key).toBe("nonceR");
    expect(thrown(() => computeSkeyseed(5, random(16), random(16), new Uint8Array(0))).where?.key).toBe(
      "sharedSecret",
    );
    const seed = { nonceI: random(16), nonceR: random(16), spiI: random(8), spiR: random(4) };
    expect(thrown(() => deriveIkeSaKeys({ encr: 28, prf: 5 }, random(32), seed)).where?.key).toBe("spiR");
  });

  it("AEAD with an integrity transform, CBC without one, unknown PRF", () => {
    const seed = { nonceI: random(16), nonceR: random(16), spiI: random(8), spiR: random(8) };
    expect(
      thrown(() => deriveIkeSaKeys({ encr: 20, encrKeyLength: 128, prf: 5, integ: 12 }, random(32), seed))
        .where?.key,
    ).toBe("integ");
    expect(
      thrown(() => deriveIkeSaKeys({ encr: 12, encrKeyLength: 128, prf: 5 }, random(32), seed)).where?.key,
    ).toBe("integ");
    expect(thrown(() => deriveIkeSaKeys({ encr: 28, prf: 2 }, random(32), seed)).code).toBe(
      "IKE_CRYPTO_UNSUPPORTED",
    );
  });
});
