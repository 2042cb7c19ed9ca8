/**
 * Who held which IPv4 address when, from what an address watch (address-watch.ts) recorded: the
 * addresses each host had when the watch started, then every add and delete its monitor saw.
 * The question that matters most in every fault test: was an address ever held by two hosts at
 * the same instant (DESIGN.md, "Never two owners")? `overlaps` answers it. Pure; never throws.
 *
 * Holding means the address is configured on an interface of the host. A link going down does
 * not delete IPv4 addresses (the kernel keeps them, only IPv6 ones go), so a node whose link is
 * down still holds its addresses; it may not be reachable on them, but it will answer on them as
 * soon as the link comes back, which is exactly why it must have dropped them first.
 *
 * Times are epoch milliseconds. They are the times at which each host's monitor read the change
 * (see ip-address-output.ts), so they trail the kernel by a scheduling delay, normally well below
 * a millisecond. Changes on different hosts with the same time stamp are replayed adds first, so
 * a hand-over that cannot be ordered counts as an overlap (of zero length): when in doubt, report.
 */

export interface AddressHolding {
  host: string;
  interface: string;
  address: string;
  prefixLength: number;
  label?: string;
}

export interface AddressEvent extends AddressHolding {
  at: number;
  change: "add" | "del";
}

export interface AddressTimeline {
  startedAt: number;
  stoppedAt: number;
  /** Addresses held when the watch started. */
  initial: AddressHolding[];
  /** Changes, each host's in the order its monitor reported them. */
  events: AddressEvent[];
  /** Monitor lines that could not be read (they are skipped). */
  unparsableLines: number;
  /** Hosts whose monitor ended before the watch did: their later changes are missing. */
  monitorsLost?: string[];
}

/** One uninterrupted holding of an address by one interface of one host. */
export interface HoldingInterval {
  host: string;
  interface: string;
  address: string;
  from: number;
  to: number;
  /** Still held when the timeline ends (`to` is then its end, not a delete). */
  stillHeld: boolean;
}

/** An interval during which two or more hosts held the same address. */
export interface AddressOverlap {
  address: string;
  from: number;
  to: number;
  durationMs: number;
  /** Every host that held the address at some point of the interval, sorted. */
  hosts: string[];
  /** Still overlapping when the timeline ends. */
  ongoing: boolean;
}

export interface AddressHolder {
  host: string;
  interface: string;
}

/** Each uninterrupted holding, ordered by start (then host, interface). */
export function ownershipHistory(timeline: AddressTimeline, address?: string): HoldingInterval[] {
  const { stop, steps } = replayOrder(timeline, address);
  const open = new Map<string, { holding: AddressHolding; from: number }>();
  const result: HoldingInterval[] = [];
  const close = (key: string, to: number, stillHeld: boolean): void => {
    const entry = open.get(key);
    if (!entry) return;
    open.delete(key);
    const { host, interface: iface, address: addr } = entry.holding;
    result.push({ host, interface: iface, address: addr, from: entry.from, to, stillHeld });
  };
  for (const step of steps) {
    const key = holdingKey(step);
    if (step.change === "add") {
      if (!open.has(key)) open.set(key, { holding: step, from: step.at });
    } else {
      close(key, step.at, false);
    }
  }
  for (const key of [...open.keys()]) close(key, stop, true);
  return result.sort(
    (a, b) =>
      a.from - b.from ||
      compare(a.address, b.address) ||
      compare(a.host, b.host) ||
      compare(a.interface, b.interface),
  );
}

/** Intervals in which two or more hosts held the same address, ordered by start (then address). */
export function overlaps(timeline: AddressTimeline, address?: string): AddressOverlap[] {
  const { stop, steps } = replayOrder(timeline, address);
  // address -> host -> interfaces holding it
  const holders = new Map<string, Map<string, Set<string>>>();
  const open = new Map<string, { from: number; hosts: Set<string> }>();
  const result: AddressOverlap[] = [];
  const close = (addr: string, to: number, ongoing: boolean): void => {
    const entry = open.get(addr);
    if (!entry) return;
    open.delete(addr);
    result.push({
      address: addr,
      from: entry.from,
      to,
      durationMs: to - entry.from,
      hosts: [...entry.hosts].sort(compare),
      ongoing,
    });
  };
  for (const step of steps) {
    let byHost = holders.get(step.address);
    if (!byHost) {
      byHost = new Map<string, Set<string>>();
      holders.set(step.address, byHost);
    }
    let interfaces = byHost.get(step.host);
    if (!interfaces) {
      interfaces = new Set<string>();
      byHost.set(step.host, interfaces);
    }
    if (step.change === "add") interfaces.add(step.interface);
    else interfaces.delete(step.interface);
    if (interfaces.size === 0) byHost.delete(step.host);

    const entry = open.get(step.address);
    if (byHost.size >= 2) {
      if (entry) for (const host of byHost.keys()) entry.hosts.add(host);
      else open.set(step.address, { from: step.at, hosts: new Set(byHost.keys()) });
    } else if (entry) {
      close(step.address, step.at, false);
    }
  }
  for (const addr of [...open.keys()]) close(addr, stop, true);
  return result.sort((a, b) => a.from - b.from || compare(a.address, b.address));
}

/** Who held an address at an instant (after every change stamped at or before it). */
export function holdersAt(timeline: AddressTimeline, address: string, at: number): AddressHolder[] {
  const { steps } = replayOrder(timeline, address);
  const held = new Map<string, AddressHolder>();
  for (const step of steps) {
    if (step.at > at) break;
    const key = holdingKey(step);
    if (step.change === "add") held.set(key, { host: step.host, interface: step.interface });
    else held.delete(key);
  }
  return [...held.values()].sort((a, b) => compare(a.host, b.host) || compare(a.interface, b.interface));
}

/** Every address the timeline mentions, sorted. */
export function addressesOf(timeline: AddressTimeline): string[] {
  const all = new Set<string>();
  for (const h of timeline.initial) all.add(h.address);
  for (const e of timeline.events) all.add(e.address);
  return [...all].sort(compare);
}

interface Step {
  at: number;
  change: "add" | "del";
  host: string;
  interface: string;
  address: string;
  prefixLength: number;
}

/**
 * The initial holdings as adds at the start, then the events merged from the hosts' streams:
 * each host's own order is kept (its monitor saw its changes in that order), and among the hosts
 * the earliest stamp goes first, adds before deletes on equal stamps. Stamps are clamped into
 * [startedAt, stoppedAt]: a change reported before the start is already in the initial holdings.
 */
function replayOrder(timeline: AddressTimeline, address?: string): { stop: number; steps: Step[] } {
  const start = timeline.startedAt;
  const stop = Math.max(timeline.stoppedAt, start);
  const clampAt = (at: number): number => (Number.isNaN(at) ? start : Math.min(Math.max(at, start), stop));
  const wanted = (a: string): boolean => address === undefined || a === address;

  const steps: Step[] = [];
  for (const h of timeline.initial) {
    if (wanted(h.address)) steps.push({ ...pick(h), at: start, change: "add" });
  }

  const queues = new Map<string, Step[]>();
  for (const e of timeline.events) {
    if (!wanted(e.address)) continue;
    let queue = queues.get(e.host);
    if (!queue) queues.set(e.host, (queue = []));
    queue.push({ ...pick(e), at: clampAt(e.at), change: e.change });
  }
  const hosts = [...queues.keys()].sort(compare);
  const heads = new Map<string, number>(hosts.map((h) => [h, 0]));
  for (;;) {
    let best: { host: string; step: Step } | undefined;
    for (const host of hosts) {
      const step = queues.get(host)?.[heads.get(host) ?? 0];
      if (!step) continue;
      if (
        !best ||
        step.at < best.step.at ||
        (step.at === best.step.at && step.change === "add" && best.step.change === "del")
      ) {
        best = { host, step };
      }
    }
    if (!best) break;
    heads.set(best.host, (heads.get(best.host) ?? 0) + 1);
    steps.push(best.step);
  }
  return { stop, steps };
}

function pick(h: AddressHolding): Omit<Step, "at" | "change"> {
  return { host: h.host, interface: h.interface, address: h.address, prefixLength: h.prefixLength };
}

function holdingKey(h: { host: string; interface: string; address: string }): string {
  return `${h.host}\u0000${h.interface}\u0000${h.address}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
