import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  CONSOLE_MODEL_MODULES,
  CONSOLE_TABLE,
  CONSOLE_WEB_MODULES,
  consoleFile,
  consoleFiles,
} from "../../src/api/static/console-files.js";
import { packageRoot } from "../../src/util/package-paths.js";

const root = packageRoot();

describe("console files", () => {
  const fake = mkdtempSync(join(tmpdir(), "pavise-console-files-"));
  afterAll(() => rmSync(fake, { recursive: true, force: true }));

  it("serves the page and the stylesheet from console/static, with their types", () => {
    const page = consoleFile("/");
    expect(page?.type).toBe("text/html; charset=utf-8");
    expect(page?.body.toString("utf8")).toBe(readFileSync(join(root, "console/static/index.html"), "utf8"));
    expect(consoleFile("/ui/console.css")?.type).toBe("text/css; charset=utf-8");
    expect(consoleFile("/ui/favicon.svg")?.type).toBe("image/svg+xml; charset=utf-8");
  });

  it("serves each emitted module by its table name, read once", () => {
    for (const [path, [file]] of CONSOLE_TABLE) {
      mkdirSync(dirname(join(fake, file)), { recursive: true });
      writeFileSync(join(fake, file), `/* ${file} */`);
      void path;
    }
    const lookup = consoleFiles(fake);
    const main = lookup("/ui/web/main.js");
    expect(main).toEqual({
      body: Buffer.from("/* dist/console-web/console/web/main.js */"),
      type: "text/javascript; charset=utf-8",
    });
    expect(lookup("/ui/model/map-model.js")?.body.toString()).toBe(
      "/* dist/console-web/console/model/map-model.js */",
    );
    // Changed on disk after the first read: still the first copy.
    writeFileSync(join(fake, "dist/console-web/console/web/main.js"), "changed");
    expect(lookup("/ui/web/main.js")).toBe(main);
  });

  it("serves nothing outside the table: no traversal, no encoding tricks, no other names", () => {
    const lookup = consoleFiles(fake);
    for (const path of [
      "/ui/../package.json",
      "/ui/..%2fpackage.json",
      "/ui/%2e%2e/package.json",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/package.json",
      "/index.html",
      "/ui/",
      "/ui/web/",
      "/ui/web/main.ts",
      "/ui/web/MAIN.js",
      "/ui/web/main.js?x=1",
      "//ui/web/main.js",
      "/ui\\web\\main.js",
      "/ui/cluster/state.js",
      "/dist/console-web/console/web/main.js",
      "",
    ]) {
      expect(lookup(path), path).toBeUndefined();
      expect(consoleFile(path), path).toBeUndefined();
    }
  });

  it("says not found when the console is not built", () => {
    const empty = mkdtempSync(join(tmpdir(), "pavise-console-empty-"));
    try {
      expect(consoleFiles(empty)("/ui/web/main.js")).toBeUndefined();
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("lists every browser module, and every module a served module imports at run time is served", () => {
    const sources = (dir: string): string[] =>
      readdirSync(join(root, dir))
        .filter((f) => f.endsWith(".ts"))
        .map((f) => f.slice(0, -3));
    // Type-only files (api-shapes) emit nothing the page loads; all others must be in the table.
    const typeOnly = ["api-shapes"];
    expect([...CONSOLE_WEB_MODULES].sort()).toEqual(sources("src/console/web").sort());
    expect([...CONSOLE_MODEL_MODULES].sort()).toEqual(
      sources("src/console/model")
        .filter((f) => !typeOnly.includes(f))
        .sort(),
    );
    for (const [url, [file]] of CONSOLE_TABLE) {
      if (!file.endsWith(".js")) continue;
      const source = join(root, file.replace("dist/console-web/", "src/").replace(/\.js$/, ".ts"));
      const text = readFileSync(source, "utf8");
      // Runtime imports only: `import type` is erased by the compiler.
      for (const m of text.matchAll(/^import\s+(?!type\s)[^;]*?from\s+"([^"]+)";/gms)) {
        const target = posix.join(posix.dirname(url), m[1]!);
        expect(CONSOLE_TABLE.has(target), `${url} imports ${m[1]} (${target})`).toBe(true);
      }
    }
  });

  it("the page loads exactly the stylesheet, icon and module of the table", () => {
    const html = readFileSync(join(root, "console/static/index.html"), "utf8");
    expect(html).toContain('<link rel="stylesheet" href="/ui/console.css" />');
    expect(html).toContain('<script type="module" src="/ui/web/main.js"></script>');
    expect(html).toContain('<link rel="icon" href="/ui/favicon.svg" type="image/svg+xml" />');
    for (const [, path] of html.matchAll(/(?:href|src)="(\/[^"]*)"/g))
      expect(CONSOLE_TABLE.has(path!), path).toBe(true);
    // CSP: no inline script or style, no inline handlers.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
  });
});
