import { stringify } from "yaml";
import type {
  ClusterConfig,
  GenericResourceConfig,
  PackageConfig,
  PackageDependency,
} from "../../src/cluster/config/model.js";
import type { Plan, PlanAction } from "../../src/cluster/scheduler/plan.js";
import type {
  ClusterState,
  NodeState,
  NodeStatus,
  PackageState,
  PackageStatus,
} from "../../src/cluster/state.js";
import { readYaml } from "../../src/config/yaml.js";

/**
 * A scheduler case (test/scheduler-cases/<group>/<case>.yaml): a one-line description, a
 * compact cluster (nodes with their status, packages with their configuration and state) and
 * the plan expected from it. test/scheduler-cases/README.md describes the format; everything
 * left out takes the default a new cluster would have (all nodes up on every subnet, packages
 * down, auto_run, configured_node, manual failback, no priority).
 */

export interface SchedulerCase {
  description: string;
  config: ClusterConfig;
  state: ClusterState;
  now: number;
  /** Absent in a new case until PAVISE_UPDATE_CASES=1 writes it. */
  expected: ExpectedPlan | undefined;
}

/** A plan as a case file writes it: placements, and each action as one line "step: reason". */
export interface ExpectedPlan {
  placements: Record<string, string[]>;
  actions: string[];
}

const TOP_KEYS = ["description", "nodes", "packages", "unconfigured", "now", "expected"];
const NODE_KEYS = ["status", "subnets_down", "resources"];
const PACKAGE_KEYS = [
  ...["type", "nodes", "auto_run", "failover_policy", "failback_policy", "priority", "depends"],
  ...["monitored_subnets", "ip_subnets", "resources"],
  ...["running", "status", "switching", "disabled_nodes", "failed_on", "halted_by_operator", "maintenance"],
  "requested_node",
];

export function parseCase(text: string, file: string): SchedulerCase {
  return caseFrom(readYaml(text, file, "SCHEDULER_CASE_INVALID"), file);
}

/** A case from its parsed YAML (or from an object built the same way, as the random tests do). */
export function caseFrom(raw: unknown, file: string): SchedulerCase {
  const fail = (key: string, message: string): never => {
    throw new Error(`${file}: ${key}: ${message}`);
  };
  const doc = record(raw, "(top)", fail);
  checkKeys(doc, TOP_KEYS, "", fail);
  const keys = Object.keys(doc);
  if ("expected" in doc && keys[keys.length - 1] !== "expected") fail("expected", "must be the last key");
  const description = doc.description;
  if (typeof description !== "string" || description.includes("\n")) fail("description", "one line of text");

  const nodes = readNodes(doc.nodes, fail);
  const packages = record(doc.packages ?? {}, "packages", fail);
  const subnets = new Set<string>();
  for (const node of nodes) node.subnetsDown.forEach((subnet) => subnets.add(subnet));

  const configs: PackageConfig[] = [];
  const states: Record<string, PackageState> = {};
  for (const [name, raw] of Object.entries(packages)) {
    const key = `packages.${name}`;
    const spec = record(raw ?? {}, key, fail);
    checkKeys(spec, PACKAGE_KEYS, `${key}.`, fail);
    const config = readPackage(name, spec, nodes, key, fail);
    config.monitoredSubnets.forEach((subnet) => subnets.add(subnet));
    config.addresses.forEach((address) => subnets.add(address.subnet));
    configs.push(config);
    states[name] = readPackageState(name, spec, config, key, fail);
  }
  for (const [name, running] of Object.entries(record(doc.unconfigured ?? {}, "unconfigured", fail))) {
    states[name] = packageState(name, nodeList(running, `unconfigured.${name}`, fail), "up");
  }

  const subnetNames = [...subnets];
  const config: ClusterConfig = {
    name: "case",
    etcd: { endpoints: ["http://198.18.2.11:2379"], tls: undefined, prefix: "/pavise/case/" },
    timing: {
      memberTimeoutMs: 1000,
      keepaliveIntervalMs: 333,
      fenceAfterMs: 700,
      eventLoopBudgetMs: 200,
      addressInUseWaitMs: 200,
    },
    arp: { count: 3, intervalMs: 100 },
    subnets: subnetNames.map((name, i) => ({ name, cidr: `198.18.${10 + i}.0/24`, heartbeat: false })),
    nodes: nodes.map((node, i) => ({
      name: node.name,
      interfaces: subnetNames.map((subnet) => ({ subnet, primary: `lan${i}`, standby: [] })),
    })),
    packages: configs,
  };
  const state: ClusterState = {
    nodes: Object.fromEntries(
      nodes.map((node): [string, NodeState] => [
        node.name,
        {
          name: node.name,
          status: node.status,
          subnetsUp: subnetNames.filter((subnet) => !node.subnetsDown.includes(subnet)),
          resources: node.resources,
          since: 0,
        },
      ]),
    ),
    packages: states,
    placements: Object.fromEntries(Object.values(states).map((pkg) => [pkg.name, pkg.runningOn])),
  };
  const now = doc.now ?? 0;
  if (typeof now !== "number") fail("now", "a number of milliseconds");
  return {
    description: description as string,
    config,
    state,
    now: now as number,
    expected: doc.expected === undefined ? undefined : readExpected(doc.expected, fail),
  };
}

// ---- nodes -------------------------------------------------------------------------------

interface CaseNode {
  name: string;
  status: NodeStatus;
  subnetsDown: string[];
  resources: Record<string, "up" | "down">;
}

type Fail = (key: string, message: string) => never;

function readNodes(raw: unknown, fail: Fail): CaseNode[] {
  if (Array.isArray(raw)) {
    return raw.map((name, i) =>
      typeof name === "string"
        ? { name, status: "up", subnetsDown: [], resources: {} }
        : fail(`nodes[${i}]`, "a node name"),
    );
  }
  return Object.entries(record(raw, "nodes", fail)).map(([name, spec]) => {
    const key = `nodes.${name}`;
    if (typeof spec === "string")
      return { name, status: nodeStatus(spec, key, fail), subnetsDown: [], resources: {} };
    const node = record(spec, key, fail);
    checkKeys(node, NODE_KEYS, `${key}.`, fail);
    const resources = record(node.resources ?? {}, `${key}.resources`, fail);
    for (const [resource, value] of Object.entries(resources)) {
      if (value !== "up" && value !== "down") fail(`${key}.resources.${resource}`, "up or down");
    }
    return {
      name,
      status: nodeStatus(node.status ?? "up", `${key}.status`, fail),
      subnetsDown: names(node.subnets_down, `${key}.subnets_down`, fail),
      resources: resources as Record<string, "up" | "down">,
    };
  });
}

function nodeStatus(value: unknown, key: string, fail: Fail): NodeStatus {
  return value === "up" || value === "halted" || value === "failed"
    ? value
    : fail(key, "up, halted or failed");
}

// ---- packages ----------------------------------------------------------------------------

function readPackage(
  name: string,
  spec: Record<string, unknown>,
  nodes: readonly CaseNode[],
  key: string,
  fail: Fail,
): PackageConfig {
  const oneOf = <T extends string>(field: string, values: readonly T[], fallback: T): T => {
    const value = spec[field] ?? fallback;
    return values.includes(value as T) ? (value as T) : fail(`${key}.${field}`, values.join(" or "));
  };
  const priority = spec.priority;
  if (priority !== undefined && typeof priority !== "number") fail(`${key}.priority`, "a number");
  const list = spec.nodes ?? "*";
  return {
    name,
    type: oneOf("type", ["failover", "multi_node"], "failover"),
    nodes: list === "*" ? nodes.map((node) => node.name) : names(list, `${key}.nodes`, fail),
    autoRun: flag(spec.auto_run, true, `${key}.auto_run`, fail),
    failoverPolicy: oneOf("failover_policy", ["configured_node", "min_package_node"], "configured_node"),
    failbackPolicy: oneOf("failback_policy", ["manual", "automatic"], "manual"),
    priority: priority,
    dependencies: names(spec.depends, `${key}.depends`, fail).map((text, i) =>
      readDependency(text, `${key}.depends[${i}]`, fail),
    ),
    addresses: names(spec.ip_subnets, `${key}.ip_subnets`, fail).map((subnet, i) => ({
      address: `198.18.1.${50 + i}`,
      subnet,
    })),
    monitoredSubnets: names(spec.monitored_subnets, `${key}.monitored_subnets`, fail),
    services: [],
    resources: readResources(spec.resources, `${key}.resources`, fail),
    startScript: undefined,
    haltScript: undefined,
    nodeFailFast: false,
    logFile: undefined,
  };
}

/** "db up same_node": the package, then condition (default up), then location (default same_node). */
function readDependency(text: string, key: string, fail: Fail): PackageDependency {
  const [pkg, condition = "up", location = "same_node", ...rest] = text.split(/\s+/);
  if (!pkg || rest.length > 0) fail(key, 'write "PACKAGE [up|down] [same_node|different_node|any_node]"');
  if (condition !== "up" && condition !== "down") fail(key, `condition "${condition}": up or down`);
  if (location !== "same_node" && location !== "different_node" && location !== "any_node") {
    fail(key, `location "${location}": same_node, different_node or any_node`);
  }
  return {
    name: `${pkg}_${condition}`,
    package: pkg,
    condition: condition,
    location: location,
  };
}

function readResources(raw: unknown, key: string, fail: Fail): GenericResourceConfig[] {
  const entries: [string, unknown][] = Array.isArray(raw)
    ? names(raw, key, fail).map((name) => [name, "up"])
    : Object.entries(record(raw ?? {}, key, fail));
  return entries.map(([name, initial]) => ({
    name,
    monitor: undefined,
    initial:
      initial === "up" || initial === "down" ? initial : fail(`${key}.${name}`, "initial status up or down"),
  }));
}

function readPackageState(
  name: string,
  spec: Record<string, unknown>,
  config: PackageConfig,
  key: string,
  fail: Fail,
): PackageState {
  const runningOn = nodeList(spec.running ?? [], `${key}.running`, fail);
  const statuses: PackageStatus[] = ["up", "down", "starting", "halting", "failing", "failed"];
  const status = spec.status ?? (runningOn.length > 0 ? "up" : "down");
  if (!statuses.includes(status as PackageStatus)) fail(`${key}.status`, statuses.join(", "));
  return {
    ...packageState(name, runningOn, status as PackageStatus),
    switching: flag(spec.switching, config.autoRun, `${key}.switching`, fail),
    disabledNodes: names(spec.disabled_nodes, `${key}.disabled_nodes`, fail),
    failedOn: names(spec.failed_on, `${key}.failed_on`, fail),
    haltedByOperator: flag(spec.halted_by_operator, false, `${key}.halted_by_operator`, fail),
    maintenance: flag(spec.maintenance, false, `${key}.maintenance`, fail),
    ...requestedNode(spec.requested_node, `${key}.requested_node`, fail),
  };
}

function requestedNode(value: unknown, key: string, fail: Fail): { requestedNode?: string } {
  if (value === undefined) return {};
  if (typeof value !== "string") fail(key, "a node name");
  return { requestedNode: value };
}

function packageState(name: string, runningOn: string[], status: PackageStatus): PackageState {
  return {
    name,
    status,
    runningOn,
    switching: true,
    disabledNodes: [],
    failedOn: [],
    haltedByOperator: false,
    maintenance: false,
    since: 0,
  };
}

// ---- expected plan -----------------------------------------------------------------------

function readExpected(raw: unknown, fail: Fail): ExpectedPlan {
  const expected = record(raw, "expected", fail);
  checkKeys(expected, ["placements", "actions"], "expected.", fail);
  const placements = Object.fromEntries(
    Object.entries(record(expected.placements ?? {}, "expected.placements", fail)).map(([name, nodes]) => [
      name,
      nodeList(nodes, `expected.placements.${name}`, fail),
    ]),
  );
  const actions = (Array.isArray(expected.actions) ? expected.actions : []).map((item: unknown, i) => {
    const entries = Object.entries(record(item, `expected.actions[${i}]`, fail));
    const [entry] = entries;
    if (entries.length !== 1 || !entry || typeof entry[1] !== "string") {
      fail(`expected.actions[${i}]`, '"STEP: reason", e.g. "move web n1 -> n2: node n1 failed"');
    }
    return `${entry[0]}: ${entry[1]}`;
  });
  return { placements, actions };
}

/** The plan in the form a case file holds. */
export function expectedOf(plan: Plan): ExpectedPlan {
  return {
    placements: { ...plan.placements },
    actions: plan.actions.map((action) => `${stepOf(action)}: ${action.reason}`),
  };
}

export function stepOf(action: PlanAction): string {
  switch (action.kind) {
    case "start":
      return `start ${action.package} on ${action.node}`;
    case "halt":
      return `halt ${action.package} on ${action.node}`;
    case "move":
      return `move ${action.package} ${action.from} -> ${action.to}`;
  }
}

/** The case file's text with its `expected:` section (written last) replaced by `plan`. */
export function withExpected(text: string, plan: Plan): string {
  const at = text.search(/^expected:/m);
  const input = (at < 0 ? text : text.slice(0, at)).trimEnd();
  const placements = Object.entries(plan.placements).map(
    ([name, nodes]) => `    ${name}: [${nodes.join(", ")}]`,
  );
  const actions = plan.actions.map((action) => `    - ${stepOf(action)}: ${scalar(action.reason)}`);
  return [
    input,
    "expected:",
    placements.length > 0 ? "  placements:" : "  placements: {}",
    ...placements,
    actions.length > 0 ? "  actions:" : "  actions: []",
    ...actions,
    "",
  ].join("\n");
}

function scalar(text: string): string {
  return stringify(text).trimEnd();
}

// ---- small readers -----------------------------------------------------------------------

function record(raw: unknown, key: string, fail: Fail): Record<string, unknown> {
  return raw !== null && typeof raw === "object" && !Array.isArray(raw)
    ? (raw as Record<string, unknown>)
    : fail(key, "a mapping");
}

function checkKeys(raw: Record<string, unknown>, known: readonly string[], prefix: string, fail: Fail): void {
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) fail(`${prefix}${key}`, `unknown key (known: ${known.join(", ")})`);
  }
}

function names(raw: unknown, key: string, fail: Fail): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw) || raw.some((item) => typeof item !== "string"))
    return fail(key, "a list of names");
  return raw as string[];
}

/** A node, or a list of nodes. */
function nodeList(raw: unknown, key: string, fail: Fail): string[] {
  return typeof raw === "string" ? [raw] : names(raw, key, fail);
}

function flag(raw: unknown, fallback: boolean, key: string, fail: Fail): boolean {
  if (raw === undefined) return fallback;
  return typeof raw === "boolean" ? raw : fail(key, "true or false");
}
