import { PaviseError } from "../../util/errors.js";

/**
 * Stable codes of the errors the ESP core throws. They are thrown only for mistakes of the
 * caller (a key of the wrong length, a sequence number that does not fit the SA, a bad padding
 * request). Anything that arrives from the network is answered with a result value instead
 * (`EspTransform.open`, `parseEspHeader`). Unknown transform IDs throw the crypto layer's
 * IKE_CRYPTO_UNSUPPORTED from its algorithm table.
 */
export type EspErrorCode = "ESP_BAD_ARGUMENT";

export class EspError extends PaviseError {
  constructor(code: EspErrorCode, message: string, options: { key?: string; value?: unknown } = {}) {
    super(code, message, {
      where: {
        ...(options.key === undefined ? {} : { key: options.key }),
        ...(options.value === undefined ? {} : { value: options.value }),
      },
    });
    this.name = "EspError";
  }
}

/** A bad argument; the message starts with its name. `value` is never key material. */
export function espBadArgument(name: string, problem: string, value?: number | string): EspError {
  return new EspError("ESP_BAD_ARGUMENT", `${name}: ${problem}`, {
    key: name,
    ...(value === undefined ? {} : { value }),
  });
}
