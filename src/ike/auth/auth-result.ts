/**
 * What certificate authentication returns: a value, or an error value with a stable code and a
 * message for logs. Nothing here throws on input from the network or from files; only a
 * programming mistake (a wrong argument type) throws.
 */
export type AuthErrorCode =
  /** A credential file cannot be read. */
  | "AUTH_FILE_UNREADABLE"
  /** Bytes that are not a certificate node:crypto and the X.509 reader both accept. */
  | "AUTH_BAD_CERTIFICATE"
  /** A private key file that is not an unencrypted PKCS#8, PKCS#1 or SEC1 key (PEM or DER). */
  | "AUTH_BAD_PRIVATE_KEY"
  /** No configured certificate holds the public half of the private key. */
  | "AUTH_KEY_CERT_MISMATCH"
  /** An identity (configured or received) that cannot be used, e.g. malformed DN text. */
  | "AUTH_BAD_IDENTITY"
  /** A CERT payload encoding other than X.509 Certificate - Signature (4). */
  | "AUTH_CERT_ENCODING_UNSUPPORTED"
  /** The peer sent no certificate and none is configured for its identity. */
  | "AUTH_NO_CERTIFICATE"
  /** No chain from the peer's certificate to a configured CA (wrong CA, missing intermediate). */
  | "AUTH_CHAIN_UNTRUSTED"
  /** A certificate's signature does not verify with its issuer's key (tampered, impostor CA). */
  | "AUTH_CERT_BAD_SIGNATURE"
  /** A certificate in the chain is outside its validity period at the given time. */
  | "AUTH_CERT_EXPIRED"
  | "AUTH_CERT_NOT_YET_VALID"
  /** An issuer without basicConstraints cA, without keyCertSign, or beyond its path length. */
  | "AUTH_CERT_NOT_CA"
  /** An end-entity certificate whose keyUsage allows neither digitalSignature nor nonRepudiation. */
  | "AUTH_CERT_KEY_USAGE"
  /** A critical extension we do not implement (RFC 5280 §4.2: reject the certificate). */
  | "AUTH_CERT_CRITICAL_EXTENSION"
  /** The identity in the ID payload is neither the subject nor a subjectAltName of the certificate. */
  | "AUTH_IDENTITY_NOT_IN_CERT"
  /** An AUTH method, signature algorithm or hash this implementation does not do. */
  | "AUTH_METHOD_UNSUPPORTED"
  /** The AUTH method does not fit the key (an ECDSA method with an RSA key, a wrong curve). */
  | "AUTH_KEY_MISMATCH"
  /** AUTH data that cannot be parsed (RFC 7427 length octet, AlgorithmIdentifier). */
  | "AUTH_MALFORMED"
  /** The signature does not verify. */
  | "AUTH_SIGNATURE_INVALID"
  /** Signing: the peer's SIGNATURE_HASH_ALGORITHMS and our key have no scheme in common. */
  | "AUTH_NO_COMMON_HASH";

export interface AuthError {
  readonly code: AuthErrorCode;
  readonly message: string;
}

export type AuthResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: AuthError };

export function authOk<T>(value: T): AuthResult<T> {
  return { ok: true, value };
}

export function authFail<T = never>(code: AuthErrorCode, message: string): AuthResult<T> {
  return { ok: false, error: { code, message } };
}
