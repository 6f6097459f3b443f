import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RateLimitPolicy } from './policies.ts';

export interface RateLimitDecision {
  allowed: boolean;
  /** Policy name as shown in the RateLimit headers. */
  policy: string;
  limit: number;
  remaining: number;
  /** Milliseconds until the window resets. */
  resetMs: number;
  /** Milliseconds to wait before trying again (0 when allowed). */
  retryAfterMs: number;
}

export interface RateLimiter {
  /**
   * Takes one point for `key` under the policy. `factor` scales the limit down (0.5 halves it) for
   * callers flagged as suspicious.
   */
  consume(name: string, policy: RateLimitPolicy, key: string, factor?: number): Promise<RateLimitDecision>;
  /** Gives a point back (a successful sign-in does not count against the login limit). */
  reward(name: string, policy: RateLimitPolicy, key: string): Promise<void>;
  readonly store: 'memory' | 'redis';
  close(): Promise<void>;
}

/**
 * rate-limiter-flexible over Redis when a client is given, in memory otherwise. Each Redis limiter
 * has an in-memory insurance limiter: if Redis fails, limits keep holding per process instead of
 * the API either opening its gates or failing every call.
 */
export function createRateLimiter(opts: { redis?: Redis | null; keyPrefix?: string } = {}): RateLimiter {
  const limiters = new Map<string, RateLimiterAbstract>();
  const prefix = opts.keyPrefix ?? 'tv:rl';

  function limiterFor(name: string, policy: RateLimitPolicy): RateLimiterAbstract {
    const id = `${name}:${policy.points}:${policy.durationSeconds}`;
    let limiter = limiters.get(id);
    if (!limiter) {
      const base = { points: policy.points, duration: policy.durationSeconds, keyPrefix: `${prefix}:${id}` };
      limiter = opts.redis
        ? new RateLimiterRedis({
            ...base,
            storeClient: opts.redis,
            rejectIfRedisNotReady: true,
            insuranceLimiter: new RateLimiterMemory(base),
          })
        : new RateLimiterMemory(base);
      limiters.set(id, limiter);
    }
    return limiter;
  }

  return {
    store: opts.redis ? 'redis' : 'memory',
    async consume(name, policy, key, factor = 1) {
      const limit = Math.max(1, Math.floor(policy.points * factor));
      try {
        const res = await limiterFor(name, policy).consume(key, 1);
        const allowed = res.consumedPoints <= limit;
        return {
          allowed,
          policy: name,
          limit,
          remaining: Math.max(0, limit - res.consumedPoints),
          resetMs: res.msBeforeNext,
          retryAfterMs: allowed ? 0 : res.msBeforeNext,
        };
      } catch (err) {
        if (err instanceof RateLimiterRes) {
          return { allowed: false, policy: name, limit, remaining: 0, resetMs: err.msBeforeNext, retryAfterMs: err.msBeforeNext };
        }
        throw err;
      }
    },
    async reward(name, policy, key) {
      await limiterFor(name, policy).reward(key, 1);
    },
    async close() {
      limiters.clear();
    },
  };
}

/** `RateLimit-Policy` and `RateLimit` header values (IETF httpapi-ratelimit-headers). */
export function rateLimitHeaders(d: RateLimitDecision, durationSeconds: number): { policy: string; state: string } {
  return {
    policy: `"${d.policy}";q=${d.limit};w=${durationSeconds}`,
    state: `"${d.policy}";r=${d.remaining};t=${Math.ceil(d.resetMs / 1000)}`,
  };
}
