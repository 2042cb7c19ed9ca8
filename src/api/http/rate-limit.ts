/**
 * Per-user limits on writes (design §2 api-server caps, §12 risk 1): a token bucket per key
 * (the user, or the source address before anyone is known). A burst of `burst` writes is
 * allowed, then `perSecond`. Beyond it the server answers 429 API_RATE_LIMITED with Retry-After.
 * Pure: the clock is passed in. The table is bounded: full buckets are dropped first.
 */
export interface RateLimits {
  burst: number;
  perSecond: number;
  /** Keys tracked at once. */
  maxKeys: number;
}

export const POST_LIMITS: RateLimits = { burst: 30, perSecond: 10, maxKeys: 1_000 };

export type RateDecision = { ok: true } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(readonly limits: RateLimits = POST_LIMITS) {}

  take(key: string, now: number): RateDecision {
    const bucket = this.refilled(key, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      this.remember(key, bucket, now);
      return { ok: true };
    }
    this.remember(key, bucket, now);
    return { ok: false, retryAfterMs: ((1 - bucket.tokens) / this.limits.perSecond) * 1000 };
  }

  private refilled(key: string, now: number): Bucket {
    const found = this.buckets.get(key);
    if (!found) return { tokens: this.limits.burst, at: now };
    const elapsed = Math.max(0, now - found.at) / 1000;
    return { tokens: Math.min(this.limits.burst, found.tokens + elapsed * this.limits.perSecond), at: now };
  }

  private remember(key: string, bucket: Bucket, now: number): void {
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size <= this.limits.maxKeys) return;
    // A bucket that has refilled says nothing: forget those first, then the least recent.
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.limits.perSecond >= this.limits.burst)
        this.buckets.delete(k);
      if (this.buckets.size <= this.limits.maxKeys) return;
    }
    const oldest = this.buckets.keys().next().value as string;
    this.buckets.delete(oldest);
  }
}
