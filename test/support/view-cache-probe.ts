import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import type { Lab } from "../../src/lab/lab.js";
import type { EventView, StatusView } from "../../src/api/schema/view-types.js";
import { distPath } from "../../src/util/package-paths.js";
import { until } from "./until.js";

/**
 * Drives src/lab/probes/view-cache-probe.ts (the API's view cache in a lab host) from a test:
 * keeps every line it printed, sends commands and waits for their replies. Stopped by its PID.
 */
export interface ProbeLine {
  t: "etcd" | "view" | "event" | "reply" | "ready" | "log";
  /** performance.now() in the probe (one clock for etcd, view and event lines). */
  at: number;
  /** Date.now() in the test process when the line arrived. */
  seenAt: number;
  [field: string]: unknown;
}

export interface ProbeView extends ProbeLine {
  revision: number;
  view: StatusView;
}

export class ViewCacheProbe {
  readonly lines: ProbeLine[] = [];
  private nextId = 1;
  private stderr = "";

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on("line", (line) => {
      try {
        this.lines.push({ ...(JSON.parse(line) as ProbeLine), seenAt: Date.now() });
      } catch {
        this.stderr += `${line}\n`;
      }
    });
    child.stderr.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
  }

  static async start(lab: Lab, host: string, configFile: string, node: string): Promise<ViewCacheProbe> {
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        lab.runtime.namespaceOf(host),
        process.execPath,
        distPath("lab/probes/view-cache-probe.js"),
        "--config",
        configFile,
        "--node",
        node,
      ],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    const probe = new ViewCacheProbe(child);
    await until(
      "the view cache probe's first view",
      () => Promise.resolve(probe.lines.some((l) => l.t === "ready") || child.exitCode !== null),
      (ok) => ok,
      15_000,
    );
    if (child.exitCode !== null)
      throw new Error(`view cache probe exited ${child.exitCode}: ${probe.stderr}`);
    return probe;
  }

  of<T extends ProbeLine>(kind: ProbeLine["t"]): T[] {
    return this.lines.filter((l) => l.t === kind) as T[];
  }

  views(): ProbeView[] {
    return this.of<ProbeView>("view");
  }

  events(): EventView[] {
    return this.of("event").map((l) => l.event as EventView);
  }

  async ask(command: Record<string, unknown>, timeoutMs = 5000): Promise<ProbeLine> {
    const id = this.nextId++;
    this.child.stdin.write(`${JSON.stringify({ id, ...command })}\n`);
    return until(
      `the probe's reply to ${JSON.stringify(command)}`,
      () => Promise.resolve(this.lines.find((l) => l.t === "reply" && l.id === id)),
      (l) => l !== undefined,
      timeoutMs,
    ) as Promise<ProbeLine>;
  }

  /** GET a read route through the probe's handlers. */
  async get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const reply = await this.ask({ cmd: "route", path });
    return { status: reply.status as number, body: reply.body as Record<string, unknown> };
  }

  stop(): void {
    if (this.child.exitCode === null && this.child.pid !== undefined) {
      // `ip netns exec` execs node: the PID is the probe's.
      process.kill(this.child.pid, "SIGKILL");
    }
  }

  get errors(): string {
    return this.stderr;
  }
}
