/**
 * Does an address still answer on the LAN? An ARP probe (RFC 5227 §2.1.1: sender address
 * 0.0.0.0, so no neighbour learns anything from it; iputils `arping -D`) is answered by the
 * kernel of any host that has the address configured, whatever that host's daemon is doing.
 * A node asks this before it starts a failover package (node-agent.ts, timing.address_in_use_wait),
 * as Serviceguard refuses a relocatable address that is already in use.
 *
 * iputils arping exits at once on a reply but waits about a second without one (it takes whole
 * seconds), so the probe is ended after `windowMs` counted from arping's first line, which it
 * prints just before it sends (line-buffered through coreutils `stdbuf -oL`: into a pipe, its
 * stdio would hold the line until it exits): a reply on a LAN comes back in well under a
 * millisecond (0.5 ms measured between two namespaces).
 */

import { spawn } from "node:child_process";
import type { NodeNamespace } from "./node-namespace.js";

/** How long a probe waits for a reply, after arping sent it. */
export const PROBE_WINDOW_MS = 50;
/** A probe whose arping never starts is given up after this (an answer of "unknown"). */
const PROBE_START_LIMIT_MS = 2_000;

export type ProbeResult =
  { answered: true; mac: string } | { answered: false } | { answered: undefined; problem: string };

/** One round of probes of a package's addresses (NodeExecutor.addressesInUse). */
export interface ProbeRound {
  inUse: { address: string; nic: string | undefined; mac: string }[];
  unknown: { address: string; problem: string }[];
}

/**
 * The MAC in arping's reply line ("Unicast reply from 198.18.99.1 [F2:AC:61:02:36:E0]  0.524ms"),
 * or undefined when `output` holds no reply from `address`. Pure.
 */
export function arpingReplyMac(output: string, address: string): string | undefined {
  for (const line of output.split("\n")) {
    const m = /^(?:Unicast|Broadcast) reply from (\S+) \[([0-9A-Fa-f:]{17})\]/.exec(line.trim());
    if (m && m[1] === address) return m[2]!.toLowerCase();
  }
  return undefined;
}

/** Sends one ARP probe for `address` out of `nic` and says whether any host answered. */
export function probeAddress(
  ns: NodeNamespace,
  nic: string,
  address: string,
  windowMs = PROBE_WINDOW_MS,
): Promise<ProbeResult> {
  const [file, ...args] = ns.command([
    "stdbuf",
    "-oL",
    "arping",
    "-D",
    "-c",
    "1",
    "-w",
    "1",
    "-I",
    nic,
    address,
  ]);
  return new Promise<ProbeResult>((resolve) => {
    const child = spawn(file ?? "stdbuf", args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let settled = false;
    let window: NodeJS.Timeout | undefined;
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(window);
      clearTimeout(startLimit);
      child.kill("SIGKILL");
      resolve(result);
    };
    const startLimit = setTimeout(
      () =>
        finish({ answered: undefined, problem: `arping did not start within ${PROBE_START_LIMIT_MS} ms` }),
      PROBE_START_LIMIT_MS,
    );
    child.stdout.setEncoding("utf8").on("data", (data: string) => {
      stdout += data;
      const mac = arpingReplyMac(stdout, address);
      if (mac) finish({ answered: true, mac });
      else if (!window && stdout.startsWith("ARPING")) {
        clearTimeout(startLimit);
        window = setTimeout(() => finish({ answered: false }), windowMs);
      }
    });
    child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data));
    child.once("error", (err) => finish({ answered: undefined, problem: err.message }));
    child.once("close", (code) => {
      // arping exits 1 on a reply (read above) and 2 when it cannot send, e.g. a NIC without link.
      const mac = arpingReplyMac(stdout, address);
      if (mac) finish({ answered: true, mac });
      else if (code === 0) finish({ answered: false });
      else finish({ answered: undefined, problem: stderr.trim() || `arping exited with status ${code}` });
    });
  });
}
