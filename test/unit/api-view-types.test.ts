import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The console compiles view-types.ts for the browser (design §2, tsconfig.console.json), so it
 * must reach no Node code: every file it imports, and everything those import, must import
 * nothing but other such files. A Node import slipping in here breaks the console build.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^import\s[^;]*?from\s+"([^"]+)";/gms)].map((m) => m[1] as string);
}

describe("view types", () => {
  it("reach only import-free files (no node: module, no package)", () => {
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of importsOf(file)) {
        expect(spec.startsWith("."), `${file} imports ${spec}`).toBe(true);
        visit(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
      }
    };
    visit(resolve(root, "src/api/schema/view-types.ts"));
    expect([...seen].map((f) => f.slice(root.length + 1)).sort()).toEqual([
      "src/api/schema/view-types.ts",
      "src/cluster/state.ts",
      "src/ipsec/registry/peer-record.ts",
      "src/ipsec/sa-status-types.ts",
    ]);
  });
});
