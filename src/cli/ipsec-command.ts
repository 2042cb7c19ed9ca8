import { existsSync } from "node:fs";
import { daemonSocketPath } from "../cluster/agent/daemon-control.js";
import { DEFAULT_ROUTING_TABLE, routingTableProblem } from "../esp/driver/policy-routing-plan.js";
import { readIpsecConfig } from "../ike/config/ipsec-config.js";
import { resolveConnections } from "../ike/core/connection.js";
import type { IkeEvent } from "../ike/core/events.js";
import { callControl, DEFAULT_CONTROL_SOCKET, serveControl } from "../ipsec/control.js";
import { IpsecDaemon, type DaemonCounters } from "../ipsec/ipsec-daemon.js";
import type { SaCounters } from "../ipsec/datapath.js";
import type { IkeSaStatus } from "../ipsec/sa-status.js";
import { ipsecStatusCommand } from "./ipsec-status-command.js";
import { makeOutput, table } from "./output.js";
import { parseCommandArgs, usageError } from "./usage.js";
import { parseDuration } from "../config/durations.js";

export const IPSEC_USAGE = `usage:
  pavise ipsec serve --config FILE [--control PATH] [--datapath esp|record] [--tun NAME]
                     [--routing-table N] [--nat-keepalive DURATION] [--json]
                                                               run the IKEv2 endpoint (foreground;
                                                               tunnel routes in table N, default ${DEFAULT_ROUTING_TABLE};
                                                               NAT keepalives every DURATION, default 20s, 0 off)
  pavise ipsec check --config FILE [--json]                    validate a configuration
  pavise ipsec sas [--control PATH] [--json]                   IKE and Child SAs of the running endpoint (or of this node's packages)
  pavise ipsec initiate NAME [--control PATH] [--json]         set up a connection and wait for it
  pavise ipsec terminate NAME [--control PATH] [--json]        delete a connection's IKE SAs
  pavise ipsec rekey NAME [--child CHILD] [--control PATH]     rekey its IKE SAs (or Child SAs)
  pavise ipsec status [--package P] [--watch DURATION] [--json] is the package's IPsec usable on this
                                                               node (the cluster daemon's; exit 0/1/2/3)`;

function parse(args: string[]) {
  const options = {
    config: { type: "string" },
    control: { type: "string" },
    child: { type: "string" },
    datapath: { type: "string" },
    tun: { type: "string" },
    "routing-table": { type: "string" },
    "nat-keepalive": { type: "string" },
    json: { type: "boolean" },
  } as const;
  return parseCommandArgs(args, options, IPSEC_USAGE);
}

export async function ipsecCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  // Talks to the cluster daemon, not to `pavise ipsec serve`: its own options.
  if (sub === "status") return ipsecStatusCommand(rest);
  const { values, positionals } = parse(rest);
  const out = makeOutput(values.json === true);
  const control = values.control ?? defaultControl(sub);
  switch (sub) {
    case "serve": {
      if (!values.config) throw usageError("serve needs --config FILE", IPSEC_USAGE);
      const datapath = values.datapath;
      if (datapath !== undefined && datapath !== "esp" && datapath !== "record") {
        throw usageError(`--datapath must be esp or record, not '${datapath}'`, IPSEC_USAGE);
      }
      const table = values["routing-table"];
      const routingTable = table === undefined ? undefined : parseRoutingTable(table);
      const keepalive = values["nat-keepalive"];
      const natKeepaliveMs = keepalive === undefined ? undefined : parseDuration(keepalive);
      if (keepalive !== undefined && natKeepaliveMs === undefined) {
        throw usageError(`--nat-keepalive: '${keepalive}' is not a duration (20s, 500ms, 0)`, IPSEC_USAGE);
      }
      return serve(values.config, control, values.json === true, {
        ...(datapath ? { datapath } : {}),
        ...(values.tun ? { tunName: values.tun } : {}),
        ...(routingTable === undefined ? {} : { routingTable }),
        ...(natKeepaliveMs === undefined ? {} : { natKeepaliveMs }),
      });
    }
    case "check": {
      if (!values.config) throw usageError("check needs --config FILE", IPSEC_USAGE);
      const config = readIpsecConfig(values.config);
      resolveConnections(config, values.config);
      const summary = config.connections.map((c) => ({
        name: c.name,
        children: c.children.map((ch) => ch.name),
      }));
      out.result(
        { ok: true, connections: summary },
        () => `${values.config}: ${summary.length} connection(s), valid`,
      );
      return 0;
    }
    case "sas": {
      const reply = (await callControl(control, "GET", "/v1/sas")) as {
        sas: IkeSaStatus[];
        counters?: DaemonCounters;
      };
      out.result(reply, () => [renderSas(reply.sas), ...datapathLine(reply.counters)].join("\n"));
      return 0;
    }
    case "rekey": {
      const name = positionals[0];
      if (!name) throw usageError("rekey needs a connection NAME", IPSEC_USAGE);
      const query = `name=${encodeURIComponent(name)}${values.child ? `&child=${encodeURIComponent(values.child)}` : ""}`;
      const reply = (await callControl(control, "POST", `/v1/rekey?${query}`)) as { rekeyed: number };
      out.result(reply, () => `rekeying ${reply.rekeyed} ${values.child ? "Child" : "IKE"} SA(s) of ${name}`);
      return reply.rekeyed > 0 ? 0 : 1;
    }
    case "initiate":
    case "terminate": {
      const name = positionals[0];
      if (!name) throw usageError(`${sub} needs a connection NAME`, IPSEC_USAGE);
      const reply = await callControl(control, "POST", `/v1/${sub}?name=${encodeURIComponent(name)}`);
      out.result(reply, () =>
        sub === "initiate"
          ? renderSas([(reply as { sa: IkeSaStatus }).sa])
          : `terminated ${(reply as { terminated: number }).terminated} IKE SA(s) of ${name}`,
      );
      return 0;
    }
    case undefined:
    case "help":
      process.stdout.write(`${IPSEC_USAGE}\n`);
      return sub === undefined ? 2 : 0;
    default:
      throw usageError(`unknown ipsec command '${sub}'`, IPSEC_USAGE);
  }
}

/** `--routing-table N`: a table number the kernel does not reserve. */
function parseRoutingTable(text: string): number {
  if (!/^\d+$/.test(text)) throw usageError(`--routing-table: '${text}' is not a number`, IPSEC_USAGE);
  const problem = routingTableProblem(Number(text));
  if (problem !== undefined) throw usageError(`--routing-table: ${problem}`, IPSEC_USAGE);
  return Number(text);
}

function describeEvent(event: IkeEvent | { type: "started"; addresses: string[] }): string {
  switch (event.type) {
    case "started":
      return `listening for IKE on ${event.addresses.map((a) => `${a}[500,4500]`).join(" ")}`;
    case "log":
      return `${event.level}: ${event.message}`;
    case "ike-up":
      return `IKE SA ${event.sa.connection} up: ${event.sa.localAddress}[${event.sa.localId}] <-> ${event.sa.remoteAddress}[${event.sa.remoteId}] spis ${event.sa.spiI}_i ${event.sa.spiR}_r`;
    case "ike-down":
      return `IKE SA ${event.sa.connection} down (${event.sa.remoteAddress}): ${event.reason}`;
    case "child-up":
      return `CHILD SA ${event.child.name} up: spi in ${event.child.spiIn.toString(16)} out ${event.child.spiOut.toString(16)}, ${event.child.mode}`;
    case "child-down":
      return `CHILD SA down: spi in ${event.spiIn.toString(16)} out ${event.spiOut.toString(16)}: ${event.reason}`;
    case "initial-contact":
      return `INITIAL_CONTACT from ${event.sa.remoteId}: replacing its older IKE SAs`;
    case "unknown-ike-spi":
      return `IKE request for an IKE SA this endpoint does not have, from ${event.path.remoteAddress}[${event.path.remotePort}] to ${event.path.localAddress}`;
    case "peer-state-lost-hint":
      return `${event.notify} from ${event.path.remoteAddress}[${event.path.remotePort}], unprotected: a hint that the peer lost our SAs (RFC 7296 §2.21.4); liveness check started on ${event.checked} IKE SA(s)${event.checked === 0 ? " (one is already running)" : ""}`;
    case "ike-rekeyed":
      return `IKE SA ${event.sa.connection} rekeyed: spis ${event.sa.spiI}_i ${event.sa.spiR}_r -> ${event.successor.spiI}_i ${event.successor.spiR}_r`;
  }
}

async function serve(
  configFile: string,
  control: string,
  json: boolean,
  datapathOptions: {
    datapath?: "esp" | "record";
    tunName?: string;
    routingTable?: number;
    natKeepaliveMs?: number;
  },
): Promise<number> {
  const print = (event: IkeEvent | { type: "started"; addresses: string[] }): void => {
    const stamp = new Date().toISOString();
    if (json) {
      const safe =
        event.type === "child-up"
          ? { ...event, child: { ...event.child, keyIn: undefined, keyOut: undefined } }
          : event;
      process.stdout.write(`${JSON.stringify({ time: stamp, ...safe })}\n`);
    } else {
      process.stdout.write(`${stamp} ${describeEvent(event)}\n`);
    }
  };
  const daemon = await IpsecDaemon.start({ configFile, log: print, ...datapathOptions });
  const server = await serveControl(daemon, control);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  server.close();
  await daemon.stop();
  return 0;
}

/** Inbound packets an SA refused, by reason (RFC 4303 §3.4.3, §3.4.4; RFC 4301 §5.2). */
function droppedIn(counters: SaCounters | undefined): string {
  const reasons = [
    [counters?.replayDrops, "replay"],
    [counters?.integrityFailures, "integrity"],
    [counters?.policyDrops, "policy"],
    [counters?.expiredDrops, "expired"],
    [counters?.invalidPayloads, "padding"],
  ] as const;
  const shown = reasons.filter(([n]) => (n ?? 0) > 0).map(([n, what]) => `${n} ${what}`);
  return shown.length > 0 ? shown.join(", ") : counters ? "0" : "-";
}

/** One line for what the datapath dropped outside any SA, when it dropped anything. */
function datapathLine(counters: DaemonCounters | undefined): string[] {
  const d = counters?.datapath;
  const parts = [
    [counters?.unknownEspPackets, "ESP packets for unknown SPIs"],
    [d?.inboundMalformed, "malformed ESP packets"],
    [d?.outboundPolicyDrops, "outbound packets no policy covers"],
    [d?.tun.writeDrops, "packets the TUN device refused (queue full)"],
  ] as const;
  const shown = parts.filter(([n]) => (n ?? 0) > 0).map(([n, what]) => `${n} ${what}`);
  return shown.length > 0 ? [`datapath: ${shown.join(", ")}`] : [];
}

function renderSas(sas: IkeSaStatus[]): string {
  if (sas.length === 0) return "no IKE SAs";
  const lines: string[] = [];
  for (const sa of sas) {
    lines.push(
      `${sa.connection}: ${sa.state}, ${sa.ageSeconds} s, ${sa.initiator ? "initiator" : "responder"}, spis ${sa.spiI}_i ${sa.spiR}_r`,
      `  local  ${sa.local} [${sa.localId}]`,
      `  remote ${sa.remote} [${sa.remoteId}]`,
      `  ${sa.algorithms}`,
    );
    if (sa.children.length > 0) {
      lines.push(
        table(
          [
            "  CHILD",
            "MODE",
            "SPI IN",
            "SPI OUT",
            "ALGORITHMS",
            "LOCAL TS",
            "REMOTE TS",
            "BYTES IN/OUT",
            "PACKETS IN/OUT",
            "DROPPED IN",
          ],
          sa.children.map((c) => [
            `  ${c.name}`,
            c.mode + (c.encap ? "/UDP" : ""),
            c.spiIn,
            c.spiOut,
            c.algorithms,
            c.localTs.join(","),
            c.remoteTs.join(","),
            c.counters ? `${c.counters.bytesIn}/${c.counters.bytesOut}` : "-",
            c.counters ? `${c.counters.packetsIn}/${c.counters.packetsOut}` : "-",
            droppedIn(c.counters),
          ]),
        ),
      );
    }
  }
  return lines.join("\n");
}

/**
 * Without --control: `pavise ipsec serve`'s socket; for `sas` on a cluster node, where no
 * serve runs, the daemon's (its package SAs, same reply shape).
 */
function defaultControl(sub: string | undefined): string {
  if (sub !== "sas" || existsSync(DEFAULT_CONTROL_SOCKET)) return DEFAULT_CONTROL_SOCKET;
  const daemon = daemonSocketPath(undefined);
  return existsSync(daemon) ? daemon : DEFAULT_CONTROL_SOCKET;
}
