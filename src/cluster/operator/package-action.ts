/**
 * What `pavise pkg run|halt|move|enable|disable|maintenance` (and the API's package actions) will
 * do, decided from the configuration and the cluster state before anything is written: the
 * command with its node resolved (a move without a node goes to the next eligible node of the
 * package's node_name list, move-target.ts), the goal to wait for, and Serviceguard's
 * equivalent. A node the package cannot run on is refused (OPERATOR_REFUSED) with the reason,
 * as cmrunpkg -n refuses an ineligible node. Pure.
 */

import type { ClusterConfig } from "../config/model.js";
import { whyNotEligible } from "../scheduler/eligibility.js";
import { buildView } from "../scheduler/view.js";
import type { ClusterState } from "../state.js";
import { PaviseError } from "../../util/errors.js";
import { type ActionPlan, OPERATOR_REFUSED } from "./action-plan.js";
import type { Goal } from "./goals.js";
import { knownNode, knownPackage } from "./known-names.js";
import { chooseMoveTarget } from "./move-target.js";
import type { PackageCommand } from "./package-intent.js";

export type PackageRequest =
  | { kind: "run" | "move" | "enable" | "disable"; package: string; node?: string | undefined }
  | { kind: "halt"; package: string }
  | { kind: "maintenance"; package: string; on: boolean };

/** Serviceguard's command for each (cmrunpkg, cmhaltpkg, cmmodpkg). */
export const PACKAGE_SERVICEGUARD: Record<PackageRequest["kind"], string> = {
  run: "cmrunpkg",
  halt: "cmhaltpkg",
  move: "cmhaltpkg; cmrunpkg -n; cmmodpkg -e",
  enable: "cmmodpkg -e",
  disable: "cmmodpkg -d",
  maintenance: "cmmodpkg -m",
};

export function planPackageAction(
  config: ClusterConfig,
  state: ClusterState,
  request: PackageRequest,
): ActionPlan {
  const pkg = knownPackage(config, request.package).name;
  const node = "node" in request && request.node !== undefined ? knownNode(config, request.node) : undefined;
  const command = commandFor(config, state, request, pkg, node);
  const target = "node" in command ? command.node : undefined;
  const onOff = command.kind === "maintenance" ? (command.on ? "on" : "off") : undefined;
  const serviceguard =
    command.kind === "move"
      ? `cmhaltpkg ${pkg}; cmrunpkg -n ${command.node} ${pkg}; cmmodpkg -e ${pkg}`
      : command.kind === "maintenance"
        ? `cmmodpkg -m ${onOff} ${pkg}`
        : `${PACKAGE_SERVICEGUARD[command.kind]}${target ? ` -n ${target}` : ""} ${pkg}`;
  return {
    command: `pavise pkg ${command.kind} ${pkg}${onOff ? ` ${onOff}` : ""}${target ? ` --node ${target}` : ""}`,
    serviceguard,
    intent: { kind: "package", package: pkg, command },
    goal: goalFor(command, pkg),
    event: { package: pkg, action: `pkg-${command.kind}` },
  };
}

/** The command with its node resolved; refuses a node the package cannot run on. */
function commandFor(
  config: ClusterConfig,
  state: ClusterState,
  request: PackageRequest,
  pkg: string,
  node: string | undefined,
): PackageCommand {
  const view = buildView(config, state);
  const pview = view.byName.get(pkg)!;
  const refuse = (message: string, hint: string): never => {
    throw new PaviseError(OPERATOR_REFUSED, message, { hint });
  };
  const kind = request.kind;
  if ((kind === "run" || kind === "move") && node !== undefined) {
    if (pview.config.type !== "failover") {
      refuse(
        `${pkg} is a multi_node package: it runs on every eligible node, not on one chosen`,
        "leave out --node",
      );
    }
    const why = whyNotEligible(view, pview, node);
    if (why !== undefined)
      refuse(`${pkg} cannot run on ${node}: ${why}`, "fix that first, or choose another node");
  }
  switch (kind) {
    case "run":
    case "enable":
    case "disable":
      return { kind, node };
    case "halt":
      return { kind };
    case "maintenance":
      return { kind, on: request.on };
    case "move": {
      if (node !== undefined) return { kind, node };
      if (pview.config.type !== "failover")
        refuse(`${pkg} is a multi_node package: there is nothing to move`, "");
      if (pview.current.length === 0) {
        refuse(`${pkg} is not running: nothing to move`, `start it with pavise pkg run ${pkg} [--node N]`);
      }
      const target = chooseMoveTarget(config, state, pkg);
      if (target.node === undefined) {
        const reasons = target.reasons.map((r) => `  ${r.node}: ${r.why}`).join("\n");
        return refuse(
          `${pkg} has no other node to move to:\n${reasons || "  its node list has no other node"}`,
          "fix one of these nodes, or name one with --node",
        );
      }
      return { kind, node: target.node };
    }
  }
}

function goalFor(command: PackageCommand, pkg: string): Goal | undefined {
  switch (command.kind) {
    case "run":
    case "move":
      return { kind: "package", package: pkg, want: "up", node: command.node };
    case "halt":
      return { kind: "package", package: pkg, want: "down" };
    case "enable":
    case "disable":
      return { kind: "package", package: pkg, want: "settled" };
    case "maintenance":
      return undefined;
  }
}
