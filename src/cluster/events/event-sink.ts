/**
 * The one place a daemon's events go (NodeAgent.event): a line in the daemon's log (stdout, text
 * or --json), the cluster's event log in etcd, and the hooks of the cluster file. It only hands
 * work off: the etcd append is not awaited and hooks are queued (hook-runner.ts), so writing an
 * event never delays a failover. The node that writes an event runs its hooks: exactly one run
 * per event and hook, with no coordination (a crashed node's node-failed is the leader's).
 */

import type { EtcdClient } from "../etcd/client.js";
import type { HookConfig } from "../config/model.js";
import type { ClusterKeys } from "../membership/layout.js";
import { appendEvent } from "../membership/node-registry.js";
import { planHookRuns, type ClusterEvent } from "./hook-plan.js";
import { DEFAULT_LOG_DIRECTORY } from "../executor/package-log.js";
import { HookRunner } from "./hook-runner.js";

/** Tries of one event's etcd append: 100, 300 and 900 ms apart. */
const EVENT_APPEND_ATTEMPTS = 4;

export interface EventSinkOptions {
  node: string;
  /** Read at each event: a configuration applied online changes the hooks at once. */
  cluster: () => { name: string; hooks?: HookConfig[] | undefined };
  client: EtcdClient;
  keys: ClusterKeys;
  log: (event: string, message: string, extra: Record<string, unknown>) => void;
  /** The daemon's log directory (--log-dir): hooks.log goes there. */
  logDirectory: string | undefined;
}

export class EventSink {
  /** Per daemon, increasing (Pacemaker's CRM_alert_node_sequence). */
  private sequence = 0;
  readonly hooks: HookRunner;

  constructor(private readonly options: EventSinkOptions) {
    this.hooks = new HookRunner({
      logDirectory: options.logDirectory ?? DEFAULT_LOG_DIRECTORY,
      log: (event, message, extra = {}) => options.log(event, message, extra),
    });
  }

  emit(kind: string, message: string, extra: Record<string, unknown> = {}): void {
    const { node, client, keys } = this.options;
    this.sequence += 1;
    // One time for the log in etcd and the hooks: a hook can find its event there.
    const event: ClusterEvent = { node, kind, message, ...extra, time: Date.now() };
    this.options.log(kind, message, extra);
    // Retried (same key) for about 1.3 s: an event lost to an etcd leader move is a hole in the log.
    void appendEvent(client, keys, event, EVENT_APPEND_ATTEMPTS).catch(() => undefined);
    const cluster = this.options.cluster();
    if (cluster.hooks && cluster.hooks.length > 0) {
      this.hooks.enqueue(planHookRuns(event, cluster.hooks, this.sequence, cluster.name));
    }
  }

  /**
   * An event this daemon wrote to etcd by another path: an operator's action served by its API
   * (perform-action.ts). Logged and hooked here like the agent's own, so an action through the
   * API runs the hooks exactly once, on the node that served it (design §9).
   */
  recorded(event: ClusterEvent): void {
    this.sequence += 1;
    const { node: _node, kind, message, time: _time, ...extra } = event;
    this.options.log(kind, message, extra);
    const cluster = this.options.cluster();
    if (cluster.hooks && cluster.hooks.length > 0) {
      this.hooks.enqueue(planHookRuns(event, cluster.hooks, this.sequence, cluster.name));
    }
  }

  /** The daemon stops: hooks still running are killed, none start. */
  stop(): void {
    this.hooks.stop();
  }
}
