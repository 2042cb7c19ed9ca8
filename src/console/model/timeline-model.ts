/**
 * The console's event timeline (design §8 `#/events`): events from the snapshot, the live
 * stream and GET /v1/events merged into one list, newest first. The etcd revision orders the
 * log cluster-wide (design §9), so it is the sort key; an event that arrives twice (the
 * snapshot and a replay after a reconnect overlap) is kept once. Pure: the clock is passed in.
 */

import type { EventView } from "../../api/schema/view-types.js";

/** How many events the page keeps (design §8). */
export const TIMELINE_CAP = 500;

/**
 * One event's identity. A revision may hold more than one key when a writer puts several in one
 * transaction, so the writer, kind and time take part too.
 */
function identity(event: EventView): string {
  return `${event.revision}\u0000${event.node}\u0000${event.kind}\u0000${event.time}\u0000${event.message}`;
}

/** `current` (newest first) with `incoming` added: deduplicated, newest first, at most `cap`. */
export function mergeEvents(
  current: readonly EventView[],
  incoming: readonly EventView[],
  cap: number = TIMELINE_CAP,
): EventView[] {
  const seen = new Set<string>();
  const all: EventView[] = [];
  for (const event of [...incoming, ...current]) {
    const id = identity(event);
    if (seen.has(id)) continue;
    seen.add(id);
    all.push(event);
  }
  all.sort((a, b) => b.revision - a.revision || b.time - a.time);
  return all.slice(0, Math.max(0, cap));
}

export interface TimelineFilter {
  package?: string | undefined;
  kind?: string | undefined;
}

export function filterEvents(events: readonly EventView[], filter: TimelineFilter): EventView[] {
  return events.filter(
    (e) =>
      (filter.package === undefined || filter.package === "" || e.package === filter.package) &&
      (filter.kind === undefined || filter.kind === "" || e.kind === filter.kind),
  );
}

/** The kinds and packages present, sorted, for the filter menus. */
export function filterChoices(events: readonly EventView[]): { kinds: string[]; packages: string[] } {
  const kinds = new Set<string>();
  const packages = new Set<string>();
  for (const e of events) {
    kinds.add(e.kind);
    if (typeof e.package === "string") packages.add(e.package);
  }
  return { kinds: [...kinds].sort(), packages: [...packages].sort() };
}

/**
 * "3 s ago", "5 min ago", "2 h ago", "4 d ago": how long before `now` an event was written. A
 * time slightly ahead of this clock (another node's clock runs ahead) reads "just now".
 */
export function relativeTime(time: number, now: number): string {
  const seconds = Math.floor((now - time) / 1000);
  if (seconds < 1) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} d ago`;
}

/** Events newer than the newest one the reader has seen (for the "N new" pill when scrolled away). */
export function countNewer(events: readonly EventView[], seenRevision: number): number {
  return events.filter((e) => e.revision > seenRevision).length;
}
