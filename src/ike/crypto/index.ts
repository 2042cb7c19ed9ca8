/** The crypto primitives of the IKEv2 core: pure functions over Uint8Array, randomness injected. */
export * from "./auth.js";
export * from "./dh.js";
export * from "./encryption.js";
export { IkeCryptoError, type IkeCryptoErrorCode } from "./errors.js";
export * from "./integrity.js";
export * from "./key-derivation.js";
export * from "./prf.js";
export * from "./random.js";
export * from "./transforms.js";
