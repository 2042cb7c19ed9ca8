import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import type { Lab } from "../../lab/lab.js";
import type { LabProcess } from "../../lab/host-runtime.js";
import { processStartTime } from "../../lab/processes.js";
import { PaviseError } from "../../util/errors.js";
import { distPath } from "../../util/package-paths.js";

/** One line the agent wrote: an answer ({re}) or an event ({ev}); `t` is monotonicMs. */
export type AgentLine = { t: number; re?: string; ev?: string; ok?: boolean } & Record<string, unknown>;

/**
 * The test side of lab-member-agent.ts: starts the agent in a lab host (`ip netns exec` execs
 * node itself, so the PID is the node process's — a fault can freeze it), sends commands, and
 * keeps every event with its time. Tests of etcd access and fencing drive nodes with it.
 */
export class LabMember {
  readonly events: AgentLine[] = [];
  readonly process: LabProcess;
  private readonly waiting: ((line: AgentLine) => void)[] = [];
  private readonly listeners = new Set<(line: AgentLine) => void>();
  private stderr = "";

  private constructor(
    readonly host: string,
    private readonly child: ChildProcessWithoutNullStreams,
  ) {
    const pid = child.pid ?? -1;
    this.process = {
      pid,
      startTime: processStartTime(pid) ?? 0,
      host,
      role: "lab-member-agent",
      argv: child.spawnargs,
      log: "",
    };
    child.stderr.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    createInterface({ input: child.stdout }).on("line", (text) => {
      let line: AgentLine;
      try {
        line = JSON.parse(text) as AgentLine;
      } catch {
        this.stderr += text + "\n";
        return;
      }
      if (line.re !== undefined) this.waiting.shift()?.(line);
      else {
        this.events.push(line);
        for (const listener of this.listeners) listener(line);
      }
    });
  }

  static async start(lab: Lab, host: string): Promise<LabMember> {
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        lab.host(host).namespace,
        process.execPath,
        distPath("cluster/membership/lab-member-agent.js"),
      ],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    return new LabMember(host, child);
  }

  /** Sends a command and waits for its answer; rejects with the agent's code if it failed. */
  async send(command: { op: string } & Record<string, unknown>, timeoutMs = 30_000): Promise<AgentLine> {
    const answer = await new Promise<AgentLine>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new PaviseError(
            "LAB_MEMBER_TIMEOUT",
            `${this.host}: no answer to ${command.op}; stderr: ${this.stderr}`,
          ),
        );
      }, timeoutMs);
      this.waiting.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
      this.child.stdin.write(JSON.stringify(command) + "\n");
    });
    if (answer.ok !== true) {
      throw new PaviseError(
        typeof answer.code === "string" ? answer.code : "LAB_MEMBER_FAILED",
        `${this.host}: ${command.op}: ${String(answer.error)}`,
      );
    }
    return answer;
  }

  /** The first event (already seen or still to come) that matches. */
  waitFor(what: string, match: (line: AgentLine) => boolean, timeoutMs = 10_000): Promise<AgentLine> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const listener = (line: AgentLine): void => {
        if (!match(line)) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(line);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(
          new PaviseError(
            "LAB_MEMBER_TIMEOUT",
            `${this.host}: no ${what} within ${timeoutMs} ms; stderr: ${this.stderr}`,
          ),
        );
      }, timeoutMs);
      this.listeners.add(listener);
    });
  }

  /** Ends the agent by PID (SIGKILL also ends a frozen one). */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGKILL");
    await exited;
  }
}
