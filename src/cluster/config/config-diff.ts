/**
 * What changes between the applied cluster configuration and a new one, and when each change
 * takes effect — the summary `pavise config apply` prints (cmapplyconf's "modifying package …"
 * lines) and the daemons log. Pure: two checked configurations in, a list of changes out.
 *
 * When a change takes effect:
 * - online: the nodes carry it out now (addresses, services, ARP, hooks, new or removed packages
 *   and nodes; package-change-steps.ts says what a node that runs the package does);
 * - scheduler: the leader places packages with it from now on (nodes, policies, priority,
 *   dependencies, monitored subnets, generic resources);
 * - next-start: read when the package next starts or halts (scripts, service restart counts and
 *   halt timeouts, the ipsec: section);
 * - daemon-restart: each daemon reads it when it starts (timing, etcd endpoints and TLS, a
 *   node's own interfaces, subnet ranges, package log files).
 *
 * What cannot change while the cluster runs is refused (nothing is stored): the cluster name
 * and the etcd prefix (every key lives under it: the daemons would no longer see each other).
 * Refusals that depend on the cluster's state (removing a node that is up) are the apply
 * command's (src/cli/config-apply.ts).
 */

import type { ConfigProblem } from "../../util/errors.js";
import { diffApi } from "./api-diff.js";
import type { ClusterConfig, PackageConfig, ServiceConfig } from "./model.js";

export type ChangeEffect = "online" | "scheduler" | "next-start" | "daemon-restart";

export interface ConfigChange {
  /** "cluster", "timing", "package web", "node n2", "subnet public" … */
  subject: string;
  what: string;
  effect: ChangeEffect;
}

export interface ClusterConfigDiff {
  changes: ConfigChange[];
  /** Changes that cannot be made while the cluster runs. */
  refusals: ConfigProblem[];
  packages: { added: string[]; removed: string[]; changed: string[] };
  nodes: { added: string[]; removed: string[]; changed: string[] };
}

export function diffClusterConfig(before: ClusterConfig, after: ClusterConfig): ClusterConfigDiff {
  const changes: ConfigChange[] = [];
  const refusals: ConfigProblem[] = [];
  const add = (subject: string, what: string, effect: ChangeEffect): void => {
    changes.push({ subject, what, effect });
  };

  if (before.name !== after.name) {
    refusals.push({
      key: "cluster_name",
      value: after.name,
      message: `the cluster is ${before.name}; its name cannot change while it runs (it names the cluster's etcd keys and every node's identity)`,
      hint: `keep cluster_name: ${before.name}, or halt every node and set up a new cluster`,
    });
  }
  if (before.etcd.prefix !== after.etcd.prefix) {
    refusals.push({
      key: "etcd.prefix",
      value: after.etcd.prefix,
      message: `the cluster's keys are under ${before.etcd.prefix}; the prefix cannot change while it runs (the daemons would lose each other)`,
      hint: `keep etcd.prefix: ${before.etcd.prefix}`,
    });
  }
  // Each daemon connects with the etcd settings of its own file (it cannot read etcd's new
  // address from etcd); the applied ones are what the operator's commands use.
  const daemonsOwnFile =
    "(each daemon connects with the etcd settings of its local file: change them there too)";
  if (!same(before.etcd.endpoints, after.etcd.endpoints)) {
    add(
      "etcd",
      `endpoints ${before.etcd.endpoints.join(", ")} → ${after.etcd.endpoints.join(", ")} ${daemonsOwnFile}`,
      "daemon-restart",
    );
  }
  if (!same(before.etcd.tls, after.etcd.tls)) add("etcd", `tls changed ${daemonsOwnFile}`, "daemon-restart");

  const timingKeys: [keyof ClusterConfig["timing"], string][] = [
    ["memberTimeoutMs", "member_timeout"],
    ["keepaliveIntervalMs", "keepalive_interval"],
    ["fenceAfterMs", "fence_after"],
    ["eventLoopBudgetMs", "event_loop_budget"],
    ["addressInUseWaitMs", "address_in_use_wait"],
  ];
  for (const [key, name] of timingKeys) {
    if (before.timing[key] !== after.timing[key]) {
      add(
        "timing",
        `${name} ${duration(before.timing[key])} → ${duration(after.timing[key])}`,
        "daemon-restart",
      );
    }
  }
  if (before.arp.count !== after.arp.count || before.arp.intervalMs !== after.arp.intervalMs) {
    add(
      "arp",
      `${before.arp.count} × ${duration(before.arp.intervalMs)} → ${after.arp.count} × ${duration(after.arp.intervalMs)}`,
      "online",
    );
  }

  if ((before.networkAutoFailback ?? true) !== (after.networkAutoFailback ?? true)) {
    add(
      "cluster",
      `network_auto_failback ${(before.networkAutoFailback ?? true) ? "yes" : "no"} → ${(after.networkAutoFailback ?? true) ? "yes" : "no"}`,
      "daemon-restart",
    );
  }

  // Each daemon reads its hooks at every event (event-sink.ts): the next event runs the new ones.
  const hookNames = (c: ClusterConfig): string[] => (c.hooks ?? []).map((h) => h.name);
  for (const hook of after.hooks ?? []) {
    const old = before.hooks?.find((h) => h.name === hook.name);
    if (!old) add(`hook ${hook.name}`, "added", "online");
    else if (!same(old, hook)) add(`hook ${hook.name}`, "changed", "online");
  }
  for (const name of hookNames(before)) {
    if (!hookNames(after).includes(name)) add(`hook ${name}`, "removed", "online");
  }

  const beforeSubnets = new Map(before.subnets.map((s) => [s.name, s]));
  const afterSubnets = new Map(after.subnets.map((s) => [s.name, s]));
  for (const s of after.subnets) {
    const old = beforeSubnets.get(s.name);
    if (!old) add(`subnet ${s.name}`, `added (${s.cidr})`, "online");
    else if (old.cidr !== s.cidr || old.heartbeat !== s.heartbeat) {
      add(`subnet ${s.name}`, `${describeSubnet(old)} → ${describeSubnet(s)}`, "daemon-restart");
    }
  }
  for (const s of before.subnets) if (!afterSubnets.has(s.name)) add(`subnet ${s.name}`, "removed", "online");

  const nodes = { added: [] as string[], removed: [] as string[], changed: [] as string[] };
  const beforeNodes = new Map(before.nodes.map((n) => [n.name, n]));
  const afterNodes = new Map(after.nodes.map((n) => [n.name, n]));
  for (const n of after.nodes) {
    const old = beforeNodes.get(n.name);
    if (!old) {
      nodes.added.push(n.name);
      add(`node ${n.name}`, "added (packages may run there once its daemon joins)", "online");
    } else if (!same(old.interfaces, n.interfaces)) {
      nodes.changed.push(n.name);
      add(`node ${n.name}`, "interfaces changed", "daemon-restart");
    }
  }
  for (const n of before.nodes) {
    if (!afterNodes.has(n.name)) {
      nodes.removed.push(n.name);
      add(`node ${n.name}`, "removed", "online");
    }
  }

  const packages = { added: [] as string[], removed: [] as string[], changed: [] as string[] };
  const beforePackages = new Map(before.packages.map((p) => [p.name, p]));
  const afterPackages = new Map(after.packages.map((p) => [p.name, p]));
  for (const p of after.packages) {
    const old = beforePackages.get(p.name);
    if (!old) {
      packages.added.push(p.name);
      add(`package ${p.name}`, "added (the leader places it)", "online");
      continue;
    }
    const packageChanges = diffPackage(old, p);
    if (packageChanges.length > 0) packages.changed.push(p.name);
    changes.push(...packageChanges);
  }
  for (const p of before.packages) {
    if (!afterPackages.has(p.name)) {
      packages.removed.push(p.name);
      add(`package ${p.name}`, "removed (halted where it runs)", "online");
    }
  }
  changes.push(...diffApi(before, after));
  return { changes, refusals, packages, nodes };
}

/** What changes in one package, field by field. */
export function diffPackage(before: PackageConfig, after: PackageConfig): ConfigChange[] {
  const subject = `package ${after.name}`;
  const changes: ConfigChange[] = [];
  const add = (what: string, effect: ChangeEffect): void => {
    changes.push({ subject, what, effect });
  };
  if (before.type !== after.type) add(`package_type ${before.type} → ${after.type}`, "scheduler");
  if (!same(before.nodes, after.nodes))
    add(`node_name ${before.nodes.join(", ")} → ${after.nodes.join(", ")}`, "scheduler");
  if (before.autoRun !== after.autoRun)
    add(`auto_run ${yesNo(before.autoRun)} → ${yesNo(after.autoRun)}`, "scheduler");
  if (before.failoverPolicy !== after.failoverPolicy) {
    add(`failover_policy ${before.failoverPolicy} → ${after.failoverPolicy}`, "scheduler");
  }
  if (before.failbackPolicy !== after.failbackPolicy) {
    add(`failback_policy ${before.failbackPolicy} → ${after.failbackPolicy}`, "scheduler");
  }
  if (before.priority !== after.priority) {
    add(`priority ${before.priority ?? "no_priority"} → ${after.priority ?? "no_priority"}`, "scheduler");
  }
  if (!same(before.dependencies, after.dependencies)) add("dependencies changed", "scheduler");
  if (!same(before.monitoredSubnets, after.monitoredSubnets)) {
    add(`monitored_subnet ${list(before.monitoredSubnets)} → ${list(after.monitoredSubnets)}`, "scheduler");
  }
  if (!same(before.resources, after.resources)) add("generic_resources changed", "scheduler");

  const addressKey = (a: { address: string; subnet: string }): string => `${a.address} (${a.subnet})`;
  const had = new Set(before.addresses.map(addressKey));
  const has = new Set(after.addresses.map(addressKey));
  for (const a of after.addresses) {
    if (!had.has(addressKey(a)))
      add(`address ${addressKey(a)} added (on the node that runs it, with gratuitous ARP)`, "online");
  }
  for (const a of before.addresses) {
    if (!has.has(addressKey(a)))
      add(`address ${addressKey(a)} removed (from the node that runs it)`, "online");
  }

  const oldServices = new Map(before.services.map((s) => [s.name, s]));
  const newServices = new Map(after.services.map((s) => [s.name, s]));
  for (const s of after.services) {
    const old = oldServices.get(s.name);
    if (!old) {
      add(`service ${s.name} added (started where the package runs; other services keep running)`, "online");
      continue;
    }
    if (old.command !== s.command) {
      add(`service ${s.name} command changed (restarted where the package runs)`, "online");
    }
    const settings = serviceSettingChanges(old, s);
    if (settings.length > 0) add(`service ${s.name} ${settings.join(", ")}`, "next-start");
  }
  for (const s of before.services) {
    if (!newServices.has(s.name)) add(`service ${s.name} removed (halted where the package runs)`, "online");
  }

  if (!same(before.startScript, after.startScript)) add("start_script changed", "next-start");
  if (!same(before.haltScript, after.haltScript)) add("halt_script changed", "next-start");
  // Design §3: the package's connections are plugged in when it starts, like its scripts.
  if (!same(before.ipsec, after.ipsec)) add("ipsec changed", "next-start");
  if (before.nodeFailFast !== after.nodeFailFast) {
    add(`node_fail_fast ${yesNo(before.nodeFailFast)} → ${yesNo(after.nodeFailFast)}`, "online");
  }
  if (before.logFile !== after.logFile) {
    add(`log_file ${before.logFile ?? "(default)"} → ${after.logFile ?? "(default)"}`, "daemon-restart");
  }
  return changes;
}

function serviceSettingChanges(before: ServiceConfig, after: ServiceConfig): string[] {
  const out: string[] = [];
  if (before.restarts !== after.restarts) out.push(`restart ${before.restarts} → ${after.restarts}`);
  if (before.restartDelayMs !== after.restartDelayMs) {
    out.push(`restart_delay ${duration(before.restartDelayMs)} → ${duration(after.restartDelayMs)}`);
  }
  if (before.haltTimeoutMs !== after.haltTimeoutMs) {
    out.push(`halt_timeout ${duration(before.haltTimeoutMs)} → ${duration(after.haltTimeoutMs)}`);
  }
  if (before.failFast !== after.failFast)
    out.push(`fail_fast ${yesNo(before.failFast)} → ${yesNo(after.failFast)}`);
  return out;
}

/** When each kind of change takes effect, as the summary says it. */
export function describeEffect(effect: ChangeEffect, subject = ""): string {
  switch (effect) {
    case "online":
      return "now";
    case "scheduler":
      return "now, by the leader";
    case "next-start":
      return "at the package's next start";
    case "daemon-restart":
      return subject.startsWith("node ") ? "when its daemon restarts" : "when each daemon restarts";
  }
}

function describeSubnet(s: { cidr: string; heartbeat: boolean }): string {
  return s.heartbeat ? `${s.cidr} heartbeat` : s.cidr;
}

function duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function yesNo(value: boolean): string {
  return value ? "yes" : "no";
}

function list(values: readonly string[]): string {
  return values.length === 0 ? "(none)" : values.join(", ");
}

/** Structural equality of plain configuration values (objects, arrays, scalars, undefined). */
function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
