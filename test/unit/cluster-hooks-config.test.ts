import { describe, expect, it } from "vitest";
import {
  CLUSTER_CONFIG_INVALID,
  type ClusterConfigProblem,
  parseClusterConfig,
} from "../../src/cluster/config/cluster-config.js";
import { diffClusterConfig } from "../../src/cluster/config/config-diff.js";
import { PACKAGE_STATE_KINDS } from "../../src/cluster/events/event-kinds.js";
import { PaviseError } from "../../src/util/errors.js";

// The cluster file's hooks: section (read-hooks.ts, validate-hooks.ts).

const BASE = `cluster_name: c1
etcd: { endpoints: [http://198.18.2.11:2379] }
subnets:
  - { name: public, cidr: 198.18.1.0/24 }
nodes:
  - name: n1
    interfaces: [{ subnet: public, primary: lan0 }]
packages:
  - name: web
    ip_address: [{ address: 198.18.1.50, subnet: public }]
`;

function problemsOf(text: string): ClusterConfigProblem[] {
  try {
    parseClusterConfig(text, "cluster.yaml");
  } catch (err) {
    if (err instanceof PaviseError && err.code === CLUSTER_CONFIG_INVALID) return err.problems;
    throw err;
  }
  throw new Error("expected CLUSTER_CONFIG_INVALID");
}

describe("cluster file hooks:", () => {
  it("is absent unless the file has it (nothing runs, as before)", () => {
    expect(parseClusterConfig(BASE).hooks).toBeUndefined();
  });

  it("reads a hook with its defaults: package and node state kinds, no recipient, Pacemaker's 30 s timeout", () => {
    const config = parseClusterConfig(`${BASE}hooks:\n  - { name: page, command: /usr/local/bin/alert }\n`);
    expect(config.hooks).toEqual([
      {
        name: "page",
        command: "/usr/local/bin/alert",
        events: [...PACKAGE_STATE_KINDS],
        recipients: [],
        timeoutMs: 30_000,
      },
    ]);
  });

  it("reads kinds, packages, recipients and timeout", () => {
    const config = parseClusterConfig(`${BASE}hooks:
  - name: page
    command: /usr/local/bin/alert
    events: [started, node-failed]
    packages: [web]
    recipients: [ops@example.com, "+4911"]
    timeout: 1500ms
`);
    expect(config.hooks?.[0]).toEqual({
      name: "page",
      command: "/usr/local/bin/alert",
      events: ["started", "node-failed"],
      packages: ["web"],
      recipients: ["ops@example.com", "+4911"],
      timeoutMs: 1500,
    });
  });

  it("reports each problem with its line, key, value and a fix", () => {
    const text = `${BASE}hooks:
  - name: page
    command: /usr/local/bin/alert
    events: [started, node-faild]
    packages: [wbe]
    timeout: 0s
  - name: page
    comand: /bin/true
`;
    const problems = problemsOf(text);
    const lineOf = (needle: string, nth = 1): number => {
      const lines = text.split("\n");
      let seen = 0;
      return lines.findIndex((l) => l.includes(needle) && ++seen === nth) + 1;
    };
    // hooks[1].command is missing: it has no line of its own.
    expect(problems.filter((p) => p.key !== "hooks[1].command").map((p) => [p.line, p.key, p.value])).toEqual(
      [
        [lineOf("node-faild"), "hooks[0].events[1]", "node-faild"],
        [lineOf("[wbe]"), "hooks[0].packages[0]", "wbe"],
        [lineOf("timeout: 0s"), "hooks[0].timeout", "0ms"],
        [lineOf("  - name: page", 2), "hooks[1].name", "page"],
        [lineOf("comand"), "hooks[1].comand", "/bin/true"],
      ],
    );
    expect(problems.find((p) => p.key === "hooks[1].command")?.message).toBe("is missing");
    expect(problems.find((p) => p.key === "hooks[0].events[1]")).toMatchObject({
      file: "cluster.yaml",
      message: 'is not an event kind the daemon writes (did you mean "node-failed"?)',
      hint: "write node-failed",
    });
    expect(problems.find((p) => p.key === "hooks[0].packages[0]")?.hint).toBe("write web");
    expect(problems.find((p) => p.key === "hooks[1].comand")?.hint).toBe("rename it to command");
  });

  it("refuses an empty events list and a hooks: that is no list", () => {
    expect(problemsOf(`${BASE}hooks:\n  - { name: a, command: x, events: [] }\n`).map((p) => p.key)).toEqual([
      "hooks[0].events",
    ]);
    expect(problemsOf(`${BASE}hooks: { name: a }\n`).map((p) => [p.key, p.message])).toEqual([
      ["hooks", "must be a list"],
    ]);
  });

  it("accepts events: [all]", () => {
    expect(
      parseClusterConfig(`${BASE}hooks:\n  - { name: a, command: x, events: [all] }\n`).hooks?.[0]?.events,
    ).toEqual(["all"]);
  });

  it("config apply: hooks added, changed and removed take effect online", () => {
    const before = parseClusterConfig(
      `${BASE}hooks:\n  - { name: a, command: x }\n  - { name: b, command: y }\n`,
    );
    const after = parseClusterConfig(
      `${BASE}hooks:\n  - { name: a, command: x, timeout: 5s }\n  - { name: c, command: z }\n`,
    );
    expect(diffClusterConfig(before, after).changes).toEqual([
      { subject: "hook a", what: "changed", effect: "online" },
      { subject: "hook c", what: "added", effect: "online" },
      { subject: "hook b", what: "removed", effect: "online" },
    ]);
    expect(diffClusterConfig(before, before).changes).toEqual([]);
    expect(diffClusterConfig(parseClusterConfig(BASE), before).changes.map((c) => c.subject)).toEqual([
      "hook a",
      "hook b",
    ]);
  });
});
