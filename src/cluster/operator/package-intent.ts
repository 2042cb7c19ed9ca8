/**
 * What each operator command asks of a package, as a change of its admin/packages/ record
 * (layout.ts). Pure: the CLI applies these read-modify-write (intent-store.ts). Serviceguard's
 * commands, for those who know them:
 *
 *   run [-n N]      cmrunpkg [-n N]   clears an operator halt, enables package switching, asks
 *                                     for node N (or drops an earlier request)
 *   halt            cmhaltpkg         halted by an operator: stays down until run again
 *   move -n N       cmhaltpkg; cmrunpkg -n N; cmmodpkg -e   runs on N while N is eligible
 *   enable [-n N]   cmmodpkg -e [-n N]   package switching on, or node switching on for N
 *   disable [-n N]  cmmodpkg -d [-n N]   package switching off, or node switching off for N
 *   maintenance on|off                 cmmodpkg -m on|off: the cluster leaves it as it is
 */

import type { ChangedBy, PackageIntent } from "../membership/layout.js";

export type PackageCommand =
  | { kind: "run"; node?: string | undefined }
  | { kind: "halt" }
  | { kind: "move"; node: string }
  | { kind: "enable"; node?: string | undefined }
  | { kind: "disable"; node?: string | undefined }
  | { kind: "maintenance"; on: boolean };

export function applyPackageCommand(
  current: PackageIntent | undefined,
  command: PackageCommand,
  by: ChangedBy,
): PackageIntent {
  const next: PackageIntent = { ...current, ...by };
  switch (command.kind) {
    case "run":
      next.halted = false;
      next.switching = true;
      if (command.node !== undefined) next.requestedNode = command.node;
      else delete next.requestedNode;
      break;
    case "halt":
      next.halted = true;
      delete next.requestedNode;
      break;
    case "move":
      next.halted = false;
      next.switching = true;
      next.requestedNode = command.node;
      break;
    case "enable":
      if (command.node === undefined) next.switching = true;
      else next.disabledNodes = (next.disabledNodes ?? []).filter((n) => n !== command.node);
      break;
    case "disable":
      if (command.node === undefined) next.switching = false;
      else next.disabledNodes = [...new Set([...(next.disabledNodes ?? []), command.node])];
      break;
    case "maintenance":
      next.maintenance = command.on;
      break;
  }
  return next;
}
