import { ALL_EVENT_KINDS, KNOWN_EVENT_KINDS } from "../events/event-kinds.js";
import { closest, didYouMean } from "./did-you-mean.js";
import type { ClusterConfig } from "./model.js";
import type { ProblemList } from "./raw-reader.js";

/** Longest hook timeout: a hook that needs longer should hand its work off and return. */
const MAX_HOOK_TIMEOUT_MS = 3_600_000;

/**
 * What the `hooks:` section means: each hook named once, a command to run, kinds the daemon
 * writes (a mistyped kind would never fire, and nobody would notice until the page that never
 * came), packages of this cluster, and a timeout the runner can keep.
 */
export function validateHooks(config: ClusterConfig, problems: ProblemList): void {
  const names = new Set<string>();
  const packages = config.packages.map((p) => p.name);
  const kinds = [...KNOWN_EVENT_KINDS, ALL_EVENT_KINDS];
  (config.hooks ?? []).forEach((hook, i) => {
    const path = `hooks[${i}]`;
    if (hook.name !== "") {
      if (names.has(hook.name)) {
        problems.add(
          `${path}.name`,
          hook.name,
          "is the name of an earlier hook",
          "give each hook its own name",
        );
      }
      names.add(hook.name);
    }
    if (hook.command.trim() === "" && hook.command !== "") {
      problems.add(
        `${path}.command`,
        hook.command,
        "is blank",
        "write the command to run, e.g. /usr/local/bin/pavise-alert",
      );
    }
    if (hook.events.length === 0) {
      problems.add(
        `${path}.events`,
        hook.events,
        "is empty: the hook would never run",
        "leave events out (package and node state changes), or list kinds, or write events: [all]",
      );
    }
    hook.events.forEach((kind, k) => {
      if (kinds.includes(kind)) return;
      const guess = closest(kind, kinds);
      problems.add(
        `${path}.events[${k}]`,
        kind,
        `is not an event kind the daemon writes${didYouMean(kind, kinds)}`,
        guess ? `write ${guess}` : `use one of: ${kinds.join(", ")}`,
      );
    });
    (hook.packages ?? []).forEach((pkg, k) => {
      if (packages.includes(pkg)) return;
      const guess = closest(pkg, packages);
      problems.add(
        `${path}.packages[${k}]`,
        pkg,
        `is not a package of this cluster${didYouMean(pkg, packages)}`,
        guess ? `write ${guess}` : `use one of: ${packages.join(", ") || "(no packages yet)"}`,
      );
    });
    hook.recipients.forEach((recipient, k) => {
      if (recipient.trim() !== "") return;
      problems.add(
        `${path}.recipients[${k}]`,
        recipient,
        "is blank",
        "remove it, or write e.g. ops@example.com",
      );
    });
    if (hook.timeoutMs < 100 || hook.timeoutMs > MAX_HOOK_TIMEOUT_MS) {
      problems.add(
        `${path}.timeout`,
        `${hook.timeoutMs}ms`,
        "must be from 100ms to 1h",
        "write timeout: 30s (Pacemaker's alert default)",
      );
    }
  });
}
