/**
 * Text mutations for fuzzing the YAML file readers (lab files, cluster files): a few random
 * edits, each cutting up to five characters at a random place and putting a token there.
 */

/** Tokens every YAML reader must survive; each fuzz test adds words of its own file. */
export const YAML_SYNTAX_TOKENS = [
  "",
  " ",
  "\n",
  ":",
  "- ",
  "[",
  "]",
  "{",
  "}",
  ",",
  "#",
  "'",
  '"',
  "&a",
  "*a",
  "!!int",
  "~",
  "0",
  "-1",
];

/** `text` after 1..maxEdits random edits drawn from `next` (a seeded generator). */
export function mutateText(
  text: string,
  next: () => number,
  tokens: readonly string[],
  maxEdits = 4,
): string {
  const edits = 1 + Math.floor(next() * maxEdits);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(next() * text.length);
    const cut = Math.floor(next() * 6);
    const token = tokens[Math.floor(next() * tokens.length)] ?? "";
    text = text.slice(0, at) + token + text.slice(at + cut);
  }
  return text;
}
