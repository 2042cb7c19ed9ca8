import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { CONSOLE_PORT } from "../lab/console-relay.js";
import { relayLogFile, startRelayProcess } from "../lab/console-relay-process.js";
import { nodeApiSocket, nodesWithDaemon } from "../lab/node-api-socket.js";
import { Lab, type LabDownReport, type LabStatus } from "../lab/lab.js";
import { DEFAULT_LAB_NAME, defaultLabSpec, parseLabSpec, type LabSpec } from "../lab/spec.js";
import { listLabNames, readLabState } from "../lab/state.js";
import { PaviseError } from "../util/errors.js";
import { labFaultCommand, labProbeCommand, FAULT_USAGE } from "./lab-fault-command.js";
import { makeOutput, table } from "./output.js";
import { parseCommandArgs, usageError } from "./usage.js";

export const LAB_USAGE = `usage:
  pavise lab up [FILE] [--name NAME] [--json]   build a lab (default: 3 nodes, 2 clients, 3 etcd members)
  pavise lab down [NAME | --all] [--json]        remove a lab and everything it made
  pavise lab status [--lab NAME] [--json]        hosts, NICs, addresses, etcd health
  pavise lab list [--json]                       labs that are up
  pavise lab exec [--lab NAME] HOST -- CMD...    run a command inside a lab host
  pavise lab console [LAB] [--node N] [--port P] [--socket PATH] [--json]
                                                 relay https://127.0.0.1:P/ (default 7443, or a free
                                                 port if taken) to a node's API socket; lab down ends it
  pavise lab fault FAULT ARGS [--lab NAME]       kill/freeze/thaw, nic-down/up, cut, crash, heal
  pavise lab probe PROBE ARGS [--lab NAME]       holders ADDRESS, arp LAN ADDRESS
  (pavise lab fault help: the faults and probes in full)`;

/** Which lab a command means: --lab, then $PAVISE_LAB, then the only lab that is up, then "pavise". */
function chooseLab(flag: string | undefined): string {
  if (flag) return flag;
  if (process.env.PAVISE_LAB) return process.env.PAVISE_LAB;
  const labs = listLabNames().filter((name) => readLabState(name));
  return labs.length === 1 && labs[0] ? labs[0] : DEFAULT_LAB_NAME;
}

function openLab(name: string | undefined): Lab {
  return Lab.open(chooseLab(name));
}

function help(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

export async function labCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "up":
      return labUp(rest);
    case "down":
      return labDown(rest);
    case "status":
      return labStatus(rest);
    case "list":
      return labList(rest);
    case "exec":
      return labExec(rest);
    case "console":
      return labConsole(rest);
    case "fault":
      return rest[0] === "help" ? help(FAULT_USAGE) : labFaultCommand(rest, openLab);
    case "probe":
      return rest[0] === "help" ? help(FAULT_USAGE) : labProbeCommand(rest, openLab);
    case undefined:
    case "help":
    case "--help":
      process.stdout.write(`${LAB_USAGE}\n`);
      return sub === undefined ? 2 : 0;
    default:
      throw usageError(`unknown lab command '${sub}'`, LAB_USAGE);
  }
}

function parse<T extends Record<string, { type: "string" | "boolean" }>>(
  args: string[],
  options: T,
  maxPositionals: number,
) {
  return parseCommandArgs(args, options, LAB_USAGE, maxPositionals);
}

async function labUp(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { name: { type: "string" }, json: { type: "boolean" } }, 1);
  const out = makeOutput(values.json === true);
  const file = positionals[0];
  let spec: LabSpec;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new PaviseError("LAB_FILE_UNREADABLE", `cannot read lab file: ${(err as Error).message}`, {
        where: { file },
        hint: "give the path of a lab YAML file, e.g. labs/default.yaml",
      });
    }
    spec = parseLabSpec(text, file);
  } else {
    spec = defaultLabSpec();
  }
  if (typeof values.name === "string") spec = { ...spec, name: values.name };
  const started = Date.now();
  out.progress(`lab ${spec.name}: building ${spec.nodes.length} nodes, ${spec.clients.length} clients…`);
  const lab = await Lab.up(spec, {
    onProgress: (step) => out.progress(`  ✓ ${step} (${((Date.now() - started) / 1000).toFixed(1)} s)`),
  });
  const status = await lab.status();
  out.result(
    status,
    () => `${renderStatus(status)}\n\nready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return 0;
}

async function labDown(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { all: { type: "boolean" }, json: { type: "boolean" } }, 1);
  const out = makeOutput(values.json === true);
  const names = values.all ? listLabNames() : [positionals[0] ?? chooseLab(undefined)];
  const reports: LabDownReport[] = [];
  for (const name of names) {
    out.progress(`lab ${name}: removing…`);
    reports.push(await Lab.down(name));
  }
  out.result(reports, () =>
    reports.length === 0
      ? "no labs are up"
      : reports
          .map(
            (r) =>
              `lab ${r.name}: removed ${r.namespacesRemoved.length} namespaces, ended ${r.processesKilled.length} processes`,
          )
          .join("\n"),
  );
  return 0;
}

async function labStatus(args: string[]): Promise<number> {
  const { values } = parse(args, { lab: { type: "string" }, json: { type: "boolean" } }, 0);
  const out = makeOutput(values.json === true);
  const status = await Lab.open(chooseLab(values.lab)).status();
  out.result(status, () => renderStatus(status));
  const healthy = status.hosts.every((h) => h.present) && status.etcd.every((m) => m.healthy);
  return healthy ? 0 : 1;
}

function labList(args: string[]): number {
  const { values } = parse(args, { json: { type: "boolean" } }, 0);
  const out = makeOutput(values.json === true);
  const labs = listLabNames().flatMap((name) => {
    const state = readLabState(name);
    return state
      ? [{ name, ready: state.ready, createdAt: state.createdAt, hosts: state.plan.hosts.map((h) => h.name) }]
      : [];
  });
  out.result(labs, () =>
    labs.length === 0
      ? "no labs are up"
      : table(
          ["LAB", "READY", "CREATED", "HOSTS"],
          labs.map((l) => [l.name, l.ready ? "yes" : "no", l.createdAt, l.hosts.join(" ")]),
        ),
  );
  return 0;
}

async function labConsole(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      node: { type: "string" },
      port: { type: "string" },
      socket: { type: "string" },
      json: { type: "boolean" },
    },
    1,
  );
  const out = makeOutput(values.json === true);
  const lab = openLab(positionals[0]);
  const node = values.node ?? nodesWithDaemon(lab)[0];
  if (!node) {
    throw new PaviseError("LAB_CONSOLE_NO_DAEMON", `no pavise daemon runs in lab ${lab.name}`, {
      hint: "start the nodes' daemons first, or name a node and its API socket with --node N --socket PATH",
    });
  }
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw usageError(`--port must be a TCP port (1-65535), not '${values.port}'`, LAB_USAGE);
  }
  const socketPath = values.socket ?? nodeApiSocket(lab, node);
  const relay = await startRelayProcess({
    labDir: lab.dir,
    node,
    socketPath,
    ...(port === undefined ? {} : { port }),
  });
  const moved = port === undefined && relay.port !== CONSOLE_PORT;
  // The relay connects per browser connection, so it may start before the daemon's API does.
  const socketMissing = !existsSync(socketPath);
  out.result({ lab: lab.name, ...relay, log: relayLogFile(lab.dir, node), socketMissing }, () =>
    [
      ...(moved ? [`port ${CONSOLE_PORT} is taken; relaying from ${relay.port} instead`] : []),
      ...(socketMissing
        ? [
            `note: ${socketPath} does not exist yet: start ${node}'s daemon with an api: section; the relay waits`,
          ]
        : []),
      `console: ${relay.url}`,
      `  relays to ${node}'s API socket ${socketPath} (TLS end to end); pavise lab down ${lab.name} ends it`,
    ].join("\n"),
  );
  return 0;
}

async function labExec(args: string[]): Promise<number> {
  const dash = args.indexOf("--");
  const before = dash === -1 ? args : args.slice(0, dash);
  const command = dash === -1 ? [] : args.slice(dash + 1);
  const { values, positionals } = parse(before, { lab: { type: "string" } }, 1);
  const host = positionals[0];
  if (!host || command.length === 0)
    throw usageError("lab exec needs a host and a command after --", LAB_USAGE);
  const lab = Lab.open(chooseLab(values.lab));
  const namespace = lab.runtime.namespaceOf(host);
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", namespace, ...command], { stdio: "inherit" });
    child.on("error", (err) =>
      reject(new PaviseError("LAB_EXEC_FAILED", `cannot run ${command[0]}: ${err.message}`)),
    );
    child.on("close", (code, signal) => resolve(code ?? (signal ? 128 + 9 : 1)));
  });
}

export function renderStatus(status: LabStatus): string {
  const lines = [`lab ${status.name} — ${status.ready ? "up" : "NOT READY"} since ${status.createdAt}`, ""];
  lines.push(
    table(
      ["LAN", "SUBNET", "BRIDGE"],
      status.lans.map((l) => [l.subnet, l.cidr, l.bridge]),
    ),
    "",
  );
  const rows: string[][] = [];
  for (const host of status.hosts) {
    host.nics.forEach((nic, i) => {
      rows.push([
        i === 0 ? host.name : "",
        i === 0 ? (host.present ? host.kind : `${host.kind} (MISSING)`) : "",
        nic.name,
        nic.subnet,
        nic.role,
        nic.up ? "up" : "DOWN",
        nic.addresses.join(" ") || "-",
      ]);
    });
  }
  lines.push(table(["HOST", "KIND", "NIC", "LAN", "ROLE", "LINK", "ADDRESSES"], rows));
  if (status.etcd.length > 0) {
    const healthy = status.etcd.filter((m) => m.healthy).length;
    const leader = status.etcd.find((m) => m.leader)?.name ?? "none";
    lines.push("", `etcd: ${healthy}/${status.etcd.length} members healthy, leader ${leader}`);
    lines.push(
      table(
        ["MEMBER", "HOST", "ENDPOINT", "HEALTH"],
        status.etcd.map((m) => [
          m.name,
          m.host,
          m.endpoint,
          m.healthy ? "healthy" : `UNHEALTHY: ${m.error ?? ""}`,
        ]),
      ),
    );
  }
  const alive = status.processes.filter((p) => p.alive);
  lines.push(
    "",
    `processes: ${alive.length} running (${alive.map((p) => `${p.role}@${p.host}`).join(", ") || "none"})`,
  );
  return lines.join("\n");
}
