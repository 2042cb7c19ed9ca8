import { describe, expect, it } from "vitest";
import {
  reportsServiceChange,
  serviceFactAfter,
  type ServiceFact,
} from "../../src/cluster/agent/service-facts.js";
import type { ServiceEvent } from "../../src/cluster/executor/service-supervision.js";

/** What a package report says of a service, through the supervisor's events of a flapping service. */
describe("service facts in the package report", () => {
  it("counts restarts and follows the state through start, restarts, failure", () => {
    const events: ServiceEvent[] = [
      { kind: "started", at: 1, attempt: 0 },
      { kind: "exited", at: 2, exit: { code: 1, signal: null }, ranMs: 1 },
      { kind: "restarting", at: 2, restart: 1, limit: 2, delayMs: 100 },
      { kind: "started", at: 3, attempt: 1 },
      { kind: "restarting", at: 4, restart: 2, limit: 2, delayMs: 100 },
      { kind: "started", at: 5, attempt: 2 },
      { kind: "failed", at: 6, restarts: 2, exit: { code: 1, signal: null } },
    ];
    const seen: ServiceFact[] = [];
    let fact: ServiceFact | undefined;
    for (const e of events) {
      fact = serviceFactAfter("httpd", fact, e);
      seen.push(fact);
    }
    expect(seen.map((f) => `${f.state}/${f.restarts}`)).toEqual([
      "running/0",
      "running/0",
      "restarting/1",
      "running/1",
      "restarting/2",
      "running/2",
      "failed/2",
    ]);
    expect(
      serviceFactAfter("httpd", fact, { kind: "halted", at: 7, exit: undefined, killed: false }),
    ).toEqual({
      name: "httpd",
      restarts: 2,
      state: "halted",
    });
  });

  it("writes the report again on a restart only (a failure is reported by the package's failure)", () => {
    expect(
      reportsServiceChange({ kind: "restarting", at: 0, restart: 1, limit: "unlimited", delayMs: 0 }),
    ).toBe(true);
    expect(reportsServiceChange({ kind: "failed", at: 0, restarts: 0, exit: undefined })).toBe(false);
    expect(reportsServiceChange({ kind: "started", at: 0, attempt: 0 })).toBe(false);
  });
});
