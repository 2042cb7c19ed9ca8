import type { RunOptions, RunResult } from "../util/run.js";

/** A process the lab started inside one of its hosts, tracked so that it can be ended by PID. */
export interface LabProcess {
  pid: number;
  /** Start time from /proc/PID/stat (clock ticks since boot): guards against PID reuse. */
  startTime: number;
  host: string;
  /** What the process is for, e.g. "etcd", "charon", "traffic-server". */
  role: string;
  argv: string[];
  /** File that receives the process's stdout and stderr. */
  log: string;
}

export interface SpawnOptions {
  role: string;
  /** Log file path; defaults to a new file <labDir>/logs/<host>-<role>-<unique>.log. */
  log?: string;
  env?: Record<string, string>;
}

/**
 * What lab helpers (etcd, strongSwan, probes) need from a running lab: run commands inside a
 * host's network namespace and start tracked background processes there.
 */
export interface HostRuntime {
  /** The lab's own directory; everything the lab writes lives below it. */
  readonly labDir: string;
  readonly labName: string;
  /** Network namespace name of a host; throws LAB_UNKNOWN_HOST for a host the lab lacks. */
  namespaceOf(host: string): string;
  /** Runs a command inside the host's network namespace and waits for it. */
  exec(host: string, argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Starts a long-running process inside the host's network namespace, detached and tracked. */
  spawn(host: string, argv: readonly string[], options: SpawnOptions): Promise<LabProcess>;
  /** Ends a tracked process by PID (SIGKILL unless another signal is given) and forgets it. */
  stop(process: LabProcess, signal?: NodeJS.Signals): Promise<void>;
}
