import {
  type PackageRequest,
  PACKAGE_SERVICEGUARD,
  planPackageAction,
} from "../cluster/operator/package-action.js";
import { NO_SUCH_NODE, NO_SUCH_PACKAGE } from "../cluster/operator/known-names.js";
import { API_USAGE } from "./api-target.js";
import { runOperatorOverApi } from "./api-operator.js";
import { connectInForce } from "./config-in-force.js";
import { readClusterState, runOperatorAction } from "./operator-action.js";
import { parseOperatorArgs } from "./operator-args.js";
import { currentOperator } from "./operator-identity.js";
import { knownNode, knownPackage } from "./operator-names.js";
import { usageError } from "./usage.js";

export const PKG_USAGE = `usage: pavise pkg COMMAND PKG [--node N] (--config FILE | --api URL …) [--timeout 60s] [--no-wait] [--json]

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
at once. Exit status: 0 done, 1 refused, failed or timed out (with the reason), 2 usage error.

With --api URL the node's API does it (it checks the user's role: package_admin or
full_admin) instead of this command writing etcd; the output is the same, without progress:
${API_USAGE}`;

export async function pkgCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "help" || sub === "--help" || sub === "-h") {
    process.stdout.write(`${PKG_USAGE}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (!Object.hasOwn(PACKAGE_SERVICEGUARD, sub)) throw usageError(`unknown pkg command '${sub}'`, PKG_USAGE);
  const kind = sub as PackageRequest["kind"];
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
  let on = false;
  if (isMaintenance) {
    const value = args.positionals[1];
    if (value !== "on" && value !== "off")
      throw usageError(`maintenance takes on or off, not '${value}'`, PKG_USAGE);
    on = value === "on";
  }
  if (args.node !== undefined && (kind === "halt" || kind === "maintenance")) {
    throw usageError(`pkg ${kind} takes no --node`, PKG_USAGE);
  }
  if (args.api !== undefined) {
    const pkg = args.positionals[0]!;
    const action =
      kind === "halt"
        ? ({ kind: "package", action: kind, package: pkg } as const)
        : kind === "maintenance"
          ? ({ kind: "package", action: kind, package: pkg, on } as const)
          : ({ kind: "package", action: kind, package: pkg, node: args.node } as const);
    // As below: an unknown package or node is a usage error; a refusal is not.
    return runOperatorOverApi(args.api, action, args, PKG_USAGE, [NO_SUCH_PACKAGE, NO_SUCH_NODE]);
  }
  const conn = await connectInForce(args.config);
  try {
    const pkg = knownPackage(conn.config, args.positionals[0]!, PKG_USAGE).name;
    const node = args.node === undefined ? undefined : knownNode(conn.config, args.node, PKG_USAGE);
    const state = await readClusterState(conn);
    const request: PackageRequest =
      kind === "halt"
        ? { kind, package: pkg }
        : kind === "maintenance"
          ? { kind, package: pkg, on }
          : { kind, package: pkg, node };
    return await runOperatorAction(
      conn,
      currentOperator(),
      planPackageAction(conn.config, state, request),
      args,
    );
  } finally {
    conn.client.close();
  }
}
