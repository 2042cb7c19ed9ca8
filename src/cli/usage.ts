import { parseArgs } from "node:util";
import { PaviseError } from "../util/errors.js";

/** A mistake in how a command was called: exit status 2 and the usage text as the fix. */
export function usageError(message: string, usage: string): PaviseError {
  return new PaviseError("CLI_USAGE", message, { hint: `\n${usage}` });
}

type OptionSpec = Record<string, { type: "string" | "boolean" }>;

export type ParsedCommandArgs<T extends OptionSpec> = ReturnType<
  typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>
>;

/**
 * Parses a command's options strictly: an unknown option, a missing value or more positional
 * arguments than the command takes is a usage error (exit 2) that shows the usage.
 */
export function parseCommandArgs<T extends OptionSpec>(
  args: string[],
  options: T,
  usage: string,
  maxPositionals = Number.POSITIVE_INFINITY,
): ParsedCommandArgs<T> {
  let parsed: ParsedCommandArgs<T>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageError((err as Error).message, usage);
  }
  if (parsed.positionals.length > maxPositionals) {
    throw usageError(`unexpected argument '${parsed.positionals[maxPositionals]}'`, usage);
  }
  return parsed;
}
