/**
 * Which actions the signed-in user may take now, and what the console asks before each (design
 * §4, §8). Mirrors access-policy.ts on the session summary (GET /v1/session): MONITOR may take
 * none; PACKAGE_ADMIN, for every package or for the packages listed, may run, halt, move,
 * enable or disable switching and set maintenance (cmrunpkg, cmhaltpkg, cmmodpkg -e/-d/-m);
 * FULL_ADMIN may also halt and run nodes (cmhaltnode, cmrunnode). The server decides anyway:
 * this only keeps buttons the user may not use off the page. "Now" means an action that would
 * change something: no Run for a running package, no Move without another eligible node.
 */

import type { NodeView, PackageView, StatusView } from "../../api/schema/view-types.js";
import type { NodeChoice, SessionInfo } from "./api-shapes.js";

export type PackageActionKind =
  "run" | "halt" | "move" | "enable" | "disable" | "maintenance-on" | "maintenance-off";

export type NodeActionKind = "node-halt" | "node-run";

export interface ActionRequest {
  method: "POST";
  path: string;
  body: Record<string, unknown>;
}

export interface PackageAction {
  kind: PackageActionKind;
  /** The button's visible text. */
  label: string;
  /** A move needs a node chosen in its dialog. */
  needsNode: boolean;
}

export interface NodeAction {
  kind: NodeActionKind;
  label: string;
}

const LABEL: Record<PackageActionKind | NodeActionKind, string> = {
  run: "Run",
  halt: "Halt",
  move: "Move…",
  enable: "Enable switching",
  disable: "Disable switching",
  "maintenance-on": "Start maintenance",
  "maintenance-off": "End maintenance",
  "node-halt": "Halt node",
  "node-run": "Run node",
};

/** May this user run, halt, move or switch `pkg` (access-policy.ts "package-operate")? */
export function mayOperatePackage(session: SessionInfo | undefined, pkg: string): boolean {
  if (session === undefined) return false;
  if (session.role !== "package_admin" && session.role !== "full_admin") return false;
  return session.packages === "all" || session.packages.includes(pkg);
}

/** May this user halt or run nodes (access-policy.ts "node-operate": full_admin, cluster-wide)? */
export function mayOperateNodes(session: SessionInfo | undefined): boolean {
  return session?.role === "full_admin" && session.packages === "all";
}

/** May this user read the package's log (access-policy.ts "package-log")? Same grant as operating. */
export function mayReadLog(session: SessionInfo | undefined, pkg: string): boolean {
  return mayOperatePackage(session, pkg);
}

/** The package actions this user may take on `pkg` now, in the order the buttons appear. */
export function packageActions(
  session: SessionInfo | undefined,
  pkg: PackageView,
  view: StatusView,
  nodeChoices?: readonly NodeChoice[],
): PackageAction[] {
  if (!mayOperatePackage(session, pkg.name)) return [];
  const running = pkg.nodes.length > 0;
  const kinds: PackageActionKind[] = [];
  if (!running || pkg.haltedByOperator) kinds.push("run");
  if (running) kinds.push("halt");
  if (pkg.type === "failover" && running && moveTargets(pkg, view, nodeChoices).length > 0)
    kinds.push("move");
  kinds.push(pkg.switching ? "disable" : "enable");
  kinds.push(pkg.maintenance ? "maintenance-off" : "maintenance-on");
  return kinds.map((kind) => ({ kind, label: LABEL[kind], needsNode: kind === "move" }));
}

/** The node actions this user may take on `node` now. */
export function nodeActions(session: SessionInfo | undefined, node: NodeView): NodeAction[] {
  if (!mayOperateNodes(session)) return [];
  const kind: NodeActionKind = node.status === "up" && !node.haltedByOperator ? "node-halt" : "node-run";
  return [{ kind, label: LABEL[kind] }];
}

/**
 * The nodes a failover package could be moved to, each with whether it may go there now and why
 * not, in its node_name order, leaving out where it runs. With the server's choices (GET
 * /v1/packages nodeChoices: the scheduler's own eligibility rule) those decide; without them,
 * every node of the view, judged on what the view shows: up, not halted, not disabled for the
 * package (cmmodpkg -d -n), not where it failed. The server refuses anything else with the reason.
 */
export function moveChoices(
  pkg: PackageView,
  view: StatusView,
  nodeChoices?: readonly NodeChoice[],
): NodeChoice[] {
  const choices = nodeChoices ?? view.nodes.map((n) => guessChoice(pkg, view, n.name));
  return choices.filter((c) => !pkg.nodes.includes(c.node));
}

/** The nodes it may be moved to now. */
export function moveTargets(
  pkg: PackageView,
  view: StatusView,
  nodeChoices?: readonly NodeChoice[],
): string[] {
  return moveChoices(pkg, view, nodeChoices)
    .filter((c) => c.eligible)
    .map((c) => c.node);
}

function guessChoice(pkg: PackageView, view: StatusView, name: string): NodeChoice {
  const node = view.nodes.find((n) => n.name === name);
  const why =
    node === undefined
      ? "not in the cluster view"
      : node.status !== "up"
        ? `node ${name} is ${node.status}`
        : node.haltedByOperator
          ? `node ${name} was halted by an operator`
          : pkg.disabledNodes.includes(name)
            ? `node switching is disabled for ${pkg.name} on ${name}`
            : pkg.failedOn.some((f) => f.node === name)
              ? `${pkg.name} failed on ${name}`
              : undefined;
  return why === undefined ? { node: name, eligible: true } : { node: name, eligible: false, why };
}

/** The question the dialog asks before a package action. */
export function packageConfirmText(kind: PackageActionKind, pkg: PackageView, node?: string): string {
  const name = pkg.name;
  const where = pkg.nodes.length > 0 ? ` on ${pkg.nodes.join(", ")}` : "";
  switch (kind) {
    case "move":
      return `Move ${name} from ${pkg.nodes.join(", ") || "nowhere"} to ${node ?? "?"}? Clients see a short gap.`;
    case "halt":
      return `Halt ${name}${where}? Its services stop and its addresses go away until someone runs it again.`;
    case "run":
      return `Run ${name}? The cluster starts it on its first eligible node.`;
    case "enable":
      return `Enable switching for ${name}? The cluster may start, fail over and move it again.`;
    case "disable":
      return `Disable switching for ${name}? It keeps running${where}, but the cluster will not start it or fail it over.`;
    case "maintenance-on":
      return `Put ${name} in maintenance? The cluster will not start, halt or move it until maintenance ends.`;
    case "maintenance-off":
      return `End maintenance for ${name}? The cluster manages it again.`;
  }
}

export function nodeConfirmText(kind: NodeActionKind, node: string): string {
  return kind === "node-halt"
    ? `Halt node ${node}? Its packages move to other nodes; the halt is refused if one could run nowhere else.`
    : `Run node ${node}? It rejoins the cluster and may run packages again.`;
}

/**
 * The POST for a package action (design §5). wait: false answers 202 at once; the progress shows
 * on the timeline.
 */
export function packageRequest(kind: PackageActionKind, pkg: string, node?: string): ActionRequest {
  const base = `/v1/packages/${encodeURIComponent(pkg)}`;
  switch (kind) {
    case "maintenance-on":
    case "maintenance-off":
      return {
        method: "POST",
        path: `${base}/maintenance`,
        body: { on: kind === "maintenance-on", wait: false },
      };
    case "move":
      return {
        method: "POST",
        path: `${base}/move`,
        body: { ...(node !== undefined ? { node } : {}), wait: false },
      };
    default:
      return { method: "POST", path: `${base}/${kind}`, body: { wait: false } };
  }
}

export function nodeRequest(kind: NodeActionKind, node: string): ActionRequest {
  const verb = kind === "node-halt" ? "halt" : "run";
  return { method: "POST", path: `/v1/nodes/${encodeURIComponent(node)}/${verb}`, body: { wait: false } };
}
