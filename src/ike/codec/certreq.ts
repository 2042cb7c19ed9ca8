import type { ByteWriter } from "./bytes.js";
import { DecodeErrorCode, type DecodeResult, ok, syntaxError } from "./decode-result.js";
import { type PayloadBody, bodyLength } from "./payload-body.js";
import { PayloadType } from "./payload-type.js";

/**
 * Certificate Request payload (RFC 7296 §3.7).
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Next Payload  |C|  RESERVED   |         Payload Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Cert Encoding |                                               |
 *    +-+-+-+-+-+-+-+-+                                               |
 *    ~                    Certification Authority                    ~
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field                   | octets | meaning                                                 |
 * | ----------------------- | ------ | ------------------------------------------------------- |
 * | Cert Encoding           | 1      | the encoding wanted back (CertEncoding in cert.ts)      |
 * | Certification Authority | rest   | for X.509: SHA-1 hashes (20 octets each) of trusted CAs' public keys, concatenated; kept opaque here |
 */
export interface CertReqPayload {
  type: typeof PayloadType.CERTREQ;
  encoding: number;
  authorities: Uint8Array;
}

export function decodeCertReq(body: PayloadBody): DecodeResult<CertReqPayload> {
  if (bodyLength(body) < 1) {
    return syntaxError(
      DecodeErrorCode.PAYLOAD_TOO_SHORT,
      "CERTREQ: no Cert Encoding octet",
      body.start,
      PayloadType.CERTREQ,
    );
  }
  return ok({
    type: PayloadType.CERTREQ,
    encoding: body.bytes[body.start] ?? 0,
    authorities: body.bytes.slice(body.start + 1, body.end),
  });
}

export function encodeCertReq(writer: ByteWriter, payload: CertReqPayload): void {
  writer.u8(payload.encoding, "CERTREQ.encoding");
  writer.bytes(payload.authorities);
}
