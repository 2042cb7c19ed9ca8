import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { etcdctlArgs } from "../../src/lab/etcd.js";
import type { Lab } from "../../src/lab/lab.js";
import { until } from "./until.js";

// A test's own view of etcd, independent of the daemons and the API: `etcdctl watch --prefix`
// run inside a lab host, each change stamped (Date.now()) when its key line reaches the test.
// With it a test times what a consumer of etcd (the console) shows against etcd itself.

export interface KeyChange {
  /** Date.now() when the test read it. */
  at: number;
  type: "PUT" | "DELETE";
  key: string;
}

export interface EtcdKeyWatch {
  readonly changes: readonly KeyChange[];
  /** Waits for the first change after `since` that `matches` (default 20 s). */
  next(
    what: string,
    matches: (c: KeyChange) => boolean,
    since: number,
    timeoutMs?: number,
  ): Promise<KeyChange>;
  stop(): void;
}

/** Watches every key under `prefix` from inside `host` (with the lab's etcd TLS and users). */
export async function watchEtcdPrefix(lab: Lab, host: string, prefix: string): Promise<EtcdKeyWatch> {
  const urls = lab.plan.etcd.members.map((m) => m.clientUrl);
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      lab.host(host).namespace,
      ...etcdctlArgs(lab.runtime, lab.plan.etcd, urls),
      "watch",
      "--prefix",
      prefix,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const changes: KeyChange[] = [];
  // etcdctl's simple output: the event type, the key, the value (one line each; values are JSON).
  let pending: "PUT" | "DELETE" | undefined;
  createInterface({ input: child.stdout }).on("line", (line) => {
    if (line === "PUT" || line === "DELETE") {
      pending = line;
    } else if (pending !== undefined) {
      changes.push({ at: Date.now(), type: pending, key: line });
      pending = undefined;
    }
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  // etcdctl says nothing when its watch is set up; give it a moment and check it still runs.
  await new Promise((resolve) => setTimeout(resolve, 300));
  if (child.exitCode !== null) throw new Error(`etcdctl watch on ${host} exited: ${stderr}`);
  return {
    changes,
    next: (what, matches, since, timeoutMs = 20_000) =>
      until(
        what,
        () => Promise.resolve(changes.find((c) => c.at >= since && matches(c))),
        (c) => c !== undefined,
        timeoutMs,
        5,
      ) as Promise<KeyChange>,
    stop: () => {
      child.kill("SIGTERM");
    },
  };
}
