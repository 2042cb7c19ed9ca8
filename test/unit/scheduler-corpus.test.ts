import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { format, resolveConfig } from "prettier";
import { describe, expect, it } from "vitest";
import { schedule } from "../../src/cluster/scheduler/scheduler.js";
import { expectedOf, parseCase, withExpected } from "../support/scheduler-case.js";
import { applyPlan } from "../support/scheduler-case-apply.js";

/**
 * The scheduler corpus, in the manner of Pacemaker's cts/scheduler: every
 * test/scheduler-cases/<group>/<case>.yaml is a cluster (configuration and state) with the plan
 * the scheduler must make from it. Each plan must also be stable: carried out, and scheduled
 * again, it gives no further actions.
 *
 * After a deliberate change of behaviour, or to fill in a new case's plan:
 *   PAVISE_UPDATE_CASES=1 npx vitest run --project unit test/unit/scheduler-corpus.test.ts
 * rewrites the `expected:` section of every case from what the scheduler does now; read the
 * diff before committing it (git diff test/scheduler-cases).
 */

const root = new URL("../scheduler-cases/", import.meta.url);
const update = process.env.PAVISE_UPDATE_CASES === "1";
const groups = readdirSync(root, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

describe.each(groups)("%s", (group) => {
  const files = readdirSync(new URL(`${group}/`, root))
    .filter((name) => name.endsWith(".yaml"))
    .sort();
  it.each(files)("%s", async (name) => {
    const url = new URL(`${group}/${name}`, root);
    const file = `test/scheduler-cases/${group}/${name}`;
    const text = readFileSync(url, "utf8");
    const c = parseCase(text, file);
    const plan = schedule(c.config, c.state, c.now);

    if (update) {
      // Written as `prettier --check` (npm run lint) wants it.
      const filepath = fileURLToPath(url);
      const rewritten = await format(withExpected(text, plan), {
        ...(await resolveConfig(filepath)),
        filepath,
      });
      if (rewritten !== text) writeFileSync(url, rewritten);
    } else {
      expect(c.expected, `${file} has no expected plan: run with PAVISE_UPDATE_CASES=1`).toBeDefined();
      expect(expectedOf(plan), `${file}: ${c.description}`).toEqual(c.expected);
    }

    const again = schedule(c.config, applyPlan(c.state, plan), c.now);
    expect(again.actions, `${file}: the plan is not stable`).toEqual([]);
    expect(again.placements).toEqual(plan.placements);
  });
});

describe("the corpus", () => {
  it("has at least 60 cases, each in a group, each with a one-line description", () => {
    const cases = groups.flatMap((group) =>
      readdirSync(new URL(`${group}/`, root)).filter((name) => name.endsWith(".yaml")),
    );
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });
});
