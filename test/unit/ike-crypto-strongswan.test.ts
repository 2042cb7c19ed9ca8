/**
 * Interoperability on real bytes: two strongSwan 5.9.8 charons negotiated
 * aes128gcm16-prfsha256-x25519 with a pre-shared key; their IKE_AUTH messages must open with
 * the keys charon logged, re-encrypt to the same octets, and carry the AUTH values our §2.15
 * helpers compute.
 */
import { describe, expect, it } from "vitest";
import { pskAuth, signedOctets, verifyPskAuth } from "../../src/ike/crypto/auth.js";
import { decryptSk, encryptSk } from "../../src/ike/crypto/encryption.js";
import { hex, loadVectors, toHex } from "./ike-crypto-support.js";

interface Capture {
  suite: { encr: number; encrKeyLength: number; prf: number };
  psk: string;
  keys: Record<"skD" | "skEi" | "skEr" | "skPi" | "skPr", string>;
  messages: { from: "initiator" | "responder"; port: number; hex: string }[];
}
const capture = loadVectors<Capture>("strongswan-5.9.8-psk-aes128gcm16.json");
const messages = capture.messages.map((m) => ({ ...m, bytes: hex(m.hex) }));

const IKE_HEADER = 28;
const PAYLOAD = { SK: 46, IDi: 35, IDr: 36, AUTH: 39, NONCE: 40 } as const;

/** Walks a payload chain (generic headers only) and returns the bodies by type. */
function payloads(bytes: Uint8Array, first: number): Map<number, Uint8Array> {
  const found = new Map<number, Uint8Array>();
  let type = first;
  let offset = 0;
  while (type !== 0) {
    const next = bytes[offset]!;
    const length = (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
    found.set(type, bytes.subarray(offset + 4, offset + length));
    type = next;
    offset += length;
  }
  return found;
}

function openAuthMessage(index: number): { plaintext: Uint8Array; firstInner: number } {
  const message = messages[index]!.bytes;
  expect(message[16]).toBe(PAYLOAD.SK); // the SK payload comes right after the IKE header
  const encKey = hex(messages[index]!.from === "initiator" ? capture.keys.skEi : capture.keys.skEr);
  const result = decryptSk({
    transform: capture.suite.encr,
    keyLength: capture.suite.encrKeyLength,
    encKey,
    aad: message.subarray(0, IKE_HEADER + 4),
    body: message.subarray(IKE_HEADER + 4),
  });
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return { plaintext: result.plaintext, firstInner: message[IKE_HEADER]! };
}

describe("strongSwan 5.9.8 capture, aes128gcm16-prfsha256-x25519, PSK", () => {
  it("has IKE_SA_INIT request/response and IKE_AUTH request/response", () => {
    expect(messages.map((m) => [m.from, m.bytes[18]])).toEqual([
      ["initiator", 34],
      ["responder", 34],
      ["initiator", 35],
      ["responder", 35],
    ]);
  });

  for (const index of [2, 3]) {
    it(`IKE_AUTH ${messages[index]!.from === "initiator" ? "request" : "response"}: opens, and re-encrypts to the same octets`, () => {
      const message = messages[index]!.bytes;
      const { plaintext } = openAuthMessage(index);
      const encKey = hex(messages[index]!.from === "initiator" ? capture.keys.skEi : capture.keys.skEr);
      const body = encryptSk({
        transform: capture.suite.encr,
        keyLength: capture.suite.encrKeyLength,
        encKey,
        aad: message.subarray(0, IKE_HEADER + 4),
        plaintext,
        iv: message.subarray(IKE_HEADER + 4, IKE_HEADER + 12),
      });
      // strongSwan pads AEAD payloads to 1 octet, as we do, so the whole message matches.
      expect(toHex(body)).toBe(toHex(message.subarray(IKE_HEADER + 4)));
    });
  }

  it("the AUTH payloads of both sides are prf(prf(PSK, key pad), SignedOctets) of §2.15", () => {
    const init = payloads(messages[0]!.bytes.subarray(IKE_HEADER), messages[0]!.bytes[16]!);
    const resp = payloads(messages[1]!.bytes.subarray(IKE_HEADER), messages[1]!.bytes[16]!);
    const nonceI = init.get(PAYLOAD.NONCE)!;
    const nonceR = resp.get(PAYLOAD.NONCE)!;
    const psk = hex(capture.psk);
    const prf = capture.suite.prf;

    for (const [index, idType, skP, realMessage, peerNonce] of [
      [2, PAYLOAD.IDi, capture.keys.skPi, messages[0]!.bytes, nonceR],
      [3, PAYLOAD.IDr, capture.keys.skPr, messages[1]!.bytes, nonceI],
    ] as const) {
      const { plaintext, firstInner } = openAuthMessage(index);
      const inner = payloads(plaintext, firstInner);
      const auth = inner.get(PAYLOAD.AUTH)!;
      expect(auth[0]).toBe(2); // Auth Method: Shared Key Message Integrity Code
      const octets = signedOctets({
        prf,
        realMessage,
        peerNonce,
        skP: hex(skP),
        idPayloadBody: inner.get(idType)!,
      });
      expect(toHex(pskAuth(prf, psk, octets))).toBe(toHex(auth.subarray(4)));
      expect(verifyPskAuth(prf, psk, octets, auth.subarray(4))).toBe(true);
    }
  });
});
