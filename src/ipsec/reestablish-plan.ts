import type { ConnectionConfig } from "../ike/config/read-connections.js";
import type { IkeEvent, IkeSaSummary } from "../ike/core/events.js";

/**
 * When `pavise ipsec serve` sets a connection up again by itself (strongSwan's semantics,
 * swanctl.conf(5)), without I/O: the driver feeds it IKE events and time and carries out what
 * it asks for (initiate, cancel), then reports the initiator SPI of each attempt it started.
 *
 * - `dpd_action: restart`: an established IKE SA ended because the peer stopped answering
 *   (a liveness check or any request ran out of retransmissions, RFC 7296 §2.4).
 * - `close_action: start`: the peer DELETEd the IKE SA (§1.4.1); or only a Child SA, which
 *   is then set up again on the same IKE SA (CREATE_CHILD_SA, §1.3.1).
 * - `start_action: start`: at start-up.
 *
 * Each is one goal per (connection, peer address): initiate to the same address again, up to
 * `keyingtries` attempts (0: until one succeeds). An attempt that timed out is followed by the
 * next at once, as in strongSwan (the retransmissions already spaced it out); one the peer
 * refused, or that could not start, after RETRY_AFTER_FAILURE_MS, so a permanent error does
 * not spin. A goal ends when an IKE SA of the connection to that address comes up: ours, or
 * one the peer started (its INITIAL_CONTACT, say), in which case our attempt is cancelled.
 * A package address that moved to another node is the case this serves (issue #6, kind 1).
 */
export const RETRY_AFTER_FAILURE_MS = 5_000;

export type ReestablishTrigger = "start_action start" | "dpd_action restart" | "close_action start";

export type ReestablishOutput =
  | {
      kind: "initiate";
      key: string;
      connection: string;
      localAddress: string | undefined;
      remoteAddress: string;
    }
  /** Set up the child again on this IKE SA (initiator SPI in hex): close_action start. */
  | { kind: "create-child"; spiI: string; child: string }
  /** Delete our attempt in flight (initiator SPI in hex): the peer's own IKE SA came up first. */
  | { kind: "cancel"; spiI: string }
  | { kind: "log"; level: "info" | "warn"; message: string };

interface Goal {
  connection: ConnectionConfig;
  localAddress: string | undefined;
  remoteAddress: string;
  trigger: ReestablishTrigger;
  triggeredAt: number;
  attempts: number;
  /** Due at this time, or in flight as the IKE SA with this initiator SPI. */
  next: { kind: "due"; at: number } | { kind: "in-flight"; spiI: string | undefined };
}

export class ReestablishPlan {
  private readonly goals = new Map<string, Goal>();
  /** Established IKE SAs by initiator SPI: which connection and peer they serve. */
  private readonly up = new Map<string, IkeSaSummary>();
  private readonly outputs: ReestablishOutput[] = [];
  /** Child SAs by inbound SPI: their child's name (events about their end carry only SPIs). */
  private readonly childNames = new Map<number, string>();
  /** Children the peer deleted, to set up again once the events of this round are in. */
  private readonly recreate: { spiI: string; connection: string; child: string }[] = [];

  constructor(private readonly connections: readonly ConnectionConfig[]) {}

  /** start_action start: set the connection up now (its first remote address). */
  start(now: number, name: string): void {
    const connection = this.connection(name);
    const remote = connection?.remoteAddrs[0];
    if (!connection || remote === undefined) return;
    this.addGoal(now, connection, connection.localAddrs[0], remote, "start_action start", "start-up");
  }

  onIkeEvent(now: number, event: IkeEvent): void {
    if (event.type === "ike-up") this.cameUp(now, event.sa);
    else if (event.type === "child-up") this.childNames.set(event.child.spiIn, event.child.name);
    else if (event.type === "child-down") this.childWentDown(event);
    else if (event.type === "ike-rekeyed") {
      this.up.delete(event.sa.spiI);
      this.up.set(event.successor.spiI, event.successor);
    } else if (event.type === "ike-down") this.wentDown(now, event);
  }

  /** The driver started the attempt it was asked for: its IKE SA, or why it could not. */
  attemptStarted(now: number, key: string, result: { spiI: string } | { error: string }): void {
    const goal = this.goals.get(key);
    if (!goal) return;
    if ("spiI" in result) {
      goal.next = { kind: "in-flight", spiI: result.spiI };
      return;
    }
    this.failed(now, key, goal, `could not start: ${result.error}`, false);
  }

  /** What the driver must do now (initiations that are due first, in order). */
  poll(now: number): ReestablishOutput | undefined {
    for (const again of this.recreate.splice(0)) {
      // Only on an IKE SA that is still up (a DELETE of the whole IKE SA ends its children too).
      if (!this.up.has(again.spiI)) continue;
      this.log(
        "info",
        `reestablish ${again.connection} child ${again.child}: close_action start (deleted by the peer)`,
      );
      this.outputs.push({ kind: "create-child", spiI: again.spiI, child: again.child });
    }
    for (const [key, goal] of this.goals) {
      if (goal.next.kind !== "due" || goal.next.at > now) continue;
      goal.attempts += 1;
      goal.next = { kind: "in-flight", spiI: undefined };
      this.outputs.push({
        kind: "initiate",
        key,
        connection: goal.connection.name,
        localAddress: goal.localAddress,
        remoteAddress: goal.remoteAddress,
      });
    }
    return this.outputs.shift();
  }

  /** When poll has something new to hand out (an attempt that falls due). */
  pollTimeout(): number | undefined {
    if (this.outputs.length > 0 || this.recreate.length > 0) return 0;
    let next: number | undefined;
    for (const goal of this.goals.values())
      if (goal.next.kind === "due" && (next === undefined || goal.next.at < next)) next = goal.next.at;
    return next;
  }

  private childWentDown(event: Extract<IkeEvent, { type: "child-down" }>): void {
    const name = this.childNames.get(event.spiIn);
    this.childNames.delete(event.spiIn);
    if (!event.byPeer || name === undefined) return;
    const child = this.connection(event.sa.connection)?.children.find((c) => c.name === name);
    if (child?.closeAction === "start")
      this.recreate.push({ spiI: event.sa.spiI, connection: event.sa.connection, child: name });
  }

  private cameUp(now: number, sa: IkeSaSummary): void {
    this.up.set(sa.spiI, sa);
    const key = keyOf(sa.connection, sa.remoteAddress);
    const goal = this.goals.get(key);
    if (!goal) return;
    this.goals.delete(key);
    const ours = goal.next.kind === "in-flight" && goal.next.spiI === sa.spiI;
    if (!ours && goal.next.kind === "in-flight" && goal.next.spiI !== undefined)
      this.outputs.push({ kind: "cancel", spiI: goal.next.spiI });
    this.log(
      "info",
      `${describe(goal)}: ${ours ? "up" : "the peer set up a new IKE SA first"} (attempt ${goal.attempts}, ${now - goal.triggeredAt} ms after the trigger)`,
    );
  }

  private wentDown(now: number, event: Extract<IkeEvent, { type: "ike-down" }>): void {
    const sa = event.sa;
    const wasUp = this.up.delete(sa.spiI);
    const key = keyOf(sa.connection, sa.remoteAddress);
    const goal = this.goals.get(key);
    if (goal && goal.next.kind === "in-flight" && goal.next.spiI === sa.spiI) {
      this.failed(now, key, goal, event.reason, event.cause === "dead-peer");
      return;
    }
    if (!wasUp) return;
    const connection = this.connection(sa.connection);
    if (!connection) return;
    const trigger =
      event.cause === "dead-peer" && connection.children.some((c) => c.dpdAction === "restart")
        ? "dpd_action restart"
        : event.cause === "deleted-by-peer" && connection.children.some((c) => c.closeAction === "start")
          ? "close_action start"
          : undefined;
    if (!trigger) return;
    const another = [...this.up.values()].some(
      (other) => other.connection === sa.connection && other.remoteAddress === sa.remoteAddress,
    );
    if (another) {
      this.log(
        "info",
        `${sa.connection} to ${sa.remoteAddress}: ${trigger} not needed, another IKE SA is up`,
      );
      return;
    }
    this.addGoal(now, connection, sa.localAddress, sa.remoteAddress, trigger, event.reason);
  }

  private addGoal(
    now: number,
    connection: ConnectionConfig,
    localAddress: string | undefined,
    remoteAddress: string,
    trigger: ReestablishTrigger,
    why: string,
  ): void {
    const key = keyOf(connection.name, remoteAddress);
    if (this.goals.has(key)) return;
    const goal: Goal = {
      connection,
      localAddress,
      remoteAddress,
      trigger,
      triggeredAt: now,
      attempts: 0,
      next: { kind: "due", at: now },
    };
    this.goals.set(key, goal);
    this.log("info", `${describe(goal)} (${why}); keyingtries ${tries(connection)}`);
  }

  private failed(now: number, key: string, goal: Goal, reason: string, timedOut: boolean): void {
    const limit = goal.connection.keyingtries;
    if (limit > 0 && goal.attempts >= limit) {
      this.goals.delete(key);
      this.log("warn", `${describe(goal)}: giving up after ${goal.attempts} attempt(s): ${reason}`);
      return;
    }
    const delay = timedOut ? 0 : RETRY_AFTER_FAILURE_MS;
    goal.next = { kind: "due", at: now + delay };
    this.log(
      "info",
      `${describe(goal)}: attempt ${goal.attempts} failed (${reason}); next ${delay === 0 ? "now" : `in ${delay} ms`}`,
    );
  }

  private connection(name: string): ConnectionConfig | undefined {
    return this.connections.find((c) => c.name === name);
  }

  private log(level: "info" | "warn", message: string): void {
    this.outputs.push({ kind: "log", level, message });
  }
}

function keyOf(connection: string, remoteAddress: string): string {
  return `${connection} ${remoteAddress}`;
}

function describe(goal: Goal): string {
  return `reestablish ${goal.connection.name} to ${goal.remoteAddress}: ${goal.trigger}`;
}

function tries(connection: ConnectionConfig): string {
  return connection.keyingtries === 0 ? "0 (until it succeeds)" : String(connection.keyingtries);
}
