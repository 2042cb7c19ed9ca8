import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseLabSpec } from "../../src/lab/spec.js";
import { PaviseError } from "../../src/util/errors.js";
import { seededRandom } from "../support/seeded-random.js";
import { mutateText, YAML_SYNTAX_TOKENS } from "../support/yaml-mutations.js";

const TOKENS = [
  ...YAML_SYNTAX_TOKENS,
  "1e9",
  "null",
  "true",
  "198.18.1.0/24",
  "n1",
  "subnets",
  "etcd",
  "tls",
  "nodes",
  "\t",
  "\u0000",
  "ä",
];

describe("lab file parser under random input", () => {
  const base = readFileSync(new URL("../../labs/default.yaml", import.meta.url), "utf8");

  it("never fails with anything but a PaviseError, over 3,000 mutations of labs/default.yaml", () => {
    const next = seededRandom(20261127);
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const text = mutateText(base, next, TOKENS);
      try {
        parseLabSpec(text, "fuzz.yaml");
        accepted++;
      } catch (err) {
        if (!(err instanceof PaviseError)) throw new Error(`seed case ${i} threw ${String(err)}:\n${text}`);
        expect(err.code).toBe("LAB_CONFIG_INVALID");
      }
    }
    // Some mutations only touch comments or whitespace and must still be accepted.
    expect(accepted).toBeGreaterThan(0);
  }, 60_000); // a fixed number of runs: slow on a loaded machine, never a timing assertion
});
