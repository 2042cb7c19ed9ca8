/**
 * A strict reader of the Prometheus text format 0.0.4, for tests: it throws with the line
 * number on anything a Prometheus server would refuse or misread (bad names, escapes or values,
 * a TYPE after samples, a family split in two, a duplicate series, histogram buckets out of
 * order, without +Inf, or whose +Inf count differs from _count), and returns the samples so a
 * test can look values up. No promtool or client library is available offline here.
 */

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedFamily {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string | undefined;
  samples: ParsedSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const FLOAT = /^(?:[+-]?Inf|NaN|[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)$/;

function fail(line: number, message: string): never {
  throw new Error(`exposition line ${line}: ${message}`);
}

function parseValue(text: string, line: number): number {
  if (!FLOAT.test(text)) fail(line, `bad value ${JSON.stringify(text)}`);
  if (text.endsWith("Inf")) return text.startsWith("-") ? -Infinity : Infinity;
  return Number(text);
}

/** Parses `{a="x",b="y"}` from the start of `rest`; returns the labels and what follows. */
function parseLabels(rest: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1;
  while (rest[i] !== "}") {
    const name = LABEL.exec(rest.slice(i))?.[0];
    if (!name) fail(line, `bad label name at ${JSON.stringify(rest.slice(i, i + 20))}`);
    if (name in labels) fail(line, `label ${name} twice`);
    i += name.length;
    if (rest.slice(i, i + 2) !== '="') fail(line, `label ${name} without ="`);
    i += 2;
    let value = "";
    for (;;) {
      const c = rest[i];
      if (c === undefined) fail(line, `label ${name}: unterminated value`);
      if (c === '"') break;
      if (c === "\\") {
        const e = rest[i + 1];
        if (e === "\\") value += "\\";
        else if (e === '"') value += '"';
        else if (e === "n") value += "\n";
        else fail(line, `label ${name}: bad escape \\${e ?? ""}`);
        i += 2;
        continue;
      }
      if (c === "\n") fail(line, `label ${name}: raw line feed`);
      value += c;
      i += 1;
    }
    labels[name] = value;
    i += 1;
    if (rest[i] === ",") i += 1;
    else if (rest[i] !== "}") fail(line, `expected , or } after label ${name}`);
  }
  return { labels, rest: rest.slice(i + 1) };
}

/** The family a sample name belongs to, given the TYPE lines seen. */
function familyOf(name: string, types: Map<string, ParsedFamily>): ParsedFamily | undefined {
  if (types.has(name)) return types.get(name);
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix)) {
      const f = types.get(name.slice(0, -suffix.length));
      if (f && (f.type === "histogram" || (f.type === "summary" && suffix !== "_bucket"))) return f;
    }
  }
  return undefined;
}

export function parsePrometheusText(text: string): Map<string, ParsedFamily> {
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("exposition does not end with a line feed");
  const families = new Map<string, ParsedFamily>();
  const finished = new Set<string>();
  const seen = new Set<string>();
  let current: ParsedFamily | undefined;
  const enter = (family: ParsedFamily, line: number): void => {
    if (current === family) return;
    if (finished.has(family.name)) fail(line, `family ${family.name} is split in two`);
    if (current) finished.add(current.name);
    current = family;
  };
  const lines = text.split("\n").slice(0, -1);
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === "") return;
    if (raw.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name) || NAME.exec(name)![0] !== name) fail(line, `bad metric name ${name}`);
      let family = families.get(name);
      if (!family) {
        family = { name, type: "untyped", help: undefined, samples: [] };
        families.set(name, family);
      }
      enter(family, line);
      if (kind === "HELP") {
        if (family.help !== undefined) fail(line, `second HELP for ${name}`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ""))) fail(line, `bad escape in HELP of ${name}`);
        family.help = rest.replace(/\\(\\|n)/g, (_, e: string) => (e === "n" ? "\n" : "\\"));
      } else {
        if (family.samples.length > 0) fail(line, `TYPE of ${name} after its samples`);
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest))
          fail(line, `unknown type ${rest}`);
        family.type = rest as ParsedFamily["type"];
      }
      return;
    }
    const name = NAME.exec(raw)?.[0];
    if (!name) fail(line, `bad sample line ${JSON.stringify(raw)}`);
    let rest = raw.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) ({ labels, rest } = parseLabels(rest, line));
    const fields = rest.split(" ");
    if (fields[0] !== "" || fields.length < 2 || fields.length > 3)
      fail(line, `bad sample ${JSON.stringify(raw)}`);
    const value = parseValue(fields[1]!, line);
    if (fields[2] !== undefined && !/^-?\d+$/.test(fields[2])) fail(line, `bad timestamp ${fields[2]}`);
    let family = familyOf(name, families);
    if (!family) {
      family = { name, type: "untyped", help: undefined, samples: [] };
      families.set(name, family);
    }
    enter(family, line);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) fail(line, `duplicate series ${key}`);
    seen.add(key);
    if (family.type === "counter" && !(value >= 0)) fail(line, `counter ${name} is ${value}`);
    if (family.type === "histogram" && name === family.name)
      fail(line, `histogram ${name} sample without suffix`);
    family.samples.push({ name, labels, value });
  });
  for (const family of families.values()) if (family.type === "histogram") checkHistogram(family);
  return families;
}

function checkHistogram(family: ParsedFamily): void {
  const groups = new Map<
    string,
    { buckets: { le: number; count: number }[]; count?: number; sum?: number }
  >();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name.endsWith("_bucket")) {
      if (le === undefined) throw new Error(`${s.name} without le`);
      g.buckets.push({ le: parseValue(le, 0), count: s.value });
    } else if (s.name.endsWith("_count")) g.count = s.value;
    else g.sum = s.value;
  }
  for (const [key, g] of groups) {
    const where = `${family.name}${key}`;
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i]!.le > g.buckets[i - 1]!.le)) throw new Error(`${where}: buckets not ascending`);
      if (g.buckets[i]!.count < g.buckets[i - 1]!.count) throw new Error(`${where}: bucket counts decrease`);
    }
    const last = g.buckets.at(-1);
    if (last?.le !== Infinity) throw new Error(`${where}: no +Inf bucket`);
    if (g.count === undefined || g.sum === undefined) throw new Error(`${where}: no _count or _sum`);
    if (last.count !== g.count) throw new Error(`${where}: +Inf bucket ${last.count} != _count ${g.count}`);
  }
}

/** The value of the one sample with this name and these labels (a subset match); throws if not exactly one. */
export function sampleValue(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const found: ParsedSample[] = [];
  for (const f of families.values())
    for (const s of f.samples)
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) found.push(s);
  if (found.length !== 1)
    throw new Error(`${name}${JSON.stringify(labels)}: ${found.length} samples, expected exactly one`);
  return found[0]!.value;
}

/** The sum of every sample with this name whose labels include these (0 when there is none). */
export function sampleSum(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const f of families.values())
    for (const s of f.samples)
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  return sum;
}
