/**
 * What an operator action will do, decided before anything is written (package-action.ts,
 * node-action.ts, resource-action.ts) and done by perform-action.ts: the change of one intent
 * key, the goal to wait for, and how to name it (the command as typed, Serviceguard's
 * equivalent, the event's fields). Pure: the CLI and the API share it.
 */

import type { ChangedBy, ClusterKeys, NodeIntent, ResourceSetting } from "../membership/layout.js";
import type { Goal } from "./goals.js";
import { type PackageCommand, applyPackageCommand } from "./package-intent.js";

/** An action the cluster cannot take as asked (an ineligible node, a package stranded…). */
export const OPERATOR_REFUSED = "OPERATOR_REFUSED";

/** One operator key and the change to it (read-modify-write, intent-store.ts). */
export type IntentChange =
  | { kind: "package"; package: string; command: PackageCommand }
  | { kind: "node"; node: string; halted: boolean }
  | { kind: "resource"; node: string; resource: string; status: "up" | "down" };

export interface ActionPlan {
  /** The command as typed at the CLI, e.g. "pavise pkg halt web". */
  command: string;
  /** What Serviceguard calls it, e.g. "cmhaltpkg web". */
  serviceguard: string;
  intent: IntentChange;
  /** What to wait for; undefined: nothing to wait for. */
  goal: Goal | undefined;
  /** The event's fields about what was acted on (package, subject, resource, status, action). */
  event: Record<string, string>;
  /** Worth telling the operator before acting ("node n3 is not a member now …"). */
  note?: string | undefined;
}

export function intentKey(keys: ClusterKeys, intent: IntentChange): string {
  switch (intent.kind) {
    case "package":
      return keys.adminPackage(intent.package);
    case "node":
      return keys.adminNode(intent.node);
    case "resource":
      return keys.resource(intent.node, intent.resource);
  }
}

/**
 * The key's next value from its current one; undefined deletes it (a node run again has no
 * admin/nodes/ key: the default).
 */
export function applyIntentChange(
  intent: IntentChange,
  current: object | undefined,
  by: ChangedBy,
): object | undefined {
  switch (intent.kind) {
    case "package":
      return applyPackageCommand(current, intent.command, by);
    case "node":
      return intent.halted ? ({ halted: true, ...by } satisfies NodeIntent) : undefined;
    case "resource":
      return { status: intent.status, ...by } satisfies ResourceSetting;
  }
}
