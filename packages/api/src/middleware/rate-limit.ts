import type { Context } from '../context.ts';
import { appError } from '../errors.ts';
import { rateLimitHeaders, type RateLimitDecision } from '../rate-limit/limiter.ts';
import { apiKeyPolicy, type RateLimitPolicy } from '../rate-limit/policies.ts';
import { principalKey, type Principal } from '../services/principal.ts';
import { t } from '../trpc/core.ts';

interface Caller {
  type: 'user' | 'apikey' | 'anonymous';
  id: string | null;
  key: string;
}

function callerOf(ctx: Context & { principal?: Principal }): Caller {
  const p = ctx.principal;
  if (!p) return { type: 'anonymous', id: null, key: `ip:${ctx.origin.ip ?? 'unknown'}` };
  return p.kind === 'apikey' ? { type: 'apikey', id: p.apiKeyId, key: principalKey(p) } : { type: 'user', id: p.userId, key: principalKey(p) };
}

// Keyed by the request's origin object, which every call of one HTTP batch shares.
const policiesByRequest = new WeakMap<object, Map<string, { policy: string; state: string }>>();

/**
 * Takes a point from one policy for the caller; on refusal answers 429 with Retry-After and the
 * limit, remaining and reset in the error data, and audits the denial (coalesced).
 */
export async function enforceLimit(ctx: Context, caller: Caller, name: string, policy: RateLimitPolicy, key: string): Promise<RateLimitDecision> {
  const { rateLimits } = ctx.deps;
  const factor = await rateLimits.limitFactor(ctx.origin.ip);
  const decision = await rateLimits.limiter.consume(name, policy, key, factor);
  // One request can spend several budgets (api, the key's own, login): the headers list them all.
  const seen = policiesByRequest.get(ctx.origin) ?? new Map<string, { policy: string; state: string }>();
  policiesByRequest.set(ctx.origin, seen);
  seen.set(name, rateLimitHeaders(decision, policy.durationSeconds));
  ctx.setHeader('RateLimit-Policy', [...seen.values()].map((h) => h.policy).join(', '));
  ctx.setHeader('RateLimit', [...seen.values()].map((h) => h.state).join(', '));
  if (!decision.allowed) {
    const retryAfterSeconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    ctx.setHeader('Retry-After', String(retryAfterSeconds));
    await rateLimits.denials.denied(name, caller, ctx.origin);
    throw appError('TOO_MANY_REQUESTS', `Rate limit exceeded (${name}): try again in ${retryAfterSeconds} s`, {
      reason: 'RATE_LIMITED',
      policy: name,
      limit: decision.limit,
      remaining: 0,
      resetMs: decision.resetMs,
      retryAfterMs: decision.retryAfterMs,
    });
  }
  return decision;
}

/** Every call: the `api` budget, the caller's API-key budget, and the policy the procedure names. */
export const rateLimit = t.middleware(async ({ ctx, meta, next }) => {
  const caller = callerOf(ctx as Context & { principal?: Principal });
  const { policies } = ctx.deps.rateLimits;
  await enforceLimit(ctx, caller, 'api', policies.api, caller.key);
  const principal = (ctx as Context & { principal?: Principal }).principal;
  if (principal?.kind === 'apikey' && principal.rateLimitPerMinute) {
    await enforceLimit(ctx, caller, 'apikey', apiKeyPolicy(principal.rateLimitPerMinute), caller.key);
  }
  if (meta?.rateLimit) {
    await enforceLimit(ctx, caller, meta.rateLimit, policies[meta.rateLimit], caller.key);
  }
  return next();
});
