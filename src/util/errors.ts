/**
 * One base error for everything Pavise reports to a user. Each error has a stable code
 * (tests and scripts match on it), says what went wrong, where (file, key, value when there is
 * one) and what to do about it. The CLI prints these without a stack trace.
 */
export interface ErrorWhere {
  file?: string;
  key?: string;
  value?: unknown;
}

/** One problem found in a configuration file; a check reports all of them at once. */
export interface ConfigProblem {
  file?: string;
  key: string;
  value?: unknown;
  message: string;
  hint: string;
}

export interface PaviseErrorOptions {
  where?: ErrorWhere;
  hint?: string | undefined;
  problems?: ConfigProblem[];
  cause?: unknown;
}

export class PaviseError extends Error {
  readonly code: string;
  readonly where: ErrorWhere | undefined;
  readonly hint: string | undefined;
  readonly problems: ConfigProblem[];

  constructor(code: string, message: string, options: PaviseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PaviseError";
    this.code = code;
    this.where = options.where;
    this.hint = options.hint;
    this.problems = options.problems ?? [];
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.where ? { where: this.where } : {}),
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.problems.length > 0 ? { problems: this.problems } : {}),
    };
  }
}

/** Renders an error for a terminal: `error[CODE]: message`, then where and what to do. */
export function describeError(error: PaviseError): string {
  const lines = [`error[${error.code}]: ${error.message}`];
  const where = error.where;
  if (where) {
    const parts = [
      where.file,
      where.key ? `key ${where.key}` : undefined,
      where.value !== undefined ? `value ${JSON.stringify(where.value)}` : undefined,
    ].filter(Boolean);
    if (parts.length > 0) lines.push(`  at: ${parts.join(", ")}`);
  }
  if (error.hint) lines.push(`  fix: ${error.hint}`);
  for (const problem of error.problems) {
    const at = [problem.file, problem.key].filter(Boolean).join(": ");
    const value = problem.value === undefined ? "" : ` (value ${JSON.stringify(problem.value)})`;
    lines.push(`  ${at}${value}: ${problem.message}`, `    fix: ${problem.hint}`);
  }
  return lines.join("\n");
}
