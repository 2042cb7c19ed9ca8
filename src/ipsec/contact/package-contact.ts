import type { Identity } from "../../ike/config/identity.js";
import type { IkeEvent } from "../../ike/core/events.js";
import {
  type ContactEvent,
  type ContactPeer,
  type ContactReport,
  type ContactSettings,
  type ContactState,
  contactFailed,
  contactHint,
  contactSucceeded,
  EMPTY_CONTACT_STATE,
  planContact,
} from "./contact-plan.js";

/** A recorded peer with what it takes to initiate to it. */
export interface ContactTarget extends ContactPeer {
  /** The endpoint's connection name (`<package>/<connection>`). */
  connection: string;
  remoteId: Identity;
  /** The package address to initiate from. */
  localAddress: string;
}

export interface PackageContactDriver {
  /** Starts an IKE SA with INITIAL_CONTACT to the target; returns its initiator SPI (hex). */
  initiate(target: ContactTarget): string;
  /**
   * A target is tried again after a failed attempt. A peer that was cut off during the
   * takeover also missed the gratuitous ARP, and its replies still go to the old owner's MAC
   * until its neighbour entry ages out (≈30 s on Linux): the driver announces the package
   * address again (keepalived's garp_master_refresh, made targeted).
   */
  retrying(target: ContactTarget): void;
  /** Names of targets that hold an established IKE SA with the package on this node now. */
  established(): ReadonlySet<string>;
  /** A contact event, with the ms since contact began (the package's ipsec-contact step). */
  event(event: ContactEvent, target: ContactTarget | undefined, msSinceStart: number): void;
  random(): number;
}

/**
 * The driver of contact-plan.ts for one package on its adoptive node (design §8): a timer at the
 * plan's next check, each initiation's IKE SA followed to its outcome (ike-up: contacted;
 * ike-down before that: failed, with the IKE layer's reason), and unknown-SPI hints.
 */
export class PackageContact {
  private state: ContactState = EMPTY_CONTACT_STATE;
  private timer: NodeJS.Timeout | undefined;
  /** Initiator SPI (hex) of each attempt in flight → the peer's name. */
  private readonly attempts = new Map<string, string>();
  private readonly startedAt = Date.now();
  /** Targets attempted at least once. */
  private readonly attempted = new Set<string>();
  private stopped = false;
  private last: ContactReport = { peers: [], inFlight: 0, contacted: 0, retrying: 0, gaveUp: 0 };

  constructor(
    readonly pkg: string,
    private readonly targets: ContactTarget[],
    private readonly settings: ContactSettings,
    private readonly driver: PackageContactDriver,
  ) {}

  /** Plans and initiates what is due now; re-arms the timer. */
  run(): void {
    if (this.stopped) return;
    const now = Date.now();
    const plan = planContact(
      this.state,
      { peers: this.targets, established: this.driver.established(), now, settings: this.settings },
      () => this.driver.random(),
    );
    this.state = plan.state;
    this.last = plan.report;
    for (const event of plan.events) this.emit(event);
    for (const peer of plan.initiate) {
      const target = this.targets.find((t) => t.name === peer.name);
      if (!target) continue;
      if (this.attempted.has(target.name)) this.driver.retrying(target);
      this.attempted.add(target.name);
      try {
        this.attempts.set(this.driver.initiate(target), target.name);
      } catch (err) {
        this.outcome(target.name, (err as Error).message);
      }
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (plan.nextCheckAt !== undefined) {
      this.timer = setTimeout(() => this.run(), Math.max(0, plan.nextCheckAt - Date.now()));
      this.timer.unref();
    }
  }

  /** Follows the IKE SAs this contact started. */
  onIkeEvent(event: IkeEvent): void {
    if (event.type !== "ike-up" && event.type !== "ike-down") return;
    const name = this.attempts.get(event.sa.spiI);
    if (name === undefined) return;
    this.attempts.delete(event.sa.spiI);
    this.outcome(name, event.type === "ike-up" ? undefined : event.reason);
  }

  /**
   * Unknown-SPI traffic from this address: that peer lost its SAs with the package (§8).
   * Returns whether it started a new attempt (not when one is under way or was just made).
   */
  hint(address: string): boolean {
    const target = this.targets.find((t) => t.address === address);
    if (!target || this.stopped || target.notInitiated !== undefined) return false;
    const next = contactHint(this.state, target.name, Date.now(), this.settings);
    if (next === this.state) return false;
    this.state = next;
    this.run();
    return true;
  }

  /** Whether a peer at this address is one of the targets. */
  knows(address: string): boolean {
    return this.targets.some((t) => t.address === address);
  }

  /**
   * A peer with no registry record made itself known (ESP or IKE for an unknown SPI, design §8):
   * it is contacted like a recorded one (planContact rate-limits new starts, so forged traffic
   * from many addresses costs at most startsPerSecond handshakes).
   */
  addTarget(target: ContactTarget): void {
    if (this.stopped || this.knows(target.address)) return;
    this.targets.push(target);
    this.run();
  }

  report(): ContactReport {
    return this.last;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.attempts.clear();
  }

  private outcome(name: string, error: string | undefined): void {
    const now = Date.now();
    const result =
      error === undefined
        ? contactSucceeded(this.state, name, now)
        : contactFailed(this.state, name, error, now, this.settings, () => this.driver.random());
    this.state = result.state;
    for (const event of result.events) this.emit(event);
    this.run();
  }

  private emit(event: ContactEvent): void {
    const target = this.targets.find((t) => t.name === event.peer);
    this.driver.event(event, target, Date.now() - this.startedAt);
  }
}
