/**
 * Watches the link state of the NICs that carry a node's subnets (primary and standby) and
 * reports every change at once. It runs `ip -o monitor link` as a child for as long as the
 * watch lives: the kernel's RTM_NEWLINK reaches us within a millisecond of the change (measured
 * here: the line arrives before `ip link set lan0 down` has even exited, ≈2.7 ms after it was
 * spawned). The snapshot (`ip -j link show`) is taken only once the monitor's netlink socket has
 * joined its multicast group, so no change can fall between the two. If the monitor dies it is
 * started again, with a fresh snapshot.
 */

import { type ChildProcessByStdio, spawn } from "node:child_process";
import { hasSubscribedNetlinkSocket } from "../../util/netlink-subscribed.js";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { PaviseError } from "../../util/errors.js";
import { run } from "../../util/run.js";
import type { LinkStatus } from "./address-placement.js";
import { type LinkReading, parseLinkMonitorLine, parseLinkShowJson } from "./link-state.js";
import type { NodeNamespace } from "./node-namespace.js";

const SUBSCRIBE_TIMEOUT_MS = 5_000;
const RESTART_PAUSE_MS = 100;

export interface LinkChange {
  nic: string;
  status: LinkStatus;
  /** The state before; undefined for a NIC first seen now. */
  was: LinkStatus | undefined;
}

export interface LinkWatchOptions {
  onChange: (change: LinkChange) => void;
  /** The monitor died and is being started again, or could not be. */
  onProblem?: (message: string) => void;
  now?: () => number;
}

export class LinkWatch {
  private readonly links = new Map<string, LinkStatus>();
  private child: ChildProcessByStdio<null, Readable, Readable> | undefined;
  private stopped = false;
  private readonly now: () => number;

  private constructor(
    private readonly ns: NodeNamespace,
    private readonly nics: ReadonlySet<string>,
    private readonly options: LinkWatchOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Starts watching; resolves once the monitor listens and the first snapshot is in. */
  static async start(
    ns: NodeNamespace,
    nics: readonly string[],
    options: LinkWatchOptions,
  ): Promise<LinkWatch> {
    const watch = new LinkWatch(ns, new Set(nics), options);
    try {
      await watch.startMonitor();
    } catch (err) {
      await watch.stop();
      throw err;
    }
    return watch;
  }

  /** The state of every watched NIC (a NIC that does not exist is down). */
  status(): ReadonlyMap<string, LinkStatus> {
    return this.links;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
    child.kill("SIGTERM");
    await Promise.race([closed, sleep(2_000)]);
  }

  private async startMonitor(): Promise<void> {
    const [file, ...args] = this.ns.ip(["-o", "monitor", "link"]);
    const child = spawn(file ?? "ip", args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const reading = parseLinkMonitorLine(line);
      if (reading) this.apply(reading);
    });
    child.once("close", (code, signal) => {
      if (this.stopped || this.child !== child) return;
      this.options.onProblem?.(
        `ip monitor link in ${this.ns.description} ended (${signal ?? `status ${code}`}${stderr ? `: ${stderr.trim()}` : ""}); restarting it`,
      );
      void sleep(RESTART_PAUSE_MS).then(() => {
        if (this.stopped) return;
        this.startMonitor().catch((err: unknown) =>
          this.options.onProblem?.(`cannot restart the link monitor: ${(err as Error).message}`),
        );
      });
    });
    await waitUntilSubscribed(child, () => stderr, this.ns);
    const snapshot = await run(this.ns.ip(["-j", "link", "show"]));
    const seen = new Set<string>();
    for (const reading of parseLinkShowJson(snapshot.stdout || "[]")) {
      seen.add(reading.nic);
      this.apply(reading);
    }
    for (const nic of this.nics) if (!seen.has(nic)) this.apply({ nic, up: false, deleted: true });
  }

  private apply(reading: LinkReading): void {
    if (!this.nics.has(reading.nic)) return;
    const was = this.links.get(reading.nic);
    const up = reading.up && !reading.deleted;
    if (was !== undefined && was.up === up) return;
    const status: LinkStatus = { up, since: this.now() };
    this.links.set(reading.nic, status);
    this.options.onChange({ nic: reading.nic, status, was });
  }
}

async function waitUntilSubscribed(
  child: ChildProcessByStdio<null, Readable, Readable>,
  stderr: () => string,
  ns: NodeNamespace,
): Promise<void> {
  const deadline = Date.now() + SUBSCRIBE_TIMEOUT_MS;
  for (;;) {
    const pid = child.pid;
    if (pid === undefined || child.exitCode !== null || child.signalCode !== null) {
      throw new PaviseError(
        "EXECUTOR_LINK_WATCH_FAILED",
        `ip monitor link in ${ns.description} ended at once: ${stderr().trim() || "no message"}`,
        {
          hint: "check that iproute2 is installed and the namespace exists (ip netns list)",
        },
      );
    }
    if (hasSubscribedNetlinkSocket(pid)) return;
    if (Date.now() > deadline) {
      throw new PaviseError(
        "EXECUTOR_LINK_WATCH_FAILED",
        `ip monitor link in ${ns.description} did not subscribe within ${SUBSCRIBE_TIMEOUT_MS} ms`,
        {
          hint: "the machine may be overloaded; try again",
        },
      );
    }
    await sleep(2);
  }
}
