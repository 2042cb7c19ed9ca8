/**
 * Random JSON values for fuzz loops, from a seeded generator (seeded-random.ts) so a failure
 * reproduces from its seed. `near` biases the values toward the ones a checker cares about (its
 * field names and plausible values), so the fuzz reaches past the first type check.
 */
export interface JsonNear {
  keys: readonly string[];
  values: readonly unknown[];
}

const AWKWARD_STRINGS = [
  "",
  " ",
  "~",
  "/",
  "~1",
  "a/b",
  "\u0000",
  "\u001b[31m",
  "é",
  "💥",
  "__proto__",
  "constructor",
  "x".repeat(300),
];
const AWKWARD_NUMBERS = [0, -1, 1, 0.5, 1e21, -0, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 600_001, 599_999];

export function randomJson(random: () => number, near: JsonNear, depth = 0): unknown {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const roll = random();
  if (roll < 0.25 && near.values.length > 0) return pick(near.values);
  if (roll < 0.35) return null;
  if (roll < 0.45) return random() < 0.5;
  if (roll < 0.55) return random() < 0.5 ? pick(AWKWARD_NUMBERS) : Math.floor(random() * 2 ** 32) - 2 ** 31;
  if (roll < 0.68)
    return random() < 0.5 ? pick(AWKWARD_STRINGS) : pick(near.keys.length > 0 ? near.keys : AWKWARD_STRINGS);
  if (roll < 0.78 || depth >= 3) {
    if (depth >= 3) return pick(AWKWARD_STRINGS);
    return Array.from({ length: Math.floor(random() * 4) }, () => randomJson(random, near, depth + 1));
  }
  return randomObject(random, near, depth + 1);
}

/** An object whose keys are mostly the checker's own, sometimes another. */
export function randomObject(random: () => number, near: JsonNear, depth = 0): Record<string, unknown> {
  const members: string[] = [];
  const count = Math.floor(random() * 5);
  for (let i = 0; i < count; i++) {
    const key =
      random() < 0.85 && near.keys.length > 0
        ? (near.keys[Math.floor(random() * near.keys.length)] as string)
        : (AWKWARD_STRINGS[Math.floor(random() * AWKWARD_STRINGS.length)] as string);
    members.push(`${JSON.stringify(key)}:${JSON.stringify(randomJson(random, near, depth))}`);
  }
  // Through JSON text, as a server gets it: "__proto__" becomes an own key, a repeated key the last.
  return JSON.parse(`{${members.join(",")}}`) as Record<string, unknown>;
}
