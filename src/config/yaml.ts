import { parseDocument } from "yaml";
import { PaviseError } from "../util/errors.js";

/**
 * Parses a configuration file's YAML strictly: a syntax error or a warning (an unknown tag, a
 * duplicate key) is an error that names the file and line, with the given code, so that a
 * mistyped file is never half-read.
 */
export function readYaml(text: string, file: string | undefined, code: string): unknown {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true, logLevel: "silent" });
  const problem = document.errors[0] ?? document.warnings[0];
  if (problem) {
    const line = problem.linePos?.[0]?.line;
    throw new PaviseError(code, `not valid YAML: ${problem.message.split("\n")[0] ?? problem.message}`, {
      where: { ...(file ? { file } : {}), ...(line ? { key: `line ${line}` } : {}) },
      hint: "fix the YAML at the line shown",
    });
  }
  try {
    // toJS resolves aliases: an unknown anchor or an alias bomb (maxAliasCount) throws here.
    return document.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new PaviseError(code, `not valid YAML: ${(err as Error).message}`, {
      where: file ? { file } : {},
      hint: "define each anchor (&name) before its alias (*name), and do not nest aliases deeply",
    });
  }
}
