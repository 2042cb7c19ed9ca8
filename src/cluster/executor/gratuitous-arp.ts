/**
 * Gratuitous ARP after an address is added or moved, so that neighbours replace the MAC they
 * have for it at once instead of after their cache times out (≈11 s measured without; FACTS.md).
 * A burst is `count` unsolicited ARP requests (sender = target = the address, iputils
 * `arping -U`), `intervalMs` apart, from the NIC that now holds the address.
 *
 * iputils arping (20221126, Debian 12) takes its interval in whole seconds and, even with
 * `-c 1 -w 0`, waits about a second after its one packet before it exits (measured: 1,012 ms;
 * the packet itself leaves within ≈3 ms of the spawn). So each packet is its own `arping -c 1`,
 * spawned on our schedule and left to exit by itself; what a burst costs is one spawn per packet.
 *
 * A burst for an address that is removed must stop: a late announcement from a node that no
 * longer holds the address would steal its traffic. `cancel` drops the packets not yet sent and
 * ends the senders still running (arping binds to the address, so one that has not sent yet
 * cannot send once the address is gone).
 */

import { type ChildProcess, spawn } from "node:child_process";
import type { ArpConfig } from "../config/model.js";
import type { NodeNamespace } from "./node-namespace.js";

/** arping exits by itself about a second after its packet; this is the backstop. */
const SENDER_LIFETIME_MS = 5_000;

interface Burst {
  address: string;
  nic: string;
  timer: NodeJS.Timeout | undefined;
  remaining: number;
}

export interface ArpFailure {
  nic: string;
  address: string;
  message: string;
}

export class GratuitousArp {
  private readonly bursts = new Set<Burst>();
  private readonly senders = new Map<ChildProcess, string>();
  private packetsSent = 0;

  constructor(
    private readonly ns: NodeNamespace,
    private readonly onFailure: (failure: ArpFailure) => void = () => undefined,
  ) {}

  /** Packets handed to arping so far. */
  get sent(): number {
    return this.packetsSent;
  }

  /** Starts a burst; resolves once the first packet's sender runs (the rest follow on their own). */
  async announce(nic: string, address: string, burst: ArpConfig): Promise<void> {
    if (burst.count <= 0) return;
    const state: Burst = { address, nic, timer: undefined, remaining: burst.count - 1 };
    this.bursts.add(state);
    const next = (): void => {
      state.timer = undefined;
      if (!this.bursts.has(state)) return;
      if (state.remaining <= 0) {
        this.bursts.delete(state);
        return;
      }
      state.remaining--;
      void this.sendOne(nic, address);
      state.timer = setTimeout(next, burst.intervalMs);
    };
    await this.sendOne(nic, address);
    if (state.remaining > 0 && this.bursts.has(state)) state.timer = setTimeout(next, burst.intervalMs);
    else this.bursts.delete(state);
  }

  /** Stops every burst for the address and ends its senders still running. */
  cancel(address: string): void {
    for (const burst of [...this.bursts]) {
      if (burst.address !== address) continue;
      if (burst.timer) clearTimeout(burst.timer);
      this.bursts.delete(burst);
    }
    for (const [child, forAddress] of this.senders) if (forAddress === address) child.kill("SIGKILL");
  }

  /** Stops everything (executor shutdown). */
  close(): void {
    for (const burst of this.bursts) if (burst.timer) clearTimeout(burst.timer);
    this.bursts.clear();
    for (const child of this.senders.keys()) child.kill("SIGKILL");
  }

  private sendOne(nic: string, address: string): Promise<void> {
    const [file, ...args] = this.ns.command([
      "arping",
      "-q",
      "-U",
      "-c",
      "1",
      "-I",
      nic,
      "-s",
      address,
      address,
    ]);
    return new Promise<void>((resolve) => {
      const child = spawn(file ?? "arping", args, { stdio: ["ignore", "ignore", "pipe"] });
      this.senders.set(child, address);
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      const backstop = setTimeout(() => child.kill("SIGKILL"), SENDER_LIFETIME_MS);
      backstop.unref();
      child.once("spawn", () => {
        this.packetsSent++;
        resolve();
      });
      child.once("error", (err) => {
        this.onFailure({ nic, address, message: err.message });
        resolve();
      });
      child.once("close", (code, signal) => {
        clearTimeout(backstop);
        this.senders.delete(child);
        if (code !== 0 && signal === null) {
          this.onFailure({ nic, address, message: stderr.trim() || `arping exited with status ${code}` });
        }
      });
    });
  }
}
