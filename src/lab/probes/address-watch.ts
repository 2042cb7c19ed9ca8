/**
 * Watches the IPv4 addresses of lab hosts: which host holds an address right now, and the whole
 * timeline for `overlaps` (address-timeline.ts) when the watch stops.
 *
 * Per host it runs `ip -ts -o -n NS monitor address` as a child of this process (not a tracked
 * lab process: it lives exactly as long as the watch and is killed by PID on stop), waits until
 * the monitor's netlink socket has joined the address groups, and only then takes the initial
 * snapshot (`ip -n NS -j addr show`), so that no change can fall between snapshot and monitor.
 * A change stamped before the snapshot began is already in it and is dropped.
 *
 * Holding is about configured addresses: a link that goes down keeps its IPv4 addresses (see
 * address-timeline.ts), so `ip link set lan0 down` is not a release.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { hasSubscribedNetlinkSocket } from "../../util/netlink-subscribed.js";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { PaviseError } from "../../util/errors.js";
import { run } from "../../util/run.js";
import type { HostRuntime } from "../host-runtime.js";
import {
  type AddressEvent,
  type AddressHolder,
  type AddressHolding,
  type AddressTimeline,
  holdersAt,
} from "./address-timeline.js";
import { parseAddrShowJson, parseMonitorLine } from "./ip-address-output.js";

export interface WatchedHost {
  host: string;
  namespace: string;
}

export interface AddressWatchOptions {
  /** How long each monitor may take to subscribe (default 5 s). */
  readyTimeoutMs?: number;
  /** On stop, how long to let the monitors deliver changes still on their way (default 50 ms). */
  settleMs?: number;
}

interface Monitor {
  host: string;
  namespace: string;
  child: ChildProcessByStdio<null, Readable, Readable>;
  stderr: string;
  /** Resolves when the process has exited and all its output has been read. */
  done: Promise<void>;
  exited: boolean;
}

const DEFAULT_READY_TIMEOUT_MS = 5_000;
const DEFAULT_SETTLE_MS = 50;

export class AddressWatch {
  private readonly events: AddressEvent[] = [];
  private readonly initial: AddressHolding[] = [];
  private unparsableLines = 0;
  private startedAt = Number.NaN;
  private stoppedAt: number | undefined;
  private lostAtStop: string[] | undefined;
  private stopping: Promise<AddressTimeline> | undefined;

  private constructor(
    private readonly monitors: Monitor[],
    private readonly settleMs: number,
  ) {}

  /** Starts watching; resolves once every host's monitor is listening and the snapshot is taken. */
  static async start(
    hosts: readonly WatchedHost[],
    options: AddressWatchOptions = {},
  ): Promise<AddressWatch> {
    const watch = new AddressWatch([], options.settleMs ?? DEFAULT_SETTLE_MS);
    try {
      for (const h of hosts) watch.monitors.push(watch.startMonitor(h));
      const deadline = Date.now() + (options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
      await Promise.all(watch.monitors.map((m) => waitUntilSubscribed(m, deadline)));
      watch.startedAt = Date.now();
      const snapshots = await Promise.all(hosts.map((h) => snapshot(h)));
      for (const holdings of snapshots) watch.initial.push(...holdings);
      return watch;
    } catch (err) {
      await watch.killMonitors();
      throw err;
    }
  }

  /** Watches lab hosts by name. */
  static forHosts(
    runtime: HostRuntime,
    hosts: readonly string[],
    options?: AddressWatchOptions,
  ): Promise<AddressWatch> {
    return AddressWatch.start(
      hosts.map((host) => ({ host, namespace: runtime.namespaceOf(host) })),
      options,
    );
  }

  /**
   * Who holds the address now, as far as the monitors have reported (they trail the kernel by
   * a few milliseconds at most; poll when waiting for a change).
   */
  holders(address: string): AddressHolder[] {
    return holdersAt(this.timeline(), address, Number.POSITIVE_INFINITY);
  }

  /** The timeline so far (up to now, or to the stop). */
  timeline(): AddressTimeline {
    const stoppedAt = this.stoppedAt ?? Date.now();
    return {
      startedAt: this.startedAt,
      stoppedAt,
      initial: [...this.initial],
      events: this.events.filter((e) => e.at >= this.startedAt && e.at <= stoppedAt),
      unparsableLines: this.unparsableLines,
      monitorsLost: this.lostAtStop ?? this.monitors.filter((m) => m.exited).map((m) => m.host),
    };
  }

  /** Stops the monitors and returns the whole timeline. */
  stop(): Promise<AddressTimeline> {
    this.stopping ??= (async () => {
      // Changes made just before the stop may still be on their way through the monitors, and
      // their stamps (taken when ip reads them) may be later than this call: the timeline ends
      // after the settle time, not at the call.
      await sleep(this.settleMs);
      this.lostAtStop = this.monitors.filter((m) => m.exited).map((m) => m.host);
      this.stoppedAt = Date.now();
      await this.killMonitors();
      return this.timeline();
    })();
    return this.stopping;
  }

  private startMonitor(h: WatchedHost): Monitor {
    // TZ=UTC: -ts prints local time without a zone; the parser reads it as UTC.
    const child = spawn("ip", ["-ts", "-o", "-n", h.namespace, "monitor", "address"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TZ: "UTC" },
    });
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => this.onLine(h.host, line));
    const linesClosed = new Promise<void>((resolve) => lines.once("close", resolve));
    const exited = new Promise<void>((resolve) => {
      child.once("close", () => resolve());
      child.once("error", () => resolve());
    });
    const monitor: Monitor = {
      host: h.host,
      namespace: h.namespace,
      child,
      stderr: "",
      exited: false,
      done: Promise.all([linesClosed, exited]).then(() => undefined),
    };
    child.stderr.setEncoding("utf8").on("data", (d: string) => (monitor.stderr += d));
    void exited.then(() => (monitor.exited = true));
    return monitor;
  }

  private onLine(host: string, line: string): void {
    const parsed = parseMonitorLine(line);
    if (parsed.kind === "unparsable") this.unparsableLines++;
    if (parsed.kind !== "event") return;
    this.events.push({ host, ...parsed.entry, at: parsed.at, change: parsed.change });
  }

  private async killMonitors(): Promise<void> {
    await Promise.all(
      this.monitors.map(async (m) => {
        if (m.exited || m.child.pid === undefined) return;
        m.child.kill("SIGTERM");
        const gone = await Promise.race([m.done.then(() => true), sleep(2_000).then(() => false)]);
        if (!gone) {
          m.child.kill("SIGKILL");
          await m.done;
        }
      }),
    );
  }
}

/**
 * A monitor is subscribed once its process has a netlink socket (protocol 0, NETLINK_ROUTE) with
 * multicast groups set; /proc/PID/net/netlink lists the sockets of the process's namespace and
 * /proc/PID/fd tells which of them are its own.
 */
async function waitUntilSubscribed(m: Monitor, deadline: number): Promise<void> {
  for (;;) {
    const pid = m.child.pid;
    if (m.exited || pid === undefined) {
      throw new PaviseError(
        "WATCH_FAILED",
        `ip monitor for host ${m.host} (namespace ${m.namespace}) ended at once: ${m.stderr.trim() || "no message"}`,
        { hint: `check that namespace ${m.namespace} exists (ip netns list)` },
      );
    }
    if (hasSubscribedNetlinkSocket(pid)) return;
    if (Date.now() > deadline) {
      throw new PaviseError(
        "WATCH_NOT_READY",
        `ip monitor for host ${m.host} (namespace ${m.namespace}) did not subscribe in time`,
        { hint: "the machine may be overloaded; try again" },
      );
    }
    await sleep(10);
  }
}

async function snapshot(h: WatchedHost): Promise<AddressHolding[]> {
  const result = await run(["ip", "-n", h.namespace, "-j", "addr", "show"], { timeoutMs: 10_000 });
  const entries = parseAddrShowJson(result.stdout);
  if (entries === undefined) {
    throw new PaviseError(
      "WATCH_SNAPSHOT_UNREADABLE",
      `ip -j addr show in namespace ${h.namespace} gave no JSON list`,
      {
        hint: "iproute2 with JSON output (-j) is needed; scripts/setup.sh installs it",
      },
    );
  }
  return entries.map((e) => ({ host: h.host, ...e }));
}
