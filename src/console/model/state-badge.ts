/**
 * How a node or package state is shown: a word and a symbol, so the state never rests on colour
 * alone (WCAG 1.4.1, design §8); `tone` only picks the colour that goes with them.
 */

import type { NodeView, PackageView } from "../../api/schema/view-types.js";

type NodeStatus = NodeView["status"];
type PackageStatus = PackageView["status"];

export type Tone = "ok" | "busy" | "warn" | "bad" | "off";

export interface Badge {
  text: string;
  icon: string;
  tone: Tone;
}

const NODE: Record<NodeStatus, Badge> = {
  up: { text: "up", icon: "✔", tone: "ok" },
  halted: { text: "halted", icon: "■", tone: "off" },
  failed: { text: "failed", icon: "✖", tone: "bad" },
};

const PACKAGE: Record<PackageStatus, Badge> = {
  up: { text: "up", icon: "✔", tone: "ok" },
  starting: { text: "starting", icon: "↻", tone: "busy" },
  halting: { text: "halting", icon: "↻", tone: "busy" },
  failing: { text: "failing", icon: "⚠", tone: "warn" },
  failed: { text: "failed", icon: "✖", tone: "bad" },
  down: { text: "down", icon: "■", tone: "off" },
};

export function nodeBadge(status: NodeStatus): Badge {
  return NODE[status] ?? { text: String(status), icon: "?", tone: "warn" };
}

export function packageBadge(status: PackageStatus): Badge {
  return PACKAGE[status] ?? { text: String(status), icon: "?", tone: "warn" };
}
