import { type CipherGCMTypes, createCipheriv, createDecipheriv, createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  AuthMethod,
  EncrId,
  type EncryptedPart,
  ExchangeType,
  IdType,
  type IkeMessage,
  type InnerPayload,
  IntegId,
  KeId,
  NotifyType,
  type NotifyPayload,
  type Payload,
  PayloadType,
  PrfId,
  ProtocolId,
  type SaPayload,
  type SkSealer,
  TransformType,
  TsType,
  checkEnvelope,
  checkMessagePayloads,
  decodeMessage,
  decodePayloadChain,
  encodeEncryptedFragment,
  encodeEncryptedMessage,
  encodeMessage,
  encodePayloadChain,
  isAddressRange,
  keyLength,
  payloadTypeOf,
} from "../../src/ike/codec/index.js";

/**
 * Real IKEv2 traffic between two strongSwan 5.9.8 charons, captured on the wire by
 * test/unit/fixtures/ike-capture-strongswan.sh (see the "note" in each fixture). Both charons
 * logged their IKE SA keys, so the protected messages are decrypted here with node:crypto
 * (AES-GCM-16, RFC 5282) using the codec's associated data: if the codec's offsets were wrong by
 * one octet, the tag check would fail.
 */

interface Fixture {
  note: string;
  strongswan: string;
  keys: Record<string, string>;
  messages: { from: "initiator" | "responder"; port: number; hex: string }[];
}

function load(name: string): Fixture {
  return JSON.parse(
    readFileSync(new URL(`fixtures/ike-strongswan-${name}.json`, import.meta.url), "utf8"),
  ) as Fixture;
}

const fromHex = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, "hex"));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const ascii = (bytes: Uint8Array): string => Buffer.from(bytes).toString("latin1");

function decoded(bytes: Uint8Array): IkeMessage {
  const result = decodeMessage(bytes);
  if (!result.ok) throw new Error(`decode failed: ${JSON.stringify(result.error)}`);
  return result.value;
}

function notifies(payloads: readonly Payload[]): NotifyPayload[] {
  return payloads.filter((p): p is NotifyPayload => p.type === PayloadType.NOTIFY);
}

function notifyTypes(payloads: readonly Payload[]): number[] {
  return notifies(payloads).map((n) => n.notifyType);
}

/** AES-GCM with a 16-octet ICV as IKEv2 uses it (RFC 5282): key ‖ 4-octet salt, 8-octet IV. */
function gcmKey(hex: string | undefined): { algorithm: CipherGCMTypes; key: Buffer; salt: Buffer } {
  if (hex === undefined) throw new Error("key missing from fixture");
  const keymat = Buffer.from(hex, "hex");
  const key = keymat.subarray(0, keymat.length - 4);
  const algorithm = ({ 16: "aes-128-gcm", 24: "aes-192-gcm", 32: "aes-256-gcm" } as const)[key.length];
  if (algorithm === undefined) throw new Error(`no AES-GCM with a ${key.length}-octet key`);
  return { algorithm, key, salt: keymat.subarray(keymat.length - 4) };
}

/** Opens an SK/SKF body; returns the inner payload octets (padding and Pad Length removed). */
function open(encrypted: EncryptedPart, keyHex: string | undefined): Uint8Array {
  const { algorithm, key, salt } = gcmKey(keyHex);
  const body = encrypted.body;
  const iv = body.subarray(0, 8);
  const tag = body.subarray(body.length - 16);
  const decipher = createDecipheriv(algorithm, key, Buffer.concat([salt, iv]), {
    authTagLength: 16,
  });
  decipher.setAAD(encrypted.aad);
  decipher.setAuthTag(tag);
  const plain = Buffer.concat([decipher.update(body.subarray(8, body.length - 16)), decipher.final()]);
  const padLength = plain[plain.length - 1] ?? 0;
  return Uint8Array.from(plain.subarray(0, plain.length - 1 - padLength));
}

/** A sealer that reproduces strongSwan's output given its IV: GCM, minimal padding (none, then Pad Length 0). */
function replaySealer(keyHex: string | undefined, iv: Uint8Array): SkSealer & { aads: Uint8Array[] } {
  const { algorithm, key, salt } = gcmKey(keyHex);
  const aads: Uint8Array[] = [];
  return {
    aads,
    bodyLength: (n) => 8 + n + 1 + 16,
    seal(aad, plaintext, bodyLength) {
      aads.push(Uint8Array.from(aad));
      const cipher = createCipheriv(algorithm, key, Buffer.concat([salt, iv]), {
        authTagLength: 16,
      });
      cipher.setAAD(aad);
      const ciphertext = Buffer.concat([
        cipher.update(Buffer.concat([plaintext, Buffer.of(0)])),
        cipher.final(),
      ]);
      const body = Buffer.concat([iv, ciphertext, cipher.getAuthTag()]);
      expect(body.length).toBe(bodyLength);
      return Uint8Array.from(body);
    },
  };
}

function sa(payloads: readonly Payload[]): SaPayload {
  const found = payloads.find((p): p is SaPayload => p.type === PayloadType.SA);
  if (!found) throw new Error("no SA payload");
  return found;
}

const psk = load("psk");
const fragments = load("fragments");

describe("strongSwan 5.9.8 captures", () => {
  it("come from the expected strongSwan version", () => {
    expect(psk.strongswan).toBe("5.9.8");
    expect(fragments.strongswan).toBe("5.9.8");
    expect(psk.messages.map((m) => [m.from, m.port])).toEqual([
      ["initiator", 500],
      ["responder", 500],
      ["initiator", 4500],
      ["responder", 4500],
    ]);
  });

  it("re-encode every captured message to identical bytes", () => {
    for (const fixture of [psk, fragments]) {
      for (const { hex } of fixture.messages) {
        const message = decoded(fromHex(hex));
        expect(message.ignoredBits).toEqual([]);
        const { header } = message;
        expect(toHex(encodeMessage(header, message.payloads))).toBe(hex);
      }
    }
  });

  describe("IKE_SA_INIT request", () => {
    const bytes = fromHex(psk.messages[0]?.hex ?? "");
    const message = decoded(bytes);

    it("has the header of a first request", () => {
      const { header } = message;
      expect(header.exchangeType).toBe(ExchangeType.IKE_SA_INIT);
      expect([header.majorVersion, header.minorVersion]).toEqual([2, 0]);
      expect(header.initiator).toBe(true);
      expect(header.response).toBe(false);
      expect(header.higherVersion).toBe(false);
      expect(header.messageId).toBe(0);
      expect(toHex(header.responderSpi)).toBe("0000000000000000");
      expect(header.length).toBe(bytes.length);
      expect(message.encrypted).toBeUndefined();
      expect(message.payloads.map((p) => p.type)).toEqual([
        PayloadType.SA,
        PayloadType.KE,
        PayloadType.NONCE,
        PayloadType.NOTIFY,
        PayloadType.NOTIFY,
        PayloadType.NOTIFY,
        PayloadType.NOTIFY,
        PayloadType.NOTIFY,
      ]);
      expect(checkEnvelope(header.exchangeType, message.payloads.map(payloadTypeOf))).toEqual({ ok: true });
      expect(checkMessagePayloads(header.exchangeType, false, message.payloads)).toEqual({ ok: true });
    });

    it("offers the configured proposals, key length as TV attribute 14", () => {
      const { proposals } = sa(message.payloads);
      expect(proposals).toHaveLength(2);
      const [first, second] = proposals;
      expect(first?.number).toBe(1);
      expect(first?.protocolId).toBe(ProtocolId.IKE);
      expect(first?.spi).toHaveLength(0);
      expect(first?.transforms.map((t) => [t.transformType, t.transformId, keyLength(t)])).toEqual([
        [TransformType.ENCR, EncrId.AES_GCM_16, 128],
        [TransformType.PRF, PrfId.HMAC_SHA2_256, undefined],
        [TransformType.KE, KeId.CURVE25519, undefined],
      ]);
      expect(first?.transforms[0]?.attributes).toEqual([{ attributeType: 14, format: "tv", value: 128 }]);
      expect(second?.number).toBe(2);
      expect(second?.transforms.map((t) => [t.transformType, t.transformId, keyLength(t)])).toEqual([
        [TransformType.ENCR, EncrId.AES_CBC, 256],
        [TransformType.INTEG, IntegId.HMAC_SHA2_256_128, undefined],
        [TransformType.PRF, PrfId.HMAC_SHA2_256, undefined],
        [TransformType.KE, KeId.MODP_2048, undefined],
        [TransformType.KE, KeId.ECP_256, undefined],
      ]);
    });

    it("carries an X25519 key share of 32 octets and a nonce", () => {
      const ke = message.payloads.find((p) => p.type === PayloadType.KE);
      expect(ke?.type === PayloadType.KE && ke.group).toBe(KeId.CURVE25519);
      expect(ke?.type === PayloadType.KE && ke.data.length).toBe(32);
      const nonce = message.payloads.find((p) => p.type === PayloadType.NONCE);
      expect(nonce?.type === PayloadType.NONCE && nonce.data.length).toBe(32);
    });

    it("carries NAT detection hashes of SHA-1 size, the destination one over the wire address (§2.23)", () => {
      expect(notifyTypes(message.payloads)).toEqual([
        NotifyType.NAT_DETECTION_SOURCE_IP,
        NotifyType.NAT_DETECTION_DESTINATION_IP,
        NotifyType.IKEV2_FRAGMENTATION_SUPPORTED,
        NotifyType.SIGNATURE_HASH_ALGORITHMS,
        NotifyType.REDIRECT_SUPPORTED,
      ]);
      const natd = (address: number[], port: number) =>
        createHash("sha1")
          .update(message.header.initiatorSpi)
          .update(message.header.responderSpi)
          .update(Uint8Array.from(address))
          .update(Uint8Array.of(port >> 8, port & 0xff))
          .digest("hex");
      const [source, destination] = notifies(message.payloads);
      // The initiator sent to the relay at 198.18.1.1:500. Its source hash is over a random
      // address: charon (ike_natd.c) fakes it while it does not yet know its own source address.
      expect(toHex(destination?.data ?? new Uint8Array())).toBe(natd([198, 18, 1, 1], 500));
      expect(source?.data).toHaveLength(20);
      expect(source?.protocolId).toBe(0);
      expect(source?.spi).toHaveLength(0);
    });

    it("announces fragmentation and the RFC 7427 hash algorithms", () => {
      const byType = new Map(notifies(message.payloads).map((n) => [n.notifyType, n]));
      expect(byType.get(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED)?.data).toHaveLength(0);
      const hashes = byType.get(NotifyType.SIGNATURE_HASH_ALGORITHMS)?.data ?? new Uint8Array();
      const ids = [];
      for (let i = 0; i < hashes.length; i += 2) ids.push(((hashes[i] ?? 0) << 8) | (hashes[i + 1] ?? 0));
      // RFC 7427 / RFC 8420 hash algorithm IDs: SHA2-256 2, SHA2-384 3, SHA2-512 4, Identity 5.
      expect(ids).toEqual(expect.arrayContaining([2, 3, 4]));
    });
  });

  describe("IKE_SA_INIT response", () => {
    const request = decoded(fromHex(psk.messages[0]?.hex ?? ""));
    const message = decoded(fromHex(psk.messages[1]?.hex ?? ""));

    it("answers with the chosen proposal and the responder's SPI", () => {
      const { header } = message;
      expect(header.response).toBe(true);
      expect(header.initiator).toBe(false);
      expect(toHex(header.initiatorSpi)).toBe(toHex(request.header.initiatorSpi));
      expect(toHex(header.responderSpi)).not.toBe("0000000000000000");
      const { proposals } = sa(message.payloads);
      expect(proposals).toHaveLength(1);
      expect(proposals[0]?.number).toBe(1);
      expect(proposals[0]?.transforms.map((t) => t.transformId)).toEqual([
        EncrId.AES_GCM_16,
        PrfId.HMAC_SHA2_256,
        KeId.CURVE25519,
      ]);
      const ke = message.payloads.find((p) => p.type === PayloadType.KE);
      expect(ke?.type === PayloadType.KE && [ke.group, ke.data.length]).toEqual([31, 32]);
      expect(notifyTypes(message.payloads)).toEqual([
        NotifyType.NAT_DETECTION_SOURCE_IP,
        NotifyType.NAT_DETECTION_DESTINATION_IP,
        NotifyType.IKEV2_FRAGMENTATION_SUPPORTED,
        NotifyType.SIGNATURE_HASH_ALGORITHMS,
        NotifyType.CHILDLESS_IKEV2_SUPPORTED,
        NotifyType.MULTIPLE_AUTH_SUPPORTED,
      ]);
      expect(checkMessagePayloads(header.exchangeType, true, message.payloads)).toEqual({ ok: true });
    });
  });

  describe("IKE_AUTH in one SK payload", () => {
    const requestBytes = fromHex(psk.messages[2]?.hex ?? "");
    const request = decoded(requestBytes);
    const response = decoded(fromHex(psk.messages[3]?.hex ?? ""));

    it("frames SK: AAD is the header and the SK payload header, the body the rest", () => {
      const encrypted = request.encrypted;
      expect(encrypted?.payloadType).toBe(PayloadType.SK);
      expect(encrypted?.firstInnerType).toBe(PayloadType.IDi);
      expect(encrypted?.headerOffset).toBe(28);
      expect(encrypted?.bodyOffset).toBe(32);
      expect(toHex(encrypted?.aad ?? new Uint8Array())).toBe(toHex(requestBytes.subarray(0, 32)));
      expect(encrypted?.body.length).toBe(requestBytes.length - 32);
      expect(request.payloads).toHaveLength(1);
      expect(checkEnvelope(ExchangeType.IKE_AUTH, [PayloadType.SK])).toEqual({ ok: true });
    });

    it("decrypts with the logged SK_ei and holds the expected inner payloads", () => {
      const plaintext = open(request.encrypted as EncryptedPart, psk.keys.Sk_ei);
      const inner = decodePayloadChain(request.encrypted?.firstInnerType ?? 0, plaintext);
      if (!inner.ok) throw new Error(inner.error.message);
      const payloads = inner.value.payloads;
      expect(payloads.map((p) => p.type)).toEqual([
        PayloadType.IDi,
        PayloadType.NOTIFY,
        PayloadType.IDr,
        PayloadType.AUTH,
        PayloadType.SA,
        PayloadType.TSi,
        PayloadType.TSr,
        PayloadType.NOTIFY,
        PayloadType.NOTIFY,
        PayloadType.NOTIFY,
        PayloadType.NOTIFY,
        PayloadType.NOTIFY,
      ]);
      const [idi, , idr, auth] = payloads;
      expect(idi?.type === PayloadType.IDi && [idi.idType, ascii(idi.data)]).toEqual([
        IdType.FQDN,
        "initiator.pavise.test",
      ]);
      expect(idr?.type === PayloadType.IDr && [idr.idType, ascii(idr.data)]).toEqual([
        IdType.FQDN,
        "responder.pavise.test",
      ]);
      expect(auth?.type === PayloadType.AUTH && [auth.method, auth.data.length]).toEqual([
        AuthMethod.SHARED_KEY_MIC,
        32,
      ]);
      expect(notifyTypes(payloads)).toEqual([
        NotifyType.INITIAL_CONTACT,
        NotifyType.MOBIKE_SUPPORTED,
        NotifyType.NO_ADDITIONAL_ADDRESSES,
        NotifyType.MULTIPLE_AUTH_SUPPORTED,
        NotifyType.EAP_ONLY_AUTHENTICATION,
        NotifyType.IKEV2_MESSAGE_ID_SYNC_SUPPORTED,
      ]);
      const child = sa(payloads).proposals;
      expect(child.map((p) => [p.protocolId, p.spi.length])).toEqual([
        [ProtocolId.ESP, 4],
        [ProtocolId.ESP, 4],
      ]);
      const tsi = payloads.find((p) => p.type === PayloadType.TSi);
      const selector = tsi?.type === PayloadType.TSi ? tsi.selectors[0] : undefined;
      expect(selector && isAddressRange(selector)).toBe(true);
      if (selector && isAddressRange(selector)) {
        expect(selector.tsType).toBe(TsType.IPV4_ADDR_RANGE);
        expect([...selector.startAddress, ...selector.endAddress]).toEqual([
          198, 18, 1, 101, 198, 18, 1, 101,
        ]);
        expect([selector.ipProtocol, selector.startPort, selector.endPort]).toEqual([0, 0, 65535]);
      }
      expect(checkMessagePayloads(ExchangeType.IKE_AUTH, false, payloads)).toEqual({ ok: true });
      expect(toHex(encodePayloadChain(payloads).bytes)).toBe(toHex(plaintext));
    });

    it("decrypts the response with SK_er: IDr, AUTH, SA, TSi, TSr", () => {
      const plaintext = open(response.encrypted as EncryptedPart, psk.keys.Sk_er);
      const inner = decodePayloadChain(response.encrypted?.firstInnerType ?? 0, plaintext);
      if (!inner.ok) throw new Error(inner.error.message);
      expect(inner.value.payloads.map((p) => p.type)).toEqual([
        PayloadType.IDr,
        PayloadType.AUTH,
        PayloadType.SA,
        PayloadType.TSi,
        PayloadType.TSr,
        PayloadType.NOTIFY,
        PayloadType.NOTIFY,
      ]);
      expect(checkMessagePayloads(ExchangeType.IKE_AUTH, true, inner.value.payloads)).toEqual({ ok: true });
    });

    it("encodeEncryptedMessage rebuilds the captured request octet for octet", () => {
      const plaintext = open(request.encrypted as EncryptedPart, psk.keys.Sk_ei);
      const inner = decodePayloadChain(request.encrypted?.firstInnerType ?? 0, plaintext);
      if (!inner.ok) throw new Error(inner.error.message);
      const sealer = replaySealer(psk.keys.Sk_ei, request.encrypted?.body.subarray(0, 8) ?? new Uint8Array());
      const rebuilt = encodeEncryptedMessage(request.header, inner.value.payloads, sealer);
      // The sealer saw the final header and SK header: the same AAD strongSwan authenticated.
      expect(toHex(sealer.aads[0] ?? new Uint8Array())).toBe(toHex(requestBytes.subarray(0, 32)));
      expect(toHex(rebuilt)).toBe(toHex(requestBytes));
    });
  });

  describe("IKE_AUTH in RFC 7383 fragments", () => {
    const skf = fragments.messages.filter((m) => m.port === 4500 && m.from === "initiator").slice(0, 3);
    const messages = skf.map((m) => decoded(fromHex(m.hex)));

    it("numbers the fragments and puts the first inner type in fragment 1 only", () => {
      expect(messages.map((m) => m.encrypted?.payloadType)).toEqual([53, 53, 53]);
      expect(messages.map((m) => m.encrypted?.fragment)).toEqual([
        { number: 1, total: 3 },
        { number: 2, total: 3 },
        { number: 3, total: 3 },
      ]);
      expect(messages.map((m) => m.encrypted?.firstInnerType)).toEqual([PayloadType.IDi, 0, 0]);
      // The SKF header is 8 octets: the AAD covers Fragment Number and Total Fragments.
      expect(messages.map((m) => m.encrypted?.bodyOffset)).toEqual([36, 36, 36]);
      expect(new Set(messages.map((m) => m.header.messageId))).toEqual(new Set([1]));
      expect(checkEnvelope(ExchangeType.IKE_AUTH, [PayloadType.SKF])).toEqual({ ok: true });
    });

    it("decrypts each fragment, joins them and parses the IKE_AUTH payloads", () => {
      const pieces = messages.map((m) => open(m.encrypted as EncryptedPart, fragments.keys.Sk_ei));
      const joined = Uint8Array.from(Buffer.concat(pieces));
      const inner = decodePayloadChain(messages[0]?.encrypted?.firstInnerType ?? 0, joined);
      if (!inner.ok) throw new Error(inner.error.message);
      expect(inner.value.payloads.map((p) => p.type).slice(0, 4)).toEqual([
        PayloadType.IDi,
        PayloadType.NOTIFY,
        PayloadType.IDr,
        PayloadType.AUTH,
      ]);
      expect(checkMessagePayloads(ExchangeType.IKE_AUTH, false, inner.value.payloads)).toEqual({ ok: true });
    });

    it("encodeEncryptedFragment rebuilds each captured fragment octet for octet", () => {
      messages.forEach((message, i) => {
        const encrypted = message.encrypted as EncryptedPart;
        const piece = open(encrypted, fragments.keys.Sk_ei);
        const sealer = replaySealer(fragments.keys.Sk_ei, encrypted.body.subarray(0, 8));
        const rebuilt = encodeEncryptedFragment(
          message.header,
          {
            fragmentNumber: encrypted.fragment?.number ?? 0,
            totalFragments: encrypted.fragment?.total ?? 0,
            firstInnerType: encrypted.firstInnerType,
            piece,
          },
          sealer,
        );
        expect(toHex(rebuilt)).toBe(skf[i]?.hex);
      });
    });
  });

  it("decodes the INFORMATIONAL exchange strongSwan ran over the same SA (MOBIKE address update)", () => {
    const informational = fragments.messages
      .map((m) => ({ from: m.from, message: decoded(fromHex(m.hex)) }))
      .filter(({ message }) => message.header.exchangeType === ExchangeType.INFORMATIONAL);
    expect(informational.length).toBeGreaterThanOrEqual(2);
    for (const { from, message } of informational) {
      const key = from === "initiator" ? fragments.keys.Sk_ei : fragments.keys.Sk_er;
      const inner = decodePayloadChain(
        message.encrypted?.firstInnerType ?? 0,
        open(message.encrypted as EncryptedPart, key),
      );
      if (!inner.ok) throw new Error(inner.error.message);
      const payloads: InnerPayload[] = inner.value.payloads;
      expect(checkMessagePayloads(ExchangeType.INFORMATIONAL, message.header.response, payloads)).toEqual({
        ok: true,
      });
      if (!message.header.response)
        expect(notifyTypes(payloads)).toContain(NotifyType.NO_ADDITIONAL_ADDRESSES);
      else expect(payloads).toEqual([]);
    }
  });
});
