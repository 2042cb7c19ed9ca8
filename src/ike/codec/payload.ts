import type { ByteWriter } from "./bytes.js";
import { type AuthPayload, decodeAuth, encodeAuth } from "./auth.js";
import { type CertPayload, decodeCert, encodeCert } from "./cert.js";
import { type CertReqPayload, decodeCertReq, encodeCertReq } from "./certreq.js";
import { type CpPayload, decodeCp, encodeCp } from "./cp.js";
import type { DecodeResult } from "./decode-result.js";
import { type DeletePayload, decodeDelete, encodeDelete } from "./delete.js";
import { type EapPayload, decodeEap, encodeEap } from "./eap.js";
import { type EncryptedFragmentPayload, encodeSkf } from "./encrypted-fragment.js";
import { type EncryptedPayload, encodeSk } from "./encrypted.js";
import { type IdPayload, decodeId, encodeId } from "./id.js";
import { type KePayload, decodeKe, encodeKe } from "./ke.js";
import { type NoncePayload, decodeNonce, encodeNonce } from "./nonce.js";
import { type NotifyPayload, decodeNotify, encodeNotify } from "./notify.js";
import type { PayloadBody } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";
import { type SaPayload, decodeSa, encodeSa } from "./sa.js";
import { type TsPayload, decodeTs, encodeTs } from "./ts.js";
import { type VendorIdPayload, decodeVendorId, encodeVendorId } from "./vendor-id.js";

/**
 * A payload of a type this codec does not know, kept as its body. The decoder keeps only
 * non-critical ones (a critical one is an error, §2.5); the encoder writes either, which lets
 * tests and extensions send a private payload.
 */
export interface UnknownPayload {
  type: "unknown";
  payloadType: number;
  critical: boolean;
  body: Uint8Array;
}

/** Every payload, discriminated by `type` (the payload type number, or "unknown"). */
export type Payload =
  | SaPayload
  | KePayload
  | IdPayload
  | CertPayload
  | CertReqPayload
  | AuthPayload
  | NoncePayload
  | NotifyPayload
  | DeletePayload
  | VendorIdPayload
  | TsPayload
  | EncryptedPayload
  | CpPayload
  | EapPayload
  | EncryptedFragmentPayload
  | UnknownPayload;

/** The payloads that may sit inside SK (everything but SK, SKF itself). */
export type InnerPayload = Exclude<Payload, EncryptedPayload | EncryptedFragmentPayload>;

/** The payload type number as it goes on the wire. */
export function payloadTypeOf(payload: Payload): number {
  return payload.type === "unknown" ? payload.payloadType : payload.type;
}

type BodyDecoder = (body: PayloadBody) => DecodeResult<Payload>;

/** Body decoders of the payloads that are self-contained (SK and SKF need the chain's context). */
const DECODERS: Partial<Record<number, BodyDecoder>> = {
  [PayloadType.SA]: decodeSa,
  [PayloadType.KE]: decodeKe,
  [PayloadType.IDi]: decodeId,
  [PayloadType.IDr]: decodeId,
  [PayloadType.CERT]: decodeCert,
  [PayloadType.CERTREQ]: decodeCertReq,
  [PayloadType.AUTH]: decodeAuth,
  [PayloadType.NONCE]: decodeNonce,
  [PayloadType.NOTIFY]: decodeNotify,
  [PayloadType.DELETE]: decodeDelete,
  [PayloadType.VENDOR_ID]: decodeVendorId,
  [PayloadType.TSi]: decodeTs,
  [PayloadType.TSr]: decodeTs,
  [PayloadType.CP]: decodeCp,
  [PayloadType.EAP]: decodeEap,
};

export function bodyDecoderFor(type: number): BodyDecoder | undefined {
  return DECODERS[type];
}

/** Writes a payload's body (everything after its 4-octet generic header). */
export function encodePayloadBody(writer: ByteWriter, payload: Payload): void {
  switch (payload.type) {
    case PayloadType.SA:
      return encodeSa(writer, payload);
    case PayloadType.KE:
      return encodeKe(writer, payload);
    case PayloadType.IDi:
    case PayloadType.IDr:
      return encodeId(writer, payload);
    case PayloadType.CERT:
      return encodeCert(writer, payload);
    case PayloadType.CERTREQ:
      return encodeCertReq(writer, payload);
    case PayloadType.AUTH:
      return encodeAuth(writer, payload);
    case PayloadType.NONCE:
      return encodeNonce(writer, payload);
    case PayloadType.NOTIFY:
      return encodeNotify(writer, payload);
    case PayloadType.DELETE:
      return encodeDelete(writer, payload);
    case PayloadType.VENDOR_ID:
      return encodeVendorId(writer, payload);
    case PayloadType.TSi:
    case PayloadType.TSr:
      return encodeTs(writer, payload);
    case PayloadType.SK:
      return encodeSk(writer, payload);
    case PayloadType.CP:
      return encodeCp(writer, payload);
    case PayloadType.EAP:
      return encodeEap(writer, payload);
    case PayloadType.SKF:
      return encodeSkf(writer, payload);
    case "unknown":
      writer.bytes(payload.body);
      return;
  }
}
