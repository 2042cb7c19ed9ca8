import { PACKAGE_STATE_KINDS } from "../events/event-kinds.js";
import type { HookConfig } from "./model.js";
import type { Raw, RawReader } from "./raw-reader.js";

/**
 * The `hooks:` section of a cluster file: its keys, their types and defaults. What the values
 * mean (known kinds and packages, unique names, timeout range) is validate-hooks.ts.
 */

/** Pacemaker's default alert timeout. */
export const DEFAULT_HOOK_TIMEOUT_MS = 30_000;

const HOOK_KEYS = ["name", "command", "events", "packages", "recipients", "timeout"];
const EXAMPLE = "{ name: page-oncall, command: /usr/local/bin/pavise-alert }";

/** The hooks, or undefined when the file has no `hooks:` (nothing runs, as before hooks existed). */
export function readHooks(reader: RawReader, top: Raw): HookConfig[] | undefined {
  const list = reader.list(top, "hooks", "", `[${EXAMPLE}]`);
  if (list === undefined) return undefined;
  return list.map((entry, i): HookConfig => {
    const path = `hooks[${i}]`;
    const h = reader.mapping(entry, path, EXAMPLE) ?? {};
    if (entry === undefined || entry === null)
      reader.problem(path, entry, "is empty", `write e.g. ${EXAMPLE}`);
    reader.known(h, HOOK_KEYS, path);
    const packages = reader.strings(h, "packages", path, "[web]");
    return {
      name: reader.required(h, "name", path, "page-oncall"),
      command: reader.required(h, "command", path, "/usr/local/bin/pavise-alert"),
      events: reader.strings(h, "events", path, "[started, package-failed, node-failed]") ?? [
        ...PACKAGE_STATE_KINDS,
      ],
      ...(packages !== undefined ? { packages } : {}),
      recipients: reader.strings(h, "recipients", path, "[ops@example.com]") ?? [],
      timeoutMs: reader.duration(h, "timeout", path, { fallback: DEFAULT_HOOK_TIMEOUT_MS, example: "30s" }),
    };
  });
}
