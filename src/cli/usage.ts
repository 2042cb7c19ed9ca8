import { PaviseError } from "../util/errors.js";

/** A mistake in how a command was called: exit status 2 and the usage text as the fix. */
export function usageError(message: string, usage: string): PaviseError {
  return new PaviseError("CLI_USAGE", message, { hint: `\n${usage}` });
}
