import { describe, expect, it } from "vitest";
import {
  CfgType,
  ConfigAttribute,
  DecodeErrorCode,
  ExchangeType,
  type IkeHeaderFields,
  type InnerPayload,
  NotifyType,
  type Payload,
  PayloadType,
  decodeMessage,
  decodePayloadChain,
  encodeMessage,
  encodePayloadChain,
  notify,
  restOfIdPayload,
} from "../../src/ike/codec/index.js";

/**
 * Every payload type through the codec, and messages written out by hand from the RFC 7296 §3
 * bit diagrams (field by field, independently of the encoder) compared octet for octet.
 */

const hex = (text: string): Uint8Array =>
  Uint8Array.from(Buffer.from(text.replace(/\s+|\/\/[^\n]*/g, ""), "hex"));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
/** Octets as hex, so a Node Buffer and a Uint8Array with the same content compare equal. */
const normalize = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? toHex(v) : v)));
const text = (value: string): Uint8Array => Uint8Array.from(Buffer.from(value, "utf8"));
const fill = (length: number, value: number): Uint8Array => new Uint8Array(length).fill(value);

const header: IkeHeaderFields = {
  initiatorSpi: hex("0102030405060708"),
  responderSpi: hex("0000000000000000"),
  exchangeType: ExchangeType.IKE_SA_INIT,
  initiator: true,
  response: false,
  messageId: 0,
};

/** A header for a chain of `chainLength` octets whose first payload is `firstType`. */
function headerHex(firstType: number, chainLength: number, exchange = 34, flags = 0x08): string {
  const length = 28 + chainLength;
  return (
    "0102030405060708 0000000000000000" +
    [firstType, 0x20, exchange, flags].map((b) => b.toString(16).padStart(2, "0")).join("") +
    "00000000" +
    length.toString(16).padStart(8, "0")
  );
}

describe("a hand-written IKE_SA_INIT request (RFC 7296 §3.1–§3.10 layouts)", () => {
  const wire = hex(`
    0102030405060708 0000000000000000   // SPIi, SPIr
    21 20 22 08 00000000 0000009c       // Next SA, v2.0, IKE_SA_INIT, I flag, Message ID 0, Length 156
    22 00 0028                          // SA: next KE, length 40
      00 00 0024 01 01 00 03            //   proposal: last, length 36, #1, IKE, SPI size 0, 3 transforms
        03 00 000c 01 00 0014 800e 0080 //     ENCR AES-GCM-16 (20), Key Length (TV 14) = 128
        03 00 0008 02 00 0005           //     PRF HMAC-SHA2-256
        00 00 0008 04 00 001f           //     KE Curve25519 (31), last
    28 00 0028 001f 0000                // KE: next Nonce, length 40, group 31, RESERVED
      ${"11".repeat(32)}
    29 00 0014                          // Nonce: next N, length 20
      ${"22".repeat(16)}
    00 00 001c 00 00 4004               // N: last, length 28, protocol 0, SPI size 0, NAT_DETECTION_SOURCE_IP
      ${"33".repeat(20)}
  `);
  const payloads: Payload[] = [
    {
      type: PayloadType.SA,
      proposals: [
        {
          number: 1,
          protocolId: 1,
          spi: new Uint8Array(0),
          transforms: [
            {
              transformType: 1,
              transformId: 20,
              attributes: [{ attributeType: 14, format: "tv", value: 128 }],
            },
            { transformType: 2, transformId: 5, attributes: [] },
            { transformType: 4, transformId: 31, attributes: [] },
          ],
        },
      ],
    },
    { type: PayloadType.KE, group: 31, data: fill(32, 0x11) },
    { type: PayloadType.NONCE, data: fill(16, 0x22) },
    notify(NotifyType.NAT_DETECTION_SOURCE_IP, fill(20, 0x33)),
  ];

  it("encodes to exactly those octets", () => {
    expect(toHex(encodeMessage(header, payloads))).toBe(toHex(wire));
  });

  it("decodes to those payloads", () => {
    const decoded = decodeMessage(wire);
    expect(decoded.ok && decoded.value.payloads).toEqual(payloads);
    expect(decoded.ok && decoded.value.header).toEqual({
      ...header,
      nextPayload: PayloadType.SA,
      majorVersion: 2,
      minorVersion: 0,
      higherVersion: false,
      length: 156,
    });
  });
});

describe("hand-written inner payload chains", () => {
  it("INFORMATIONAL: Delete, Notify with an SPI, CP reply, Vendor ID", () => {
    const wire = hex(`
      29 00 0010 03 04 0002 aabbccdd 11223344   // D: next N, ESP, SPI size 4, two SPIs
      2f 00 000c 03 04 4009 01020304            // N: next CP, ESP, SPI size 4, REKEY_SA, SPI
      2b 00 0010 02 000000 0001 0004 c6120a01   // CP: next V, CFG_REPLY, INTERNAL_IP4_ADDRESS 198.18.10.1
      00 00 0009 7061766973                     // V: last, "pavis"
    `);
    const payloads: InnerPayload[] = [
      { type: PayloadType.DELETE, protocolId: 3, spiSize: 4, spis: [hex("aabbccdd"), hex("11223344")] },
      {
        type: PayloadType.NOTIFY,
        protocolId: 3,
        spi: hex("01020304"),
        notifyType: NotifyType.REKEY_SA,
        data: new Uint8Array(0),
      },
      {
        type: PayloadType.CP,
        cfgType: CfgType.REPLY,
        attributes: [{ attributeType: ConfigAttribute.INTERNAL_IP4_ADDRESS, value: hex("c6120a01") }],
      },
      { type: PayloadType.VENDOR_ID, data: hex("7061766973") },
    ];
    const encoded = encodePayloadChain(payloads);
    expect(encoded.firstType).toBe(PayloadType.DELETE);
    expect(toHex(encoded.bytes)).toBe(toHex(wire));
    const decoded = decodePayloadChain(PayloadType.DELETE, wire);
    expect(decoded.ok && decoded.value.payloads).toEqual(payloads);
  });

  it("IKE_AUTH: IDi, CERT, CERTREQ, AUTH, IPv6 and other traffic selectors, EAP, an unknown payload", () => {
    const wire = hex(`
      25 00 000c 01 000000 c6120165             // IDi: next CERT, ID_IPV4_ADDR 198.18.1.101
      26 00 0008 04 308182                      // CERT: next CERTREQ, X.509 signature, 3 octets
      27 00 0019 04 ${"44".repeat(20)}          // CERTREQ: next AUTH, X.509, one SHA-1 CA hash
      2c 00 000c 02 000000 deadbeef             // AUTH: next TSi, shared key MIC
      2d 00 0030 01 000000                      // TSi: next TSr, 1 selector
        08 11 0028 01f4 1194                    //   TS_IPV6_ADDR_RANGE, UDP, length 40, ports 500..4500
        20010db8000000000000000000000001
        20010db80000000000000000000000ff
      30 00 0010 01 000000                      // TSr: next EAP, 1 selector
        0a 00 0008 01020304                     //   TS type 10 (TS_SECLABEL), kept as octets
      31 00 0009 0201000501                     // EAP: next payload 49, an EAP Response/Identity
      00 00 0006 abcd                           // payload 49 (unknown to us), not critical: kept
    `);
    const payloads: InnerPayload[] = [
      { type: PayloadType.IDi, idType: 1, data: hex("c6120165") },
      { type: PayloadType.CERT, encoding: 4, data: hex("308182") },
      { type: PayloadType.CERTREQ, encoding: 4, authorities: fill(20, 0x44) },
      { type: PayloadType.AUTH, method: 2, data: hex("deadbeef") },
      {
        type: PayloadType.TSi,
        selectors: [
          {
            tsType: 8,
            ipProtocol: 17,
            startPort: 500,
            endPort: 4500,
            startAddress: hex("20010db8000000000000000000000001"),
            endAddress: hex("20010db80000000000000000000000ff"),
          },
        ],
      },
      { type: PayloadType.TSr, selectors: [{ tsType: 10, octet1: 0, body: hex("01020304") }] },
      { type: PayloadType.EAP, message: hex("0201000501") },
      { type: "unknown", payloadType: 49, critical: false, body: hex("abcd") },
    ];
    expect(toHex(encodePayloadChain(payloads).bytes)).toBe(toHex(wire));
    const decoded = decodePayloadChain(PayloadType.IDi, wire);
    expect(decoded.ok && decoded.value.payloads).toEqual(payloads);
    // What AUTH signs for IDi (§2.15): the payload body after the generic header.
    const idi = payloads[0];
    expect(idi?.type === PayloadType.IDi && toHex(restOfIdPayload(idi))).toBe(toHex(wire.subarray(4, 12)));
  });
});

describe("every payload type round-trips", () => {
  const samples: Payload[] = [
    {
      type: PayloadType.SA,
      proposals: [
        {
          number: 1,
          protocolId: 3,
          spi: hex("c0ffee01"),
          transforms: [
            {
              transformType: 1,
              transformId: 12,
              attributes: [{ attributeType: 14, format: "tv", value: 256 }],
            },
            { transformType: 3, transformId: 12, attributes: [] },
            // An unknown transform type with a TLV attribute of an unknown type: kept as is.
            {
              transformType: 200,
              transformId: 65535,
              attributes: [{ attributeType: 999, format: "tlv", value: hex("0102") }],
            },
            { transformType: 5, transformId: 0, attributes: [] },
          ],
        },
        { number: 2, protocolId: 3, spi: hex("c0ffee01"), transforms: [] },
      ],
    },
    { type: PayloadType.SA, proposals: [] },
    { type: PayloadType.KE, group: 14, data: fill(256, 0x5a) },
    { type: PayloadType.KE, group: 31, data: new Uint8Array(0) },
    { type: PayloadType.IDi, idType: 2, data: text("client.pavise.test") },
    { type: PayloadType.IDr, idType: 5, data: fill(16, 0xfe) },
    { type: PayloadType.IDr, idType: 11, data: new Uint8Array(0) },
    { type: PayloadType.CERT, encoding: 12, data: text("http://ca.pavise.test/c") },
    { type: PayloadType.CERTREQ, encoding: 4, authorities: new Uint8Array(0) },
    { type: PayloadType.AUTH, method: 14, data: fill(64, 1) },
    { type: PayloadType.NONCE, data: fill(16, 7) },
    { type: PayloadType.NONCE, data: fill(256, 8) },
    notify(NotifyType.INVALID_KE_PAYLOAD, hex("001f")),
    notify(NotifyType.COOKIE, fill(64, 9)),
    { type: PayloadType.DELETE, protocolId: 1, spiSize: 0, spis: [] },
    {
      type: PayloadType.TSr,
      selectors: [
        {
          tsType: 7,
          ipProtocol: 0,
          startPort: 0,
          endPort: 65535,
          startAddress: hex("c6120000"),
          endAddress: hex("c613ffff"),
        },
        {
          tsType: 7,
          ipProtocol: 6,
          startPort: 80,
          endPort: 80,
          startAddress: hex("c6120101"),
          endAddress: hex("c6120101"),
        },
      ],
    },
    { type: PayloadType.TSi, selectors: [] },
    {
      type: PayloadType.CP,
      cfgType: CfgType.REQUEST,
      attributes: [{ attributeType: 1, value: new Uint8Array(0) }],
    },
    { type: PayloadType.EAP, message: new Uint8Array(0) },
    { type: PayloadType.VENDOR_ID, data: new Uint8Array(0) },
    { type: PayloadType.SK, firstInnerType: PayloadType.IDi, body: fill(40, 0xee) },
    { type: PayloadType.SKF, firstInnerType: 0, fragmentNumber: 2, totalFragments: 3, body: fill(24, 0xdd) },
    { type: "unknown", payloadType: 200, critical: false, body: fill(3, 0xcc) },
  ];

  for (const payload of samples) {
    const name = payload.type === "unknown" ? "unknown" : String(payload.type);
    it(`payload ${name} ${JSON.stringify(payload).slice(0, 60)}`, () => {
      const bytes = encodeMessage(header, [payload]);
      const decoded = decodeMessage(bytes);
      if (!decoded.ok) throw new Error(decoded.error.message);
      expect(normalize(decoded.value.payloads)).toEqual(normalize([payload]));
      expect(toHex(encodeMessage(decoded.value.header, decoded.value.payloads))).toBe(toHex(bytes));
    });
  }

  it("a chain of all of them, in one message, round-trips too", () => {
    const chain = samples.filter((p) => p.type !== PayloadType.SK && p.type !== PayloadType.SKF);
    const bytes = encodeMessage(header, [...chain, samples[samples.length - 3] as Payload]);
    const decoded = decodeMessage(bytes);
    if (!decoded.ok) throw new Error(decoded.error.message);
    expect(decoded.value.payloads).toHaveLength(chain.length + 1);
    expect(toHex(encodeMessage(decoded.value.header, decoded.value.payloads))).toBe(toHex(bytes));
  });
});

describe("payload bodies that break the rules are INVALID_SYNTAX errors", () => {
  /** A one-payload message with the given payload type and body; returns the decode error. */
  function errorFor(type: number, body: string, flags = 0) {
    const bodyBytes = hex(body);
    const payloadHex =
      "00" +
      flags.toString(16).padStart(2, "0") +
      (bodyBytes.length + 4).toString(16).padStart(4, "0") +
      toHex(bodyBytes);
    const decoded = decodeMessage(hex(headerHex(type, bodyBytes.length + 4) + payloadHex));
    return decoded.ok ? undefined : decoded.error;
  }

  const cases: [string, number, string, string][] = [
    ["SA proposal shorter than its header", 33, "00000004", DecodeErrorCode.INVALID_PAYLOAD],
    ["SA proposal length past the payload", 33, "00000010 01010000", DecodeErrorCode.INVALID_PAYLOAD],
    ["SA proposal marked 'more follow' but last", 33, "02000008 01010000", DecodeErrorCode.INVALID_PAYLOAD],
    [
      "SA proposal with a wrong transform count",
      33,
      "00000010 01010002 00000008 01000014",
      DecodeErrorCode.INVALID_PAYLOAD,
    ],
    ["SA transform length below 8", 33, "0000000c 01010001 00000004", DecodeErrorCode.INVALID_PAYLOAD],
    [
      "SA transform marked 'more follow' but last",
      33,
      "00000010 01010001 03000008 01000014",
      DecodeErrorCode.INVALID_PAYLOAD,
    ],
    [
      "SA TLV attribute past the transform",
      33,
      "00000014 01010001 0000000c 01000014 000e0008",
      DecodeErrorCode.INVALID_PAYLOAD,
    ],
    [
      "SA attribute header cut short",
      33,
      "00000012 01010001 0000000a 01000014 800e",
      DecodeErrorCode.INVALID_PAYLOAD,
    ],
    ["SA SPI size past the proposal", 33, "00000008 01030400", DecodeErrorCode.INVALID_PAYLOAD],
    ["KE without group and RESERVED", 34, "001f", DecodeErrorCode.PAYLOAD_TOO_SHORT],
    ["IDi ID_IPV4_ADDR of 3 octets", 35, "01000000 c61201", DecodeErrorCode.INVALID_PAYLOAD],
    ["IDr ID_IPV6_ADDR of 4 octets", 36, "05000000 c6120101", DecodeErrorCode.INVALID_PAYLOAD],
    ["CERT without encoding", 37, "", DecodeErrorCode.PAYLOAD_TOO_SHORT],
    ["CERTREQ without encoding", 38, "", DecodeErrorCode.PAYLOAD_TOO_SHORT],
    ["AUTH without method and RESERVED", 39, "02", DecodeErrorCode.PAYLOAD_TOO_SHORT],
    ["Nonce of 15 octets", 40, "00".repeat(15), DecodeErrorCode.INVALID_PAYLOAD],
    ["Nonce of 257 octets", 40, "00".repeat(257), DecodeErrorCode.INVALID_PAYLOAD],
    ["N with an SPI past the payload", 41, "03044009 0102", DecodeErrorCode.INVALID_PAYLOAD],
    ["N without its 4 fixed octets", 41, "0000", DecodeErrorCode.PAYLOAD_TOO_SHORT],
    ["D whose SPIs do not fill the payload", 42, "03040002 aabbccdd", DecodeErrorCode.INVALID_PAYLOAD],
    ["D with octets after its SPIs", 42, "03040001 aabbccdd ee", DecodeErrorCode.INVALID_PAYLOAD],
    [
      "TSi with a wrong selector count",
      44,
      "02000000 07000010 0000ffff c6120101 c6120101",
      DecodeErrorCode.INVALID_PAYLOAD,
    ],
    [
      "TSr IPv4 range of the wrong length",
      45,
      "01000000 07000014 0000ffff c6120101 c6120101 00000000",
      DecodeErrorCode.INVALID_PAYLOAD,
    ],
    [
      "TSr selector past the payload",
      45,
      "01000000 07000010 0000ffff c6120101",
      DecodeErrorCode.INVALID_PAYLOAD,
    ],
    ["TSr selector length below 4", 45, "01000000 0a000002", DecodeErrorCode.INVALID_PAYLOAD],
    ["CP attribute past the payload", 47, "01000000 00010008 c6120a01", DecodeErrorCode.INVALID_PAYLOAD],
    ["CP attribute header cut short", 47, "01000000 0001", DecodeErrorCode.INVALID_PAYLOAD],
  ];
  for (const [what, type, body, code] of cases) {
    it(what, () => {
      const error = errorFor(type, body);
      expect(error?.code).toBe(code);
      expect(error?.payloadType).toBe(type);
      expect(error?.notify?.notifyType).toBe(NotifyType.INVALID_SYNTAX);
      expect(error?.header?.exchangeType).toBe(ExchangeType.IKE_SA_INIT);
    });
  }

  it("SKF fragment 0 or above the total is discarded without a notify (RFC 7383 §2.6)", () => {
    for (const body of ["0000 0003 00", "0004 0003 00", "0001 0000 00"]) {
      const error = errorFor(PayloadType.SKF, body);
      expect(error?.code).toBe(DecodeErrorCode.INVALID_FRAGMENT);
      expect(error?.notify).toBeUndefined();
    }
  });

  it("an unknown payload type with the critical bit set is UNSUPPORTED_CRITICAL_PAYLOAD with the type as data", () => {
    const error = errorFor(49, "abcd", 0x80);
    expect(error?.code).toBe(DecodeErrorCode.UNSUPPORTED_CRITICAL_PAYLOAD);
    expect(error?.payloadType).toBe(49);
    expect(error?.notify).toEqual({
      notifyType: NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD,
      data: Uint8Array.of(49),
    });
  });

  it("the same type without the critical bit is skipped and kept", () => {
    expect(errorFor(49, "abcd", 0x00)).toBeUndefined();
  });
});

describe("reserved bits are ignored and reported (RFC 7296 §2.5)", () => {
  it("a critical bit on a known payload, RESERVED octets and header flags", () => {
    const wire = hex(`
      0102030405060708 0000000000000000
      22 20 22 09 00000000 0000003c       // KE first; flags I plus reserved bit 0x01
      28 81 000c 001f 8001 aabbccdd       // KE: critical bit and a RESERVED bit set; RESERVED 0x8001
      00 00 0014 ${"22".repeat(16)}       // Nonce
    `);
    const decoded = decodeMessage(wire);
    if (!decoded.ok) throw new Error(decoded.error.message);
    expect(decoded.value.payloads[0]).toEqual({ type: PayloadType.KE, group: 31, data: hex("aabbccdd") });
    expect(decoded.value.ignoredBits.map(({ offset, mask }) => [offset, mask])).toEqual([
      [19, 0x01],
      [29, 0x01],
      [29, 0x80],
      [34, 0x80],
      [35, 0x01],
    ]);
    // Re-encoding clears exactly those bits.
    const cleared = Uint8Array.from(wire);
    for (const { offset, mask } of decoded.value.ignoredBits)
      cleared[offset] = (cleared[offset] ?? 0) & ~mask;
    expect(toHex(encodeMessage(decoded.value.header, decoded.value.payloads))).toBe(toHex(cleared));
  });
});
