import { planNodeAction } from "../cluster/operator/node-action.js";
import { NO_SUCH_NODE } from "../cluster/operator/known-names.js";
import { runOperatorOverApi } from "./api-operator.js";
import { API_USAGE } from "./api-target.js";
import { connectInForce } from "./config-in-force.js";
import { readClusterState, runOperatorAction } from "./operator-action.js";
import { parseOperatorArgs } from "./operator-args.js";
import { currentOperator } from "./operator-identity.js";
import { knownNode } from "./operator-names.js";
import { usageError } from "./usage.js";

export const NODE_USAGE = `usage: pavise node COMMAND NODE (--config FILE | --api URL …) [--timeout 60s] [--no-wait] [--json]

commands (Serviceguard's equivalent in brackets):
  halt NODE [--force]   the node's daemon reports it halted and keeps running; its packages
                        move to other nodes. Refused when a package running there could run
                        nowhere else (each is listed with why), unless --force: then those
                        packages halt                                     [cmhaltnode [-f] NODE]
  run NODE              the node is up again and may run packages         [cmrunnode NODE]

Waits until the node reports the new status (and, for halt, runs no package), at most --timeout.
Exit status: 0 done, 1 refused, failed or timed out (with the reason), 2 usage error.

With --api URL the node's API does it (it checks the user's role: full_admin) instead of this
command writing etcd; the output is the same, without progress:
${API_USAGE}`;

export async function nodeCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "help" || sub === "--help" || sub === "-h") {
    process.stdout.write(`${NODE_USAGE}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== "halt" && sub !== "run") throw usageError(`unknown node command '${sub}'`, NODE_USAGE);
  const args = parseOperatorArgs(rest, NODE_USAGE, { min: 1, max: 1, what: "NODE" });
  if (args.help) {
    process.stdout.write(`${NODE_USAGE}\n`);
    return 0;
  }
  if (args.node !== undefined) throw usageError("name the node as the argument, not with --node", NODE_USAGE);
  if (args.force && sub === "run") throw usageError("--force is for node halt", NODE_USAGE);
  if (args.api !== undefined) {
    const action = { kind: "node", action: sub, node: args.positionals[0]!, force: args.force } as const;
    return runOperatorOverApi(args.api, action, args, NODE_USAGE, [NO_SUCH_NODE]);
  }
  const conn = await connectInForce(args.config);
  try {
    const node = knownNode(conn.config, args.positionals[0]!, NODE_USAGE);
    const state = await readClusterState(conn);
    const plan = planNodeAction(conn.config, state, { kind: sub, node, force: args.force });
    if (plan.note !== undefined) process.stderr.write(`note: ${plan.note}\n`);
    return await runOperatorAction(conn, currentOperator(), plan, args);
  } finally {
    conn.client.close();
  }
}
