/**
 * Login failures per user (design §4): each failure is answered after a fixed delay (1 s), and
 * 10 failures within 5 minutes lock the user out of password logins for 60 s. The lockout is
 * answered with 429 API_RATE_LIMITED and Retry-After (RFC 6585 §4), not 403: the user is allowed,
 * just not now, and a client should come back later rather than give up. Pure: the clock is
 * passed in; the server applies the delay.
 *
 * Unknown user names are counted like known ones (an attacker learns nothing from the answer),
 * in a bounded table so that a stream of random names cannot grow the daemon's memory.
 */
export interface LoginThrottleLimits {
  /** Failures within `windowMs` that lock the user. */
  maxFailures: number;
  windowMs: number;
  lockMs: number;
  /** The delay before a failed login is answered. */
  failureDelayMs: number;
  /** Users tracked at once; the oldest entry is dropped beyond it. */
  maxUsers: number;
}

export const LOGIN_LIMITS: LoginThrottleLimits = {
  maxFailures: 10,
  windowMs: 5 * 60_000,
  lockMs: 60_000,
  failureDelayMs: 1_000,
  maxUsers: 1_000,
};

export type LoginGate = { ok: true } | { ok: false; retryAfterMs: number };

interface UserFailures {
  /** Times of the failures inside the window, oldest first. */
  failures: number[];
  lockedUntil: number;
}

export class LoginThrottle {
  private readonly users = new Map<string, UserFailures>();

  constructor(readonly limits: LoginThrottleLimits = LOGIN_LIMITS) {}

  /** Before verifying a password: whether the user may try now. */
  check(user: string, now: number): LoginGate {
    const entry = this.users.get(user);
    if (entry && now < entry.lockedUntil) return { ok: false, retryAfterMs: entry.lockedUntil - now };
    return { ok: true };
  }

  /** A wrong password (or an unknown user); true when this failure locked the user. */
  failed(user: string, now: number): boolean {
    const entry = this.users.get(user) ?? { failures: [], lockedUntil: 0 };
    this.users.delete(user);
    entry.failures = entry.failures.filter((at) => now - at < this.limits.windowMs);
    entry.failures.push(now);
    let locked = false;
    if (entry.failures.length >= this.limits.maxFailures) {
      entry.lockedUntil = now + this.limits.lockMs;
      entry.failures = [];
      locked = true;
    }
    // Insertion order is age order: the first key is the least recently failed.
    this.users.set(user, entry);
    while (this.users.size > this.limits.maxUsers) {
      const oldest = this.users.keys().next().value as string;
      this.users.delete(oldest);
    }
    return locked;
  }

  /** A successful login clears the user's failures. */
  succeeded(user: string): void {
    this.users.delete(user);
  }

  /** Failures counted now for a user (for tests and the log). */
  failuresOf(user: string, now: number): number {
    return (this.users.get(user)?.failures ?? []).filter((at) => now - at < this.limits.windowMs).length;
  }
}
