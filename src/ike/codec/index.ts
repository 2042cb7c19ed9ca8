/**
 * The IKEv2 message and payload codec (RFC 7296 §3, RFC 7383): pure functions from bytes to typed
 * payload objects and back. Decoding never throws on input; see decode-result.ts.
 */
export * from "./auth.js";
export * from "./cert.js";
export * from "./certreq.js";
export * from "./cp.js";
export * from "./decode-result.js";
export * from "./delete.js";
export * from "./eap.js";
export * from "./encrypted-fragment.js";
export * from "./encrypted.js";
export * from "./exchange-rules.js";
export * from "./header.js";
export * from "./id.js";
export * from "./ke.js";
export * from "./message.js";
export * from "./nonce.js";
export * from "./notify.js";
export * from "./payload-type.js";
export * from "./payload.js";
export * from "./sa.js";
export * from "./ts.js";
export * from "./vendor-id.js";
