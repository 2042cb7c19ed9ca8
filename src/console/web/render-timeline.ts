/**
 * The event timeline (`#/events`, design §8): newest first, filtered by package and kind, with
 * an "N new" pill when events arrive while the reader is scrolled down. The list itself is not
 * a live region (a burst of events would flood a screen reader); main.ts announces new events
 * through one polite region, at most once a second.
 */

import type { EventView } from "../../api/schema/view-types.js";
import { filterChoices, filterEvents, relativeTime, type TimelineFilter } from "../model/timeline-model.js";
import { el } from "./dom.js";

/** One event per list item: when (relative, the exact time on hover and in datetime), where, what. */
export function eventList(events: readonly EventView[], now: number, label: string): HTMLElement {
  if (events.length === 0) return el("p", { class: "note" }, ["No events yet."]);
  return el("ol", { class: "events", attrs: { "aria-label": label } }, [
    ...events.map((e) =>
      el("li", { class: `event kind-${cssSafe(e.kind)}`, attrs: { "data-revision": String(e.revision) } }, [
        el(
          "time",
          {
            class: "when",
            attrs: { datetime: new Date(e.time).toISOString(), title: new Date(e.time).toISOString() },
          },
          [relativeTime(e.time, now)],
        ),
        el("span", { class: "where" }, [e.node]),
        el("span", { class: "kind" }, [e.kind]),
        typeof e.package === "string" ? el("span", { class: "pkg" }, [e.package]) : undefined,
        el("span", { class: "message" }, [e.message]),
      ]),
    ),
  ]);
}

export interface TimelinePage {
  filter: TimelineFilter;
  /** Events that arrived since the reader last saw the top of the list. */
  unseen: number;
  onFilter(filter: TimelineFilter): void;
  onShowNew(): void;
}

export function renderTimeline(events: readonly EventView[], now: number, page: TimelinePage): HTMLElement[] {
  const choices = filterChoices(events);
  const shown = filterEvents(events, page.filter);
  const select = (
    id: string,
    label: string,
    values: string[],
    current: string | undefined,
    key: keyof TimelineFilter,
  ) =>
    el("p", { class: "field" }, [
      el("label", { attrs: { for: id } }, [label]),
      el(
        "select",
        {
          attrs: { id, "data-focus-key": `filter:${key}` },
          on: {
            change: (e) =>
              page.onFilter({ ...page.filter, [key]: (e.currentTarget as HTMLSelectElement).value }),
          },
        },
        [
          el("option", { attrs: { value: "" } }, ["all"]),
          ...values.map((v) => {
            const option = el("option", { attrs: { value: v } }, [v]);
            option.selected = v === current;
            return option;
          }),
        ],
      ),
    ]);
  return [
    el("h1", {}, ["Events"]),
    el(
      "form",
      {
        class: "filters",
        attrs: { "aria-label": "Filter events" },
        on: { submit: (e) => e.preventDefault() },
      },
      [
        select("filter-package", "Package", choices.packages, page.filter.package, "package"),
        select("filter-kind", "Kind", choices.kinds, page.filter.kind, "kind"),
        el("p", { class: "muted" }, [`${shown.length} of ${events.length} events`]),
      ],
    ),
    page.unseen > 0
      ? el(
          "button",
          {
            class: "pill",
            attrs: { type: "button", "data-focus-key": "pill" },
            on: { click: () => page.onShowNew() },
          },
          [`${page.unseen} new`],
        )
      : undefined,
    eventList(shown, now, "Events, newest first"),
  ].filter((n): n is HTMLElement => n !== undefined);
}

/** An event kind as a class name part (kinds are lower-case words with dashes; anything else is dropped). */
function cssSafe(kind: string): string {
  return kind.replace(/[^a-z0-9-]/gi, "");
}
