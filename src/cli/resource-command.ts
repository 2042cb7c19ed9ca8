import { hostname } from "node:os";
import type { ResourceSetting } from "../cluster/membership/layout.js";
import { updateIntent } from "../cluster/operator/intent-store.js";
import { connectInForce } from "./config-in-force.js";
import { runOperatorAction } from "./operator-action.js";
import { parseOperatorArgs } from "./operator-args.js";
import { currentOperator } from "./operator-identity.js";
import { knownNode, knownPackage, knownResource, nodeOfThisHost } from "./operator-names.js";
import { usageError } from "./usage.js";

export const RESOURCE_USAGE = `usage: pavise resource set PKG NAME up|down [--node N] --config FILE [--timeout 60s] [--no-wait] [--json]

  set PKG NAME up|down   sets generic resource NAME of package PKG on node N (default: the node
                         named like this host) [cmsetresource -r NAME -s up|down]. A package
                         runs only where its generic resources are up: down on the node that
                         runs it moves it away. Waits until the cluster has acted on it.
Exit status: 0 done, 1 failed or timed out (with the reason), 2 usage error.`;

export async function resourceCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "help" || sub === "--help" || sub === "-h") {
    process.stdout.write(`${RESOURCE_USAGE}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== "set") throw usageError(`unknown resource command '${sub}'`, RESOURCE_USAGE);
  const args = parseOperatorArgs(rest, RESOURCE_USAGE, { min: 3, max: 3, what: "PKG NAME up|down" });
  if (args.help) {
    process.stdout.write(`${RESOURCE_USAGE}\n`);
    return 0;
  }
  if (args.force) throw usageError("--force is for pavise node halt", RESOURCE_USAGE);
  const [pkgName, resourceName, status] = args.positionals as [string, string, string];
  if (status !== "up" && status !== "down") {
    throw usageError(`a resource is set up or down, not '${status}'`, RESOURCE_USAGE);
  }
  const conn = await connectInForce(args.config);
  try {
    const pkg = knownPackage(conn.config, pkgName, RESOURCE_USAGE);
    const resource = knownResource(pkg, resourceName, RESOURCE_USAGE);
    const monitor = pkg.resources.find((r) => r.name === resource)?.monitor;
    if (monitor) {
      // The operator's setting would outlive every check: the two would contradict each other.
      throw usageError(
        `generic resource ${resource} of package ${pkg.name} is set by its monitor command ` +
          `(${JSON.stringify(monitor.command)}, every ${monitor.intervalMs} ms), not by an operator; ` +
          `change what the monitor checks, or remove its monitor: to set it by hand`,
        RESOURCE_USAGE,
      );
    }
    const node =
      args.node !== undefined
        ? knownNode(conn.config, args.node, RESOURCE_USAGE)
        : nodeOfThisHost(conn.config, hostname(), RESOURCE_USAGE);
    const operator = currentOperator();
    return await runOperatorAction(
      conn,
      operator,
      {
        command: `pavise resource set ${pkg.name} ${resource} ${status} --node ${node}`,
        serviceguard: `cmsetresource -r ${resource} -s ${status}`,
        write: async () =>
          (
            await updateIntent<ResourceSetting>(conn.client, conn.keys.resource(node, resource), () => ({
              status,
              by: operator.by,
              at: Date.now(),
            }))
          ).value,
        goal: { kind: "package", package: pkg.name, want: "settled" },
        event: { package: pkg.name, subject: node, resource, status, action: "resource-set" },
      },
      args,
    );
  } finally {
    conn.client.close();
  }
}
