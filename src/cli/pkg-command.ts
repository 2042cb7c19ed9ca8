import { clusterStateFrom, readSnapshot } from "../cluster/agent/cluster-state.js";
import type { ClusterConfig } from "../cluster/config/model.js";
import type { PackageIntent } from "../cluster/membership/layout.js";
import { chooseMoveTarget } from "../cluster/operator/move-target.js";
import { updateIntent } from "../cluster/operator/intent-store.js";
import { type PackageCommand, applyPackageCommand } from "../cluster/operator/package-intent.js";
import type { Goal } from "../cluster/operator/goals.js";
import { whyNotEligible } from "../cluster/scheduler/eligibility.js";
import { buildView } from "../cluster/scheduler/view.js";
import type { ClusterState } from "../cluster/state.js";
import { PaviseError } from "../util/errors.js";
import { type ClusterConnection, etcdProblem } from "./cluster-etcd.js";
import { connectInForce } from "./config-in-force.js";
import { runOperatorAction } from "./operator-action.js";
import { parseOperatorArgs } from "./operator-args.js";
import { currentOperator } from "./operator-identity.js";
import { knownNode, knownPackage } from "./operator-names.js";
import { usageError } from "./usage.js";

export const PKG_USAGE = `usage: pavise pkg COMMAND PKG [--node N] --config FILE [--timeout 60s] [--no-wait] [--json]

commands (Serviceguard's equivalent in brackets):
  run PKG [--node N]      start it: clears an operator halt, enables package switching, and
                          runs it on N while N is eligible              [cmrunpkg [-n N] PKG]
  halt PKG                halt it; it stays down until run again        [cmhaltpkg PKG]
  move PKG [--node N]     move it to N, or to the next eligible node of its node list
                          [cmhaltpkg PKG; cmrunpkg -n N PKG; cmmodpkg -e PKG]
  enable PKG [--node N]   enable package switching, or node switching on N  [cmmodpkg -e [-n N] PKG]
  disable PKG [--node N]  disable package switching (it is neither started nor moved by the
                          cluster), or node switching on N              [cmmodpkg -d [-n N] PKG]
  maintenance PKG on|off  the cluster leaves it exactly as it is        [cmmodpkg -m on|off PKG]

Each command records the change in etcd and in the event log (with who), then waits until the
cluster got there, printing progress, for at most --timeout (default 60 s); --no-wait returns
at once. Exit status: 0 done, 1 failed or timed out (with the reason), 2 usage error.`;

const SERVICEGUARD: Record<PackageCommand["kind"], string> = {
  run: "cmrunpkg",
  halt: "cmhaltpkg",
  move: "cmhaltpkg; cmrunpkg -n; cmmodpkg -e",
  enable: "cmmodpkg -e",
  disable: "cmmodpkg -d",
  maintenance: "cmmodpkg -m",
};

export async function pkgCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "help" || sub === "--help" || sub === "-h") {
    process.stdout.write(`${PKG_USAGE}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (!(sub in SERVICEGUARD)) throw usageError(`unknown pkg command '${sub}'`, PKG_USAGE);
  const kind = sub as PackageCommand["kind"];
  const isMaintenance = kind === "maintenance";
  const args = parseOperatorArgs(rest, PKG_USAGE, {
    min: isMaintenance ? 2 : 1,
    max: isMaintenance ? 2 : 1,
    what: isMaintenance ? "PKG on|off" : "PKG",
  });
  if (args.help) {
    process.stdout.write(`${PKG_USAGE}\n`);
    return 0;
  }
  if (args.force) throw usageError("--force is for pavise node halt", PKG_USAGE);
  const conn = await connectInForce(args.config);
  try {
    const pkg = knownPackage(conn.config, args.positionals[0]!, PKG_USAGE).name;
    const node = args.node === undefined ? undefined : knownNode(conn.config, args.node, PKG_USAGE);
    if (node !== undefined && (kind === "halt" || kind === "maintenance")) {
      throw usageError(`pkg ${kind} takes no --node`, PKG_USAGE);
    }
    let on = false;
    if (isMaintenance) {
      const value = args.positionals[1];
      if (value !== "on" && value !== "off")
        throw usageError(`maintenance takes on or off, not '${value}'`, PKG_USAGE);
      on = value === "on";
    }
    const state = await readState(conn);
    const command = commandFor(conn.config, state, kind, pkg, node, on);
    const operator = currentOperator();
    const target = "node" in command ? command.node : undefined;
    const serviceguard =
      command.kind === "move"
        ? `cmhaltpkg ${pkg}; cmrunpkg -n ${command.node} ${pkg}; cmmodpkg -e ${pkg}`
        : command.kind === "maintenance"
          ? `cmmodpkg -m ${on ? "on" : "off"} ${pkg}`
          : `${SERVICEGUARD[kind]}${target ? ` -n ${target}` : ""} ${pkg}`;
    return await runOperatorAction(
      conn,
      operator,
      {
        command: `pavise pkg ${kind} ${pkg}${isMaintenance ? ` ${on ? "on" : "off"}` : ""}${target ? ` --node ${target}` : ""}`,
        serviceguard,
        write: async () =>
          (
            await updateIntent<PackageIntent>(conn.client, conn.keys.adminPackage(pkg), (current) =>
              applyPackageCommand(current, command, { by: operator.by, at: Date.now() }),
            )
          ).value,
        goal: goalFor(command, pkg),
        event: { package: pkg, action: `pkg-${kind}` },
      },
      args,
    );
  } finally {
    conn.client.close();
  }
}

async function readState(conn: ClusterConnection): Promise<ClusterState> {
  try {
    return clusterStateFrom(conn.config, await readSnapshot(conn.client, conn.keys));
  } catch (err) {
    throw etcdProblem(err, conn.file, conn.config);
  }
}

/** The command with its node resolved; refuses, before writing anything, a node it cannot run on. */
function commandFor(
  config: ClusterConfig,
  state: ClusterState,
  kind: PackageCommand["kind"],
  pkg: string,
  node: string | undefined,
  on: boolean,
): PackageCommand {
  const view = buildView(config, state);
  const pview = view.byName.get(pkg)!;
  const refuse = (message: string, hint: string): never => {
    throw new PaviseError("OPERATOR_REFUSED", message, { hint });
  };
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
      return { kind, node };
    case "halt":
      return { kind };
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
    case "enable":
    case "disable":
      return { kind, node };
    case "maintenance":
      return { kind, on };
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
