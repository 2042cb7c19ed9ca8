/**
 * The thin driver of policy-routing-plan.ts: runs `ip rule` and `ip route` in the current
 * network namespace for one TUN device, in order (one change at a time), and removes exactly
 * what it added on close.
 *
 * Rules of a crashed run are still there when the next one opens (routes are not: they went
 * with the TUN device), so opening first deletes every copy of each of its rules, then adds one;
 * `ip rule add` itself would fail with EEXIST. Routes are added with `ip route replace`. An
 * interface it made loose for a routed peer (policy-routing-plan.ts) is written down in
 * /run/pavise/policy-routing first, so the next run puts back what a killed one left.
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { isIP } from "node:net";
import { join } from "node:path";
import { NAT_T_PORT } from "../../ike/core/udp-demux.js";
import { PaviseError } from "../../util/errors.js";
import { run } from "../../util/run.js";
import {
  childSaRoutes,
  DEFAULT_ROUTING_TABLE,
  DEFAULT_RULE_PRIORITY,
  diffRoutes,
  policyRules,
  routeDeleteArgs,
  routeReplaceArgs,
  routesPeer,
  interfacesToLoosen,
  routingTableProblem,
  needsLooseReversePath,
  rulePriorityProblem,
  ruleArgs,
  TunRouteBook,
  type PolicyRule,
  type RoutedChildSa,
  type TunRoute,
} from "./policy-routing-plan.js";

/** What the driver does to the system; tests pass their own. */
export interface PolicyRoutingSystem {
  /** Runs `ip ARGS...`; never throws on a non-zero exit. */
  ip(args: readonly string[]): Promise<{ ok: boolean; stdout: string; error: string }>;
  /** The addresses on this host's interfaces (candidates for a route's `src`). */
  hostAddresses(): string[];
  /** net.ipv4.conf.DEVICE.rp_filter ("all" for the global one); undefined when unreadable. */
  readRpFilter(device: string): number | undefined;
  /** Sets net.ipv4.conf.DEVICE.rp_filter; throws when it cannot. */
  setRpFilter(device: string, value: number): void;
  /**
   * Keeps the rp_filter values to put back where a run that is killed leaves them for the next
   * one (per network namespace and table); an empty map forgets them.
   */
  rememberRpFilters(table: number, previous: ReadonlyMap<string, number>): void;
  rememberedRpFilters(table: number): Map<string, number>;
}

/** Where {@link systemPolicyRouting} keeps the rp_filter values to put back. */
export const POLICY_ROUTING_STATE_DIR = "/run/pavise/policy-routing";

/** The state file of this network namespace (by its inode) and table. */
function rpFilterStateFile(table: number): string {
  return join(
    POLICY_ROUTING_STATE_DIR,
    `rp-filter-net${statSync("/proc/self/ns/net").ino}-table${table}.json`,
  );
}

export interface PolicyRoutingOptions {
  tunName: string;
  /** Pavise's routing table (default {@link DEFAULT_ROUTING_TABLE}). */
  table?: number | undefined;
  /** Priority of the IKE/ESP rules; the table's rule gets the next one (default 4500). */
  rulePriority?: number | undefined;
  /** Problems ("warn", the default) and routine changes an operator may want to see ("info"). */
  log: (message: string, level?: "info" | "warn") => void;
  system?: PolicyRoutingSystem;
  /**
   * NICs that stand in for each other (the cluster daemon: each subnet's primary and standby
   * NICs). A peer's interface made loose takes its stand-ins with it (interfacesToLoosen).
   */
  standIns?: readonly (readonly string[])[] | undefined;
}

export const systemPolicyRouting: PolicyRoutingSystem = {
  async ip(args) {
    try {
      const result = await run(["ip", ...args], { allowFailure: true, timeoutMs: 10_000 });
      return {
        ok: result.code === 0,
        stdout: result.stdout,
        error: result.stderr.trim() || result.stdout.trim(),
      };
    } catch (error) {
      return { ok: false, stdout: "", error: (error as Error).message };
    }
  },
  hostAddresses() {
    return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((entry) => entry.address));
  },
  readRpFilter(device) {
    try {
      const value = Number(readFileSync(`/proc/sys/net/ipv4/conf/${device}/rp_filter`, "utf8").trim());
      return Number.isInteger(value) ? value : undefined;
    } catch {
      return undefined;
    }
  },
  setRpFilter(device, value) {
    writeFileSync(`/proc/sys/net/ipv4/conf/${device}/rp_filter`, String(value));
  },
  rememberRpFilters(table, previous) {
    const file = rpFilterStateFile(table);
    if (previous.size === 0) {
      rmSync(file, { force: true });
      return;
    }
    mkdirSync(POLICY_ROUTING_STATE_DIR, { recursive: true, mode: 0o700 });
    writeFileSync(file, `${JSON.stringify(Object.fromEntries(previous))}\n`);
  },
  rememberedRpFilters(table) {
    try {
      const saved = JSON.parse(readFileSync(rpFilterStateFile(table), "utf8")) as Record<string, unknown>;
      return new Map(
        Object.entries(saved).filter((entry): entry is [string, number] => Number.isInteger(entry[1])),
      );
    } catch {
      return new Map();
    }
  },
};

export class PolicyRouting {
  private readonly book = new TunRouteBook();
  /** Routes in the table now, by "family prefix". */
  private readonly applied = new Map<string, TunRoute>();
  /** Rules added (and to remove on close), in the order added. */
  private readonly rules: PolicyRule[] = [];
  private readonly families = new Set<4 | 6>();
  /** Interfaces made loose (rp_filter 2) for a routed peer, with the value to put back. */
  private readonly loosened = new Map<string, number>();
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly tunName: string,
    readonly table: number,
    private readonly priority: number,
    private readonly system: PolicyRoutingSystem,
    private readonly log: (message: string, level?: "info" | "warn") => void,
    private readonly standIns: readonly (readonly string[])[],
  ) {}

  /**
   * Adds the rules (after removing leftovers of a crashed run) and lets decrypted packets from
   * the peer in through the TUN device. Throws ESP_ROUTING_TABLE_INVALID for a reserved table
   * and ESP_POLICY_ROUTING_FAILED when the IPv4 rules cannot be added.
   */
  static async open(options: PolicyRoutingOptions): Promise<PolicyRouting> {
    const table = options.table ?? DEFAULT_ROUTING_TABLE;
    const priority = options.rulePriority ?? DEFAULT_RULE_PRIORITY;
    const problem = routingTableProblem(table) ?? rulePriorityProblem(priority);
    if (problem !== undefined) {
      throw new PaviseError("ESP_ROUTING_TABLE_INVALID", problem, {
        where: { key: "routing-table", value: table },
        hint: `pick a table in 1..4294967295 other than 253, 254 and 255; the default is ${DEFAULT_ROUTING_TABLE}`,
      });
    }
    const routing = new PolicyRouting(
      options.tunName,
      table,
      priority,
      options.system ?? systemPolicyRouting,
      options.log,
      options.standIns ?? [],
    );
    routing.relaxReversePath();
    routing.restoreLeftRpFilters();
    await routing.addRules();
    return routing;
  }

  /** Routes a Child SA's remote selectors through the TUN device (see childSaRoutes). */
  routeChildSa(owner: number, sa: RoutedChildSa): void {
    if (this.closed) return;
    const routes = childSaRoutes(sa, this.system.hostAddresses());
    const unroutable = routes.filter((route) => !this.families.has(route.family));
    if (unroutable.length > 0) {
      this.log(
        `no IPv${unroutable[0]!.family} policy routing on this host: ${unroutable.map((r) => r.prefix).join(", ")} not routed through ${this.tunName}`,
      );
    }
    this.book.set(
      owner,
      routes.filter((route) => this.families.has(route.family)),
    );
    if (routesPeer(sa)) {
      this.queue = this.queue.then(() => this.loosenPeerInterface(sa.localAddress, sa.remoteAddress));
    }
    this.schedule();
  }

  /** Drops an owner's routes (those another owner still wants stay). */
  unroute(owner: number): void {
    if (this.closed) return;
    this.book.remove(owner);
    this.schedule();
  }

  /** The routes in the table, once the changes asked for so far are done. */
  async routes(): Promise<TunRoute[]> {
    await this.queue;
    return [...this.applied.values()];
  }

  /** Removes the routes and rules this driver added. Safe to call again. */
  async close(): Promise<void> {
    if (this.closed) return this.queue;
    this.closed = true;
    this.queue = this.queue.then(async () => {
      for (const route of this.applied.values()) {
        await this.system.ip(routeDeleteArgs(route, this.tunName, this.table));
      }
      this.applied.clear();
      for (const rule of [...this.rules].reverse()) {
        const removed = await this.system.ip([`-${rule.family}`, "rule", "del", ...ruleArgs(rule)]);
        if (!removed.ok) this.log(`cannot remove ip rule ${ruleArgs(rule).join(" ")}: ${removed.error}`);
      }
      this.rules.length = 0;
      for (const [device, previous] of this.loosened) {
        // Put back only what is still ours: someone may have set it since.
        if (this.system.readRpFilter(device) !== 2) continue;
        try {
          this.system.setRpFilter(device, previous);
        } catch (error) {
          this.log(`cannot put rp_filter of ${device} back to ${previous}: ${(error as Error).message}`);
        }
      }
      this.loosened.clear();
      this.forgetRpFilters();
    });
    return this.queue;
  }

  /**
   * Strict reverse-path filtering on the interface that leads to a peer whose address is now
   * routed into the TUN device refuses the peer's ARP requests (needsLooseReversePath): make
   * that interface loose until close. IPv4 only (IPv6 has no rp_filter).
   */
  private async loosenPeerInterface(local: string, peer: string): Promise<void> {
    if (this.closed || isIP(peer) !== 4) return;
    const found = await this.system.ip([
      "-4",
      "-j",
      "route",
      "get",
      peer,
      "from",
      local,
      "ipproto",
      "udp",
      "sport",
      String(NAT_T_PORT),
    ]);
    let device: string | undefined;
    try {
      device = found.ok ? (JSON.parse(found.stdout) as { dev?: string }[])[0]?.dev : undefined;
    } catch {
      device = undefined;
    }
    if (device === undefined || device === this.tunName) return;
    for (const nic of interfacesToLoosen(device, this.standIns)) this.loosen(nic, peer, nic !== device);
  }

  /** Makes one interface loose (2) if the kernel would be strict on it, and writes it down. */
  private loosen(device: string, peer: string, standIn: boolean): void {
    if (this.loosened.has(device)) return;
    const all = this.system.readRpFilter("all") ?? 0;
    const own = this.system.readRpFilter(device);
    if (own === undefined || !needsLooseReversePath(all, own)) return;
    // Written down first: if this process is killed, the next run puts the value back.
    this.loosened.set(device, own);
    this.rememberRpFilters();
    const why = standIn
      ? `it stands in for the interface toward ${peer}, which is routed through ${this.tunName}, and strict filtering would refuse its ARP requests after a local LAN failover`
      : `${peer} is routed through ${this.tunName}, and strict filtering would refuse its ARP requests`;
    try {
      this.system.setRpFilter(device, 2);
      this.log(`rp_filter of ${device} set to 2 (loose) until Pavise stops: ${why}`, "info");
    } catch (error) {
      this.loosened.delete(device);
      this.rememberRpFilters();
      this.log(
        `strict rp_filter on ${device} will refuse ARP from ${peer}, routed through ${this.tunName}, and setting it to 2 failed: ${(error as Error).message}`,
      );
    }
  }

  /**
   * Decrypted packets enter through the TUN device with the peer's addresses as source. The
   * kernel uses the larger of "all" and the device's rp_filter, so 2 (loose: the source must be
   * routable somewhere) keeps a strict "all" = 1 from dropping them, whatever the routes say.
   */
  private relaxReversePath(): void {
    try {
      this.system.setRpFilter(this.tunName, 2);
    } catch (error) {
      this.log(`cannot set rp_filter of ${this.tunName} to 2 (loose): ${(error as Error).message}`);
    }
  }

  /** A run that was killed left interfaces loose: put back what it wrote down. */
  private restoreLeftRpFilters(): void {
    const left = this.system.rememberedRpFilters(this.table);
    for (const [device, previous] of left) {
      if (this.system.readRpFilter(device) !== 2) continue;
      try {
        this.system.setRpFilter(device, previous);
        this.log(
          `rp_filter of ${device} put back to ${previous} (left at 2 by a run that did not stop)`,
          "info",
        );
      } catch (error) {
        this.log(`cannot put rp_filter of ${device} back to ${previous}: ${(error as Error).message}`);
      }
    }
    if (left.size > 0) this.forgetRpFilters();
  }

  private rememberRpFilters(): void {
    try {
      this.system.rememberRpFilters(this.table, this.loosened);
    } catch (error) {
      this.log(`cannot write down rp_filter values to put back: ${(error as Error).message}`);
    }
  }

  private forgetRpFilters(): void {
    try {
      this.system.rememberRpFilters(this.table, new Map());
    } catch (error) {
      this.log(`cannot forget rp_filter values: ${(error as Error).message}`);
    }
  }

  private async addRules(): Promise<void> {
    for (const family of [4, 6] as const) {
      for (const rule of policyRules(this.table, this.priority).filter((r) => r.family === family)) {
        const added = await this.replaceRule(rule);
        if (added.ok) continue;
        await this.removeRules(family);
        if (family === 4) {
          throw new PaviseError(
            "ESP_POLICY_ROUTING_FAILED",
            `cannot add ip rule ${ruleArgs(rule).join(" ")}: ${added.error}`,
            {
              hint: "policy routing by UDP source port needs Linux 4.17 or later, iproute2 and CAP_NET_ADMIN",
            },
          );
        }
        // A host without IPv6 (ipv6.disable=1) has no IPv6 rules; IPv4 still works.
        this.log(`no IPv6 policy routing (ip -6 rule add ${ruleArgs(rule).join(" ")}: ${added.error})`);
        break;
      }
      if (this.rules.some((r) => r.family === family)) this.families.add(family);
    }
  }

  /** Deletes every copy of the rule a crashed run may have left, then adds exactly one. */
  private async replaceRule(rule: PolicyRule): Promise<{ ok: boolean; error: string }> {
    const family = `-${rule.family}`;
    for (let copies = 0; copies < 64; copies++) {
      if (!(await this.system.ip([family, "rule", "del", ...ruleArgs(rule)])).ok) break;
    }
    const added = await this.system.ip([family, "rule", "add", ...ruleArgs(rule)]);
    if (added.ok) this.rules.push(rule);
    return added;
  }

  private async removeRules(family: 4 | 6): Promise<void> {
    for (const rule of this.rules.filter((r) => r.family === family).reverse()) {
      await this.system.ip([`-${family}`, "rule", "del", ...ruleArgs(rule)]);
    }
    this.rules.splice(0, this.rules.length, ...this.rules.filter((r) => r.family !== family));
  }

  private schedule(): void {
    this.queue = this.queue.then(() => this.sync());
  }

  /** Brings the table to what the book wants, one `ip route` at a time. */
  private async sync(): Promise<void> {
    if (this.closed) return;
    const { replace, remove } = diffRoutes([...this.applied.values()], this.book.desired());
    for (const route of remove) {
      const key = `${route.family} ${route.prefix}`;
      const removed = await this.system.ip(routeDeleteArgs(route, this.tunName, this.table));
      if (!removed.ok)
        this.log(`cannot remove route ${route.prefix} from table ${this.table}: ${removed.error}`);
      this.applied.delete(key);
    }
    for (const route of replace) {
      const key = `${route.family} ${route.prefix}`;
      let result = await this.system.ip(routeReplaceArgs(route, this.tunName, this.table));
      let installed = route;
      if (!result.ok && route.src !== undefined) {
        // The source address went away since it was chosen: let the kernel pick one.
        installed = { family: route.family, prefix: route.prefix };
        result = await this.system.ip(routeReplaceArgs(installed, this.tunName, this.table));
      }
      if (result.ok) this.applied.set(key, installed);
      else
        this.log(
          `cannot route ${route.prefix} through ${this.tunName} (table ${this.table}): ${result.error}`,
        );
    }
  }
}
