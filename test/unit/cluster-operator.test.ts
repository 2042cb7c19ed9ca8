import { describe, expect, it } from "vitest";
import {
  type ClusterSnapshot,
  clusterStateFrom,
  snapshotFrom,
} from "../../src/cluster/agent/cluster-state.js";
import type { KeyValue } from "../../src/cluster/etcd/wire.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import { goalProgress } from "../../src/cluster/operator/goals.js";
import { chooseMoveTarget } from "../../src/cluster/operator/move-target.js";
import { packagesStrandedByHalt } from "../../src/cluster/operator/node-halt-check.js";
import { applyPackageCommand } from "../../src/cluster/operator/package-intent.js";
import { actorBy, actorEventNode } from "../../src/cluster/operator/actor.js";
import { parseOperatorArgs } from "../../src/cli/operator-args.js";
import { pkgCommand } from "../../src/cli/pkg-command.js";
import { currentOperator } from "../../src/cli/operator-identity.js";
import { knownNode, knownPackage, knownResource, nodeOfThisHost } from "../../src/cli/operator-names.js";
import { clusterConfigFixture, packageConfig } from "../support/cluster-fixtures.js";

// The pure parts of the operator's commands (pavise pkg / node / resource): the admin/ and
// resources/ keys merged into the cluster state, what each command asks of a package, where a
// move goes, what a node halt would strand, when a command is done, and the arguments.

const keys = new ClusterKeys("/pavise/t/");
const config = clusterConfigFixture([
  packageConfig("web", {
    nodes: ["n1", "n2", "n3"],
    resources: [{ name: "disk", initial: "up", monitor: undefined }],
  }),
  packageConfig("db", { nodes: ["n1"] }),
  packageConfig("mon", { type: "multi_node", nodes: ["n1", "n2", "n3"] }),
]);

function kv(key: string, value: unknown, modRevision = 1, lease = "0"): KeyValue {
  return { key, value: JSON.stringify(value), createRevision: 1, modRevision, version: 1, lease };
}

function snapshot(
  parts: {
    nodes?: Record<string, Record<string, unknown>>;
    owners?: [string, string][];
    status?: [string, string, string][];
    admin?: KeyValue[];
    resources?: KeyValue[];
  } = {},
): ClusterSnapshot {
  const nodes = parts.nodes ?? { n1: {}, n2: {}, n3: {} };
  return snapshotFrom(
    keys,
    {
      nodes: Object.entries(nodes).map(([n, rec]) => kv(keys.node(n), { name: n, since: 1, ...rec }, 1, "9")),
      owners: (parts.owners ?? []).map(([p, n]) => kv(keys.owner(p, n), { node: n }, 1, "9")),
      status: (parts.status ?? []).map(([p, n, s]) => kv(keys.status(p, n), { status: s, since: 1 }, 1, "9")),
      placements: undefined,
      admin: parts.admin ?? [],
      resources: parts.resources ?? [],
    },
    10,
  );
}

describe("operator keys in etcd", () => {
  it("live under admin/ and resources/ with the names in the key", () => {
    expect(keys.adminPackage("web")).toBe("/pavise/t/admin/packages/web");
    expect(keys.adminNode("n2")).toBe("/pavise/t/admin/nodes/n2");
    expect(keys.resource("n1", "disk")).toBe("/pavise/t/resources/n1/disk");
    expect(keys.parseAdminPackage("/pavise/t/admin/packages/web")).toBe("web");
    expect(keys.parseAdminNode("/pavise/t/admin/nodes/n2")).toBe("n2");
    expect(keys.parseResource("/pavise/t/resources/n1/disk")).toEqual({ node: "n1", name: "disk" });
    expect(keys.parseResource("/pavise/t/resources/n1/disk/x")).toBeUndefined();
    expect(keys.parseAdminPackage("/pavise/t/admin/nodes/n2")).toBeUndefined();
    expect(() => keys.resource("n1", "a/b")).toThrow(/resource name "a\/b"/);
  });

  it("merge: operator package intent replaces the defaults; unreadable values are skipped", () => {
    const state = clusterStateFrom(
      config,
      snapshot({
        admin: [
          {
            ...kv("", 0),
            key: "/pavise/t/admin/packages/web",
            value:
              '{"switching":false,"disabledNodes":["n3","n2","n3"],"halted":true,"maintenance":true,"requestedNode":"n2","by":"ann@h"}',
          },
          { ...kv("", 0), key: "/pavise/t/admin/packages/db", value: "not json" },
          { ...kv("", 0), key: "/pavise/t/admin/packages/mon", value: '{"switching":"yes","halted":1}' },
        ],
      }),
    );
    expect(state.packages.web).toMatchObject({
      switching: false,
      disabledNodes: ["n2", "n3"],
      haltedByOperator: true,
      maintenance: true,
      requestedNode: "n2",
    });
    expect(state.packages.db).toMatchObject({ switching: true, disabledNodes: [], haltedByOperator: false });
    expect(state.packages.db?.requestedNode).toBeUndefined();
    // Wrong types count as not set.
    expect(state.packages.mon).toMatchObject({
      switching: true,
      haltedByOperator: false,
      maintenance: false,
    });
  });

  it("merge: a node an operator halted is halted while it is a member; a failed node stays failed", () => {
    const state = clusterStateFrom(
      config,
      snapshot({
        nodes: { n1: { status: "up" }, n2: { status: "up" } },
        admin: [
          kv("/pavise/t/admin/nodes/n1", { halted: true, by: "ann@h" }),
          kv("/pavise/t/admin/nodes/n2", { halted: false }),
          kv("/pavise/t/admin/nodes/n3", { halted: true }),
        ],
      }),
    );
    expect(state.nodes.n1).toMatchObject({ status: "halted", haltedByOperator: true });
    expect(state.nodes.n2?.status).toBe("up");
    expect(state.nodes.n2?.haltedByOperator).toBeUndefined();
    expect(state.nodes.n3).toMatchObject({ status: "failed", haltedByOperator: true });
  });

  it("merge: a resource an operator set overrides what the node's daemon reports", () => {
    const state = clusterStateFrom(
      config,
      snapshot({
        nodes: { n1: { resources: { disk: "up", tape: "down" } }, n2: {}, n3: {} },
        resources: [
          kv("/pavise/t/resources/n1/disk", { status: "down", by: "ann@h" }),
          kv("/pavise/t/resources/n2/disk", { status: "sideways" }),
        ],
      }),
    );
    expect(state.nodes.n1?.resources).toEqual({ disk: "down", tape: "down" });
    expect(state.nodes.n2?.resources).toEqual({});
    expect(
      snapshot({ resources: [kv(keys.resource("n3", "disk"), { status: "up", by: "b@h", at: 5 })] })
        .resourceSettings,
    ).toEqual({
      n3: { disk: { status: "up", by: "b@h", at: 5 } },
    });
  });
});

describe("what each command asks of a package", () => {
  const by = { by: "ann@h", at: 1 };
  it("run clears an operator halt, enables switching and sets or drops the requested node", () => {
    const halted = { halted: true, switching: false, requestedNode: "n3", disabledNodes: ["n2"] };
    expect(applyPackageCommand(halted, { kind: "run", node: "n1" }, by)).toEqual({
      halted: false,
      switching: true,
      requestedNode: "n1",
      disabledNodes: ["n2"],
      ...by,
    });
    expect(applyPackageCommand(halted, { kind: "run" }, by).requestedNode).toBeUndefined();
  });
  it("halt sets halted and drops the request; move asks for a node and enables switching", () => {
    expect(applyPackageCommand({ requestedNode: "n2" }, { kind: "halt" }, by)).toEqual({
      halted: true,
      ...by,
    });
    expect(applyPackageCommand({ switching: false }, { kind: "move", node: "n3" }, by)).toEqual({
      halted: false,
      switching: true,
      requestedNode: "n3",
      ...by,
    });
  });
  it("enable/disable: package switching without a node, node switching with one", () => {
    expect(applyPackageCommand(undefined, { kind: "disable" }, by)).toEqual({ switching: false, ...by });
    const off = applyPackageCommand({ disabledNodes: ["n2"] }, { kind: "disable", node: "n3" }, by);
    expect(off.disabledNodes).toEqual(["n2", "n3"]);
    expect(applyPackageCommand(off, { kind: "disable", node: "n3" }, by).disabledNodes).toEqual(["n2", "n3"]);
    expect(applyPackageCommand(off, { kind: "enable", node: "n2" }, by).disabledNodes).toEqual(["n3"]);
    expect(applyPackageCommand(off, { kind: "enable" }, by)).toMatchObject({
      switching: true,
      disabledNodes: ["n2", "n3"],
    });
    expect(applyPackageCommand(undefined, { kind: "maintenance", on: true }, by)).toEqual({
      maintenance: true,
      ...by,
    });
  });
});

describe("pavise pkg move without --node", () => {
  it("takes the next eligible node of the list after the current one, wrapping around", () => {
    const s = clusterStateFrom(config, snapshot({ owners: [["web", "n2"]] }));
    expect(chooseMoveTarget(config, s, "web")).toEqual({ node: "n3" });
    const on3 = clusterStateFrom(config, snapshot({ owners: [["web", "n3"]] }));
    expect(chooseMoveTarget(config, on3, "web")).toEqual({ node: "n1" });
  });
  it("skips ineligible nodes and, when none is left, says why for each", () => {
    const s = clusterStateFrom(
      config,
      snapshot({
        nodes: { n1: {}, n2: {} },
        owners: [["web", "n1"]],
        resources: [kv(keys.resource("n2", "disk"), { status: "down" })],
      }),
    );
    expect(chooseMoveTarget(config, s, "web")).toEqual({
      reasons: [
        { node: "n2", why: "resource disk is down on n2" },
        { node: "n3", why: "node n3 failed" },
      ],
    });
  });
});

describe("pavise node halt without --force", () => {
  it("names the packages running there that could run nowhere else, with why", () => {
    const s = clusterStateFrom(
      config,
      snapshot({
        owners: [
          ["web", "n1"],
          ["db", "n1"],
          ["mon", "n1"],
          ["mon", "n2"],
        ],
      }),
    );
    // web can go to n2; mon still runs on n2 and n3; db has only n1.
    expect(packagesStrandedByHalt(config, s, "n1")).toEqual([
      { package: "db", reasons: ["its node list has no node but n1"] },
    ]);
    expect(packagesStrandedByHalt(config, s, "n2")).toEqual([]);
  });
  it("counts switching disabled and ineligible nodes as reasons", () => {
    const s = clusterStateFrom(
      config,
      snapshot({
        owners: [["web", "n1"]],
        admin: [kv(keys.adminPackage("web"), { switching: false, disabledNodes: ["n3"] })],
        resources: [kv(keys.resource("n2", "disk"), { status: "down" })],
      }),
    );
    expect(packagesStrandedByHalt(config, s, "n1")).toEqual([
      {
        package: "web",
        reasons: [
          "package switching is disabled (pavise pkg enable)",
          "resource disk is down on n2",
          "node switching is disabled on n3",
        ],
      },
    ]);
  });
});

describe("when an operator command is done", () => {
  const progress = (snap: ClusterSnapshot, goal: Parameters<typeof goalProgress>[3]) =>
    goalProgress(config, snap, clusterStateFrom(config, snap), goal);

  it("halt: done once no node runs it", () => {
    const halting = snapshot({ owners: [["web", "n1"]], status: [["web", "n1", "halting"]] });
    expect(progress(halting, { kind: "package", package: "web", want: "down" })).toEqual({
      done: false,
      line: "web: halting on n1",
    });
    expect(progress(snapshot(), { kind: "package", package: "web", want: "down" })).toEqual({
      done: true,
      line: "web: down",
    });
  });

  it("halt of a package in maintenance: fails at once (the cluster would leave it running)", () => {
    const snap = snapshot({
      owners: [["web", "n1"]],
      admin: [kv(keys.adminPackage("web"), { maintenance: true, halted: true })],
    });
    expect(progress(snap, { kind: "package", package: "web", want: "down" })).toEqual({
      done: false,
      failed: "web is in maintenance: the cluster leaves it running",
      line: "web: up on n1",
    });
  });

  it("run --node: done when up on that node; fails at once when the node is not eligible", () => {
    const onN1 = snapshot({
      owners: [["web", "n1"]],
      admin: [kv(keys.adminPackage("web"), { requestedNode: "n2" })],
    });
    expect(progress(onN1, { kind: "package", package: "web", want: "up", node: "n2" }).done).toBe(false);
    const onN2 = snapshot({
      owners: [["web", "n2"]],
      admin: [kv(keys.adminPackage("web"), { requestedNode: "n2" })],
    });
    expect(progress(onN2, { kind: "package", package: "web", want: "up", node: "n2" })).toEqual({
      done: true,
      line: "web: up on n2",
    });
    const n2Gone = snapshot({ nodes: { n1: {}, n3: {} }, owners: [["web", "n1"]] });
    expect(progress(n2Gone, { kind: "package", package: "web", want: "up", node: "n2" }).failed).toBe(
      "cannot run on n2: node n2 failed",
    );
  });

  it("run: fails with the reasons when the scheduler would run it nowhere", () => {
    const p = progress(snapshot({ nodes: { n2: {}, n3: {} } }), {
      kind: "package",
      package: "db",
      want: "up",
    });
    expect(p.failed).toBe("db will not run: no node can run it (n1: node n1 failed)");
  });

  it("node halt: done once the daemon reports halted and nothing runs there; node run: once it reports up", () => {
    const halt = { kind: "node", node: "n1", want: "halted" } as const;
    const intent = [kv(keys.adminNode("n1"), { halted: true })];
    expect(progress(snapshot({ owners: [["web", "n1"]], admin: intent }), halt)).toEqual({
      done: false,
      line: "n1: up, runs web",
    });
    const reported = { n1: { status: "halted" }, n2: {}, n3: {} };
    const mon: [string, string][] = [
      ["mon", "n2"],
      ["mon", "n3"],
    ];
    // Off n1, but web not started on n2 yet: its packages have not moved.
    expect(progress(snapshot({ nodes: reported, owners: mon, admin: intent }), halt)).toEqual({
      done: false,
      line: "n1: halted, moving web to n2",
    });
    expect(
      progress(snapshot({ nodes: reported, owners: [["web", "n2"], ...mon], admin: intent }), halt),
    ).toEqual({
      done: true,
      line: "n1: halted",
    });
    expect(progress(snapshot({ nodes: reported }), { kind: "node", node: "n1", want: "up" }).done).toBe(
      false,
    );
    expect(progress(snapshot({ nodes: { n2: {} } }), halt).failed).toMatch(/not a member/);
  });
});

describe("operator arguments and identity", () => {
  const usage = "usage: test";
  it("parses --config, --node/-n, --timeout, --no-wait, --json, --force", () => {
    expect(
      parseOperatorArgs(
        ["web", "--config", "c.yaml", "-n", "n2", "--timeout", "5s", "--no-wait", "--json"],
        usage,
        {
          min: 1,
          max: 1,
          what: "PKG",
        },
      ),
    ).toEqual({
      config: "c.yaml",
      node: "n2",
      force: false,
      help: false,
      json: true,
      wait: false,
      timeoutMs: 5000,
      waitGiven: true,
      positionals: ["web"],
    });
    expect(
      parseOperatorArgs(["web", "--config", "c"], usage, { min: 1, max: 1, what: "PKG" }).timeoutMs,
    ).toBe(60_000);
  });
  it("refuses what does not fit, as a usage error", () => {
    const spec = { min: 1, max: 1, what: "PKG" };
    expect(() => parseOperatorArgs(["--config", "c"], usage, spec)).toThrow(/missing PKG/);
    expect(() => parseOperatorArgs(["web"], usage, spec)).toThrow(/--config FILE/);
    expect(() => parseOperatorArgs(["web", "x", "--config", "c"], usage, spec)).toThrow(
      /unexpected argument 'x'/,
    );
    expect(() => parseOperatorArgs(["web", "--config", "c", "--timeout", "soon"], usage, spec)).toThrow(
      /not a duration/,
    );
    expect(() => parseOperatorArgs(["web", "--config", "c", "--nod", "n1"], usage, spec)).toThrow(
      /Unknown option/,
    );
  });
  it("names the operator from SUDO_USER, else USER, with a host usable in an event key", () => {
    const ann = currentOperator({ SUDO_USER: "ann", USER: "root" }, "lab host");
    expect(ann).toEqual({ user: "ann", host: "lab host", via: "cli" });
    expect([actorBy(ann), actorEventNode(ann)]).toEqual(["ann@lab host", "lab-host"]);
    expect(actorBy(currentOperator({ USER: "bob" }, "h1"))).toBe("bob@h1");
  });
  it("names: did-you-mean for packages, nodes and resources; the node of this host for resource set", () => {
    expect(() => knownPackage(config, "wbe", usage)).toThrow(
      'no package "wbe" in cluster t (did you mean "web"?)',
    );
    expect(() => knownNode(config, "n4", usage)).toThrow(
      /no node "n4" in cluster t \(did you mean "n1"\?\); nodes: n1, n2, n3/,
    );
    expect(() => knownResource(config.packages[0]!, "dsik", usage)).toThrow(/did you mean "disk"/);
    expect(() => knownResource(config.packages[1]!, "disk", usage)).toThrow(/its resources: none/);
    expect(nodeOfThisHost(config, "n2", usage)).toBe("n2");
    expect(nodeOfThisHost(config, "n3.lab.example", usage)).toBe("n3");
    expect(() => nodeOfThisHost(config, "vm", usage)).toThrow(
      /this host \(vm\) is not a node of cluster t: say which node with --node/,
    );
  });
});

describe("regressions", () => {
  it("pkg-command-name-from-object-prototype: 'pavise pkg toString web' is an unknown command (exit 2), not an etcd read", async () => {
    for (const sub of ["toString", "constructor", "__proto__"]) {
      await expect(pkgCommand([sub, "web", "--config", "/nonexistent/cluster.yaml"])).rejects.toMatchObject({
        code: "CLI_USAGE",
        message: `unknown pkg command '${sub}'`,
      });
    }
  });
});
