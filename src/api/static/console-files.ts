/**
 * The web console's files as the daemon serves them (design §2 `static/console-files.ts`, §8):
 * a fixed table from URL path to a file of the installed package, so no part of a URL is ever
 * joined onto the filesystem (no `..`, no encoded tricks, no listing). The page is
 * console/static/index.html at `/`; its stylesheet; and the browser modules tsconfig.console.json
 * emits into dist/console-web, at `/ui/web/*.js` and `/ui/model/*.js` so that their relative
 * imports (`./x.js`, `../model/x.js`) resolve to entries of this same table. Each file is read
 * once, then served from memory; a file missing (console not built) is not found.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../util/package-paths.js";

export interface ConsoleFile {
  body: Buffer;
  /** Content-Type, with the charset. */
  type: string;
}

const HTML = "text/html; charset=utf-8";
const CSS = "text/css; charset=utf-8";
const JS = "text/javascript; charset=utf-8";
const SVG = "image/svg+xml; charset=utf-8";

/** The browser modules (src/console/web, src/console/model) the page loads, by file name. */
export const CONSOLE_WEB_MODULES: readonly string[] = [
  "main",
  "dom",
  "api-client",
  "live-stream",
  "login",
  "render-map",
  "render-package",
  "render-timeline",
  "action-dialog",
];
export const CONSOLE_MODEL_MODULES: readonly string[] = [
  "map-model",
  "timeline-model",
  "action-model",
  "ipsec-model",
  "state-badge",
  "roles",
];

/** URL path → [file below the package root, content type]. */
export const CONSOLE_TABLE: ReadonlyMap<string, readonly [string, string]> = new Map<
  string,
  readonly [string, string]
>([
  ["/", ["console/static/index.html", HTML]],
  ["/ui/console.css", ["console/static/console.css", CSS]],
  ["/ui/favicon.svg", ["console/static/favicon.svg", SVG]],
  ...CONSOLE_WEB_MODULES.map(
    (name) => [`/ui/web/${name}.js`, [`dist/console-web/console/web/${name}.js`, JS]] as const,
  ),
  ...CONSOLE_MODEL_MODULES.map(
    (name) => [`/ui/model/${name}.js`, [`dist/console-web/console/model/${name}.js`, JS]] as const,
  ),
]);

/** A lookup over the files below `root` (the package root; a test may pass another). */
export function consoleFiles(root: string): (pathname: string) => ConsoleFile | undefined {
  const cache = new Map<string, ConsoleFile>();
  return (pathname) => {
    const cached = cache.get(pathname);
    if (cached !== undefined) return cached;
    const entry = CONSOLE_TABLE.get(pathname);
    if (entry === undefined) return undefined;
    let body: Buffer;
    try {
      body = readFileSync(join(root, entry[0]));
    } catch {
      return undefined; // not built (dist/console-web) or not installed: a 404, tried again next time
    }
    const file = { body, type: entry[1] };
    cache.set(pathname, file);
    return file;
  };
}

let installed: ((pathname: string) => ConsoleFile | undefined) | undefined;

/** The console file for a request's path (without its query), or undefined for a 404. */
export function consoleFile(pathname: string): ConsoleFile | undefined {
  installed ??= consoleFiles(packageRoot());
  return installed(pathname);
}
