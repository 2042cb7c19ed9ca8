/**
 * What `pavise node halt|run NODE` (cmhaltnode [-f], cmrunnode) and the API's node actions will
 * do. A halt is refused (OPERATOR_REFUSED) when a package running on the node could run nowhere
 * else (node-halt-check.ts), each listed with why, unless forced: then those packages halt, as
 * with cmhaltnode -f. A node that is not a member now (its daemon is not running) gets the
 * intent all the same, applied when it joins; there is nothing to wait for. Pure.
 */

import type { ClusterConfig } from "../config/model.js";
import type { ClusterState } from "../state.js";
import { PaviseError } from "../../util/errors.js";
import { type ActionPlan, OPERATOR_REFUSED } from "./action-plan.js";
import { knownNode } from "./known-names.js";
import { packagesStrandedByHalt } from "./node-halt-check.js";

export interface NodeRequest {
  kind: "halt" | "run";
  node: string;
  /** Halt even when packages are stranded (cmhaltnode -f); only for halt. */
  force?: boolean | undefined;
}

export function planNodeAction(config: ClusterConfig, state: ClusterState, request: NodeRequest): ActionPlan {
  const node = knownNode(config, request.node);
  const halt = request.kind === "halt";
  const force = halt && request.force === true;
  // clusterStateFrom: a configured node without a member record is "failed".
  const member = state.nodes[node] !== undefined && state.nodes[node].status !== "failed";
  if (halt && !force && member) {
    const stranded = packagesStrandedByHalt(config, state, node);
    if (stranded.length > 0) {
      const list = stranded.map((s) => `  ${s.package}: ${s.reasons.join("; ")}`).join("\n");
      throw new PaviseError(
        OPERATOR_REFUSED,
        `halting ${node} would leave packages down that run there and could run nowhere else:\n${list}`,
        { hint: `make another node eligible for them, or halt anyway with pavise node halt ${node} --force` },
      );
    }
  }
  return {
    command: `pavise node ${request.kind} ${node}${force ? " --force" : ""}`,
    serviceguard: halt ? `cmhaltnode${force ? " -f" : ""} ${node}` : `cmrunnode ${node}`,
    intent: { kind: "node", node, halted: halt },
    goal: member ? { kind: "node", node, want: halt ? "halted" : "up" } : undefined,
    event: { subject: node, action: `node-${request.kind}` },
    note: member
      ? undefined
      : `node ${node} is not a member now (its daemon is not running); the change applies when it joins`,
  };
}
