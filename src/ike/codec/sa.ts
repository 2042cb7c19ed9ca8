import { type ByteWriter, encodeError, readU16 } from "./bytes.js";
import { DecodeErrorCode, type DecodeResult, noteReservedOctets, ok, syntaxError } from "./decode-result.js";
import type { PayloadBody } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";

/**
 * Security Association payload (RFC 7296 §3.3): proposals, each with transforms, each with
 * attributes. Unknown transform types, transform IDs and attribute types are kept as they are,
 * so proposal selection can skip what it does not know (§3.3.6) instead of failing to parse.
 *
 * SA payload (§3.3):
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C|  RESERVED   |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    ~                          <Proposals>                          ~
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Proposal Substructure (§3.3.1):
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Last Substruc |   RESERVED    |         Proposal Length       |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    ~                        SPI (variable)                         ~
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    ~                        <Transforms>                           ~
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Transform Substructure (§3.3.2):
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Last Substruc |   RESERVED    |        Transform Length       |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |Transform Type |   RESERVED    |          Transform ID         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    ~                      Transform Attributes                     ~
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Transform Attribute (§3.3.5):
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |A|       Attribute Type        |    AF=0  Attribute Length     |
 *    |F|                             |    AF=1  Attribute Value      |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                   AF=0  Attribute Value                       |
 *    |                   AF=1  Not Transmitted                       |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field           | octets | meaning                                                     |
 * | --------------- | ------ | ----------------------------------------------------------- |
 * | Last Substruc   | 1      | proposal: 2 if another follows, else 0; transform: 3 or 0   |
 * | Proposal Length | 2      | the proposal with its SPI and transforms                    |
 * | Proposal Num    | 1      | 1, 2… in a request; the chosen one's number in a response   |
 * | Protocol ID     | 1      | IKE 1, AH 2, ESP 3                                          |
 * | SPI Size        | 1      | 0 in IKE_SA_INIT, 8 for an IKE SA rekey, 4 for AH/ESP       |
 * | Num Transforms  | 1      | must equal the transforms that follow                       |
 * | Transform Type  | 1      | ENCR 1, PRF 2, INTEG 3, KE (D-H) 4, ESN 5                   |
 * | Transform ID    | 2      | algorithm within the type (IANA registries)                 |
 * | AF + Type       | 2      | AF=1: 2-octet value follows (TV); AF=0: length and value    |
 * | Key Length (14) | 2      | TV attribute: the key size in bits of a variable-key cipher |
 */

export type TransformAttribute =
  /** AF=1: a 16-bit value in place of the length (the Key Length attribute is one). */
  | { attributeType: number; format: "tv"; value: number }
  /** AF=0: a length and that many octets. */
  | { attributeType: number; format: "tlv"; value: Uint8Array };

export interface Transform {
  transformType: number;
  transformId: number;
  attributes: TransformAttribute[];
}

export interface Proposal {
  number: number;
  protocolId: number;
  /** Empty in IKE_SA_INIT; 8 octets when rekeying an IKE SA; 4 for AH and ESP. */
  spi: Uint8Array;
  transforms: Transform[];
}

export interface SaPayload {
  type: typeof PayloadType.SA;
  proposals: Proposal[];
}

export const ProtocolId = { IKE: 1, AH: 2, ESP: 3 } as const;

export const TransformType = { ENCR: 1, PRF: 2, INTEG: 3, KE: 4, ESN: 5 } as const;

export const TransformAttributeType = { KEY_LENGTH: 14 } as const;

/** The transform IDs Pavise and its tests name (IANA "Transform Type n" registries). */
export const EncrId = {
  AES_CBC: 12,
  AES_CTR: 13,
  AES_GCM_8: 18,
  AES_GCM_12: 19,
  AES_GCM_16: 20,
  CHACHA20_POLY1305: 28,
} as const;
export const PrfId = {
  HMAC_SHA1: 2,
  AES128_XCBC: 4,
  HMAC_SHA2_256: 5,
  HMAC_SHA2_384: 6,
  HMAC_SHA2_512: 7,
} as const;
export const IntegId = {
  NONE: 0,
  HMAC_SHA1_96: 2,
  HMAC_SHA2_256_128: 12,
  HMAC_SHA2_384_192: 13,
  HMAC_SHA2_512_256: 14,
} as const;
export const KeId = {
  MODP_2048: 14,
  ECP_256: 19,
  ECP_384: 20,
  ECP_521: 21,
  CURVE25519: 31,
  CURVE448: 32,
} as const;
export const EsnId = { NO: 0, YES: 1 } as const;

const PROPOSAL_HEADER = 8;
const TRANSFORM_HEADER = 8;
const MORE_PROPOSALS = 2;
const MORE_TRANSFORMS = 3;
const LAST = 0;

/** The Key Length attribute of a transform, in bits, if it has one (§3.3.5). */
export function keyLength(transform: Transform): number | undefined {
  const attribute = transform.attributes.find(
    (a) => a.attributeType === TransformAttributeType.KEY_LENGTH && a.format === "tv",
  );
  return attribute?.format === "tv" ? attribute.value : undefined;
}

export function decodeSa(body: PayloadBody): DecodeResult<SaPayload> {
  const { bytes, end } = body;
  const bad = (message: string, at: number) =>
    syntaxError(DecodeErrorCode.INVALID_PAYLOAD, `SA: ${message}`, at, PayloadType.SA);
  const proposals: Proposal[] = [];
  let at = body.start;
  while (at < end) {
    if (end - at < PROPOSAL_HEADER) return bad("proposal header runs past the payload", at);
    const last = bytes[at] ?? 0;
    const length = readU16(bytes, at + 2);
    const spiSize = bytes[at + 6] ?? 0;
    const transformCount = bytes[at + 7] ?? 0;
    if (length < PROPOSAL_HEADER + spiSize) return bad(`proposal length ${length} is too small`, at + 2);
    if (at + length > end) return bad(`proposal length ${length} runs past the payload`, at + 2);
    const proposalEnd = at + length;
    const expectedLast = proposalEnd === end ? LAST : MORE_PROPOSALS;
    if (last !== expectedLast) {
      return bad(`Last Substruc is ${last}, expected ${expectedLast}`, at);
    }
    noteReservedOctets(body.ignored, bytes, at + 1, 1, "proposal RESERVED");
    const proposal: Proposal = {
      number: bytes[at + 4] ?? 0,
      protocolId: bytes[at + 5] ?? 0,
      spi: bytes.slice(at + PROPOSAL_HEADER, at + PROPOSAL_HEADER + spiSize),
      transforms: [],
    };
    let t = at + PROPOSAL_HEADER + spiSize;
    while (t < proposalEnd) {
      const transform = decodeTransform(body, t, proposalEnd);
      if (!transform.ok) return transform;
      proposal.transforms.push(transform.value.transform);
      t = transform.value.end;
    }
    if (proposal.transforms.length !== transformCount) {
      return bad(
        `Num Transforms is ${transformCount} but ${proposal.transforms.length} transforms follow`,
        at + 7,
      );
    }
    proposals.push(proposal);
    at = proposalEnd;
  }
  return ok({ type: PayloadType.SA, proposals });
}

function decodeTransform(
  body: PayloadBody,
  at: number,
  proposalEnd: number,
): DecodeResult<{ transform: Transform; end: number }> {
  const { bytes } = body;
  const bad = (message: string, offset: number) =>
    syntaxError(DecodeErrorCode.INVALID_PAYLOAD, `SA transform: ${message}`, offset, PayloadType.SA);
  if (proposalEnd - at < TRANSFORM_HEADER) return bad("transform header runs past the proposal", at);
  const last = bytes[at] ?? 0;
  const length = readU16(bytes, at + 2);
  if (length < TRANSFORM_HEADER) return bad(`transform length ${length} is below 8`, at + 2);
  if (at + length > proposalEnd) return bad(`transform length ${length} runs past the proposal`, at + 2);
  const end = at + length;
  const expectedLast = end === proposalEnd ? LAST : MORE_TRANSFORMS;
  if (last !== expectedLast) return bad(`Last Substruc is ${last}, expected ${expectedLast}`, at);
  noteReservedOctets(body.ignored, bytes, at + 1, 1, "transform RESERVED");
  noteReservedOctets(body.ignored, bytes, at + 5, 1, "transform RESERVED");
  const transform: Transform = {
    transformType: bytes[at + 4] ?? 0,
    transformId: readU16(bytes, at + 6),
    attributes: [],
  };
  let a = at + TRANSFORM_HEADER;
  while (a < end) {
    if (end - a < 4) return bad("attribute header runs past the transform", a);
    const word = readU16(bytes, a);
    const attributeType = word & 0x7fff;
    if (word & 0x8000) {
      transform.attributes.push({ attributeType, format: "tv", value: readU16(bytes, a + 2) });
      a += 4;
    } else {
      const valueLength = readU16(bytes, a + 2);
      if (a + 4 + valueLength > end)
        return bad(`attribute length ${valueLength} runs past the transform`, a + 2);
      transform.attributes.push({
        attributeType,
        format: "tlv",
        value: bytes.slice(a + 4, a + 4 + valueLength),
      });
      a += 4 + valueLength;
    }
  }
  return ok({ transform, end });
}

export function encodeSa(writer: ByteWriter, payload: SaPayload): void {
  payload.proposals.forEach((proposal, p) => {
    const start = writer.length;
    writer.u8(p === payload.proposals.length - 1 ? LAST : MORE_PROPOSALS, "proposal.lastSubstruc");
    writer.zeros(1);
    writer.u16(0, "proposal.length");
    writer.u8(proposal.number, "proposal.number");
    writer.u8(proposal.protocolId, "proposal.protocolId");
    writer.u8(proposal.spi.length, "proposal.spi length");
    writer.u8(proposal.transforms.length, "proposal.transforms count");
    writer.bytes(proposal.spi);
    proposal.transforms.forEach((transform, t) => {
      const transformStart = writer.length;
      writer.u8(t === proposal.transforms.length - 1 ? LAST : MORE_TRANSFORMS, "transform.lastSubstruc");
      writer.zeros(1);
      writer.u16(0, "transform.length");
      writer.u8(transform.transformType, "transform.transformType");
      writer.zeros(1);
      writer.u16(transform.transformId, "transform.transformId");
      for (const attribute of transform.attributes) {
        if (attribute.attributeType > 0x7fff) {
          throw encodeError(
            "transform.attribute.attributeType",
            `${attribute.attributeType} exceeds 15 bits`,
          );
        }
        if (attribute.format === "tv") {
          writer.u16(0x8000 | attribute.attributeType, "transform.attribute.attributeType");
          writer.u16(attribute.value, "transform.attribute.value");
        } else {
          writer.u16(attribute.attributeType, "transform.attribute.attributeType");
          writer.u16(attribute.value.length, "transform.attribute.value length");
          writer.bytes(attribute.value);
        }
      }
      writer.patchU16(transformStart + 2, writer.length - transformStart, "transform.length");
    });
    writer.patchU16(start + 2, writer.length - start, "proposal.length");
  });
}
