import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PaviseError } from "../util/errors.js";
import type { LabProcess } from "./host-runtime.js";
import type { LabPlan } from "./plan.js";
import type { LabSpec } from "./spec.js";

/**
 * Everything a lab made, written before it makes it: `lab down` reads this file to remove the
 * lab even after the process that built it crashed half-way.
 */
export interface LabState {
  version: 1;
  spec: LabSpec;
  plan: LabPlan;
  createdAt: string;
  /** Namespaces created so far (in creation order). */
  namespaces: string[];
  processes: LabProcess[];
  /** Set once `up` finished. */
  ready: boolean;
}

/** Labs live below /run (a tmpfs, cleared at boot like the namespaces themselves). */
export function labRoot(): string {
  return process.env.PAVISE_LAB_ROOT ?? "/run/pavise/labs";
}

export function labDirectory(name: string): string {
  return join(labRoot(), name);
}

function statePath(name: string): string {
  return join(labDirectory(name), "state.json");
}

export function writeLabState(state: LabState): void {
  const dir = labDirectory(state.plan.name);
  mkdirSync(dir, { recursive: true });
  const path = statePath(state.plan.name);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(state, null, 2) + "\n");
  renameSync(temporary, path);
}

export function readLabState(name: string): LabState | undefined {
  let text: string;
  try {
    text = readFileSync(statePath(name), "utf8");
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as LabState;
  } catch (err) {
    throw new PaviseError("LAB_STATE_CORRUPT", `cannot read ${statePath(name)}: ${(err as Error).message}`, {
      hint: `remove the lab's namespaces with 'ip netns del' and the directory ${labDirectory(name)}`,
    });
  }
}

/** Names of the labs that have a directory under the lab root. */
export function listLabNames(): string[] {
  try {
    return readdirSync(labRoot(), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
  } catch {
    return [];
  }
}
