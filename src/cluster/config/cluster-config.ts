import { readFileSync } from "node:fs";
import { readYaml } from "../../config/yaml.js";
import { type ConfigProblem, PaviseError } from "../../util/errors.js";
import type { ClusterConfig } from "./model.js";
import { isRecord } from "./raw-reader.js";
import { readClusterObject } from "./read-cluster.js";
import { validateClusterConfig } from "./validate-cluster.js";
import { keyLines, lineOf, type KeyLines } from "./yaml-lines.js";

/**
 * The cluster configuration file (`pavise config check FILE`): YAML with Serviceguard's names in
 * snake_case, read into the model (model.ts) and checked as a whole. Every problem is reported at
 * once, each with the file, line, key path, the value found and how to fix it.
 *
 *   read-cluster.ts, read-package.ts   the file's keys, types and defaults (defaults.ts)
 *   validate-*.ts                      what the values mean together
 *   yaml-lines.ts                      key path → line, for `file:line`
 */
export const CLUSTER_CONFIG_INVALID = "CLUSTER_CONFIG_INVALID";
export const CLUSTER_CONFIG_UNREADABLE = "CLUSTER_CONFIG_UNREADABLE";

/** A problem with the line of the file it is on, when known. */
export interface ClusterConfigProblem extends ConfigProblem {
  line?: number;
}

export { validateClusterConfig };

export function readClusterConfig(file: string): ClusterConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new PaviseError(CLUSTER_CONFIG_UNREADABLE, `cannot read ${file}: ${(err as Error).message}`, {
      where: { file },
      hint: "give the path of a cluster configuration file (see examples/cluster.yaml)",
    });
  }
  return parseClusterConfig(text, file);
}

/** Parses the text of a cluster file; throws CLUSTER_CONFIG_INVALID with every problem. */
export function parseClusterConfig(text: string, file?: string): ClusterConfig {
  let raw: unknown;
  try {
    raw = readYaml(text, file, CLUSTER_CONFIG_INVALID);
  } catch (err) {
    if (!(err instanceof PaviseError)) throw err;
    // A YAML syntax error is one problem like the others, so a check prints it the same way.
    const line = /^line (\d+)$/.exec(err.where?.key ?? "")?.[1];
    throw invalid(
      [
        {
          ...(file ? { file } : {}),
          ...(line ? { line: Number(line) } : {}),
          key: "(yaml)",
          message: err.message,
          hint: err.hint ?? "fix the YAML at the line shown",
        },
      ],
      file,
    );
  }
  // Lines are found only when there is a problem to place: that parse costs as much as the read.
  return checked(raw, file, () => keyLines(text));
}

/** Reads already-parsed YAML (or an object made in code in the file's shape). */
export function clusterConfigFromObject(raw: unknown, file?: string): ClusterConfig {
  return checked(raw, file, undefined);
}

function checked(
  raw: unknown,
  file: string | undefined,
  linesOf: (() => KeyLines) | undefined,
): ClusterConfig {
  const read = readClusterObject(raw);
  let problems: ConfigProblem[] = read.problems;
  // Values that do not even have the right shape are not judged again: what the reader put in
  // their place would only repeat the problem in other words.
  if (isRecord(raw)) {
    const shapeKeys = read.problems.map((p) => p.key);
    const under = (key: string, parent: string): boolean =>
      key === parent || key.startsWith(`${parent}.`) || key.startsWith(`${parent}[`);
    const meaning = validateClusterConfig(read.config)
      .map((p) => ({ ...p, key: fileKey(p.key, read.aliases) }))
      .filter((p) => !shapeKeys.some((parent) => under(p.key, parent)));
    problems = [...problems, ...meaning];
  }
  if (problems.length > 0) {
    const lines = linesOf?.();
    const located = problems.map((p): ClusterConfigProblem => {
      const line = lines ? lineOf(lines, p.key) : undefined;
      return { ...(file ? { file } : {}), ...(line !== undefined ? { line } : {}), ...p };
    });
    // In the order of the file, so the list reads top to bottom.
    located.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    throw invalid(located, file);
  }
  return read.config;
}

/** A canonical key path as the file spells it (cluster_name for name, package_name …). */
function fileKey(key: string, aliases: Map<string, string>): string {
  for (const [canonical, written] of aliases) {
    if (key === canonical || key.startsWith(`${canonical}.`) || key.startsWith(`${canonical}[`)) {
      return written + key.slice(canonical.length);
    }
  }
  return key;
}

function invalid(problems: ClusterConfigProblem[], file: string | undefined): PaviseError {
  const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
  return new PaviseError(CLUSTER_CONFIG_INVALID, `cluster configuration has ${count}`, {
    where: file ? { file } : {},
    problems,
  });
}
