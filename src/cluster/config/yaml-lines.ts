import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from "yaml";

/**
 * Where each key of a YAML file is: key path (`packages[1].ip_address[0].address`, the form
 * problems are reported with) → line number, so a problem can say `file:line`.
 */
export type KeyLines = ReadonlyMap<string, number>;

export function keyLines(text: string): KeyLines {
  const lines = new Map<string, number>();
  const counter = new LineCounter();
  const document = parseDocument(text, { lineCounter: counter, logLevel: "silent" });
  const lineAt = (offset: number): number => counter.linePos(offset).line;
  const walk = (node: unknown, path: string, depth: number): void => {
    // Aliases are not followed: a key is reported where it is written.
    if (depth > 32) return;
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isScalar(pair.key) || pair.key.range === undefined || pair.key.range === null) continue;
        const key = String(pair.key.value);
        const at = path ? `${path}.${key}` : key;
        if (!lines.has(at)) lines.set(at, lineAt(pair.key.range[0]));
        walk(pair.value, at, depth + 1);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const at = `${path}[${i}]`;
        const range = (item as Node | null)?.range;
        if (range) lines.set(at, lineAt(range[0]));
        walk(item, at, depth + 1);
      });
    }
  };
  walk(document.contents, "", 0);
  return lines;
}

/** The line of a key path, or of the nearest enclosing key that is written in the file. */
export function lineOf(lines: KeyLines, key: string): number | undefined {
  let at = key;
  for (;;) {
    const line = lines.get(at);
    if (line !== undefined) return line;
    const cut = Math.max(at.lastIndexOf("."), at.lastIndexOf("["));
    if (cut <= 0) return undefined;
    at = at.slice(0, cut);
  }
}
