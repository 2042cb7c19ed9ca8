import type { ArpConfig, ClusterTiming } from "./model.js";
import type { ProblemList } from "./raw-reader.js";

/**
 * Timing that keeps "never two owners" (DESIGN.md): a node renews its lease often enough, fences
 * itself (halts its packages, drops their addresses) before the lease can lapse for the others,
 * and a stalled event loop cannot push that decision past the lease's end.
 */
export function validateTiming(timing: ClusterTiming, problems: ProblemList): void {
  const { memberTimeoutMs: ttl, keepaliveIntervalMs: keepalive, fenceAfterMs: fence } = timing;
  const budget = timing.eventLoopBudgetMs;
  if (ttl < 1_000 || ttl > 300_000) {
    problems.add(
      "timing.member_timeout",
      formatMs(ttl),
      "must be from 1s to 300s",
      "write member_timeout: 2s (1s only with etcd heartbeat 50 ms / election 500 ms; Serviceguard's default is 14s)",
    );
  } else if (ttl % 1_000 !== 0) {
    problems.add(
      "timing.member_timeout",
      formatMs(ttl),
      "is not a whole number of seconds: etcd grants leases in whole seconds",
      `write member_timeout: ${Math.max(1, Math.round(ttl / 1_000))}s`,
    );
  }
  if (keepalive < 50) {
    problems.add(
      "timing.keepalive_interval",
      formatMs(keepalive),
      "is shorter than 50ms: renewing this often only loads etcd",
      `leave it out (default ${formatMs(Math.round(ttl / 6))}, a sixth of member_timeout)`,
    );
  } else if (keepalive >= fence) {
    problems.add(
      "timing.keepalive_interval",
      formatMs(keepalive),
      `is too slow to renew the lease before the node fences itself (fence_after ${formatMs(fence)}): a healthy node would fence between two renewals`,
      `make it well below fence_after, e.g. keepalive_interval: ${formatMs(Math.max(50, Math.floor(fence / 2)))}`,
    );
  }
  if (fence <= 0 || fence >= ttl) {
    problems.add(
      "timing.fence_after",
      formatMs(fence),
      `must be shorter than member_timeout (${formatMs(ttl)}): a node must drop its addresses before the others may take them`,
      `write fence_after: ${formatMs(Math.round(ttl * 0.6))} (60 % of member_timeout)`,
    );
  }
  if (budget < 20) {
    problems.add(
      "timing.event_loop_budget",
      formatMs(budget),
      "is shorter than 20ms: ordinary garbage-collection pauses would fence the node",
      `write event_loop_budget: ${formatMs(Math.round(ttl / 4))}`,
    );
  } else if (fence > 0 && fence < ttl && fence + budget >= ttl) {
    problems.add(
      "timing.event_loop_budget",
      formatMs(budget),
      `with fence_after ${formatMs(fence)} it reaches member_timeout ${formatMs(ttl)}: a stall this long could keep addresses up after the lease lapsed`,
      `make fence_after + event_loop_budget shorter than member_timeout, e.g. event_loop_budget: ${formatMs(Math.max(20, Math.floor((ttl - fence) / 2)))}`,
    );
  }
  validateAddressInUseWait(timing, problems);
}

/**
 * address_in_use_wait: from 0 (no check) to below member_timeout: a start must not wait for an
 * address that still answers longer than a lease lasts.
 */
function validateAddressInUseWait(timing: ClusterTiming, problems: ProblemList): void {
  const { addressInUseWaitMs: wait, memberTimeoutMs: ttl } = timing;
  if (wait < 0 || wait >= ttl) {
    problems.add(
      "timing.address_in_use_wait",
      formatMs(wait),
      `must be from 0 to less than member_timeout (${formatMs(ttl)}): a package start waits up to this long for an address that answers ARP to fall silent`,
      `leave it out (default event_loop_budget, ${formatMs(timing.eventLoopBudgetMs)}), or address_in_use_wait: 0s to start packages without checking`,
    );
  }
}

/** Gratuitous ARP bursts: at least one packet, sent close enough together to matter. */
export function validateArp(arp: ArpConfig, problems: ProblemList): void {
  if (arp.count < 1 || arp.count > 100) {
    problems.add(
      "arp.count",
      arp.count,
      "must be from 1 to 100: without a gratuitous ARP a peer kept the old MAC ≈11 s",
      "write count: 3",
    );
  }
  if (arp.intervalMs < 10 || arp.intervalMs > 10_000) {
    problems.add(
      "arp.interval",
      formatMs(arp.intervalMs),
      "must be from 10ms to 10s",
      "write interval: 150ms",
    );
  }
}

/** A duration as a person writes it: 2s, 1.5s, 667ms. */
export function formatMs(ms: number): string {
  if (ms >= 1_000 && ms % 100 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}
