import type { ByteWriter } from "./bytes.js";
import { DecodeErrorCode, type DecodeResult, ok, syntaxError } from "./decode-result.js";
import { type PayloadBody, bodyLength } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";

/**
 * Certificate payload (RFC 7296 §3.6).
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C|  RESERVED   |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Cert Encoding |                                               |
 *    +-+-+-+-+-+-+-+-+                                               |
 *    ~                       Certificate Data                        ~
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field            | octets | meaning                                     |
 * | ---------------- | ------ | ------------------------------------------- |
 * | Cert Encoding    | 1      | see CertEncoding; others are kept           |
 * | Certificate Data | rest   | e.g. a DER X.509 certificate for encoding 4 |
 */
export interface CertPayload {
  type: typeof PayloadType.CERT;
  encoding: number;
  data: Uint8Array;
}

/** IKEv2 Certificate Encodings (§3.6), shared with CERTREQ. */
export const CertEncoding = {
  PKCS7_WRAPPED_X509: 1,
  X509_CERT_SIGNATURE: 4,
  CRL: 7,
  RAW_RSA_KEY: 11,
  HASH_URL_X509_CERT: 12,
  HASH_URL_X509_BUNDLE: 13,
  /** RFC 7670 */
  RAW_PUBLIC_KEY: 15,
} as const;

export function decodeCert(body: PayloadBody): DecodeResult<CertPayload> {
  if (bodyLength(body) < 1) {
    return syntaxError(
      DecodeErrorCode.PAYLOAD_TOO_SHORT,
      "CERT: no Cert Encoding octet",
      body.start,
      PayloadType.CERT,
    );
  }
  return ok({
    type: PayloadType.CERT,
    encoding: body.bytes[body.start] ?? 0,
    data: body.bytes.slice(body.start + 1, body.end),
  });
}

export function encodeCert(writer: ByteWriter, payload: CertPayload): void {
  writer.u8(payload.encoding, "CERT.encoding");
  writer.bytes(payload.data);
}
