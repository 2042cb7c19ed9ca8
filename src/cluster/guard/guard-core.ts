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
  | { type: "release" };

export type GuardAction =
  | ({ kind: "remove-address" } & GuardAddress)
  | ({ kind: "kill-group" } & GuardGroup)
  | { kind: "log"; event: "guard" | "guard-problem"; message: string }
  | { kind: "exit"; code: number };

export type GuardState =
  { kind: "watching"; holding: GuardHolding } | { kind: "released" } | { kind: "done" };

export const EMPTY_HOLDING: GuardHolding = { addresses: [], groups: [] };

export class GuardCore {
  private current: GuardState = { kind: "watching", holding: EMPTY_HOLDING };
  private partial = "";
  private readonly actions: GuardAction[] = [];

  get state(): GuardState {
    return this.current;
  }

  /** Text read from the pipe (any chunking). */
  handleData(text: string): void {
    if (this.current.kind === "done") return;
    const lines = (this.partial + text).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) if (line.trim() !== "") this.handleLine(line);
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
    // Addresses first: an address answering ARP is what another node would collide with.
    for (const a of addresses) this.actions.push({ kind: "remove-address", ...a });
    for (const g of groups) this.actions.push({ kind: "kill-group", ...g });
    this.actions.push({ kind: "exit", code: 0 });
  }

  pollAction(): GuardAction | undefined {
    return this.actions.shift();
  }

  private handleLine(line: string): void {
    const parsed = parseGuardMessage(line);
    if (typeof parsed === "string") {
      this.log("guard-problem", `ignored a message: ${parsed}`);
      return;
    }
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
