import { PaviseError } from "../../util/errors.js";

/**
 * Stable codes of the errors the crypto primitives throw. They are thrown only for mistakes
 * of the caller (a wrong key length, an unknown transform ID, a malformed proposal string):
 * anything that arrives from the network is answered with a result value instead
 * (`decryptSk`, `DhKeyPair.computeShared`, `Integrity.verify`).
 */
export type IkeCryptoErrorCode =
  /** An argument has the wrong type, length or range; `where.key` names the argument. */
  | "IKE_CRYPTO_BAD_ARGUMENT"
  /** A transform ID or key length that this implementation does not provide. */
  | "IKE_CRYPTO_UNSUPPORTED"
  /** A proposal string (strongSwan syntax) that cannot be parsed; `where.value` is the keyword. */
  | "IKE_PROPOSAL_INVALID";

export class IkeCryptoError extends PaviseError {
  constructor(
    code: IkeCryptoErrorCode,
    message: string,
    options: { key?: string; value?: unknown; hint?: string } = {},
  ) {
    super(code, message, {
      where: {
        ...(options.key === undefined ? {} : { key: options.key }),
        ...(options.value === undefined ? {} : { value: options.value }),
      },
      hint: options.hint,
    });
    this.name = "IkeCryptoError";
  }
}

/**
 * A bad argument. The message starts with the argument's name; `value` is only ever a length or
 * an identifier, never key material.
 */
export function badArgument(name: string, problem: string, value?: number | string): IkeCryptoError {
  return new IkeCryptoError("IKE_CRYPTO_BAD_ARGUMENT", `${name}: ${problem}`, {
    key: name,
    ...(value === undefined ? {} : { value }),
  });
}

export function unsupported(
  name: string,
  problem: string,
  value: number | string,
  hint: string,
): IkeCryptoError {
  return new IkeCryptoError("IKE_CRYPTO_UNSUPPORTED", `${name}: ${problem}`, { key: name, value, hint });
}
