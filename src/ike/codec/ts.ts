import { type ByteWriter, encodeError, readU16 } from "./bytes.js";
import { DecodeErrorCode, type DecodeResult, noteReservedOctets, ok, syntaxError } from "./decode-result.js";
import { type PayloadBody, bodyLength } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";

/**
 * Traffic Selector payloads TSi and TSr (RFC 7296 §3.13, §3.13.1).
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C|  RESERVED   |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Number of TSs |                 RESERVED                      |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    ~                       <Traffic Selectors>                     ~
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Traffic Selector (§3.13.1):
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |   TS Type     |IP Protocol ID*|       Selector Length         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |           Start Port*         |           End Port*           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    ~                         Starting Address*                     ~
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    ~                         Ending Address*                       ~
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    (* the layout of TS_IPV4_ADDR_RANGE and TS_IPV6_ADDR_RANGE)
 *
 * | field           | octets | meaning                                                     |
 * | --------------- | ------ | ----------------------------------------------------------- |
 * | Number of TSs   | 1      | must equal the selectors that fill the payload              |
 * | TS Type         | 1      | 7 IPv4 range (length 16), 8 IPv6 range (length 40)          |
 * | IP Protocol ID  | 1      | 0 any, 6 TCP, 17 UDP…                                       |
 * | Selector Length | 2      | of this selector, header included                           |
 * | Start/End Port  | 2, 2   | 0..65535 is any port; OPAQUE is start 65535, end 0          |
 * | Start/End Addr  | 4 or 16| inclusive range                                             |
 * Selectors of other types (e.g. RFC 9478 TS_SECLABEL) are kept as their octets.
 */

export const TsType = { IPV4_ADDR_RANGE: 7, IPV6_ADDR_RANGE: 8 } as const;

export interface AddressRangeSelector {
  tsType: typeof TsType.IPV4_ADDR_RANGE | typeof TsType.IPV6_ADDR_RANGE;
  ipProtocol: number;
  startPort: number;
  endPort: number;
  /** 4 octets for IPv4, 16 for IPv6. */
  startAddress: Uint8Array;
  endAddress: Uint8Array;
}

export interface OtherSelector {
  tsType: number;
  /** The octet after TS Type (IP Protocol ID in the range types, RESERVED in TS_SECLABEL). */
  octet1: number;
  /** Everything after the 4-octet selector header. */
  body: Uint8Array;
}

export type TrafficSelector = AddressRangeSelector | OtherSelector;

export interface TsPayload {
  type: typeof PayloadType.TSi | typeof PayloadType.TSr;
  selectors: TrafficSelector[];
}

const ADDRESS_LENGTH: Record<number, number> = { [TsType.IPV4_ADDR_RANGE]: 4, [TsType.IPV6_ADDR_RANGE]: 16 };

export function isAddressRange(selector: TrafficSelector): selector is AddressRangeSelector {
  return ADDRESS_LENGTH[selector.tsType] !== undefined && "startAddress" in selector;
}

export function decodeTs(body: PayloadBody): DecodeResult<TsPayload> {
  const { bytes, start, end } = body;
  const type = body.type === PayloadType.TSi ? PayloadType.TSi : PayloadType.TSr;
  const bad = (message: string, at: number) =>
    syntaxError(
      DecodeErrorCode.INVALID_PAYLOAD,
      `${type === PayloadType.TSi ? "TSi" : "TSr"}: ${message}`,
      at,
      type,
    );
  if (bodyLength(body) < 4) {
    return syntaxError(DecodeErrorCode.PAYLOAD_TOO_SHORT, "TS: body shorter than 4 octets", start, type);
  }
  const count = bytes[start] ?? 0;
  noteReservedOctets(body.ignored, bytes, start + 1, 3, "TS RESERVED");
  const selectors: TrafficSelector[] = [];
  let at = start + 4;
  while (at < end) {
    if (end - at < 4) return bad("selector header runs past the payload", at);
    const tsType = bytes[at] ?? 0;
    const length = readU16(bytes, at + 2);
    if (length < 4) return bad(`Selector Length ${length} is below 4`, at + 2);
    if (at + length > end) return bad(`Selector Length ${length} runs past the payload`, at + 2);
    const addressLength = ADDRESS_LENGTH[tsType];
    if (addressLength !== undefined) {
      if (length !== 8 + 2 * addressLength) {
        return bad(`a TS type ${tsType} selector has length ${8 + 2 * addressLength}, not ${length}`, at + 2);
      }
      selectors.push({
        tsType: tsType as AddressRangeSelector["tsType"],
        ipProtocol: bytes[at + 1] ?? 0,
        startPort: readU16(bytes, at + 4),
        endPort: readU16(bytes, at + 6),
        startAddress: bytes.slice(at + 8, at + 8 + addressLength),
        endAddress: bytes.slice(at + 8 + addressLength, at + length),
      });
    } else {
      selectors.push({ tsType, octet1: bytes[at + 1] ?? 0, body: bytes.slice(at + 4, at + length) });
    }
    at += length;
  }
  if (selectors.length !== count) {
    return bad(`Number of TSs is ${count} but ${selectors.length} selectors follow`, start);
  }
  return ok({ type, selectors });
}

export function encodeTs(writer: ByteWriter, payload: TsPayload): void {
  writer.u8(payload.selectors.length, "TS.selectors count");
  writer.zeros(3);
  for (const selector of payload.selectors) {
    writer.u8(selector.tsType, "TS.tsType");
    if (isAddressRange(selector)) {
      const addressLength = ADDRESS_LENGTH[selector.tsType] ?? 0;
      if (selector.startAddress.length !== addressLength || selector.endAddress.length !== addressLength) {
        throw encodeError("TS.address", `TS type ${selector.tsType} addresses have ${addressLength} octets`);
      }
      writer.u8(selector.ipProtocol, "TS.ipProtocol");
      writer.u16(8 + 2 * addressLength, "TS.length");
      writer.u16(selector.startPort, "TS.startPort");
      writer.u16(selector.endPort, "TS.endPort");
      writer.bytes(selector.startAddress);
      writer.bytes(selector.endAddress);
    } else {
      if (ADDRESS_LENGTH[selector.tsType] !== undefined) {
        throw encodeError("TS.tsType", `a TS type ${selector.tsType} selector needs addresses and ports`);
      }
      writer.u8(selector.octet1, "TS.octet1");
      writer.u16(4 + selector.body.length, "TS.length");
      writer.bytes(selector.body);
    }
  }
}
