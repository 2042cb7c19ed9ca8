import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  DecodeErrorCode,
  type EncryptedPart,
  ExchangeType,
  type IkeHeaderFields,
  type InnerPayload,
  NotifyType,
  PayloadType,
  type SkSealer,
  checksumParts,
  decodeMessage,
  decodePayloadChain,
  encodeEncryptedFragments,
  encodeEncryptedMessage,
  encodeMessage,
  encodePayloadChain,
  notify,
} from "../../src/ike/codec/index.js";
import { PaviseError } from "../../src/util/errors.js";

const hex = (text: string): Uint8Array =>
  Uint8Array.from(Buffer.from(text.replace(/\s+|\/\/[^\n]*/g, ""), "hex"));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

const header: IkeHeaderFields = {
  initiatorSpi: hex("1111111111111111"),
  responderSpi: hex("2222222222222222"),
  exchangeType: ExchangeType.INFORMATIONAL,
  initiator: true,
  response: false,
  messageId: 7,
};

/** 28-octet header with the given first payload, length, version and exchange. */
function rawHeader(options: { next?: number; length: number; version?: number; exchange?: number }): string {
  const byte = (n: number) => n.toString(16).padStart(2, "0");
  return (
    "1111111111111111 2222222222222222" +
    byte(options.next ?? 0) +
    byte(options.version ?? 0x20) +
    byte(options.exchange ?? 37) +
    "08 00000007" +
    options.length.toString(16).padStart(8, "0")
  );
}

function errorOf(bytes: Uint8Array, options?: Parameters<typeof decodeMessage>[1]) {
  const result = decodeMessage(bytes, options);
  if (result.ok) throw new Error("expected a decode error");
  return result.error;
}

/**
 * A toy cipher with the shape of a non-AEAD one (§3.14): 4-octet IV, 8-octet blocks with
 * Padding and Pad Length, XOR "encryption", and an 8-octet checksum over the message up to it
 * (aad ‖ IV ‖ ciphertext). It is reversible, so tests can open what the encoder sealed.
 */
function toySealer(): SkSealer & { seen: { aad: Uint8Array; bodyLength: number }[] } {
  const seen: { aad: Uint8Array; bodyLength: number }[] = [];
  let counter = 0;
  return {
    seen,
    bodyLength: (n) => 4 + Math.ceil((n + 1) / 8) * 8 + 8,
    seal(aad, plaintext, bodyLength) {
      seen.push({ aad: Uint8Array.from(aad), bodyLength });
      const padded = new Uint8Array(Math.ceil((plaintext.length + 1) / 8) * 8);
      padded.set(plaintext);
      padded[padded.length - 1] = padded.length - plaintext.length - 1;
      const iv = Uint8Array.of(0, 0, 0, ++counter);
      const ciphertext = padded.map((b) => b ^ 0x5a);
      const icv = createHash("sha256").update(aad).update(iv).update(ciphertext).digest().subarray(0, 8);
      return Uint8Array.from([...iv, ...ciphertext, ...icv]);
    },
  };
}

function toyOpen(encrypted: EncryptedPart): Uint8Array {
  const parts = checksumParts(encrypted, 8);
  if (!parts.ok) throw new Error(parts.error.message);
  const expected = createHash("sha256").update(parts.value.signed).digest().subarray(0, 8);
  expect(toHex(parts.value.icv)).toBe(toHex(expected));
  const padded = encrypted.body.subarray(4, encrypted.body.length - 8).map((b) => b ^ 0x5a);
  const padLength = padded[padded.length - 1] ?? 0;
  return padded.subarray(0, padded.length - 1 - padLength);
}

describe("message-level errors", () => {
  it("refuses datagrams above the size cap before reading them (default 64 KiB)", () => {
    expect(errorOf(new Uint8Array(64 * 1024 + 1)).code).toBe(DecodeErrorCode.OVERSIZED);
    expect(errorOf(new Uint8Array(1500), { maxMessageLength: 1280 }).code).toBe(DecodeErrorCode.OVERSIZED);
  });

  it("reports a datagram shorter than the header, without a header or notify", () => {
    const error = errorOf(hex(rawHeader({ length: 28 })).subarray(0, 27));
    expect(error.code).toBe(DecodeErrorCode.TRUNCATED);
    expect(error.header).toBeUndefined();
    expect(error.notify).toBeUndefined();
  });

  it("reports a major version above 2 distinctly, for INVALID_MAJOR_VERSION (§2.5)", () => {
    const error = errorOf(hex(rawHeader({ length: 28, version: 0x30 })));
    expect(error.code).toBe(DecodeErrorCode.UNSUPPORTED_MAJOR_VERSION);
    expect(error.notify?.notifyType).toBe(NotifyType.INVALID_MAJOR_VERSION);
    expect(error.header?.majorVersion).toBe(3);
    expect(error.header?.messageId).toBe(7);
    expect(error.offset).toBe(17);
  });

  it("drops IKEv1 (major version 1) without a notify", () => {
    const error = errorOf(hex(rawHeader({ length: 28, version: 0x10 })));
    expect(error.code).toBe(DecodeErrorCode.OLD_MAJOR_VERSION);
    expect(error.notify).toBeUndefined();
  });

  it("accepts any minor version and keeps it", () => {
    const result = decodeMessage(hex(rawHeader({ length: 28, version: 0x27 })));
    expect(result.ok && [result.value.header.majorVersion, result.value.header.minorVersion]).toEqual([2, 7]);
  });

  it("keeps exchange types it does not know", () => {
    const result = decodeMessage(hex(rawHeader({ length: 28, exchange: 240 })));
    expect(result.ok && result.value.header.exchangeType).toBe(240);
  });

  it("reports a header Length different from the datagram", () => {
    for (const length of [27, 29, 0, 0xffffffff]) {
      const error = errorOf(hex(rawHeader({ length })));
      expect(error.code).toBe(DecodeErrorCode.LENGTH_MISMATCH);
      expect(error.offset).toBe(24);
      expect(error.header?.length).toBe(length);
    }
  });

  it("a payload chain cannot loop: a Payload Length below 4 is refused", () => {
    // A V payload whose Next Payload is V again and whose length is 0 would loop forever in a
    // parser that trusted it.
    const error = errorOf(hex(rawHeader({ next: 43, length: 32 }) + "2b000000"));
    expect(error.code).toBe(DecodeErrorCode.PAYLOAD_TOO_SHORT);
    expect(error.offset).toBe(30);
    expect(error.notify?.notifyType).toBe(NotifyType.INVALID_SYNTAX);
    expect(error.header?.exchangeType).toBe(ExchangeType.INFORMATIONAL);
  });

  it("reports a Payload Length past the end", () => {
    const error = errorOf(hex(rawHeader({ next: 43, length: 34 }) + "00000008 abcd"));
    expect(error.code).toBe(DecodeErrorCode.PAYLOAD_OVERRUN);
    expect(error.payloadType).toBe(PayloadType.VENDOR_ID);
  });

  it("reports a chain that announces a payload the message has no room for", () => {
    const error = errorOf(hex(rawHeader({ next: 43, length: 34 }) + "2b000006 abcd"));
    expect(error.code).toBe(DecodeErrorCode.PAYLOAD_TRUNCATED);
    expect(error.offset).toBe(34);
  });

  it("reports octets after the last payload", () => {
    const error = errorOf(hex(rawHeader({ next: 43, length: 36 }) + "00000006 abcd ffff"));
    expect(error.code).toBe(DecodeErrorCode.TRAILING_BYTES);
    expect(error.offset).toBe(34);
  });

  it("caps the number of payloads (default 64)", () => {
    const vendorIds = Array.from(
      { length: 65 },
      () => ({ type: PayloadType.VENDOR_ID, data: new Uint8Array(0) }) as const,
    );
    const bytes = encodeMessage(header, vendorIds);
    expect(errorOf(bytes).code).toBe(DecodeErrorCode.TOO_MANY_PAYLOADS);
    expect(decodeMessage(bytes, { maxPayloads: 65 }).ok).toBe(true);
    expect(decodeMessage(encodeMessage(header, vendorIds.slice(0, 64))).ok).toBe(true);
  });

  it("requires SK to be the last payload", () => {
    const error = errorOf(hex(rawHeader({ next: 46, length: 40 }) + "23000008 aabbccdd 00000004"));
    expect(error.code).toBe(DecodeErrorCode.MISPLACED_ENCRYPTED);
    expect(error.offset).toBe(36);
  });

  it("refuses SK inside decrypted payloads", () => {
    const result = decodePayloadChain(PayloadType.NOTIFY, hex("2e000008 00004000 00000004"));
    expect(!result.ok && [result.error.code, result.error.offset]).toEqual([
      DecodeErrorCode.MISPLACED_ENCRYPTED,
      8,
    ]);
  });

  it("gives offsets into the plaintext for errors in decrypted payloads", () => {
    const result = decodePayloadChain(PayloadType.NOTIFY, hex("28000008 00004000 00000014 0102"));
    expect(!result.ok && [result.error.code, result.error.offset]).toEqual([
      DecodeErrorCode.PAYLOAD_OVERRUN,
      10,
    ]);
  });

  it("decodes a Node Buffer into plain Uint8Arrays, copies independent of the input", () => {
    const buffer = Buffer.from(encodeMessage(header, [notify(NotifyType.COOKIE, hex("c0c0"))]));
    const result = decodeMessage(buffer);
    if (!result.ok) throw new Error(result.error.message);
    buffer.fill(0);
    const cookie = result.value.payloads[0];
    expect(cookie?.type === PayloadType.NOTIFY && cookie.data).toEqual(hex("c0c0"));
    expect(Object.getPrototypeOf(result.value.header.initiatorSpi)).toBe(Uint8Array.prototype);
  });
});

describe("SK framing", () => {
  const inner: InnerPayload[] = [
    { type: PayloadType.DELETE, protocolId: 3, spiSize: 4, spis: [hex("01020304")] },
    notify(NotifyType.IKEV2_MESSAGE_ID_SYNC, hex("0000000100000002 00000003")),
  ];

  it("writes final lengths before sealing: the sealer's AAD is the prefix of the message", () => {
    const sealer = toySealer();
    const bytes = encodeEncryptedMessage(header, inner, sealer);
    const plaintextLength = encodePayloadChain(inner).bytes.length;
    const bodyLength = sealer.bodyLength(plaintextLength);
    expect(bytes.length).toBe(28 + 4 + bodyLength);
    expect(sealer.seen).toEqual([{ aad: bytes.subarray(0, 32), bodyLength }]);
    // Header Length and SK Payload Length as the AAD carried them.
    expect(Buffer.from(bytes).readUInt32BE(24)).toBe(bytes.length);
    expect(Buffer.from(bytes).readUInt16BE(30)).toBe(4 + bodyLength);
    expect(bytes[16]).toBe(PayloadType.SK);
    expect(bytes[28]).toBe(PayloadType.DELETE);
  });

  it("decodes what it encoded: AAD, body and checksum where the sealer put them", () => {
    const bytes = encodeEncryptedMessage(header, inner, toySealer());
    const result = decodeMessage(bytes);
    if (!result.ok) throw new Error(result.error.message);
    const encrypted = result.value.encrypted as EncryptedPart;
    expect([
      encrypted.payloadType,
      encrypted.firstInnerType,
      encrypted.headerOffset,
      encrypted.bodyOffset,
    ]).toEqual([PayloadType.SK, PayloadType.DELETE, 28, 32]);
    expect(toHex(encrypted.aad)).toBe(toHex(bytes.subarray(0, 32)));
    expect(toHex(encrypted.body)).toBe(toHex(bytes.subarray(32)));
    const opened = decodePayloadChain(encrypted.firstInnerType, toyOpen(encrypted));
    expect(opened.ok && opened.value.payloads).toEqual(inner);
  });

  it("checksumParts refuses a checksum longer than the body", () => {
    const result = decodeMessage(encodeEncryptedMessage(header, [], toySealer()));
    if (!result.ok) throw new Error(result.error.message);
    const encrypted = result.value.encrypted as EncryptedPart;
    expect(encrypted.firstInnerType).toBe(PayloadType.NONE);
    const parts = checksumParts(encrypted, encrypted.body.length + 1);
    expect(!parts.ok && parts.error.code).toBe(DecodeErrorCode.CHECKSUM_TOO_LONG);
    expect(checksumParts(encrypted, -1).ok).toBe(false);
  });

  it("refuses a sealer that returns another length than it promised", () => {
    const liar: SkSealer = { bodyLength: (n) => n + 20, seal: () => new Uint8Array(3) };
    expect(() => encodeEncryptedMessage(header, inner, liar)).toThrow(PaviseError);
  });
});

describe("SKF fragments (RFC 7383)", () => {
  const big: InnerPayload[] = [
    { type: PayloadType.IDi, idType: 2, data: Uint8Array.from(Buffer.from("initiator.pavise.test")) },
    { type: PayloadType.CERT, encoding: 4, data: new Uint8Array(900).map((_, i) => i & 0xff) },
    { type: PayloadType.AUTH, method: 14, data: new Uint8Array(300).fill(0xa5) },
  ];

  it("splits into messages that fit, numbered, first inner type in fragment 1 only, and reassemble", () => {
    const messages = encodeEncryptedFragments(
      { ...header, exchangeType: ExchangeType.IKE_AUTH },
      big,
      toySealer(),
      400,
    );
    expect(messages.length).toBeGreaterThan(3);
    const decoded = messages.map((bytes) => {
      expect(bytes.length).toBeLessThanOrEqual(400);
      const result = decodeMessage(bytes);
      if (!result.ok) throw new Error(result.error.message);
      return result.value.encrypted as EncryptedPart;
    });
    expect(decoded.map((e) => e.fragment)).toEqual(
      decoded.map((_, i) => ({ number: i + 1, total: messages.length })),
    );
    expect(decoded.map((e) => e.firstInnerType)).toEqual(
      decoded.map((_, i) => (i === 0 ? PayloadType.IDi : 0)),
    );
    expect(decoded.every((e) => e.bodyOffset === 36 && e.payloadType === PayloadType.SKF)).toBe(true);
    const joined = Uint8Array.from(decoded.flatMap((e) => [...toyOpen(e)]));
    const chain = decodePayloadChain(decoded[0]?.firstInnerType ?? 0, joined);
    expect(chain.ok && chain.value.payloads).toEqual(big);
  });

  it("sends a message that fits as a single fragment", () => {
    const messages = encodeEncryptedFragments(
      header,
      [notify(NotifyType.INITIAL_CONTACT)],
      toySealer(),
      1280,
    );
    expect(messages).toHaveLength(1);
    const result = decodeMessage(messages[0] ?? new Uint8Array());
    expect(result.ok && result.value.encrypted?.fragment).toEqual({ number: 1, total: 1 });
  });

  it("refuses a size that leaves no room for content", () => {
    expect(() => encodeEncryptedFragments(header, big, toySealer(), 40)).toThrow(/no room/);
  });
});

describe("encoders refuse objects that cannot be encoded", () => {
  const cases: [string, () => unknown][] = [
    ["an SPI of 7 octets", () => encodeMessage({ ...header, initiatorSpi: new Uint8Array(7) }, [])],
    [
      "a nonce of 8 octets",
      () => encodeMessage(header, [{ type: PayloadType.NONCE, data: new Uint8Array(8) }]),
    ],
    [
      "SK before another payload",
      () =>
        encodeMessage(header, [
          { type: PayloadType.SK, firstInnerType: 0, body: new Uint8Array(0) },
          notify(NotifyType.COOKIE),
        ]),
    ],
    [
      "a protocol ID above 255",
      () => encodeMessage(header, [{ ...notify(NotifyType.COOKIE), protocolId: 256 }]),
    ],
    [
      "a Delete SPI of the wrong size",
      () =>
        encodeMessage(header, [
          { type: PayloadType.DELETE, protocolId: 3, spiSize: 4, spis: [new Uint8Array(8)] },
        ]),
    ],
    [
      "an ID_IPV4_ADDR of 16 octets",
      () => encodeMessage(header, [{ type: PayloadType.IDi, idType: 1, data: new Uint8Array(16) }]),
    ],
    [
      "a payload over 64 KiB",
      () => encodeMessage(header, [{ type: PayloadType.VENDOR_ID, data: new Uint8Array(70_000) }]),
    ],
  ];
  for (const [what, encode] of cases) {
    it(what, () => {
      let caught: unknown;
      try {
        encode();
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(PaviseError);
      expect((caught as PaviseError).code).toBe("IKE_ENCODE_INVALID");
    });
  }
});
