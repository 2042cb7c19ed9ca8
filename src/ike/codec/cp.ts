import { type ByteWriter, encodeError, readU16 } from "./bytes.js";
import {
  DecodeErrorCode,
  type DecodeResult,
  noteReserved,
  noteReservedOctets,
  ok,
  syntaxError,
} from "./decode-result.js";
import { type PayloadBody, bodyLength } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";

/**
 * Configuration payload (RFC 7296 §3.15, §3.15.1), as a list of attributes.
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C| RESERVED    |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |   CFG Type    |                    RESERVED                   |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    ~                   Configuration Attributes                    ~
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Configuration Attribute (§3.15.1):
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |R|         Attribute Type      |            Length             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    ~                             Value                             ~
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field          | octets | meaning                                                    |
 * | -------------- | ------ | ---------------------------------------------------------- |
 * | CFG Type       | 1      | CFG_REQUEST 1, CFG_REPLY 2, CFG_SET 3, CFG_ACK 4           |
 * | R              | 1 bit  | reserved; ignored on receipt                               |
 * | Attribute Type | 15 bits| see ConfigAttribute; unknown ones are kept                 |
 * | Length         | 2      | of the value only; 0 in a request for "any"                |
 */

export const CfgType = { REQUEST: 1, REPLY: 2, SET: 3, ACK: 4 } as const;

export const ConfigAttribute = {
  INTERNAL_IP4_ADDRESS: 1,
  INTERNAL_IP4_NETMASK: 2,
  INTERNAL_IP4_DNS: 3,
  INTERNAL_IP4_NBNS: 4,
  INTERNAL_IP4_DHCP: 6,
  APPLICATION_VERSION: 7,
  INTERNAL_IP6_ADDRESS: 8,
  INTERNAL_IP6_DNS: 10,
  INTERNAL_IP6_DHCP: 12,
  INTERNAL_IP4_SUBNET: 13,
  SUPPORTED_ATTRIBUTES: 14,
  INTERNAL_IP6_SUBNET: 15,
} as const;

export interface CpAttribute {
  attributeType: number;
  value: Uint8Array;
}

export interface CpPayload {
  type: typeof PayloadType.CP;
  cfgType: number;
  attributes: CpAttribute[];
}

export function decodeCp(body: PayloadBody): DecodeResult<CpPayload> {
  const { bytes, start, end } = body;
  if (bodyLength(body) < 4) {
    return syntaxError(
      DecodeErrorCode.PAYLOAD_TOO_SHORT,
      "CP: body shorter than 4 octets",
      start,
      PayloadType.CP,
    );
  }
  noteReservedOctets(body.ignored, bytes, start + 1, 3, "CP RESERVED");
  const attributes: CpAttribute[] = [];
  let at = start + 4;
  while (at < end) {
    if (end - at < 4) {
      return syntaxError(
        DecodeErrorCode.INVALID_PAYLOAD,
        "CP: attribute header runs past the payload",
        at,
        PayloadType.CP,
      );
    }
    const length = readU16(bytes, at + 2);
    if (at + 4 + length > end) {
      return syntaxError(
        DecodeErrorCode.INVALID_PAYLOAD,
        `CP: attribute length ${length} runs past the payload`,
        at + 2,
        PayloadType.CP,
      );
    }
    noteReserved(body.ignored, bytes, at, 0x80, "CP attribute R bit");
    attributes.push({
      attributeType: readU16(bytes, at) & 0x7fff,
      value: bytes.slice(at + 4, at + 4 + length),
    });
    at += 4 + length;
  }
  return ok({ type: PayloadType.CP, cfgType: bytes[start] ?? 0, attributes });
}

export function encodeCp(writer: ByteWriter, payload: CpPayload): void {
  writer.u8(payload.cfgType, "CP.cfgType");
  writer.zeros(3);
  for (const attribute of payload.attributes) {
    if (attribute.attributeType > 0x7fff) {
      throw encodeError("CP.attribute.attributeType", `${attribute.attributeType} exceeds 15 bits`);
    }
    writer.u16(attribute.attributeType, "CP.attribute.attributeType");
    writer.u16(attribute.value.length, "CP.attribute.value length");
    writer.bytes(attribute.value);
  }
}
