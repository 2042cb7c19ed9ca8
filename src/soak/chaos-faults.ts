/**
 * The faults a chaos soak draws from, each a single inject with its own heal and what a
 * settled cluster must look like while it lasts (settle-check.ts). Node-level faults hit the
 * node of a package drawn at random, so that they disturb something; every draw comes from the
 * soak's seeded generator, so a seed replays the same sequence of faults.
 */
import { etcdHealth } from "../lab/etcd.js";
import { echoPids, processGone } from "../lab/daemon-cluster.js";
import type { LabProcess } from "../lab/host-runtime.js";
import { signalProcess } from "../lab/processes.js";
import { until } from "../util/until.js";
import { CHAOS_NODES, CHAOS_PACKAGES, type ChaosCluster } from "./chaos-cluster.js";
import { type FaultExpectation, NO_EXPECTATION } from "./settle-check.js";

export const FAULT_KINDS = [
  "node-crash",
  "daemon-kill",
  "daemon-freeze",
  "daemon-term",
  "heartbeat-cut-both",
  "heartbeat-cut-in",
  "heartbeat-cut-out",
  "primary-nic-down",
  "public-nics-down",
  "service-kill",
  "etcd-leader-freeze",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The member timeout of the soak's cluster file (daemon-cluster.ts): the lease TTL. */
const LEASE_MS = 1_000;

export interface InjectedFault {
  kind: FaultKind;
  /** What was done, e.g. "SIGSTOP n2's daemon for 2.4 s". */
  description: string;
  /** The node it hit. */
  target: string;
  /** True: wait for the cluster to settle around the fault before healing it. */
  settleBeforeHeal: boolean;
  /** How long the fault lasts at least, from its injection. */
  holdMs: number;
  expectation: FaultExpectation;
  /** A check only this fault needs (undefined: fine), e.g. the killed service is gone. */
  check?: () => Promise<string | undefined>;
  /** A crashed host: down from this time until its heal. */
  crashedAt?: number;
  heal(): Promise<void>;
}

export interface FaultContext {
  cluster: ChaosCluster;
  random: () => number;
  /** package → node, as the cluster last settled. */
  placement: ReadonlyMap<string, string>;
}

/** Draws a fault kind, from all of them or from the ones given (--kinds, to chase one finding). */
export function pickFaultKind(random: () => number, kinds: readonly FaultKind[] = FAULT_KINDS): FaultKind {
  return kinds[Math.floor(random() * kinds.length)]!;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** The node of a package drawn at random (a random node when nothing runs). */
function busyNode(ctx: FaultContext): string {
  const pkg = pick(ctx.random, CHAOS_PACKAGES).name;
  return ctx.placement.get(pkg) ?? pick(ctx.random, CHAOS_NODES);
}

function daemonOf(ctx: FaultContext, node: string): LabProcess {
  const proc = ctx.cluster.daemons.daemons.get(node);
  if (!proc) throw new Error(`no daemon tracked on ${node}`);
  return proc;
}

/** Waits for a stopped daemon's process to be gone, then starts a new one (it waits to join). */
async function restartDaemon(ctx: FaultContext, node: string, old: LabProcess | undefined): Promise<void> {
  if (old) {
    await until(
      "the old daemon to exit",
      () => Promise.resolve(processGone(old.pid)),
      (y) => y,
      15_000,
    );
    await ctx.cluster.lab.runtime.stop(old).catch(() => undefined);
  }
  await ctx.cluster.daemons.startDaemon(node);
}

const absent = (node: string): FaultExpectation => ({ ...NO_EXPECTATION, absent: [node] });

export async function injectFault(kind: FaultKind, ctx: FaultContext): Promise<InjectedFault> {
  const { lab, daemons } = ctx.cluster;
  switch (kind) {
    case "node-crash": {
      const node = busyNode(ctx);
      const crashedAt = Date.now();
      await lab.faults.crashHost(node);
      daemons.daemons.delete(node);
      return {
        kind,
        description: `crash ${node}`,
        target: node,
        settleBeforeHeal: true,
        holdMs: 0,
        expectation: { ...absent(node), down: [node] },
        crashedAt,
        heal: async () => {
          await lab.faults.powerOn(node);
          await daemons.startDaemon(node);
        },
      };
    }
    case "daemon-kill": {
      const node = busyNode(ctx);
      const proc = daemonOf(ctx, node);
      await lab.runtime.stop(proc, "SIGKILL");
      daemons.daemons.delete(node);
      return {
        kind,
        description: `SIGKILL ${node}'s daemon`,
        target: node,
        settleBeforeHeal: true,
        holdMs: 0,
        expectation: absent(node),
        heal: () => restartDaemon(ctx, node, undefined),
      };
    }
    case "daemon-term": {
      const node = busyNode(ctx);
      const proc = daemonOf(ctx, node);
      signalProcess(proc, "SIGTERM");
      daemons.daemons.delete(node);
      return {
        kind,
        description: `SIGTERM ${node}'s daemon`,
        target: node,
        settleBeforeHeal: true,
        holdMs: 0,
        expectation: absent(node),
        heal: () => restartDaemon(ctx, node, proc),
      };
    }
    case "daemon-freeze": {
      const node = busyNode(ctx);
      const proc = daemonOf(ctx, node);
      // Longer than the lease and the guardian's deadline, so the node must be fenced.
      const holdMs = Math.round(2 * LEASE_MS + ctx.random() * 2 * LEASE_MS);
      lab.faults.freeze(proc);
      return {
        kind,
        description: `SIGSTOP ${node}'s daemon for ${(holdMs / 1000).toFixed(1)} s`,
        target: node,
        settleBeforeHeal: true,
        holdMs,
        expectation: absent(node),
        heal: () => Promise.resolve(lab.faults.thaw(proc)),
      };
    }
    case "heartbeat-cut-both":
    case "heartbeat-cut-in":
    case "heartbeat-cut-out": {
      const node = busyNode(ctx);
      const direction = kind === "heartbeat-cut-both" ? "both" : kind === "heartbeat-cut-in" ? "in" : "out";
      const cut = await lab.faults.cutFromLan(node, { subnet: "heartbeat", direction });
      return {
        kind,
        description: cut.description,
        target: node,
        settleBeforeHeal: true,
        holdMs: 0,
        expectation: absent(node),
        heal: () => lab.faults.heal(cut),
      };
    }
    case "primary-nic-down": {
      const node = busyNode(ctx);
      await lab.faults.carrierDown(node, "lan0");
      return {
        kind,
        description: `carrier down on ${node} lan0`,
        target: node,
        settleBeforeHeal: true,
        holdMs: 0,
        expectation: { ...NO_EXPECTATION, freeNics: [{ host: node, nic: "lan0" }] },
        heal: () => lab.faults.carrierUp(node, "lan0"),
      };
    }
    case "public-nics-down": {
      const node = busyNode(ctx);
      await lab.faults.carrierDown(node, "lan0");
      await lab.faults.carrierDown(node, "lan1");
      return {
        kind,
        description: `carrier down on ${node} lan0 and lan1`,
        target: node,
        settleBeforeHeal: true,
        holdMs: 0,
        expectation: { ...NO_EXPECTATION, empty: [node] },
        heal: async () => {
          await lab.faults.carrierUp(node, "lan0");
          await lab.faults.carrierUp(node, "lan1");
        },
      };
    }
    case "service-kill": {
      const pkg = pick(ctx.random, CHAOS_PACKAGES);
      const node = ctx.placement.get(pkg.name) ?? pick(ctx.random, CHAOS_NODES);
      const pids = await echoPids(lab, node, pkg.port);
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // exited meanwhile
        }
      }
      return {
        kind,
        description: `SIGKILL ${pkg.name}'s service on ${node} (pid ${pids.join(", ") || "none"})`,
        target: node,
        settleBeforeHeal: true,
        holdMs: 0,
        expectation: NO_EXPECTATION,
        check: () =>
          Promise.resolve(
            pids.some((pid) => !processGone(pid))
              ? `killed service ${pids.join(", ")} still there`
              : undefined,
          ),
        heal: () => Promise.resolve(),
      };
    }
    case "etcd-leader-freeze": {
      const roles = await etcdHealth(lab.runtime, lab.plan.etcd, pick(ctx.random, CHAOS_NODES));
      const leader = roles.find((m) => m.leader) ?? roles[0]!;
      const member = lab.plan.etcd.members.find((m) => m.host === leader.host)!;
      const proc = lab.processes().find((p) => p.role === `etcd-${member.name}`);
      if (!proc) throw new Error(`no etcd member process on ${leader.host}`);
      const holdMs = Math.round(1_000 + ctx.random() * 2_000);
      lab.faults.freeze(proc);
      return {
        kind,
        description: `SIGSTOP etcd leader on ${leader.host} for ${(holdMs / 1000).toFixed(1)} s`,
        target: leader.host,
        settleBeforeHeal: false,
        holdMs,
        expectation: NO_EXPECTATION,
        heal: () => Promise.resolve(lab.faults.thaw(proc)),
      };
    }
  }
}
