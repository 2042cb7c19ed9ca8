import { hostname } from "node:os";
import { OPERATOR_REFUSED } from "../cluster/operator/action-plan.js";
import { NO_SUCH_NODE, NO_SUCH_PACKAGE, NO_SUCH_RESOURCE } from "../cluster/operator/known-names.js";
import { planResourceAction } from "../cluster/operator/resource-action.js";
import { runOperatorOverApi } from "./api-operator.js";
import { API_USAGE } from "./api-target.js";
import { connectInForce } from "./config-in-force.js";
import { runOperatorAction } from "./operator-action.js";
import { parseOperatorArgs } from "./operator-args.js";
import { currentOperator } from "./operator-identity.js";
import { asUsageError } from "./operator-names.js";
import { usageError } from "./usage.js";

export const RESOURCE_USAGE = `usage: pavise resource set PKG NAME up|down [--node N] (--config FILE | --api URL …) [--timeout 60s] [--no-wait] [--json]

  set PKG NAME up|down   sets generic resource NAME of package PKG on node N (default: the node
                         named like this host) [cmsetresource -r NAME -s up|down]. A package
                         runs only where its generic resources are up: down on the node that
                         runs it moves it away. Waits until the cluster has acted on it.
Exit status: 0 done, 1 failed or timed out (with the reason), 2 usage error.

With --api URL the node's API sets it (it checks the user's role: package_admin or
full_admin); then --node is needed, and it waits up to 60 s (no --timeout, --no-wait):
${API_USAGE}`;

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
  // Unknown names and a resource its monitor sets are mistakes in the call: exit 2, as before.
  const usageCodes = [NO_SUCH_PACKAGE, NO_SUCH_NODE, NO_SUCH_RESOURCE, OPERATOR_REFUSED];
  if (args.api !== undefined) {
    // The API has no "this host": its node is the one that serves, not the operator's.
    if (args.node === undefined) throw usageError("with --api, name the node with --node N", RESOURCE_USAGE);
    if (args.waitGiven) {
      throw usageError(
        "with --api, resource set waits up to 60 s: no --timeout or --no-wait",
        RESOURCE_USAGE,
      );
    }
    const action = {
      kind: "resource",
      package: pkgName,
      resource: resourceName,
      status,
      node: args.node,
    } as const;
    return runOperatorOverApi(args.api, action, args, RESOURCE_USAGE, usageCodes);
  }
  const conn = await connectInForce(args.config);
  try {
    const plan = asUsageError(
      RESOURCE_USAGE,
      () =>
        planResourceAction(conn.config, {
          package: pkgName,
          resource: resourceName,
          status,
          node: args.node,
          localHost: hostname(),
        }),
      usageCodes,
    );
    return await runOperatorAction(conn, currentOperator(), plan, args);
  } finally {
    conn.client.close();
  }
}
