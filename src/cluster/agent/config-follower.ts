/**
 * How a node daemon follows the applied cluster configuration (`pavise config apply`):
 *
 * - At start, the local file only bootstraps: it says where etcd is (endpoints, TLS, prefix),
 *   and the daemon keeps connecting that way. When a configuration has been applied, the daemon
 *   runs that one (with its own etcd settings), and says so when the local file differs; when etcd cannot be asked yet, it starts with the local file and switches as
 *   soon as the watch delivers the applied one.
 * - It watches `<prefix>config`; each newer revision is checked, compared with the one it runs
 *   (config-diff.ts, logged change by change with when it takes effect) and handed to the agent,
 *   which switches online: the leader schedules with it, and this node changes only what differs
 *   for the packages it runs (package-change-steps.ts).
 * - A revision it cannot take (unreadable, or without this node) is logged and skipped: the
 *   node keeps running what it runs.
 */

import type { EtcdClient } from "../etcd/client.js";
import type { EtcdWatch } from "../etcd/watch.js";
import type { ChangeResult } from "../executor/package-runner.js";
import type { ClusterKeys } from "../membership/layout.js";
import { type AppliedConfig, decodeAppliedConfig, readAppliedConfig } from "../config/applied-config.js";
import { parseClusterConfig } from "../config/cluster-config.js";
import { describeEffect, diffClusterConfig } from "../config/config-diff.js";
import type { ClusterConfig } from "../config/model.js";

export type FollowerLog = (event: string, message: string, extra?: Record<string, unknown>) => void;

/** The configuration a daemon runs, and the applied revision it came from (0: the local file). */
export interface RunningConfig {
  config: ClusterConfig;
  revision: number;
}

/**
 * The configuration to start with: the applied one when there is one this node can run,
 * otherwise the local file. Gives up on etcd after `timeoutMs` (the follower catches up later).
 */
export async function startingConfig(options: {
  local: ClusterConfig;
  localText: string;
  client: EtcdClient;
  keys: ClusterKeys;
  node: string;
  log: FollowerLog;
  timeoutMs?: number;
}): Promise<RunningConfig> {
  const { local, log } = options;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("etcd did not answer in time")), options.timeoutMs ?? 3000);
  });
  let applied: AppliedConfig | undefined;
  try {
    applied = (await Promise.race([readAppliedConfig(options.client, options.keys), timeout]))?.record;
  } catch (err) {
    log(
      "config",
      `cannot read the applied configuration (${describe(err)}): starting with the local file; the applied one follows once etcd answers`,
    );
    return { config: local, revision: 0 };
  } finally {
    clearTimeout(timer);
  }
  if (!applied) {
    log("config", "no configuration has been applied (pavise config apply): running the local file");
    return { config: local, revision: 0 };
  }
  const taken = takeable(applied, options.node, local.etcd, log);
  if (!taken) return { config: local, revision: applied.revision };
  log(
    "config",
    applied.text === options.localText
      ? `running applied revision ${applied.revision} (the local file is the same)`
      : `running applied revision ${applied.revision} (${new Date(applied.appliedAt).toISOString()} by ${applied.by}); the local file differs from it and only gives etcd's endpoints`,
    { revision: applied.revision },
  );
  return { config: taken, revision: applied.revision };
}

export interface ConfigFollowerOptions {
  client: EtcdClient;
  keys: ClusterKeys;
  node: string;
  running: RunningConfig;
  /** Switches the daemon to `next`; resolves with what each package running here did. */
  apply: (next: ClusterConfig) => Promise<Map<string, ChangeResult>>;
  log: FollowerLog;
}

export class ConfigFollower {
  private running: RunningConfig;
  private watch: EtcdWatch | undefined;
  private loop: Promise<void> | undefined;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;

  private constructor(private readonly options: ConfigFollowerOptions) {
    this.running = options.running;
  }

  static start(options: ConfigFollowerOptions): ConfigFollower {
    const follower = new ConfigFollower(options);
    follower.follow();
    return follower;
  }

  /** The applied revision the daemon runs now (0: the local file). */
  get revision(): number {
    return this.running.revision;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.close();
    await this.loop;
    await this.chain;
  }

  private follow(): void {
    const { client, keys } = this.options;
    const watch = client.watch(keys.config, { prefix: false, healthCheckMs: 1000 });
    this.watch = watch;
    // What was applied before the watch began (or while etcd could not be asked) is read once.
    void watch.ready.then(() => this.check()).catch(() => undefined);
    this.loop = (async () => {
      try {
        for await (const batch of watch) {
          if (batch.kind !== "events") {
            this.check();
            continue;
          }
          for (const event of batch.events) {
            if (event.type !== "put") continue;
            try {
              this.offer(decodeAppliedConfig(event.kv.value, event.kv.key));
            } catch (err) {
              this.options.log("problem", describe(err));
            }
          }
        }
      } catch (err) {
        if (!this.stopped) this.options.log("problem", `configuration watch ended: ${describe(err)}`);
      }
    })();
  }

  /** Reads the record and offers it (after the watch resumed, or at start). */
  private check(): void {
    if (this.stopped) return;
    readAppliedConfig(this.options.client, this.options.keys).then(
      (stored) => stored && this.offer(stored.record),
      (err: unknown) => this.options.log("problem", `reading the applied configuration: ${describe(err)}`),
    );
  }

  /** Switches to a newer revision; one switch at a time, in revision order. */
  private offer(record: AppliedConfig): void {
    this.chain = this.chain.then(async () => {
      if (this.stopped || record.revision <= this.running.revision) return;
      await this.switchTo(record).catch((err: unknown) =>
        this.options.log("problem", `switching to revision ${record.revision}: ${describe(err)}`),
      );
    });
  }

  private async switchTo(record: AppliedConfig): Promise<void> {
    const { log } = this.options;
    const next = takeable(record, this.options.node, this.running.config.etcd, log);
    if (!next) {
      this.running = { ...this.running, revision: record.revision };
      return;
    }
    const diff = diffClusterConfig(this.running.config, next);
    if (diff.refusals.length > 0) {
      log(
        "problem",
        `revision ${record.revision} cannot be run online (${diff.refusals.map((r) => r.message).join("; ")}): this node keeps revision ${this.running.revision}`,
      );
      this.running = { ...this.running, revision: record.revision };
      return;
    }
    log(
      "config",
      `switching to revision ${record.revision} (by ${record.by}): ${diff.changes.length} change(s)`,
      { revision: record.revision },
    );
    for (const change of diff.changes) {
      const mine = change.subject === `node ${this.options.node}` && change.effect === "daemon-restart";
      const when = mine
        ? "this node's daemon cannot change them while it runs: at its next start"
        : describeEffect(change.effect, change.subject);
      log("config-change", `${change.subject}: ${change.what} — ${when}`, {
        revision: record.revision,
        effect: change.effect,
      });
    }
    const results = await this.options.apply(next);
    for (const [pkg, result] of results) {
      if (result.done.length > 0) {
        log("config-applied", `package ${pkg}: ${result.done.join("; ")}`, {
          package: pkg,
          revision: record.revision,
        });
      }
      for (const p of result.problems) {
        log("problem", `package ${pkg}: ${p.step}: ${p.message} — ${p.hint}`, { package: pkg });
      }
    }
    this.running = { config: next, revision: record.revision };
    log("config", `running revision ${record.revision}`, { revision: record.revision });
  }
}

/**
 * The record's configuration if this node can run it, with this daemon's own etcd settings (it
 * reached etcd with them; the applied endpoints are for the operator's commands); otherwise
 * logs why not.
 */
function takeable(
  record: AppliedConfig,
  node: string,
  etcd: ClusterConfig["etcd"],
  log: FollowerLog,
): ClusterConfig | undefined {
  let config: ClusterConfig;
  try {
    config = parseClusterConfig(record.text, `applied revision ${record.revision}`);
  } catch (err) {
    log(
      "problem",
      `applied revision ${record.revision} cannot be read by this daemon (${describe(err)}): keeping the configuration it runs`,
    );
    return undefined;
  }
  if (!config.nodes.some((n) => n.name === node)) {
    log(
      "problem",
      `applied revision ${record.revision} has no node ${node}: this daemon keeps the configuration it runs; stop it (the node was removed from the cluster)`,
    );
    return undefined;
  }
  return { ...config, etcd };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
