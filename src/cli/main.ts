#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { PaviseError, describeError } from "../util/errors.js";
import { apiCommand } from "./api-command.js";
import { configCommand } from "./config-command.js";
import { daemonCommand } from "./daemon-command.js";
import { eventsCommand } from "./events-command.js";
import { ipsecCommand } from "./ipsec-command.js";
import { labCommand } from "./lab-command.js";
import { metricsCommand } from "./metrics-command.js";
import { nodeCommand } from "./node-command.js";
import { pkgCommand } from "./pkg-command.js";
import { resourceCommand } from "./resource-command.js";
import { statusCommand } from "./status-command.js";
import { usageError } from "./usage.js";

const USAGE = `usage: pavise COMMAND [ARGS] [--json]

commands:
  lab        a cluster of network namespaces on this machine (pavise lab help)
  ipsec      the IKEv2/IPsec endpoint (pavise ipsec help)
  config     the cluster configuration file (pavise config help)
  daemon     run a node's cluster agent (pavise daemon --config FILE --node NAME)
  status     the cluster, its nodes and packages, from etcd (pavise status --config FILE [-v])
             or from a node's API (--api URL instead of --config; also for events, pkg, node, resource)
  metrics    this node's metrics, Prometheus text (pavise metrics [--control PATH])
  events     the cluster's event log, from etcd (pavise events --config FILE [--since 10m] [--follow])
  pkg        run, halt, move, enable, disable a package; maintenance (pavise pkg help)
  node       halt or run a node (pavise node help)
  resource   set a package's generic resource up or down (pavise resource help)
  api        the HTTP API's user credentials: passwd, token (pavise api help)
  version    print the version
  help       this text`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "lab":
      return labCommand(rest);
    case "ipsec":
      return ipsecCommand(rest);
    case "config":
      return configCommand(rest);
    case "daemon":
      return daemonCommand(rest);
    case "status":
      return statusCommand(rest);
    case "metrics":
      return metricsCommand(rest);
    case "events":
      return eventsCommand(rest);
    case "pkg":
      return pkgCommand(rest);
    case "node":
      return nodeCommand(rest);
    case "resource":
      return resourceCommand(rest);
    case "api":
      return apiCommand(rest);
    case "version":
    case "--version":
      process.stdout.write(`pavise ${version()}\n`);
      return 0;
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return 0;
    case undefined:
      process.stderr.write(`${USAGE}\n`);
      return 2;
    default:
      throw usageError(`unknown command '${command}'`, USAGE);
  }
}

const json = process.argv.includes("--json");
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof PaviseError) {
      if (json) process.stdout.write(`${JSON.stringify({ error: err.toJSON() }, null, 2)}\n`);
      else process.stderr.write(`${describeError(err)}\n`);
      process.exitCode = err.code === "CLI_USAGE" ? 2 : 1;
    } else {
      // Not a user error: a bug. Keep the stack so it can be reported.
      process.stderr.write(`internal error (please report): ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 70;
    }
  },
);
