/**
 * Diffie-Hellman groups for the KE payload (transform type 4): MODP 2048 and 3072 (14, 15;
 * RFC 3526), random ECP groups over P-256, P-384 and P-521 (19, 20, 21; RFC 5903) and
 * Curve25519 (31; RFC 8031).
 *
 * Private keys come from the injected RandomSource. `computeShared` takes the peer's Key
 * Exchange Data straight from the network, so it validates it and answers with a result value
 * instead of throwing.
 */
import {
  createDiffieHellman,
  createECDH,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type ECDH,
  type KeyObject,
} from "node:crypto";
import { asBuffer, asUint8Array, base64url, isAllZero, lessThan, wipe } from "./bytes.js";
import { IkeCryptoError } from "./errors.js";
import { drawRandom, type RandomSource } from "./random.js";
import { DhId, dhGroupInfo, type DhGroupInfo } from "./transforms.js";

export type DhErrorCode =
  /** The Key Exchange Data is not `publicKeyLength` octets (RFC 7296 §3.4). */
  | "DH_BAD_LENGTH"
  /** Not a valid public value: MODP y outside 1 < y < p-1, an ECP point off the curve. */
  | "DH_INVALID_PUBLIC_KEY"
  /** The Curve25519 result is all zeros: the peer sent a low-order point (RFC 8031 §2). */
  | "DH_ZERO_SHARED_SECRET";

export interface DhError {
  readonly code: DhErrorCode;
  readonly message: string;
}

export type DhResult =
  { readonly ok: true; readonly shared: Uint8Array } | { readonly ok: false; readonly error: DhError };

export interface DhKeyPair {
  /** Our Key Exchange Data for the KE payload. */
  readonly publicKey: Uint8Array;
  /** g^ir as it enters SKEYSEED/KEYMAT (MODP: padded to the prime's length; ECP: x only). */
  computeShared(peerPublic: Uint8Array): DhResult;
}

export interface DhGroup extends DhGroupInfo {
  /** A fresh key pair from `random`. */
  generate(random: RandomSource): DhKeyPair;
}

function failure(code: DhErrorCode, message: string): DhResult {
  return { ok: false, error: { code, message } };
}

function checkPeerLength(group: DhGroupInfo, peerPublic: Uint8Array): DhResult | undefined {
  if (!(peerPublic instanceof Uint8Array)) {
    return failure("DH_BAD_LENGTH", `${group.name}: the peer public key is not a byte string`);
  }
  if (peerPublic.length !== group.publicKeyLength) {
    return failure(
      "DH_BAD_LENGTH",
      `${group.name}: the peer public key has ${peerPublic.length} octets, expected ${group.publicKeyLength}`,
    );
  }
  return undefined;
}

/** Draws until `accept` takes the bytes; a source that never yields a usable key is a bug. */
function drawPrivate(
  random: RandomSource,
  length: number,
  accept: (candidate: Uint8Array) => boolean,
): Uint8Array {
  for (let attempt = 0; attempt < 64; attempt++) {
    const candidate = drawRandom(random, length).slice();
    if (accept(candidate)) return candidate;
    wipe(candidate);
  }
  throw new IkeCryptoError("IKE_CRYPTO_BAD_ARGUMENT", "random: 64 draws gave no usable private key", {
    key: "random",
    hint: "the RandomSource returns constant or degenerate bytes",
  });
}

function leftPad(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length === length) return bytes;
  const out = new Uint8Array(length);
  out.set(bytes, length - bytes.length);
  wipe(bytes);
  return out;
}

// ---------------------------------------------------------------------------------------------
// MODP groups, RFC 3526
// ---------------------------------------------------------------------------------------------

// The primes as printed in RFC 3526 §3 (2048-bit, group 14) and §4 (3072-bit, group 15);
// generator 2 for both.
const MODP_2048_PRIME = `
  FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1
  29024E08 8A67CC74 020BBEA6 3B139B22 514A0879 8E3404DD
  EF9519B3 CD3A431B 302B0A6D F25F1437 4FE1356D 6D51C245
  E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED
  EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D
  C2007CB8 A163BF05 98DA4836 1C55D39A 69163FA8 FD24CF5F
  83655D23 DCA3AD96 1C62F356 208552BB 9ED52907 7096966D
  670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B
  E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9
  DE2BCBF6 95581718 3995497C EA956AE5 15D22618 98FA0510
  15728E5A 8AACAA68 FFFFFFFF FFFFFFFF`;

const MODP_3072_PRIME = `
  FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1
  29024E08 8A67CC74 020BBEA6 3B139B22 514A0879 8E3404DD
  EF9519B3 CD3A431B 302B0A6D F25F1437 4FE1356D 6D51C245
  E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED
  EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D
  C2007CB8 A163BF05 98DA4836 1C55D39A 69163FA8 FD24CF5F
  83655D23 DCA3AD96 1C62F356 208552BB 9ED52907 7096966D
  670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B
  E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9
  DE2BCBF6 95581718 3995497C EA956AE5 15D22618 98FA0510
  15728E5A 8AAAC42D AD33170D 04507A33 A85521AB DF1CBA64
  ECFB8504 58DBEF0A 8AEA7157 5D060C7D B3970F85 A6E1E4C7
  ABF5AE8C DB0933D7 1E8C94E0 4A25619D CEE3D226 1AD2EE6B
  F12FFA06 D98A0864 D8760273 3EC86A64 521F2B18 177B200C
  BBE11757 7A615D6C 770988C0 BAD946E2 08E24FA0 74E5AB31
  43DB5BFC E0FD108E 4B82D120 A93AD2CA FFFFFFFF FFFFFFFF`;

function primeFromRfcText(text: string): Uint8Array {
  return asUint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));
}

/** The RFC 3526 primes, big-endian, for tests and for anyone checking parameters. */
export const RFC3526_PRIMES: Readonly<Record<14 | 15, Uint8Array>> = Object.freeze({
  14: primeFromRfcText(MODP_2048_PRIME),
  15: primeFromRfcText(MODP_3072_PRIME),
});

/**
 * Private exponent lengths. RFC 3526 §8 estimates the strength of the 2048-bit group at 110-160
 * bits and of the 3072-bit group at 130-210 bits; we take twice the upper estimate (the usual
 * rule for exponents, as the generic attacks cost the square root of the exponent range):
 * 320 bits (40 octets) for group 14 and 420 bits rounded up to 424 (53 octets) for group 15.
 * That is above NIST's 2 x 112 and 2 x 128, and far cheaper than full-length exponents.
 */
export const MODP_PRIVATE_KEY_LENGTH: Readonly<Record<14 | 15, number>> = Object.freeze({ 14: 40, 15: 53 });

function modpGroup(info: DhGroupInfo, prime: Uint8Array, privateLength: number): DhGroup {
  const primeBuffer = asBuffer(prime);
  // p - 1, for the check 1 < y < p - 1 (RFC 3526 primes end in 0xFF, so no borrow).
  const primeMinusOne = prime.slice();
  primeMinusOne[primeMinusOne.length - 1] = (prime[prime.length - 1] ?? 0) - 1;
  const two = new Uint8Array(prime.length);
  two[two.length - 1] = 2;

  return Object.freeze({
    ...info,
    generate(random: RandomSource): DhKeyPair {
      // x >= 2, so that g^x is neither 1 nor g (the draw is 320+ random bits; this is a formality).
      const x = drawPrivate(
        random,
        privateLength,
        (c) => !(isAllZero(c.subarray(0, -1)) && (c[c.length - 1] ?? 0) < 2),
      );
      const dh = createDiffieHellman(primeBuffer, 2);
      dh.setPrivateKey(asBuffer(x));
      wipe(x);
      const publicKey = leftPad(asUint8Array(dh.generateKeys()), prime.length);
      return Object.freeze({
        publicKey,
        computeShared(peerPublic: Uint8Array): DhResult {
          const lengthProblem = checkPeerLength(info, peerPublic);
          if (lengthProblem) return lengthProblem;
          // 1 < y < p-1 excludes the only small subgroup of a safe-prime group, {1, p-1};
          // with ephemeral exponents nothing more is needed (RFC 6989 §2.1).
          if (lessThan(peerPublic, two) || !lessThan(peerPublic, primeMinusOne)) {
            return failure(
              "DH_INVALID_PUBLIC_KEY",
              `${info.name}: the peer public value is not in 1 < y < p-1`,
            );
          }
          let secret: Buffer;
          try {
            secret = dh.computeSecret(asBuffer(peerPublic));
          } catch (error) {
            return failure("DH_INVALID_PUBLIC_KEY", `${info.name}: ${(error as Error).message}`);
          }
          // RFC 7296 §2.14: g^ir padded with zeros to the length of the modulus.
          return { ok: true, shared: leftPad(asUint8Array(secret), prime.length) };
        },
      });
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Random ECP groups, RFC 5903
// ---------------------------------------------------------------------------------------------

interface Curve {
  readonly opensslName: string;
  /** Order n of the base point, big-endian, as long as a coordinate. */
  readonly order: Uint8Array;
  /** Mask for the first octet of a private key draw (P-521 keys have 521 bits in 66 octets). */
  readonly firstOctetMask: number;
}

const hex = (text: string): Uint8Array => asUint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));

// Orders from SEC 2 / FIPS 186-4 D.1.2 (the same as `openssl ecparam -param_enc explicit`).
const CURVES: Readonly<Record<19 | 20 | 21, Curve>> = {
  19: {
    opensslName: "prime256v1",
    order: hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"),
    firstOctetMask: 0xff,
  },
  20: {
    opensslName: "secp384r1",
    order: hex(`ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf
                581a0db248b0a77aecec196accc52973`),
    firstOctetMask: 0xff,
  },
  21: {
    opensslName: "secp521r1",
    order: hex(`01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
                fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409`),
    firstOctetMask: 0x01,
  },
};

/** The curve orders, for the test that checks them against OpenSSL's own bounds. */
export function ecpOrder(id: 19 | 20 | 21): Uint8Array {
  return CURVES[id].order.slice();
}

function ecpGroup(info: DhGroupInfo, curve: Curve): DhGroup {
  const coordinateLength = info.sharedSecretLength;
  return Object.freeze({
    ...info,
    generate(random: RandomSource): DhKeyPair {
      // A uniform private key in [1, n-1] by rejection sampling (FIPS 186-4 B.4.2).
      const d = drawPrivate(random, coordinateLength, (candidate) => {
        candidate[0] = (candidate[0] ?? 0) & curve.firstOctetMask;
        return !isAllZero(candidate) && lessThan(candidate, curve.order);
      });
      const ecdh: ECDH = createECDH(curve.opensslName);
      ecdh.setPrivateKey(asBuffer(d));
      wipe(d);
      // Uncompressed point 0x04 | x | y; the KE payload carries x | y (RFC 5903 §7).
      const publicKey = asUint8Array(ecdh.getPublicKey()).slice(1);
      return Object.freeze({
        publicKey,
        computeShared(peerPublic: Uint8Array): DhResult {
          const lengthProblem = checkPeerLength(info, peerPublic);
          if (lengthProblem) return lengthProblem;
          const point = Buffer.alloc(1 + peerPublic.length);
          point[0] = 0x04;
          point.set(peerPublic, 1);
          try {
            // OpenSSL refuses coordinates >= p and points off the curve; the curves have
            // cofactor 1, so that is the whole check RFC 6989 §2.3 asks for.
            const x = asUint8Array(ecdh.computeSecret(point));
            return { ok: true, shared: leftPad(x, coordinateLength) };
          } catch (error) {
            return failure("DH_INVALID_PUBLIC_KEY", `${info.name}: ${(error as Error).message}`);
          }
        },
      });
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Curve25519, RFC 8031
// ---------------------------------------------------------------------------------------------

// Keys are made with createPrivateKey from a JWK with a random `d`, never with
// generateKeyPairSync: on Node 20.20.2 a process hung when a generateKeyPairSync X25519 key was
// exported to JWK during a garbage collection, while JWK-made keys never did and were also the
// fastest (see FACTS.md). The load test in test/unit/ike-crypto-dh.test.ts guards this.
function x25519Group(info: DhGroupInfo): DhGroup {
  return Object.freeze({
    ...info,
    generate(random: RandomSource): DhKeyPair {
      const d = drawRandom(random, 32).slice();
      // Node 20 insists on an `x` member in a private JWK but derives the public key from `d`
      // (the RFC 7748 vectors in the tests show it). The base64url string of `d` cannot be
      // wiped; the KeyObject holds the key in OpenSSL memory.
      const privateKey: KeyObject = createPrivateKey({
        key: { kty: "OKP", crv: "X25519", d: base64url(d), x: "" },
        format: "jwk",
      });
      wipe(d);
      const x = createPublicKey(privateKey).export({ format: "jwk" }).x;
      if (typeof x !== "string") throw new Error("X25519 public key export gave no x"); // cannot happen
      const publicKey = asUint8Array(Buffer.from(x, "base64url"));
      return Object.freeze({
        publicKey,
        computeShared(peerPublic: Uint8Array): DhResult {
          const lengthProblem = checkPeerLength(info, peerPublic);
          if (lengthProblem) return lengthProblem;
          let shared: Uint8Array;
          try {
            const peerKey = createPublicKey({
              key: { kty: "OKP", crv: "X25519", x: base64url(peerPublic) },
              format: "jwk",
            });
            shared = asUint8Array(diffieHellman({ privateKey, publicKey: peerKey }));
          } catch (error) {
            // OpenSSL itself refuses a derivation that ends in zero (low-order points).
            return failure("DH_ZERO_SHARED_SECRET", `${info.name}: ${(error as Error).message}`);
          }
          // RFC 8031 §2: the receiver MUST check for the all-zero value and abort.
          if (isAllZero(shared)) {
            return failure("DH_ZERO_SHARED_SECRET", `${info.name}: the shared secret is all zeros`);
          }
          return { ok: true, shared };
        },
      });
    },
  });
}

const GROUPS: ReadonlyMap<number, DhGroup> = new Map<number, DhGroup>([
  [DhId.MODP_2048, modpGroup(dhGroupInfo(DhId.MODP_2048), RFC3526_PRIMES[14], MODP_PRIVATE_KEY_LENGTH[14])],
  [DhId.MODP_3072, modpGroup(dhGroupInfo(DhId.MODP_3072), RFC3526_PRIMES[15], MODP_PRIVATE_KEY_LENGTH[15])],
  [DhId.ECP_256, ecpGroup(dhGroupInfo(DhId.ECP_256), CURVES[19])],
  [DhId.ECP_384, ecpGroup(dhGroupInfo(DhId.ECP_384), CURVES[20])],
  [DhId.ECP_521, ecpGroup(dhGroupInfo(DhId.ECP_521), CURVES[21])],
  [DhId.CURVE25519, x25519Group(dhGroupInfo(DhId.CURVE25519))],
]);

/** The group for a transform ID (14, 15, 19, 20, 21, 31); throws IKE_CRYPTO_UNSUPPORTED for others. */
export function dhGroup(id: number): DhGroup {
  const group = GROUPS.get(id);
  if (group !== undefined) return group;
  dhGroupInfo(id); // throws IKE_CRYPTO_UNSUPPORTED naming the supported groups
  throw new Error("unreachable");
}
