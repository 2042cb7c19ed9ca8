import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { HookConfig } from "../../src/cluster/config/model.js";
import { KNOWN_EVENT_KINDS, PACKAGE_STATE_KINDS } from "../../src/cluster/events/event-kinds.js";
import { type ClusterEvent, hookWants, planHookRuns } from "../../src/cluster/events/hook-plan.js";

// Which hooks an event runs and with what environment (Pacemaker's alert agents: CRM_alert_*).

const hook = (over: Partial<HookConfig> = {}): HookConfig => ({
  name: "page",
  command: "/usr/local/bin/alert",
  events: [...PACKAGE_STATE_KINDS],
  recipients: [],
  timeoutMs: 30_000,
  ...over,
});

const started: ClusterEvent = {
  node: "n2",
  kind: "started",
  message: "package web started in 120 ms",
  package: "web",
  ms: 120,
  time: Date.UTC(2026, 10, 27, 13, 2, 10, 231),
};
const nodeFailed: ClusterEvent = {
  node: "n3",
  kind: "node-failed",
  message: "node n1 failed (its lease lapsed)",
  subject: "n1",
  time: Date.UTC(2026, 10, 27, 13, 2, 9, 5),
};

describe("hook plan", () => {
  it("gives the event in the environment: kind, node, package, message, time, sequence, cluster, JSON", () => {
    const [run, ...more] = planHookRuns(started, [hook()], 7, "c1");
    expect(more).toEqual([]);
    expect(run).toEqual({
      hook: "page",
      command: "/usr/local/bin/alert",
      timeoutMs: 30_000,
      env: {
        PAVISE_CLUSTER: "c1",
        PAVISE_EVENT_KIND: "started",
        PAVISE_EVENT_NODE: "n2",
        PAVISE_EVENT_PACKAGE: "web",
        PAVISE_EVENT_MESSAGE: "package web started in 120 ms",
        PAVISE_EVENT_AT: "2026-11-27T13:02:10.231Z",
        PAVISE_EVENT_AT_MS: String(started.time),
        PAVISE_EVENT_SEQUENCE: "7",
        PAVISE_EVENT_JSON: JSON.stringify(started),
        PAVISE_HOOK_NAME: "page",
      },
    });
    expect(JSON.parse(run!.env.PAVISE_EVENT_JSON!)).toEqual(started);
  });

  it("leaves out what the event does not have (no empty PAVISE_EVENT_PACKAGE for a node event)", () => {
    const [run] = planHookRuns(nodeFailed, [hook()], 1, "c1");
    expect(run?.env.PAVISE_EVENT_SUBJECT).toBe("n1");
    expect(Object.keys(run!.env)).not.toContain("PAVISE_EVENT_PACKAGE");
    expect(Object.keys(run!.env)).not.toContain("PAVISE_EVENT_RECIPIENT");
  });

  it("runs once per recipient, in order, each with PAVISE_EVENT_RECIPIENT", () => {
    const runs = planHookRuns(
      started,
      [hook({ recipients: ["a@x", "b@x"] }), hook({ name: "log" })],
      1,
      "c1",
    );
    expect(runs.map((r) => [r.hook, r.env.PAVISE_EVENT_RECIPIENT])).toEqual([
      ["page", "a@x"],
      ["page", "b@x"],
      ["log", undefined],
    ]);
  });

  it("filters by kind: default package and node state kinds, a list, or all", () => {
    const contacted: ClusterEvent = { ...started, kind: "ipsec-peer-contacted" };
    expect(hookWants(hook(), contacted)).toBe(false);
    expect(hookWants(hook({ events: ["ipsec-peer-contacted"] }), contacted)).toBe(true);
    expect(hookWants(hook({ events: ["all"] }), contacted)).toBe(true);
    expect(hookWants(hook({ events: ["node-failed"] }), started)).toBe(false);
    expect(planHookRuns(contacted, [hook()], 1, "c1")).toEqual([]);
  });

  it("filters by package; events that name no package pass (a node's failure concerns all of them)", () => {
    expect(hookWants(hook({ packages: ["db"] }), started)).toBe(false);
    expect(hookWants(hook({ packages: ["db", "web"] }), started)).toBe(true);
    expect(hookWants(hook({ packages: ["db"] }), nodeFailed)).toBe(true);
  });
});

describe("event kinds catalogue", () => {
  // Kinds written with a literal (this.event("started", …), ctx.event("…")) in the daemon's
  // sources must be in the catalogue, or a hook on them would be refused by config check.
  const sources = [
    "src/cluster/agent/node-agent.ts",
    "src/cluster/agent/agent-ipsec.ts",
    "src/cluster/agent/etcd-leader-steering.ts",
  ].map((file) => readFileSync(new URL(`../../${file}`, import.meta.url), "utf8"));

  it("holds every literal kind the daemon writes", () => {
    const literal = sources.flatMap((text) =>
      [...text.matchAll(/(?:\.event\(|kind: )\s*"([a-z-]+)"/g)].map((m) => m[1]!),
    );
    // The regular expression still finds them (a reformatting would make this test vacuous).
    expect(literal).toEqual(
      expect.arrayContaining(["started", "halted", "package-failed", "etcd-leader-moved", "node-fail-fast"]),
    );
    expect(literal.filter((kind) => !KNOWN_EVENT_KINDS.includes(kind))).toEqual([]);
  });

  it("holds the kinds made from a state: plan-<action>, node-<status>, resource-<status>, ipsec-peer-*", () => {
    const made = [
      ...["start", "halt", "move"].map((a) => `plan-${a}`),
      ...["up", "halted", "failed"].map((s) => `node-${s}`),
      ...["up", "down"].map((s) => `resource-${s}`),
      ...["contacted", "unreachable", "gave-up"].map((s) => `ipsec-peer-${s}`),
    ];
    expect(made.filter((kind) => !KNOWN_EVENT_KINDS.includes(kind))).toEqual([]);
    expect(PACKAGE_STATE_KINDS.filter((kind) => !KNOWN_EVENT_KINDS.includes(kind))).toEqual([]);
  });
});
