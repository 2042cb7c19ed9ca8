import { createCipheriv, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  decryptSk,
  encryptSk,
  skBodyLength,
  type DecryptSkResult,
  type SkSuite,
} from "../../src/ike/crypto/encryption.js";
import { deterministicRandom } from "../../src/ike/crypto/random.js";
import { encrKeyMaterialLength, integAlgorithm } from "../../src/ike/crypto/transforms.js";
import { hex, loadVectors, thrown, toHex } from "./ike-crypto-support.js";

interface Rfc3602 {
  cases: { case: number; key: string; iv: string; plaintext: string; ciphertext: string }[];
}
interface GcmSpec {
  cases: {
    case: number;
    key: string;
    iv: string;
    plaintext: string;
    aad: string;
    ciphertext: string;
    tag: string;
  }[];
}
interface Rfc8439 {
  cases: {
    name: string;
    key: string;
    nonce: string;
    aad: string;
    plaintext: string;
    ciphertext: string;
    tag: string;
  }[];
}
interface Rfc7634 {
  key: string;
  salt: string;
  iv: string;
  aad: string;
  plaintext: string;
  ciphertext: string;
  tag: string;
}

/** Splits a published plaintext into inner payloads and padding by its last octet (the Pad Length). */
function splitPadded(padded: Uint8Array): { inner: Uint8Array; padding: Uint8Array } | undefined {
  const padLength = padded[padded.length - 1]!;
  if (padLength + 1 > padded.length) return undefined;
  const innerLength = padded.length - 1 - padLength;
  return { inner: padded.subarray(0, innerLength), padding: padded.subarray(innerLength, padded.length - 1) };
}

function expectOk(result: DecryptSkResult): Uint8Array {
  if (!result.ok) throw new Error(`decryptSk failed: ${result.error.code} ${result.error.message}`);
  return result.plaintext;
}

describe("RFC 7634 Appendix B: an IKEv2 message with ChaCha20-Poly1305, to the byte", () => {
  const v = loadVectors<Rfc7634>("rfc7634-ikev2-example.json");
  const encKey = hex(v.key + v.salt);
  const expectedBody = v.iv + v.ciphertext + v.tag;

  it("encryptSk produces IV | ciphertext | tag with the minimal padding (pad length 0)", () => {
    const plaintext = hex(v.plaintext).subarray(0, -1); // the last octet is the Pad Length, 0
    const body = encryptSk({ transform: 28, encKey, aad: hex(v.aad), plaintext, iv: hex(v.iv) });
    expect(toHex(body)).toBe(expectedBody);
    // The IKE header in the AAD says 0x45 = 69 octets: 28 header + 4 SK header + the body.
    expect(skBodyLength({ transform: 28 }, plaintext.length)).toBe(69 - 32);
  });

  it("decryptSk returns the Notify payload", () => {
    const plaintext = expectOk(
      decryptSk({ transform: 28, encKey, aad: hex(v.aad), body: hex(expectedBody) }),
    );
    expect(toHex(plaintext)).toBe("0000000c000040010000000a");
  });
});

describe("RFC 8439 ChaCha20-Poly1305 AEAD vectors in IKE framing (nonce = salt | IV)", () => {
  const { cases } = loadVectors<Rfc8439>("rfc8439-chacha20-poly1305.json");
  for (const v of cases) {
    it(`${v.name}: the published plaintext, read as inner | padding | pad length, encrypts to the vector`, () => {
      const nonce = hex(v.nonce);
      const encKey = new Uint8Array([...hex(v.key), ...nonce.subarray(0, 4)]);
      const iv = nonce.subarray(4);
      const split = splitPadded(hex(v.plaintext))!;
      const body = encryptSk({
        transform: 28,
        encKey,
        aad: hex(v.aad),
        plaintext: split.inner,
        padding: split.padding,
        iv,
      });
      expect(toHex(body)).toBe(toHex(iv) + v.ciphertext + v.tag);
      const back = expectOk(decryptSk({ transform: 28, encKey, aad: hex(v.aad), body }));
      expect(toHex(back)).toBe(toHex(split.inner));
    });
  }
});

describe("GCM specification test cases in IKE framing (salt | IV = 12-octet nonce, RFC 5282)", () => {
  const { cases } = loadVectors<GcmSpec>("gcm-spec-aes-gcm.json");
  for (const v of cases) {
    const keyLength = v.key.length * 4;
    it(`test case ${v.case} (AES-${keyLength}-GCM)`, () => {
      const nonce = hex(v.iv);
      const encKey = new Uint8Array([...hex(v.key), ...nonce.subarray(0, 4)]);
      const iv = nonce.subarray(4);
      // The 60-octet plaintext ends in 0x39: pad length 57, two octets of "inner payload".
      const split = splitPadded(hex(v.plaintext))!;
      expect(split.inner).toHaveLength(2);
      const suite = { transform: 20, keyLength, encKey, aad: hex(v.aad) };
      const body = encryptSk({ ...suite, plaintext: split.inner, padding: split.padding, iv });
      expect(toHex(body)).toBe(toHex(iv) + v.ciphertext + v.tag);
      expect(toHex(expectOk(decryptSk({ ...suite, body })))).toBe(toHex(split.inner));
    });
  }
});

describe("RFC 3602 AES-CBC vectors in IKE framing", () => {
  const { cases } = loadVectors<Rfc3602>("rfc3602-aes-cbc.json");
  const integKey = hex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
  const aad = hex("000102030405060708090a0b0c0d0e0f1011121314151617181920212223242526272829"); // opaque here

  it("2 of the 4 cases are valid SK plaintexts (pad length fits); cases 1 and 4 are pinned as bad padding", () => {
    expect(cases.map((v) => splitPadded(hex(v.plaintext)) !== undefined)).toEqual([false, true, true, false]);
  });

  for (const v of cases) {
    const split = splitPadded(hex(v.plaintext));
    const suite = { transform: 12, keyLength: 128, integ: 12, encKey: hex(v.key), integKey, aad };
    // ICV over aad | IV | ciphertext, computed here independently (RFC 7296 §3.14).
    const icv = createHmac("sha256", integKey)
      .update(Buffer.concat([aad, hex(v.iv), hex(v.ciphertext)]))
      .digest()
      .subarray(0, 16);
    const body = hex(v.iv + v.ciphertext + icv.toString("hex"));
    if (split !== undefined) {
      it(`case ${v.case}: encrypts to the published ciphertext, ICV over aad | IV | ciphertext`, () => {
        const out = encryptSk({ ...suite, plaintext: split.inner, padding: split.padding, iv: hex(v.iv) });
        expect(toHex(out)).toBe(toHex(body));
        expect(toHex(expectOk(decryptSk({ ...suite, body })))).toBe(toHex(split.inner));
      });
    } else {
      it(`case ${v.case}: authentic, but its last octet is no valid pad length: SK_BAD_PADDING, no throw`, () => {
        const result = decryptSk({ ...suite, body });
        expect(result.ok).toBe(false);
        expect(!result.ok && result.error.code).toBe("SK_BAD_PADDING");
      });
    }
  }
});

interface Suite extends SkSuite {
  readonly label: string;
}
const SUITES: readonly Suite[] = [
  { label: "aes128-sha256", transform: 12, keyLength: 128, integ: 12 },
  { label: "aes256-sha384", transform: 12, keyLength: 256, integ: 13 },
  { label: "aes256-sha512", transform: 12, keyLength: 256, integ: 14 },
  { label: "aes128gcm16", transform: 20, keyLength: 128 },
  { label: "aes256gcm16", transform: 20, keyLength: 256 },
  { label: "chacha20poly1305", transform: 28 },
];

function keysFor(suite: Suite, random: (n: number) => Uint8Array) {
  return {
    transform: suite.transform,
    keyLength: suite.keyLength,
    integ: suite.integ,
    encKey: random(encrKeyMaterialLength(suite.transform, suite.keyLength)),
    integKey: suite.integ === undefined ? undefined : random(integAlgorithm(suite.integ).keyLength),
  };
}

const ivLength = (suite: Suite) => (suite.transform === 12 ? 16 : 8);

describe("round trips", () => {
  const random = deterministicRandom("sk round trips");
  for (const suite of SUITES) {
    it(`${suite.label}: every plaintext length 0..70 and 1400, body length as announced`, () => {
      const keys = keysFor(suite, random);
      for (const length of [...Array(71).keys(), 1400]) {
        const aad = random(32);
        const plaintext = random(length);
        const body = encryptSk({ ...keys, aad, plaintext, iv: random(ivLength(suite)) });
        expect(body.length).toBe(skBodyLength(suite, length));
        if (suite.transform === 12)
          expect((body.length - 16 - integAlgorithm(suite.integ!).icvLength) % 16).toBe(0);
        expect(toHex(expectOk(decryptSk({ ...keys, aad, body })))).toBe(toHex(plaintext));
      }
    });

    it(`${suite.label}: caller-chosen padding (any values) is removed on receipt`, () => {
      const keys = keysFor(suite, random);
      const aad = random(32);
      const plaintext = random(20);
      const padding = random(suite.transform === 12 ? 11 + 32 : 40);
      const body = encryptSk({ ...keys, aad, plaintext, padding, iv: random(ivLength(suite)) });
      expect(body.length).toBe(skBodyLength(suite, 20, padding.length));
      expect(toHex(expectOk(decryptSk({ ...keys, aad, body })))).toBe(toHex(plaintext));
    });
  }

  it("AES-CBC ICV covers the AAD: aad | IV | ciphertext, truncated HMAC (checked independently)", () => {
    const keys = keysFor(SUITES[2]!, random);
    const aad = random(32);
    const body = encryptSk({ ...keys, aad, plaintext: random(50), iv: random(16) });
    const icv = createHmac("sha512", keys.integKey!)
      .update(aad)
      .update(body.subarray(0, body.length - 32))
      .digest()
      .subarray(0, 32);
    expect(toHex(body.subarray(body.length - 32))).toBe(icv.toString("hex"));
  });
});

describe("decryptSk never throws on what comes from the network", () => {
  const random = deterministicRandom("sk mutations");
  const attempt = (params: Parameters<typeof decryptSk>[0]): DecryptSkResult => {
    let result: DecryptSkResult | undefined;
    expect(() => (result = decryptSk(params))).not.toThrow();
    return result!;
  };

  for (const suite of SUITES) {
    it(`${suite.label}: bit flips, truncations and extensions all give { ok: false }`, () => {
      const keys = keysFor(suite, random);
      const aad = random(32);
      const body = encryptSk({ ...keys, aad, plaintext: random(57), iv: random(ivLength(suite)) });
      let failures = 0;

      for (let i = 0; i < 400; i++) {
        const mutatedBody = body.slice();
        const mutatedAad = aad.slice();
        const target = i % 4 === 0 ? mutatedAad : mutatedBody;
        const bit = random(2).reduce((a, b) => a * 256 + b, 0) % (target.length * 8);
        target[bit >> 3]! ^= 1 << (bit & 7);
        expect(attempt({ ...keys, aad: mutatedAad, body: mutatedBody }).ok).toBe(false);
        failures++;
      }
      for (let length = 0; length < body.length; length++) {
        expect(attempt({ ...keys, aad, body: body.subarray(0, length) }).ok).toBe(false);
        failures++;
      }
      for (let extra = 1; extra <= 40; extra++) {
        const longer = new Uint8Array([...body, ...random(extra)]);
        expect(attempt({ ...keys, aad, body: longer }).ok).toBe(false);
        failures++;
      }
      expect(attempt({ ...keys, aad: aad.subarray(1), body }).ok).toBe(false);
      expect(attempt({ ...keys, aad, body: new Uint8Array(0) }).ok).toBe(false);
      expect(failures).toBe(400 + body.length + 40);
      // And the untouched message still opens.
      expect(attempt({ ...keys, aad, body }).ok).toBe(true);
    });
  }

  it("names the failure: truncated, misaligned, authentication", () => {
    const keys = keysFor(SUITES[0]!, random);
    const aad = random(32);
    const body = encryptSk({ ...keys, aad, plaintext: random(40), iv: random(16) });
    const code = (result: DecryptSkResult) => (result.ok ? "ok" : result.error.code);
    expect(code(decryptSk({ ...keys, aad, body: body.subarray(0, 31) }))).toBe("SK_TRUNCATED");
    expect(
      code(
        decryptSk({ ...keys, aad, body: new Uint8Array([...body.subarray(0, 20), ...body.subarray(21)]) }),
      ),
    ).toBe("SK_MISALIGNED");
    const flipped = body.slice();
    flipped[20]! ^= 1;
    expect(code(decryptSk({ ...keys, aad, body: flipped }))).toBe("SK_AUTHENTICATION_FAILED");
  });

  it("an authentic AEAD message whose pad length overruns the plaintext gives SK_BAD_PADDING", () => {
    const key = random(16);
    const salt = random(4);
    const iv = random(8);
    const aad = random(32);
    const cipher = createCipheriv("aes-128-gcm", key, Buffer.concat([salt, iv]), { authTagLength: 16 });
    cipher.setAAD(aad);
    const ct = Buffer.concat([cipher.update(Uint8Array.of(1, 2, 3, 200)), cipher.final()]);
    const body = new Uint8Array([...iv, ...ct, ...cipher.getAuthTag()]);
    const result = decryptSk({
      transform: 20,
      keyLength: 128,
      encKey: new Uint8Array([...key, ...salt]),
      aad,
      body,
    });
    expect(result.ok ? "ok" : result.error.code).toBe("SK_BAD_PADDING");
  });
});

describe("caller mistakes throw, naming the argument", () => {
  const random = deterministicRandom("sk arguments");
  const gcm = { transform: 20, keyLength: 128, encKey: random(20), aad: random(32) };

  it("wrong key, IV and padding lengths", () => {
    expect(
      thrown(() => encryptSk({ ...gcm, encKey: random(16), plaintext: random(4), iv: random(8) })).where?.key,
    ).toBe("encKey");
    expect(thrown(() => encryptSk({ ...gcm, plaintext: random(4), iv: random(12) })).where?.key).toBe("iv");
    const cbc = {
      transform: 12,
      keyLength: 128,
      integ: 12,
      encKey: random(16),
      integKey: random(32),
      aad: random(32),
    };
    expect(
      thrown(() => encryptSk({ ...cbc, plaintext: random(4), padding: random(3), iv: random(16) })).where
        ?.key,
    ).toBe("padding");
    expect(
      thrown(() => encryptSk({ ...cbc, integKey: random(16), plaintext: random(4), iv: random(16) })).where
        ?.key,
    ).toBe("integKey");
  });

  it("integrity transform with AEAD, none with CBC, unsupported key length", () => {
    expect(thrown(() => decryptSk({ ...gcm, integ: 12, body: random(40) })).where?.key).toBe("integ");
    expect(
      thrown(() =>
        decryptSk({ transform: 12, keyLength: 128, encKey: random(16), aad: random(8), body: random(64) }),
      ).where?.key,
    ).toBe("integ");
    expect(thrown(() => decryptSk({ ...gcm, keyLength: 192, body: random(40) })).code).toBe(
      "IKE_CRYPTO_UNSUPPORTED",
    );
  });
});
