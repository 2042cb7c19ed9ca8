import { describe, expect, it } from "vitest";
import { clusterStateFrom, snapshotFrom } from "../../src/cluster/agent/cluster-state.js";
import { parseClusterConfig } from "../../src/cluster/config/cluster-config.js";
import type { KeyValue } from "../../src/cluster/etcd/wire.js";
import { ClusterKeys } from "../../src/cluster/membership/layout.js";
import { type ActionPlan, applyIntentChange, intentKey } from "../../src/cluster/operator/action-plan.js";
import { type Actor, actorBy, actorEventFields } from "../../src/cluster/operator/actor.js";
import {
  knownNode,
  knownPackage,
  knownResource,
  nodeOfHost,
} from "../../src/cluster/operator/known-names.js";
import { type NodeRequest, planNodeAction } from "../../src/cluster/operator/node-action.js";
import { type PackageRequest, planPackageAction } from "../../src/cluster/operator/package-action.js";
import { type ResourceRequest, planResourceAction } from "../../src/cluster/operator/resource-action.js";
import type { ClusterState } from "../../src/cluster/state.js";
import { PaviseError } from "../../src/util/errors.js";

// The operator core shared by the CLI and the API (src/cluster/operator/*-action.ts): a fixed
// configuration and fixed etcd keys → what each action will do (the intent change, the goal, the
// command text and Serviceguard's equivalent), or why it is refused.

const config = parseClusterConfig(`cluster_name: demo
etcd:
  endpoints: [http://198.18.2.11:2379]
subnets:
  - { name: public, cidr: 198.18.1.0/24 }
nodes:
  - { name: n1, interfaces: [{ subnet: public, primary: lan0 }] }
  - { name: n2, interfaces: [{ subnet: public, primary: lan0 }] }
  - { name: n3, interfaces: [{ subnet: public, primary: lan0 }] }
packages:
  - name: web
    node_name: [n1, n2, n3]
    ip_address: [{ address: 198.18.1.50, subnet: public }]
    generic_resources: [{ name: disk, initial: up }]
  - name: db
    node_name: [n2]
    generic_resources: [{ name: link, initial: up, monitor: { command: /usr/local/bin/check-link, interval: 10s } }]
  - name: mon
    package_type: multi_node
    node_name: [n1, n2, n3]
`);

const keys = new ClusterKeys("/pavise/demo/");

function kv(key: string, value: unknown, lease = "0"): KeyValue {
  return { key, value: JSON.stringify(value), createRevision: 1, modRevision: 1, version: 1, lease };
}

/** The cluster with `members` up, `running` (package → node) up there, and resources set down. */
function stateWith(
  members: string[],
  running: [string, string][],
  resourcesDown: [string, string][] = [],
): ClusterState {
  const snapshot = snapshotFrom(
    keys,
    {
      nodes: members.map((n) => kv(keys.node(n), { name: n, status: "up", since: 1 }, n)),
      owners: running.map(([p, n]) => kv(keys.owner(p, n), { node: n }, n)),
      status: running.map(([p, n]) =>
        kv(keys.status(p, n), { package: p, node: n, status: "up", since: 1 }, n),
      ),
      placements: undefined,
      admin: [],
      resources: resourcesDown.map(([n, r]) => kv(keys.resource(n, r), { status: "down" })),
    },
    7,
  );
  return clusterStateFrom(config, snapshot);
}

/** Everyone up; web on n2, mon everywhere, db on n2. */
const normal = stateWith(
  ["n1", "n2", "n3"],
  [
    ["web", "n2"],
    ["db", "n2"],
    ["mon", "n1"],
    ["mon", "n2"],
    ["mon", "n3"],
  ],
);

/** The parts of a plan a reader checks at a glance. */
function summary(plan: ActionPlan): Record<string, unknown> {
  return {
    command: plan.command,
    serviceguard: plan.serviceguard,
    goal: plan.goal,
    ...(plan.note !== undefined ? { note: plan.note } : {}),
  };
}

function refusal(decide: () => unknown): { code: string; message: string } {
  try {
    decide();
  } catch (err) {
    if (err instanceof PaviseError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error("expected a refusal, got a plan");
}

describe("package actions (pavise pkg, cmrunpkg / cmhaltpkg / cmmodpkg)", () => {
  const cases: {
    name: string;
    state?: ClusterState;
    request: PackageRequest;
    plan: Record<string, unknown>;
  }[] = [
    {
      name: "run without a node: wait for it up wherever the scheduler puts it",
      request: { kind: "run", package: "web" },
      plan: {
        command: "pavise pkg run web",
        serviceguard: "cmrunpkg web",
        goal: { kind: "package", package: "web", want: "up", node: undefined },
      },
    },
    {
      name: "run on an eligible node",
      request: { kind: "run", package: "web", node: "n3" },
      plan: {
        command: "pavise pkg run web --node n3",
        serviceguard: "cmrunpkg -n n3 web",
        goal: { kind: "package", package: "web", want: "up", node: "n3" },
      },
    },
    {
      name: "halt: wait for it down",
      request: { kind: "halt", package: "web" },
      plan: {
        command: "pavise pkg halt web",
        serviceguard: "cmhaltpkg web",
        goal: { kind: "package", package: "web", want: "down" },
      },
    },
    {
      name: "move without a node: the next node of node_name after the current one (n2 → n3)",
      request: { kind: "move", package: "web" },
      plan: {
        command: "pavise pkg move web --node n3",
        serviceguard: "cmhaltpkg web; cmrunpkg -n n3 web; cmmodpkg -e web",
        goal: { kind: "package", package: "web", want: "up", node: "n3" },
      },
    },
    {
      name: "move without a node wraps around the list, skipping an ineligible node (n3 down → n1)",
      state: stateWith(["n1", "n2"], [["web", "n2"]]),
      request: { kind: "move", package: "web" },
      plan: {
        command: "pavise pkg move web --node n1",
        serviceguard: "cmhaltpkg web; cmrunpkg -n n1 web; cmmodpkg -e web",
        goal: { kind: "package", package: "web", want: "up", node: "n1" },
      },
    },
    {
      name: "enable node switching on one node: wait for the cluster to settle",
      request: { kind: "enable", package: "web", node: "n1" },
      plan: {
        command: "pavise pkg enable web --node n1",
        serviceguard: "cmmodpkg -e -n n1 web",
        goal: { kind: "package", package: "web", want: "settled" },
      },
    },
    {
      name: "disable package switching",
      request: { kind: "disable", package: "web" },
      plan: {
        command: "pavise pkg disable web",
        serviceguard: "cmmodpkg -d web",
        goal: { kind: "package", package: "web", want: "settled" },
      },
    },
    {
      name: "maintenance on: nothing to wait for",
      request: { kind: "maintenance", package: "web", on: true },
      plan: { command: "pavise pkg maintenance web on", serviceguard: "cmmodpkg -m on web", goal: undefined },
    },
    {
      name: "maintenance off",
      request: { kind: "maintenance", package: "db", on: false },
      plan: { command: "pavise pkg maintenance db off", serviceguard: "cmmodpkg -m off db", goal: undefined },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planPackageAction(config, c.state ?? normal, c.request);
      expect(summary(plan)).toEqual(c.plan);
      expect(plan.event).toEqual({ package: c.request.package, action: `pkg-${c.request.kind}` });
      expect(plan.intent.kind).toBe("package");
    });
  }

  it("the intent change is the command with its node resolved", () => {
    expect(planPackageAction(config, normal, { kind: "move", package: "web" }).intent).toEqual({
      kind: "package",
      package: "web",
      command: { kind: "move", node: "n3" },
    });
    expect(
      planPackageAction(config, normal, { kind: "maintenance", package: "web", on: true }).intent,
    ).toEqual({
      kind: "package",
      package: "web",
      command: { kind: "maintenance", on: true },
    });
  });

  const refusals: {
    name: string;
    state?: ClusterState;
    request: PackageRequest;
    code: string;
    message: RegExp;
  }[] = [
    {
      name: "run on a node that is not a member",
      state: stateWith(["n1", "n2"], [["web", "n2"]]),
      request: { kind: "run", package: "web", node: "n3" },
      code: "OPERATOR_REFUSED",
      message: /^web cannot run on n3: node n3 failed$/,
    },
    {
      name: "run on a node where its generic resource is down",
      state: stateWith(["n1", "n2", "n3"], [["web", "n2"]], [["n1", "disk"]]),
      request: { kind: "move", package: "web", node: "n1" },
      code: "OPERATOR_REFUSED",
      message: /^web cannot run on n1: resource disk is down on n1$/,
    },
    {
      name: "run on a node outside its node_name list",
      request: { kind: "run", package: "db", node: "n1" },
      code: "OPERATOR_REFUSED",
      message: /^db cannot run on n1: node n1 is not in the package's node list$/,
    },
    {
      name: "a multi_node package is not run on one chosen node",
      request: { kind: "run", package: "mon", node: "n1" },
      code: "OPERATOR_REFUSED",
      message: /^mon is a multi_node package: it runs on every eligible node/,
    },
    {
      name: "a multi_node package is not moved",
      request: { kind: "move", package: "mon" },
      code: "OPERATOR_REFUSED",
      message: /^mon is a multi_node package: there is nothing to move$/,
    },
    {
      name: "a package that is not running is not moved",
      state: stateWith(["n1", "n2", "n3"], []),
      request: { kind: "move", package: "web" },
      code: "OPERATOR_REFUSED",
      message: /^web is not running: nothing to move$/,
    },
    {
      name: "a move with nowhere to go names each node and why",
      state: stateWith(["n2", "n3"], [["web", "n2"]], [["n3", "disk"]]),
      request: { kind: "move", package: "web" },
      code: "OPERATOR_REFUSED",
      message:
        /^web has no other node to move to:\n {2}n3: resource disk is down on n3\n {2}n1: node n1 failed$/,
    },
    {
      name: "a package with one node has no other node",
      request: { kind: "move", package: "db" },
      code: "OPERATOR_REFUSED",
      message: /^db has no other node to move to:\n {2}its node list has no other node$/,
    },
    {
      name: "an unknown package, with did-you-mean",
      request: { kind: "halt", package: "wbe" },
      code: "NO_SUCH_PACKAGE",
      message: /^no package "wbe" in cluster demo \(did you mean "web"\?\); packages: web, db, mon$/,
    },
    {
      name: "an unknown node, with did-you-mean",
      request: { kind: "run", package: "web", node: "n4" },
      code: "NO_SUCH_NODE",
      message: /^no node "n4" in cluster demo \(did you mean "n1"\?\); nodes: n1, n2, n3$/,
    },
  ];
  for (const c of refusals) {
    it(`refuses: ${c.name}`, () => {
      const got = refusal(() => planPackageAction(config, c.state ?? normal, c.request));
      expect(got.code).toBe(c.code);
      expect(got.message).toMatch(c.message);
    });
  }
});

describe("node actions (pavise node, cmhaltnode / cmrunnode)", () => {
  /** web can run only on n2 (disk down on n1 and n3), db only ever there: halting n2 strands both. */
  const webOnlyOnN2 = stateWith(
    ["n1", "n2", "n3"],
    [
      ["web", "n2"],
      ["db", "n2"],
    ],
    [
      ["n1", "disk"],
      ["n3", "disk"],
    ],
  );
  const cases: { name: string; state?: ClusterState; request: NodeRequest; plan: Record<string, unknown> }[] =
    [
      {
        name: "halt a member whose packages can go elsewhere: wait for it halted and empty",
        request: { kind: "halt", node: "n3" },
        plan: {
          command: "pavise node halt n3",
          serviceguard: "cmhaltnode n3",
          goal: { kind: "node", node: "n3", want: "halted" },
        },
      },
      {
        name: "halt with force strands what it must",
        state: webOnlyOnN2,
        request: { kind: "halt", node: "n2", force: true },
        plan: {
          command: "pavise node halt n2 --force",
          serviceguard: "cmhaltnode -f n2",
          goal: { kind: "node", node: "n2", want: "halted" },
        },
      },
      {
        name: "halt a node that is not a member: recorded for when it joins, nothing to wait for",
        state: stateWith(["n1", "n2"], [["web", "n2"]]),
        request: { kind: "halt", node: "n3" },
        plan: {
          command: "pavise node halt n3",
          serviceguard: "cmhaltnode n3",
          goal: undefined,
          note: "node n3 is not a member now (its daemon is not running); the change applies when it joins",
        },
      },
      {
        name: "run: wait for it up; force means nothing there",
        request: { kind: "run", node: "n1", force: true },
        plan: {
          command: "pavise node run n1",
          serviceguard: "cmrunnode n1",
          goal: { kind: "node", node: "n1", want: "up" },
        },
      },
    ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planNodeAction(config, c.state ?? normal, c.request);
      expect(summary(plan)).toEqual(c.plan);
      expect(plan.intent).toEqual({ kind: "node", node: c.request.node, halted: c.request.kind === "halt" });
      expect(plan.event).toEqual({ subject: c.request.node, action: `node-${c.request.kind}` });
    });
  }

  it("refuses a halt that would strand a package, naming it and why, with --force as the way out", () => {
    const err = (() => {
      try {
        planNodeAction(config, webOnlyOnN2, { kind: "halt", node: "n2" });
      } catch (e) {
        return e as PaviseError;
      }
      throw new Error("expected a refusal");
    })();
    expect(err.code).toBe("OPERATOR_REFUSED");
    expect(err.message).toBe(
      "halting n2 would leave packages down that run there and could run nowhere else:\n" +
        "  web: resource disk is down on n1; resource disk is down on n3\n" +
        "  db: its node list has no node but n2",
    );
    expect(err.hint).toMatch(/pavise node halt n2 --force/);
  });

  it("refuses an unknown node", () => {
    expect(refusal(() => planNodeAction(config, normal, { kind: "run", node: "n9" })).code).toBe(
      "NO_SUCH_NODE",
    );
  });
});

describe("resource actions (pavise resource set, cmsetresource)", () => {
  const base: ResourceRequest = { package: "web", resource: "disk", status: "down", node: "n2" };
  it("sets a resource on the named node and waits for the package to settle", () => {
    const plan = planResourceAction(config, base);
    expect(summary(plan)).toEqual({
      command: "pavise resource set web disk down --node n2",
      serviceguard: "cmsetresource -r disk -s down",
      goal: { kind: "package", package: "web", want: "settled" },
    });
    expect(plan.intent).toEqual({ kind: "resource", node: "n2", resource: "disk", status: "down" });
    expect(plan.event).toEqual({
      package: "web",
      subject: "n2",
      resource: "disk",
      status: "down",
      action: "resource-set",
    });
  });
  it("without a node, the node named like the local host (or its short name)", () => {
    const plan = planResourceAction(config, {
      ...base,
      status: "up",
      node: undefined,
      localHost: "n3.lab.example",
    });
    expect(plan.command).toBe("pavise resource set web disk up --node n3");
  });

  const refusals: { name: string; request: ResourceRequest; code: string; message: RegExp }[] = [
    {
      name: "a resource its monitor sets",
      request: { ...base, package: "db", resource: "link" },
      code: "OPERATOR_REFUSED",
      message:
        /^generic resource link of package db is set by its monitor command \("\/usr\/local\/bin\/check-link", every 10000 ms\)/,
    },
    {
      name: "an unknown resource, with did-you-mean",
      request: { ...base, resource: "dsik" },
      code: "NO_SUCH_RESOURCE",
      message: /^package web has no generic resource "dsik" \(did you mean "disk"\?\); its resources: disk$/,
    },
    {
      name: "an unknown package before anything else",
      request: { ...base, package: "nope", node: "n9" },
      code: "NO_SUCH_PACKAGE",
      message: /^no package "nope"/,
    },
    {
      name: "no node, and the local host is not one",
      request: { ...base, node: undefined, localHost: "vm" },
      code: "NO_SUCH_NODE",
      message: /^this host \(vm\) is not a node of cluster demo: say which node with --node \(n1, n2, n3\)$/,
    },
  ];
  for (const c of refusals) {
    it(`refuses: ${c.name}`, () => {
      const got = refusal(() => planResourceAction(config, c.request));
      expect(got.code).toBe(c.code);
      expect(got.message).toMatch(c.message);
    });
  }
});

describe("known names", () => {
  it("returns what it knows, and the names there are when it does not", () => {
    expect(knownPackage(config, "db").name).toBe("db");
    expect(knownNode(config, "n2")).toBe("n2");
    expect(knownResource(config.packages[0]!, "disk")).toBe("disk");
    expect(nodeOfHost(config, "n1")).toBe("n1");
    expect(refusal(() => knownResource(config.packages[2]!, "disk")).message).toMatch(/its resources: none$/);
    expect(refusal(() => knownPackage(config, "zzzzzz")).message).not.toMatch(/did you mean/);
  });
});

describe("intent changes and who acted", () => {
  const by = { by: "ann@ops1", at: 1700 };
  it("each intent has its key, and its next value from the current one", () => {
    const node = { kind: "node", node: "n2", halted: true } as const;
    const resource = { kind: "resource", node: "n1", resource: "disk", status: "down" } as const;
    const pkg = { kind: "package", package: "web", command: { kind: "halt" } } as const;
    expect([intentKey(keys, node), intentKey(keys, resource), intentKey(keys, pkg)]).toEqual([
      "/pavise/demo/admin/nodes/n2",
      "/pavise/demo/resources/n1/disk",
      "/pavise/demo/admin/packages/web",
    ]);
    expect(applyIntentChange(node, undefined, by)).toEqual({ halted: true, by: "ann@ops1", at: 1700 });
    // A node run again: the key goes (the default), whatever was there.
    expect(applyIntentChange({ ...node, halted: false }, { halted: true }, by)).toBeUndefined();
    expect(applyIntentChange(resource, { status: "up" }, by)).toEqual({
      status: "down",
      by: "ann@ops1",
      at: 1700,
    });
    expect(applyIntentChange(pkg, { switching: false, requestedNode: "n3" }, by)).toEqual({
      switching: false,
      halted: true,
      by: "ann@ops1",
      at: 1700,
    });
  });

  it("a CLI actor and an API actor in the event: the API's keyed by the node that served it", () => {
    const cli: Actor = { user: "ann", host: "ops 1", via: "cli" };
    const api: Actor = { user: "bob", host: "198.18.1.9", via: "api", auth: "certificate", servedBy: "n2" };
    expect(actorBy(cli)).toBe("ann@ops 1");
    expect(actorEventFields(cli)).toEqual({ node: "ops-1", user: "ann", host: "ops 1", via: "cli" });
    expect(actorBy(api)).toBe("bob@198.18.1.9");
    expect(actorEventFields(api)).toEqual({
      node: "n2",
      user: "bob",
      host: "198.18.1.9",
      via: "api",
      auth: "certificate",
      servedBy: "n2",
    });
    expect(actorEventFields({ user: "x", host: "--", via: "control" }).node).toBe("operator");
  });
});
