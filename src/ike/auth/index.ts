/**
 * Certificate (public-key) authentication for IKEv2: RFC 7296 §2.15 and §3.6-3.8, RFC 4754
 * ECDSA, RFC 7427 Digital Signature. The entry points for the IKE core are in
 * pubkey-authenticator.ts; the rest are its parts, exported for tests and tools.
 */
export * from "./auth-identity.js";
export * from "./auth-result.js";
export * from "./certificate-identity.js";
export * from "./certificates.js";
export * from "./credential-files.js";
export * from "./distinguished-name.js";
export * from "./pubkey-authenticator.js";
export * from "./signature-auth.js";
export * from "./signature-schemes.js";
