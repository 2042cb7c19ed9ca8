import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import {
  CLUSTER_CONFIG_INVALID,
  clusterConfigFromObject,
  parseClusterConfig,
  validateClusterConfig,
} from "../../src/cluster/config/cluster-config.js";
import type { ClusterConfig } from "../../src/cluster/config/model.js";
import { renderCheck } from "../../src/cli/config-command.js";
import { PaviseError } from "../../src/util/errors.js";
import { seededRandom } from "../support/seeded-random.js";
import { mutateText, YAML_SYNTAX_TOKENS } from "../support/yaml-mutations.js";

const example = readFileSync(new URL("../../examples/cluster.yaml", import.meta.url), "utf8");

const TOKENS = [
  ...YAML_SYNTAX_TOKENS,
  "1e999",
  "null",
  "yes",
  "*",
  "198.18.1.50",
  "198.18.1.0/24",
  "n1",
  "db",
  "web",
  "2s",
  "packages",
  "node_name",
  "dependencies",
  "\t",
  "\u0000",
  "ä",
];

/** Whatever happened must be a proper result: a checked model, or CLUSTER_CONFIG_INVALID. */
function expectProperOutcome(run: () => ClusterConfig, context: () => string): "accepted" | "rejected" {
  // Plain checks, with expect() only on failure: this runs thousands of times.
  const fail = (what: string): never => {
    throw new Error(`${what}\n${context()}`);
  };
  let config: ClusterConfig;
  try {
    config = run();
  } catch (err) {
    if (!(err instanceof PaviseError)) fail(`threw ${String((err as Error)?.stack ?? err)}`);
    const error = err as PaviseError;
    if (error.code !== CLUSTER_CONFIG_INVALID) fail(`code ${error.code}`);
    if (error.problems.length === 0) fail("no problems listed");
    for (const problem of error.problems) {
      if (typeof problem.key !== "string" || problem.key === "" || !problem.message || !problem.hint) {
        fail(`incomplete problem ${JSON.stringify(problem)}`);
      }
    }
    // What the CLI prints must always print.
    JSON.stringify(error.toJSON());
    renderCheck({ ok: false, file: "fuzz.yaml", problems: error.problems });
    return "rejected";
  }
  const problems = validateClusterConfig(config);
  if (problems.length > 0) fail(`accepted, yet invalid: ${JSON.stringify(problems)}`);
  const { memberTimeoutMs, keepaliveIntervalMs, fenceAfterMs, eventLoopBudgetMs } = config.timing;
  for (const ms of [
    memberTimeoutMs,
    keepaliveIntervalMs,
    fenceAfterMs,
    eventLoopBudgetMs,
    config.arp.intervalMs,
  ]) {
    if (!Number.isFinite(ms)) fail(`accepted a timing of ${ms}`);
  }
  return "accepted";
}

const VALUES: (() => unknown)[] = [
  () => null,
  () => undefined,
  () => 0,
  () => -1,
  () => 1e300,
  () => Number.NaN,
  () => Number.POSITIVE_INFINITY,
  () => "",
  () => "*",
  () => "n1",
  () => "db",
  () => "198.18.1.50",
  () => "198.18.2.0/24",
  () => "unlimited",
  () => "0.5s",
  () => true,
  () => [],
  () => ["n1", "n1"],
  () => ({}),
  () => ({ name: "x" }),
  () => {
    const loop: unknown[] = [];
    loop.push(loop);
    return loop;
  },
];

/** Replaces, deletes or adds one value somewhere in a parsed copy of the example. */
function mutate(node: unknown, next: () => number, depth = 0): void {
  if (typeof node !== "object" || node === null) return;
  const container = node as Record<string, unknown>;
  const keys = Object.keys(container);
  if (keys.length === 0 || (depth > 0 && next() < 0.3)) {
    const key = Array.isArray(node) ? String(keys.length) : `k${Math.floor(next() * 3)}`;
    container[key] = VALUES[Math.floor(next() * VALUES.length)]?.();
    return;
  }
  const key = keys[Math.floor(next() * keys.length)] ?? "";
  const child = container[key];
  if (typeof child === "object" && child !== null && next() < 0.7) {
    mutate(child, next, depth + 1);
  } else if (next() < 0.15) {
    delete container[key];
  } else {
    container[key] = VALUES[Math.floor(next() * VALUES.length)]?.();
  }
}

describe("cluster file reader under random input", () => {
  it("examples/cluster.yaml is accepted as it is", () => {
    expect(
      expectProperOutcome(
        () => parseClusterConfig(example, "examples/cluster.yaml"),
        () => "example",
      ),
    ).toBe("accepted");
  });

  it("never fails with anything but CLUSTER_CONFIG_INVALID, over 2,000 text mutations of examples/cluster.yaml", () => {
    const next = seededRandom(20261127);
    const outcomes = { accepted: 0, rejected: 0 };
    for (let i = 0; i < 2000; i++) {
      const text = mutateText(example, next, TOKENS);
      outcomes[
        expectProperOutcome(
          () => parseClusterConfig(text, "fuzz.yaml"),
          () => `case ${i}:\n${text}`,
        )
      ]++;
    }
    // Mutations inside comments and some value changes are still valid files.
    expect(outcomes.accepted).toBeGreaterThan(0);
    expect(outcomes.rejected).toBeGreaterThan(0);
  }, 30_000);

  it("never fails with anything but CLUSTER_CONFIG_INVALID, over 2,000 structural mutations (wrong types, cycles, NaN)", () => {
    const next = seededRandom(5);
    const outcomes = { accepted: 0, rejected: 0 };
    const parsed = parse(example) as unknown;
    for (let i = 0; i < 2000; i++) {
      const raw = structuredClone(parsed);
      const edits = 1 + Math.floor(next() * 3);
      for (let e = 0; e < edits; e++) mutate(raw, next);
      outcomes[
        expectProperOutcome(
          () => clusterConfigFromObject(raw, "fuzz.yaml"),
          () => `case ${i}`,
        )
      ]++;
    }
    expect(outcomes.accepted).toBeGreaterThan(0);
    expect(outcomes.rejected).toBeGreaterThan(0);
  }, 30_000);
});
