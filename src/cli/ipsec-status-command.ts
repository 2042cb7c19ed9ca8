import { setTimeout as sleep } from "node:timers/promises";
import { parseDuration } from "../config/durations.js";
import {
  DAEMON_NO_ANSWER,
  DAEMON_NOT_RUNNING,
  DAEMON_SOCKET_ENV,
  DEFAULT_DAEMON_SOCKET,
  daemonSocketPath,
  fetchIpsecHealth,
} from "../cluster/agent/daemon-control.js";
import {
  describeReason,
  judgeIpsecHealth,
  stalledVerdict,
  type IpsecHealthVerdict,
} from "../ipsec/status/ipsec-health.js";
import { describeError, PaviseError } from "../util/errors.js";
import { parseCommandArgs, usageError } from "./usage.js";

export const IPSEC_STATUS_USAGE = `usage:
  pavise ipsec status [--package P] [--watch DURATION] [--control PATH] [--json]
      is IPsec for the package (default: every package with ipsec: that may run on this
      node) usable here? Asks the local daemon (socket PATH, else $${DAEMON_SOCKET_ENV},
      else ${DEFAULT_DAEMON_SOCKET}). Exit 0 usable; 1 unusable, one line per reason
      ("CODE: message — fix"); 2 usage; 3 daemon not reachable. With --watch it checks every
      DURATION until a check fails, then exits 1 (or 3): run it as a package service with
      restart: 0, and the package moves when its IPsec breaks.`;

/** How long the daemon has to answer before the check reports IPSEC_HOST_STALLED (design §10). */
export const HOST_STALL_MS = 1000;
/** The shortest --watch interval: each check costs the daemon an `ip rule` and file reads. */
const MIN_WATCH_MS = 100;

/** Exit statuses (design §10). */
export const STATUS_USABLE = 0;
export const STATUS_UNUSABLE = 1;
export const STATUS_USAGE = 2;
export const STATUS_NO_DAEMON = 3;

/** Codes of a package the daemon does not check here: the caller's mistake, like a usage error. */
const WRONG_PACKAGE = ["IPSEC_NO_SUCH_PACKAGE", "IPSEC_PACKAGE_WITHOUT_IPSEC", "IPSEC_PACKAGE_NOT_HERE"];

interface CheckResult {
  exit: number;
  /** What a terminal shows. */
  text: string;
  /** What --json prints. */
  json: unknown;
}

export async function ipsecStatusCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    args,
    {
      package: { type: "string" },
      watch: { type: "string" },
      control: { type: "string" },
      json: { type: "boolean" },
    },
    IPSEC_STATUS_USAGE,
    0,
  );
  if (values.package !== undefined && values.package.trim() === "") {
    throw usageError("--package needs a package name", IPSEC_STATUS_USAGE);
  }
  const watchMs = values.watch === undefined ? undefined : parseWatch(values.watch);
  const socket = daemonSocketPath(values.control);
  const json = values.json === true;
  const print = (result: CheckResult): void => {
    process.stdout.write(
      json ? `${JSON.stringify(result.json, null, watchMs === undefined ? 2 : 0)}\n` : `${result.text}\n`,
    );
  };
  if (watchMs === undefined) {
    const result = await check(socket, values.package);
    print(result);
    return result.exit;
  }
  // Serviceguard's ipsec_status.sh pattern: run until IPsec breaks, then fail (the service
  // fails, and with restart: 0 the package fails over). Printed on change only: the package log
  // would fill up otherwise.
  let shown = "";
  for (;;) {
    const result = await check(socket, values.package);
    if (result.exit !== STATUS_USABLE) {
      print(result);
      return result.exit;
    }
    if (result.text !== shown) print(result);
    shown = result.text;
    await sleep(watchMs);
  }
}

function parseWatch(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined)
    throw usageError(`--watch: '${text}' is not a duration (1s, 500ms, 2m)`, IPSEC_STATUS_USAGE);
  if (ms < MIN_WATCH_MS) {
    throw usageError(`--watch: ${text} is shorter than ${MIN_WATCH_MS}ms`, IPSEC_STATUS_USAGE);
  }
  return ms;
}

/** One check: the daemon's snapshots judged, or why there are none. */
async function check(socket: string, pkg: string | undefined): Promise<CheckResult> {
  let verdicts: IpsecHealthVerdict[];
  try {
    const reply = await fetchIpsecHealth(socket, pkg, HOST_STALL_MS);
    const now = Date.now();
    verdicts = reply.snapshots.map((s) => judgeIpsecHealth(s, now));
  } catch (err) {
    if (!(err instanceof PaviseError)) throw err;
    if (err.code === DAEMON_NO_ANSWER)
      verdicts = [stalledVerdict(pkg ?? "every package", "this node", HOST_STALL_MS)];
    else return failure(err, exitFor(err));
  }
  const usable = verdicts.every((v) => v.usable);
  return {
    exit: usable ? STATUS_USABLE : STATUS_UNUSABLE,
    text: renderVerdicts(verdicts),
    json: { usable, verdicts },
  };
}

function exitFor(err: PaviseError): number {
  if (err.code === DAEMON_NOT_RUNNING) return STATUS_NO_DAEMON;
  if (WRONG_PACKAGE.includes(err.code)) return STATUS_USAGE;
  return STATUS_UNUSABLE;
}

function failure(err: PaviseError, exit: number): CheckResult {
  return { exit, text: describeError(err), json: { usable: false, error: err.toJSON() } };
}

export function renderVerdicts(verdicts: readonly IpsecHealthVerdict[]): string {
  if (verdicts.length === 0) return "no package with ipsec: may run on this node";
  const lines: string[] = [];
  for (const v of verdicts) {
    if (v.usable) {
      lines.push(
        `${v.package}: IPsec usable on ${v.node} (${v.runsHere ? `runs here, ${childSas(v.childSas ?? 0)}` : "standby: datapath and credentials checked"})`,
      );
    }
    lines.push(...v.reasons.map(describeReason));
    lines.push(...v.notes.map((n) => `note: ${n}`));
  }
  return lines.join("\n");
}

function childSas(n: number): string {
  return `${n} Child SA${n === 1 ? "" : "s"}`;
}
