/**
 * Before a failover package starts on a node, its addresses must not answer ARP on the LAN
 * (executor/address-probe.ts), as Serviceguard refuses a relocatable address already in use.
 * After a crash or a planned move nothing answers: one probe. A holder whose lease etcd ended
 * early (revoked under it, etcd issue 15247) learns of it at the same revision as the leader and
 * may still hold them: its kernel answers until it has dropped them, and the start waits for
 * that, up to timing.address_in_use_wait. Still answering then: the start fails. Without the
 * check a CI run saw an address on two nodes for 8 ms.
 *
 * The waiting is here; the probing, the clock and the sleeping are passed in.
 */

import type { ProbeRound } from "../executor/address-probe.js";

export interface AddressCheck {
  probe(): Promise<ProbeRound>;
  /** timing.address_in_use_wait: how long an address that answers is waited for. */
  waitMs: number;
  /** Monotonic milliseconds. */
  now(): number;
  sleep(ms: number): Promise<void>;
  /** The node is stopping: give up without a verdict. */
  stopped(): boolean;
  /** "address-in-use" when one answers first, "address-free" when it fell silent, "problem". */
  log(event: "address-in-use" | "address-free" | "problem", message: string): void;
}

export type AddressCheckResult = { go: true } | { go: false; problem?: string };

/** How soon an address that answered is probed again. */
export const PROBE_INTERVAL_MS = 20;

export async function waitForAddressesFree(check: AddressCheck): Promise<AddressCheckResult> {
  const started = check.now();
  for (let probes = 1; ; probes++) {
    const { inUse, unknown } = await check.probe();
    for (const u of unknown) check.log("problem", `cannot check that ${u.address} is free: ${u.problem}`);
    const waited = Math.round(check.now() - started);
    if (inUse.length === 0) {
      if (probes > 1)
        check.log("address-free", `its addresses answer no more (${probes} probes, ${waited} ms)`);
      return { go: true };
    }
    if (check.stopped()) return { go: false };
    const where = inUse.map((u) => `${u.address} (from ${u.mac}${u.nic ? ` on ${u.nic}` : ""})`).join(", ");
    if (waited >= check.waitMs) {
      return {
        go: false,
        problem:
          `address in use: ${where} still answers ARP after ${waited} ms ` +
          `(timing.address_in_use_wait ${check.waitMs} ms); find that host and remove the address from it`,
      };
    }
    if (probes === 1) {
      check.log(
        "address-in-use",
        `${where} still answers ARP; waiting up to ${check.waitMs} ms for its holder to drop it (timing.address_in_use_wait)`,
      );
    }
    await check.sleep(PROBE_INTERVAL_MS);
  }
}
