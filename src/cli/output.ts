/** How a command reports: human text on a terminal, or one JSON document with --json. */
export interface Output {
  json: boolean;
  /** A progress line (stderr, so --json output on stdout stays clean). */
  progress(line: string): void;
  /** The command's result: JSON when asked for, otherwise the human rendering. */
  result(value: unknown, human: () => string): void;
}

export function makeOutput(json: boolean): Output {
  return {
    json,
    progress(line) {
      if (!json) process.stderr.write(`${line}\n`);
    },
    result(value, human) {
      process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
    },
  };
}

/** Lays out rows as aligned columns. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}
