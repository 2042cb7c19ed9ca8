/**
 * NAT keepalives (RFC 3948 §2.3): on a path that carries ESP in UDP, a one-octet 0xFF datagram
 * whenever nothing else was sent to the peer for a while, so that a NAT on the way keeps its
 * mapping. Pavise always claims to be behind a NAT (RFC 7296 §2.23, to get ESP in UDP), so it
 * sends them on every encapsulated path, every 20 s by default like strongSwan's `keep_alive`.
 * Pure: the daemon says what was sent when, this says what is due.
 */
import type { EspEndpoint } from "../esp/core/esp-engine.js";

export const DEFAULT_NAT_KEEPALIVE_MS = 20_000;

/** The one-octet datagram (RFC 3948 §2.3). */
export const NAT_KEEPALIVE = Uint8Array.of(0xff);

export interface EncapsulatedPath {
  from: EspEndpoint;
  to: EspEndpoint;
}

export interface KeepalivePlan {
  /** Paths to send a keepalive on now (each once). */
  send: EncapsulatedPath[];
  /** When to look again; undefined when there is no path. */
  nextAt: number | undefined;
}

/**
 * Which paths are due at `now`: those with nothing sent for `intervalMs` (a path never sent on
 * counts from `now`, so a new SA waits one interval). `lastSent` gives the last send time.
 */
export function keepalivesDue(
  paths: readonly EncapsulatedPath[],
  lastSent: (path: EncapsulatedPath) => number | undefined,
  now: number,
  intervalMs: number,
): KeepalivePlan {
  const send: EncapsulatedPath[] = [];
  const seen = new Set<string>();
  let nextAt: number | undefined;
  for (const path of paths) {
    const key = pathKey(path);
    if (seen.has(key)) continue;
    seen.add(key);
    const last = lastSent(path) ?? now;
    const due = last + intervalMs;
    if (due <= now) send.push(path);
    const next = due <= now ? now + intervalMs : due;
    nextAt = nextAt === undefined ? next : Math.min(nextAt, next);
  }
  return { send, nextAt };
}

export function pathKey(path: EncapsulatedPath): string {
  return `${path.from.address}:${path.from.port}>${path.to.address}:${path.to.port}`;
}
