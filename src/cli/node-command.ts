import { clusterStateFrom, readSnapshot } from "../cluster/agent/cluster-state.js";
import type { NodeIntent } from "../cluster/membership/layout.js";
import { updateIntent } from "../cluster/operator/intent-store.js";
import { packagesStrandedByHalt } from "../cluster/operator/node-halt-check.js";
import { PaviseError } from "../util/errors.js";
import { etcdProblem } from "./cluster-etcd.js";
import { connectInForce } from "./config-in-force.js";
import { runOperatorAction } from "./operator-action.js";
import { parseOperatorArgs } from "./operator-args.js";
import { currentOperator } from "./operator-identity.js";
import { knownNode } from "./operator-names.js";
import { usageError } from "./usage.js";

export const NODE_USAGE = `usage: pavise node COMMAND NODE --config FILE [--timeout 60s] [--no-wait] [--json]

commands (Serviceguard's equivalent in brackets):
  halt NODE [--force]   the node's daemon reports it halted and keeps running; its packages
                        move to other nodes. Refused when a package running there could run
                        nowhere else (each is listed with why), unless --force: then those
                        packages halt                                     [cmhaltnode [-f] NODE]
  run NODE              the node is up again and may run packages         [cmrunnode NODE]

Waits until the node reports the new status (and, for halt, runs no package), at most --timeout.
Exit status: 0 done, 1 refused, failed or timed out (with the reason), 2 usage error.`;

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
  const conn = await connectInForce(args.config);
  try {
    const node = knownNode(conn.config, args.positionals[0]!, NODE_USAGE);
    const halt = sub === "halt";
    let snapshot;
    try {
      snapshot = await readSnapshot(conn.client, conn.keys);
    } catch (err) {
      throw etcdProblem(err, conn.file, conn.config);
    }
    const member = snapshot.nodes[node] !== undefined;
    if (halt && !args.force && member) {
      const stranded = packagesStrandedByHalt(conn.config, clusterStateFrom(conn.config, snapshot), node);
      if (stranded.length > 0) {
        const list = stranded.map((s) => `  ${s.package}: ${s.reasons.join("; ")}`).join("\n");
        throw new PaviseError(
          "OPERATOR_REFUSED",
          `halting ${node} would leave packages down that run there and could run nowhere else:\n${list}`,
          {
            hint: `make another node eligible for them, or halt anyway with pavise node halt ${node} --force`,
          },
        );
      }
    }
    const operator = currentOperator();
    if (!member) {
      process.stderr.write(
        `note: node ${node} is not a member now (its daemon is not running); ` +
          `the change applies when it joins\n`,
      );
    }
    return await runOperatorAction(
      conn,
      operator,
      {
        command: `pavise node ${sub} ${node}${args.force ? " --force" : ""}`,
        serviceguard: halt ? `cmhaltnode${args.force ? " -f" : ""} ${node}` : `cmrunnode ${node}`,
        write: async () =>
          (
            await updateIntent<NodeIntent>(conn.client, conn.keys.adminNode(node), () =>
              halt ? { halted: true, by: operator.by, at: Date.now() } : undefined,
            )
          ).value ?? { halted: false },
        goal: member ? { kind: "node", node, want: halt ? "halted" : "up" } : undefined,
        event: { subject: node, action: `node-${sub}` },
      },
      args,
    );
  } finally {
    conn.client.close();
  }
}
