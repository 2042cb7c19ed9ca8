/**
 * The decisions of the daemon's guardian (Serviceguard's safety timer, reduced to what a
 * separate process can do): the daemon tells it, one JSON line per change on a pipe, what this
 * node holds — package addresses (address, prefix length, NIC) and service process groups.
 * When the pipe ends without a goodbye, the daemon is gone (SIGKILL, crash) while its lease still
 * runs for up to member_timeout; before it lapses and another node takes the packages, the
 * addresses go and the groups are killed, so that no address or service has two owners
 * (DESIGN.md principle 3). A daemon that leaves normally says "release" first: the guardian then
 * ends quietly.
 *
 * Liveness: a frozen daemon (SIGSTOP, a stall of the whole process) keeps its pipe open, so its
 * end says nothing. The daemon therefore also writes "alive" from its main thread's timer, and a
 * guardian given a deadline (fence_after) acts as for a crash when no line came for that long —
 * before the frozen node's lease can lapse. It never kills the daemon: thawed, the daemon finds
 * itself fenced and rejoins with a new guardian. A line arriving after the guardian acted undoes
 * nothing: this guardian reports it and exits.
 *
 * Pure: the driver (guard-main.ts) feeds it the pipe's text and its end, and carries out the
 * actions in order.
 */

/** A package address as the guardian removes it: `ip -4 addr del ADDRESS/PREFIX dev NIC`. */
export interface GuardAddress {
  package: string;
  address: string;
  prefixLength: number;
  nic: string;
}

/** A service's process group (its shell's PID), killed with SIGKILL. */
export interface GuardGroup {
  package: string;
  service: string;
  pgid: number;
}

export interface GuardHolding {
  addresses: GuardAddress[];
  groups: GuardGroup[];
}

/** What the daemon writes, one per line. */
export type GuardMessage =
  /** Everything the node holds now (replaces the previous holding). */
  | ({ type: "hold" } & GuardHolding)
  /** The daemon is leaving normally with everything halted: the end of the pipe is no alarm. */
  | { type: "release" }
  /** The daemon's main thread still runs (any whole line counts as much). */
  | { type: "alive" };

export type GuardAction =
  | ({ kind: "remove-address" } & GuardAddress)
  | ({ kind: "kill-group" } & GuardGroup)
  | { kind: "log"; event: "guard" | "guard-problem"; message: string }
  | { kind: "exit"; code: number };

export type GuardState =
  | { kind: "watching"; holding: GuardHolding }
  | { kind: "released" }
  /** The daemon went silent past the deadline and its holding was dropped (at `since`). */
  | { kind: "silenced"; since: number }
  | { kind: "done" };

export const EMPTY_HOLDING: GuardHolding = { addresses: [], groups: [] };

/**
 * The guardian's exit code when the daemon spoke again after the guardian acted on its
 * silence: expected, and the daemon (fenced) starts a new guardian; not a failure.
 */
export const GUARD_EXIT_SILENCED = 3;

export interface GuardCoreOptions {
  /**
   * How long the daemon may go without a line before the guardian acts (timing.fence_after);
   * none: only the end of the pipe counts.
   */
  deadlineMs?: number;
  /** The clock at the start (monotonic, ms): the deadline runs from here until the first line. */
  now?: number;
}

/**
 * Driver order: handleData(text, now) for every read, handleEnd() when the pipe ends,
 * handleTimeout(now) when pollTimeout()'s time has come; after each, pollAction() until empty.
 */
export class GuardCore {
  private current: GuardState = { kind: "watching", holding: EMPTY_HOLDING };
  private partial = "";
  private readonly actions: GuardAction[] = [];
  private readonly deadlineMs: number | undefined;
  private lastHeard: number;

  constructor(options: GuardCoreOptions = {}) {
    const { deadlineMs } = options;
    if (deadlineMs !== undefined && (!Number.isFinite(deadlineMs) || deadlineMs <= 0)) {
      throw new RangeError(`deadlineMs must be a positive number of ms, not ${deadlineMs}`);
    }
    this.deadlineMs = deadlineMs;
    this.lastHeard = options.now ?? 0;
  }

  get state(): GuardState {
    return this.current;
  }

  /** Text read from the pipe (any chunking), at `now` (needed only with a deadline). */
  handleData(text: string, now = this.lastHeard): void {
    if (this.current.kind === "done") return;
    const lines = (this.partial + text).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.trim() === "") continue;
      if (this.current.kind === "silenced") {
        // Too late: what was dropped stays dropped; the daemon, fenced, starts a new guardian.
        const silentMs = Math.round(now - this.lastHeard);
        this.current = { kind: "done" };
        this.partial = "";
        this.log(
          "guard",
          `the daemon spoke again after ${silentMs} ms of silence; its holding was already dropped and stays so (it is fenced): this guardian exits`,
        );
        this.actions.push({ kind: "exit", code: GUARD_EXIT_SILENCED });
        return;
      }
      this.lastHeard = Math.max(this.lastHeard, now);
      this.handleLine(line);
    }
  }

  /** When handleTimeout() must be called next, or undefined when no deadline runs. */
  pollTimeout(): number | undefined {
    if (this.deadlineMs === undefined || this.current.kind !== "watching") return undefined;
    return this.lastHeard + this.deadlineMs;
  }

  /** The clock reached pollTimeout() (or any time: early calls do nothing). */
  handleTimeout(now: number): void {
    const due = this.pollTimeout();
    if (due === undefined || now < due || this.current.kind !== "watching") return;
    const { addresses, groups } = this.current.holding;
    this.current = { kind: "silenced", since: now };
    const silentMs = Math.round(now - this.lastHeard);
    if (addresses.length === 0 && groups.length === 0) {
      this.log("guard", `the daemon has been silent for ${silentMs} ms (frozen?); this node holds nothing`);
      return;
    }
    this.log(
      "guard",
      `the daemon has been silent for ${silentMs} ms (frozen?): removing ${describeAddresses(addresses)} and killing ${describeGroups(groups)} before its lease can lapse`,
    );
    this.drop(addresses, groups);
  }

  /** The pipe ended: the daemon has exited, one way or another. */
  handleEnd(): void {
    if (this.current.kind === "done") return;
    // A last line without its newline was cut off mid-write: it cannot be trusted, and the
    // holding before it is still the best knowledge.
    if (this.partial.trim() !== "") {
      this.log("guard-problem", `ignored an incomplete last message (${this.partial.length} bytes)`);
    }
    this.partial = "";
    const state = this.current;
    this.current = { kind: "done" };
    if (state.kind === "released") {
      this.actions.push({ kind: "exit", code: 0 });
      return;
    }
    if (state.kind === "silenced") {
      this.log("guard", "the daemon is gone; its holding was already dropped");
      this.actions.push({ kind: "exit", code: 0 });
      return;
    }
    const { addresses, groups } = state.holding;
    if (addresses.length === 0 && groups.length === 0) {
      this.log("guard", "the daemon is gone; this node held nothing");
      this.actions.push({ kind: "exit", code: 0 });
      return;
    }
    this.log(
      "guard",
      `the daemon is gone: removing ${describeAddresses(addresses)} and killing ${describeGroups(groups)} before its lease lapses`,
    );
    this.drop(addresses, groups);
    this.actions.push({ kind: "exit", code: 0 });
  }

  pollAction(): GuardAction | undefined {
    return this.actions.shift();
  }

  private drop(addresses: GuardAddress[], groups: GuardGroup[]): void {
    // Addresses first: an address answering ARP is what another node would collide with.
    for (const a of addresses) this.actions.push({ kind: "remove-address", ...a });
    for (const g of groups) this.actions.push({ kind: "kill-group", ...g });
  }

  private handleLine(line: string): void {
    const parsed = parseGuardMessage(line);
    if (typeof parsed === "string") {
      this.log("guard-problem", `ignored a message: ${parsed}`);
      return;
    }
    if (parsed.type === "alive") return;
    // A hold after a release (a daemon that went on after all) makes the end an alarm again.
    this.current =
      parsed.type === "release"
        ? { kind: "released" }
        : { kind: "watching", holding: { addresses: parsed.addresses, groups: parsed.groups } };
  }

  private log(event: "guard" | "guard-problem", message: string): void {
    this.actions.push({ kind: "log", event, message });
  }
}

/** The message on a line, or what is wrong with it. */
export function parseGuardMessage(line: string): GuardMessage | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return "not JSON";
  }
  if (!isObject(value)) return "not an object";
  if (value.type === "release") return { type: "release" };
  if (value.type === "alive") return { type: "alive" };
  if (value.type !== "hold") return `unknown type ${JSON.stringify(value.type)}`;
  if (!Array.isArray(value.addresses) || !Array.isArray(value.groups)) {
    return "hold needs addresses and groups (arrays)";
  }
  const addresses: GuardAddress[] = [];
  for (const a of value.addresses as unknown[]) {
    if (
      !isObject(a) ||
      typeof a.package !== "string" ||
      typeof a.address !== "string" ||
      !/^\d{1,3}(\.\d{1,3}){3}$/.test(a.address) ||
      !Number.isInteger(a.prefixLength) ||
      (a.prefixLength as number) < 0 ||
      (a.prefixLength as number) > 32 ||
      typeof a.nic !== "string" ||
      !/^[\w.@-]{1,15}$/.test(a.nic)
    ) {
      return `bad address ${JSON.stringify(a)}`;
    }
    addresses.push({
      package: a.package,
      address: a.address,
      prefixLength: a.prefixLength as number,
      nic: a.nic,
    });
  }
  const groups: GuardGroup[] = [];
  for (const g of value.groups as unknown[]) {
    // Process group 0 or 1 would be this guardian's own group or init: never signal those.
    if (
      !isObject(g) ||
      typeof g.package !== "string" ||
      typeof g.service !== "string" ||
      !Number.isInteger(g.pgid) ||
      (g.pgid as number) <= 1
    ) {
      return `bad group ${JSON.stringify(g)}`;
    }
    groups.push({ package: g.package, service: g.service, pgid: g.pgid as number });
  }
  return { type: "hold", addresses, groups };
}

function describeAddresses(addresses: GuardAddress[]): string {
  if (addresses.length === 0) return "no address";
  return addresses.map((a) => `${a.address}/${a.prefixLength} from ${a.nic} (${a.package})`).join(", ");
}

function describeGroups(groups: GuardGroup[]): string {
  if (groups.length === 0) return "no service";
  return groups.map((g) => `process group ${g.pgid} (${g.package}/${g.service})`).join(", ");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
