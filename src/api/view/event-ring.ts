import type { EventView } from "../schema/view-types.js";
import type { EventFilter } from "./view-source.js";

/** How many events the API keeps in memory (design §2 `view/event-ring.ts`). */
export const EVENT_RING_SIZE = 1000;

/**
 * The last events of the cluster's log, in revision order (the cluster-wide order: event keys
 * sort by each writer's clock, design §12.6). Pure. The cache adds what its watch or a range read
 * gives; the same event may come twice (a range that overlaps the watch, a watch that resumed),
 * so an event is known by its revision and added once. An event older than the oldest kept one
 * is dropped when the ring is full: the ring keeps the newest.
 */
export class EventRing {
  private events: EventView[] = [];
  private readonly seen = new Set<number>();

  constructor(readonly capacity: number = EVENT_RING_SIZE) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`event ring capacity ${capacity} must be a whole number of at least 1`);
    }
  }

  get size(): number {
    return this.events.length;
  }

  /** The revision of the newest event kept, 0 when empty. */
  get newestRevision(): number {
    return this.events.at(-1)?.revision ?? 0;
  }

  /** The revision of the oldest event kept, undefined when empty. */
  get oldestRevision(): number | undefined {
    return this.events[0]?.revision;
  }

  /**
   * Adds events in any order; returns those not seen before, oldest first (what the listeners
   * are told). Events it had to drop at once because the ring is full of newer ones are not
   * returned either.
   */
  add(incoming: readonly EventView[]): EventView[] {
    const fresh = incoming
      .filter(
        (e, i, all) => !this.seen.has(e.revision) && all.findIndex((o) => o.revision === e.revision) === i,
      )
      .sort((a, b) => a.revision - b.revision);
    if (fresh.length === 0) return [];
    for (const e of fresh) this.seen.add(e.revision);
    const last = this.events.at(-1);
    this.events =
      last === undefined || (fresh[0] as EventView).revision > last.revision
        ? this.events.concat(fresh)
        : [...this.events, ...fresh].sort((a, b) => a.revision - b.revision);
    const dropped =
      this.events.length > this.capacity ? this.events.splice(0, this.events.length - this.capacity) : [];
    for (const e of dropped) this.seen.delete(e.revision);
    const droppedSet = new Set(dropped.map((e) => e.revision));
    // A dropped revision must not count as seen, or a later read could not add it back; but an
    // event dropped at once was not kept, so it is not news either.
    return fresh.filter((e) => !droppedSet.has(e.revision));
  }

  /** The events that pass the filter, oldest first; `limit` keeps the newest of them. */
  query(filter: EventFilter = {}): EventView[] {
    const matching = this.events.filter(
      (e) =>
        (filter.sinceRevision === undefined || e.revision > filter.sinceRevision) &&
        (filter.kind === undefined || e.kind === filter.kind) &&
        (filter.package === undefined || e.package === filter.package),
    );
    if (filter.limit === undefined) return matching;
    return filter.limit <= 0 ? [] : matching.slice(-filter.limit);
  }
}
