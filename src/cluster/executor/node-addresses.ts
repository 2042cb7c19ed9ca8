/**
 * The one owner of relocatable addresses on a node: it knows which address is on which NIC,
 * adds and removes them for the package runners, announces them by gratuitous ARP, and carries
 * out local LAN failover — when a NIC's link changes, the pure placement (address-placement.ts)
 * says where each subnet's addresses belong, and they move: add on the new NIC, first ARP
 * packet out, remove from the old one. Without link on any NIC of a subnet, it reports
 * "subnet down": the packages with addresses there must fail over to another node.
 *
 * The node's own (stationary) addresses on a subnet's NICs move along, first, as Serviceguard's
 * local switch does: they stay the source of the subnet route, and the node stays reachable.
 *
 * Every change of addresses goes through one queue, so a package halt and a link change never
 * act on the same address at once.
 */

import { parseIpv4, parsePrefix, prefixContains } from "../../net/ipv4.js";
import { PaviseError } from "../../util/errors.js";
import type { ArpConfig, NodeConfig, SubnetConfig } from "../config/model.js";
import {
  chooseSubnetNic,
  DEFAULT_RETURN_POLICY,
  type HeldAddress,
  type LinkStatus,
  type MoveReason,
  NODE_OWNER,
  placeAddresses,
  type ReturnPolicy,
  subnetsWithLink,
} from "./address-placement.js";
import { GratuitousArp } from "./gratuitous-arp.js";
import { probeAddress, type ProbeResult } from "./address-probe.js";
import {
  addAddress,
  parseNicAddresses,
  removeAddress,
  removeAddressEverywhere,
  showAddresses,
} from "./ip-address.js";
import { type LinkChange, LinkWatch } from "./link-watch.js";
import { applyNicSettings } from "./nic-settings.js";
import type { NodeNamespace } from "./node-namespace.js";

export type AddressEvent =
  | { kind: "link-changed"; at: number; nic: string; up: boolean }
  | {
      kind: "address-moved";
      at: number;
      address: string;
      subnet: string;
      owner: string;
      from: string | undefined;
      to: string;
      reason: MoveReason;
      /** From the link change that caused it to the address being on the new NIC and announced. */
      tookMs: number;
    }
  /** No NIC of the subnet has link: the owners' packages must fail over (monitored_subnet). */
  | { kind: "subnet-down"; at: number; subnet: string; owners: string[] }
  | { kind: "subnet-up"; at: number; subnet: string; nic: string }
  | { kind: "problem"; at: number; message: string };

export interface NodeAddressesOptions {
  ns: NodeNamespace;
  node: NodeConfig;
  subnets: readonly SubnetConfig[];
  arp: ArpConfig;
  returnPolicy?: ReturnPolicy;
  /** Every relocatable address of the cluster: never taken for one of the node's own. */
  relocatable?: readonly string[];
  /** Log a line for an owner (a package name, or NODE_OWNER for the node's own addresses). */
  log?: (owner: string, text: string) => void;
  onEvent?: (event: AddressEvent) => void;
  /**
   * May this node hold package addresses right now (default: always)? The daemon answers with
   * its membership (MemberSession.mayAct: false once fenced, or at once after its event loop
   * stalled past the budget). When not, package addresses are neither added nor moved from NIC
   * to NIC; removals go on. A move that was due while the daemon was frozen would otherwise put
   * back an address its guardian had removed while another node took it over (npm run
   * soak:cluster, seed 1128: 23 ms on two nodes after a daemon-freeze).
   */
  mayHoldPackageAddresses?: () => boolean;
}

interface Entry extends HeldAddress {
  prefixLength: number;
}

export class NodeAddresses {
  private readonly entries = new Map<string, Entry>();
  private readonly arp: GratuitousArp;
  private watch: LinkWatch | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly downSubnets = new Set<string>();
  private recheckTimer: NodeJS.Timeout | undefined;
  private lastLinkChangeAt = 0;
  private stopped = false;

  private constructor(private options: NodeAddressesOptions) {
    this.arp = new GratuitousArp(options.ns, (f) =>
      this.problem(`gratuitous ARP for ${f.address} on ${f.nic} failed: ${f.message}`),
    );
  }

  /**
   * Prepares the NICs (nic-settings.ts), finds the node's own addresses on them, and starts
   * watching their links; local LAN failover is active from then on.
   */
  static async start(options: NodeAddressesOptions): Promise<NodeAddresses> {
    const self = new NodeAddresses(options);
    const nics = options.node.interfaces.flatMap((i) => [i.primary, ...i.standby]);
    await applyNicSettings(options.ns, nics);
    await self.findNodeAddresses();
    self.watch = await LinkWatch.start(options.ns, nics, {
      onChange: (change) => self.onLinkChange(change),
      onProblem: (message) => self.problem(message),
    });
    // Subnets already down at start are reported like any later loss.
    await self.enqueue(() => self.reconcile());
    return self;
  }

  /** Link state of the node's NICs. */
  links(): ReadonlyMap<string, LinkStatus> {
    return this.watch?.status() ?? new Map();
  }

  /** Subnets with a NIC that has link (NodeState.subnetsUp). */
  subnetsUp(): string[] {
    return subnetsWithLink(this.options.node.interfaces, this.links());
  }

  /** The addresses held now and where. */
  held(): HeldAddress[] {
    return [...this.entries.values()].map(({ address, subnet, nic, owner }) => ({
      address,
      subnet,
      nic,
      owner,
    }));
  }

  /**
   * Whether another host answers ARP for the address on its subnet now (address-probe.ts), from
   * the NIC an add would use. Not queued: a probe waits for replies, and a removal (a fence)
   * must never wait behind it. An address this node holds is not probed: it would be its own.
   */
  async probe(address: string, subnet: string): Promise<ProbeResult & { nic?: string }> {
    if (this.entries.has(address)) return { answered: false };
    const iface = this.options.node.interfaces.find((i) => i.subnet === subnet);
    const nic = iface ? this.nicForNewAddress(iface) : undefined;
    if (nic === undefined) return { answered: undefined, problem: `no NIC of subnet ${subnet} has link` };
    return { ...(await probeAddress(this.options.ns, nic, address)), nic };
  }

  /** The NIC that holds the address now, if this node holds it. */
  nicOf(address: string): string | undefined {
    return this.entries.get(address)?.nic;
  }

  /**
   * Adds a package's address on the NIC its subnet uses now (the primary, or the standby after
   * a local failover) and starts its gratuitous ARP burst; resolves with the NIC once the first
   * announcement is out.
   */
  add(owner: string, address: string, subnet: string): Promise<string> {
    return this.enqueue(async () => {
      const iface = this.options.node.interfaces.find((i) => i.subnet === subnet);
      if (!iface) {
        throw new PaviseError(
          "EXECUTOR_NO_INTERFACE",
          `node ${this.options.node.name} has no NIC on subnet ${subnet} for ${address}`,
          {
            hint: `give node ${this.options.node.name} an interface on ${subnet} in the cluster configuration, or remove it from the package's node list`,
          },
        );
      }
      const prefixLength = this.prefixLength(subnet);
      const nic = this.nicForNewAddress(iface);
      if (nic === undefined) {
        throw new PaviseError(
          "EXECUTOR_SUBNET_DOWN",
          `cannot add ${address}: no NIC of subnet ${subnet} has link on node ${this.options.node.name} (${[iface.primary, ...iface.standby].join(", ")})`,
          {
            hint: "the package must run on another node; check the cables and switch ports of these NICs",
          },
        );
      }
      this.log(owner, `adding ${address}/${prefixLength} on ${nic}`);
      // Asked right before the add and again after it (see the moves in reconcile).
      if (!this.mayHold()) throw notOwner(this.options.node.name, address);
      const outcome = await addAddress(this.options.ns, nic, address, prefixLength);
      if (!this.mayHold()) {
        if (outcome === "added") await removeAddress(this.options.ns, nic, address, prefixLength);
        throw notOwner(this.options.node.name, address);
      }
      if (outcome === "already-there") this.log(owner, `${address}/${prefixLength} was already on ${nic}`);
      this.entries.set(address, { address, subnet, nic, owner, prefixLength });
      await this.announceOne(owner, nic, address);
      return nic;
    });
  }

  /** Removes the address from every NIC of this node that has it, and stops its announcements. */
  remove(owner: string, address: string): Promise<string[]> {
    return this.enqueue(async () => {
      this.arp.cancel(address);
      const entry = this.entries.get(address);
      this.entries.delete(address);
      this.log(owner, `removing ${address}${entry ? `/${entry.prefixLength} from ${entry.nic}` : ""}`);
      const removed = await removeAddressEverywhere(this.options.ns, address);
      this.log(
        owner,
        removed.length === 0 ? `${address} was on no NIC` : `removed ${address} from ${removed.join(", ")}`,
      );
      return removed;
    });
  }

  /** Announces the addresses again (all, or one owner's), e.g. after a partition heals. */
  announce(owner?: string): Promise<void> {
    return this.enqueue(async () => {
      for (const entry of this.entries.values()) {
        if (entry.nic === undefined || (owner !== undefined && entry.owner !== owner)) continue;
        await this.announceOne(entry.owner, entry.nic, entry.address);
      }
    });
  }

  /**
   * A new cluster configuration (pavise config apply): gratuitous ARP settings and subnets
   * are used from the next address on. Addresses already held keep their prefix length.
   */
  reconfigure(next: { subnets: readonly SubnetConfig[]; arp: ArpConfig }): void {
    this.options = { ...this.options, subnets: next.subnets, arp: next.arp };
  }

  /** Stops watching links and announcing; the addresses stay where they are. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.recheckTimer) clearTimeout(this.recheckTimer);
    this.arp.close();
    await this.watch?.stop();
    await this.queue.catch(() => undefined);
  }

  private get returnPolicy(): ReturnPolicy {
    return this.options.returnPolicy ?? DEFAULT_RETURN_POLICY;
  }

  /** The NIC a new address of this interface's subnet goes on now (undefined: none has link). */
  private nicForNewAddress(iface: NodeConfig["interfaces"][number]): string | undefined {
    const heldOn = new Set(
      [...this.entries.values()]
        .filter((e) => e.subnet === iface.subnet)
        .flatMap((e) => (e.nic ? [e.nic] : [])),
    );
    return chooseSubnetNic(iface, this.links(), heldOn, this.returnPolicy, Date.now()).nic;
  }

  private mayHold(): boolean {
    return this.options.mayHoldPackageAddresses?.() ?? true;
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private onLinkChange(change: LinkChange): void {
    const at = Date.now();
    this.lastLinkChangeAt = at;
    if (change.was !== undefined) {
      this.emit({ kind: "link-changed", at, nic: change.nic, up: change.status.up });
      for (const owner of this.ownersOn(change.nic)) {
        this.log(owner, `${change.nic} ${change.status.up ? "has link again" : "lost link"}`);
      }
    }
    if (!this.stopped)
      this.enqueue(() => this.reconcile()).catch((err: unknown) => this.problem((err as Error).message));
  }

  /** Puts every address where the placement says, and reports subnets that went down or came back. */
  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    const links = this.links();
    const decision = placeAddresses(
      this.options.node.interfaces,
      links,
      this.held(),
      this.returnPolicy,
      Date.now(),
    );
    for (const move of decision.moves) {
      const entry = this.entries.get(move.address);
      if (!entry) continue;
      this.log(
        move.owner,
        `moving ${move.address}/${entry.prefixLength} from ${move.from ?? "(none)"} to ${move.to} (${describeReason(move.reason)})`,
      );
      try {
        // Asked right before the add and again after it: a daemon frozen in between learns on
        // waking that it was fenced, and an address it added meanwhile goes again at once.
        if (move.owner !== NODE_OWNER && !this.mayHold()) {
          this.log(move.owner, `not moving ${move.address}: this node may not act as an owner now (fenced)`);
          continue;
        }
        await addAddress(this.options.ns, move.to, move.address, entry.prefixLength);
        if (move.owner !== NODE_OWNER && !this.mayHold()) {
          await removeAddress(this.options.ns, move.to, move.address, entry.prefixLength);
          this.log(
            move.owner,
            `took ${move.address} off ${move.to} again: this node was fenced during the move`,
          );
          continue;
        }
        entry.nic = move.to;
        await this.announceOne(move.owner, move.to, move.address);
        if (move.from !== undefined)
          await removeAddress(this.options.ns, move.from, move.address, entry.prefixLength);
      } catch (err) {
        this.problem(`moving ${move.address} to ${move.to} failed: ${(err as Error).message}`);
        continue;
      }
      const at = Date.now();
      this.emit({
        kind: "address-moved",
        at,
        address: move.address,
        subnet: move.subnet,
        owner: move.owner,
        from: move.from,
        to: move.to,
        reason: move.reason,
        tookMs: at - this.lastLinkChangeAt,
      });
    }
    for (const placement of decision.subnets) {
      const wasDown = this.downSubnets.has(placement.subnet);
      if (placement.nic === undefined && !wasDown) {
        this.downSubnets.add(placement.subnet);
        const owners = this.ownersIn(placement.subnet);
        for (const owner of owners)
          this.log(
            owner,
            `subnet ${placement.subnet} is down: no NIC of it has link; the package must fail over`,
          );
        this.emit({ kind: "subnet-down", at: Date.now(), subnet: placement.subnet, owners });
      } else if (placement.nic !== undefined && wasDown) {
        this.downSubnets.delete(placement.subnet);
        for (const owner of this.ownersIn(placement.subnet))
          this.log(owner, `subnet ${placement.subnet} is up again on ${placement.nic}`);
        this.emit({ kind: "subnet-up", at: Date.now(), subnet: placement.subnet, nic: placement.nic });
      }
    }
    if (this.recheckTimer) clearTimeout(this.recheckTimer);
    this.recheckTimer = undefined;
    if (decision.recheckAt !== undefined && !this.stopped) {
      this.recheckTimer = setTimeout(
        () =>
          void this.enqueue(() => this.reconcile()).catch((err: unknown) =>
            this.problem((err as Error).message),
          ),
        Math.max(0, decision.recheckAt - Date.now()),
      );
    }
  }

  private async announceOne(owner: string, nic: string, address: string): Promise<void> {
    const { count, intervalMs } = this.options.arp;
    if (count <= 0) return;
    this.log(owner, `gratuitous ARP for ${address} on ${nic}: ${count} × every ${intervalMs} ms`);
    await this.arp.announce(nic, address, this.options.arp);
  }

  /** The node's own addresses: those on its subnets' NICs, inside the subnet, not relocatable. */
  private async findNodeAddresses(): Promise<void> {
    const json = await showAddresses(this.options.ns);
    const relocatable = new Set(this.options.relocatable ?? []);
    for (const iface of this.options.node.interfaces) {
      const cidr = this.options.subnets.find((s) => s.name === iface.subnet)?.cidr;
      const prefix = cidr === undefined ? undefined : parsePrefix(cidr);
      if (!prefix) continue;
      for (const nic of [iface.primary, ...iface.standby]) {
        for (const a of parseNicAddresses(json, nic)) {
          const value = parseIpv4(a.address);
          if (value === undefined || !prefixContains(prefix, value) || relocatable.has(a.address)) continue;
          if (this.entries.has(a.address)) continue;
          this.entries.set(a.address, {
            address: a.address,
            subnet: iface.subnet,
            nic,
            owner: NODE_OWNER,
            prefixLength: a.prefixLength,
          });
        }
      }
    }
  }

  private prefixLength(subnet: string): number {
    const cidr = this.options.subnets.find((s) => s.name === subnet)?.cidr;
    const prefix = cidr === undefined ? undefined : parsePrefix(cidr);
    if (!prefix) {
      throw new PaviseError(
        "EXECUTOR_UNKNOWN_SUBNET",
        `subnet ${subnet} is not in the cluster configuration`,
        {
          hint: `subnets are: ${this.options.subnets.map((s) => s.name).join(", ")}`,
        },
      );
    }
    return prefix.length;
  }

  private ownersOn(nic: string): string[] {
    return [...new Set([...this.entries.values()].filter((e) => e.nic === nic).map((e) => e.owner))];
  }

  private ownersIn(subnet: string): string[] {
    return [
      ...new Set(
        [...this.entries.values()]
          .filter((e) => e.subnet === subnet && e.owner !== NODE_OWNER)
          .map((e) => e.owner),
      ),
    ];
  }

  private log(owner: string, text: string): void {
    this.options.log?.(owner, text);
  }

  private problem(message: string): void {
    this.emit({ kind: "problem", at: Date.now(), message });
  }

  private emit(event: AddressEvent): void {
    this.options.onEvent?.(event);
  }
}

function describeReason(reason: MoveReason): string {
  switch (reason) {
    case "place":
      return "placing it";
    case "link-down":
      return "local LAN failover: its NIC lost link";
    case "primary-back":
      return "the primary NIC has link again";
    case "consolidate":
      return "keeping the subnet's addresses on one NIC";
  }
}

function notOwner(node: string, address: string): PaviseError {
  return new PaviseError(
    "EXECUTOR_NOT_OWNER",
    `not adding ${address}: node ${node} may not act as an owner now (fenced)`,
    {
      hint: "nothing to do: the node joins the cluster again by itself and starts what it is given",
    },
  );
}
