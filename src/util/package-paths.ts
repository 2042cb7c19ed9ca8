import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PaviseError } from "./errors.js";

const PACKAGE_NAME = "pavise";

let cachedRoot: string | undefined;

/**
 * The directory of Pavise's own package.json. Found by walking up from this module, so it is the
 * same whether the caller runs compiled (dist/util/) or from the sources (src/util/, as under
 * vitest). A package.json of another name on the way (a nested fixture) is skipped.
 */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (readPackageName(join(dir, "package.json")) === PACKAGE_NAME) {
      cachedRoot = dir;
      return dir;
    }
    if (dirname(dir) === dir) break;
  }
  throw new PaviseError("PACKAGE_ROOT_MISSING", `no package.json named "${PACKAGE_NAME}" above ${start}`, {
    hint: "run Pavise from its installed package or its source tree",
  });
}

/**
 * Path of a compiled file below dist/, e.g. distPath("lab/probes/traffic-agent.js"). Programs
 * that run as separate processes (probes inside lab namespaces) always run compiled, even when the
 * caller runs from the sources, so a missing file means the build has not been done.
 */
export function distPath(rel: string): string {
  const path = join(packageRoot(), "dist", rel);
  if (!existsSync(path)) {
    throw new PaviseError("BUILD_MISSING", `compiled file ${path} is missing`, {
      where: { file: path },
      hint: "run npm run build",
    });
  }
  return path;
}

function readPackageName(file: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (typeof parsed === "object" && parsed !== null && "name" in parsed) {
      return typeof parsed.name === "string" ? parsed.name : undefined;
    }
    return undefined;
  } catch {
    return undefined;
  }
}
