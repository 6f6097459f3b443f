import type { Context } from '../context.ts';
import { appError } from '../errors.ts';
import { enforceLimit } from './rate-limit.ts';
import { API_KEY_FAILURE_MESSAGES, verifyApiKeyCached } from '../services/api-keys.ts';
import { apiKeyPrincipalFor, principalFor, type Principal } from '../services/principal.ts';
import { findLiveSessionCached, touchSession } from '../services/sessions.ts';
import { t } from '../trpc/core.ts';

/**
 * Resolves the caller from the live session on every call, so a revoked session, a disabled
 * user or a changed role stops the very next request, not the token's expiry. The session state
 * comes from a per-process cache that every revocation clears, on every process (sessions.ts).
 */
export async function resolveSessionPrincipal(ctx: Context): Promise<Principal | null> {
  const { deps } = ctx;
  // A WebSocket's token is checked when it connects; afterwards the session row decides, and
  // revocation closes the socket.
  const claims =
    ctx.transport === 'ws'
      ? ctx.wsClaims
      : ctx.accessToken
        ? await deps.tokens.verifyAccessToken(ctx.accessToken, deps.clock.now())
        : null;
  if (!claims) return null;
  const live = await findLiveSessionCached(deps, claims.sessionId);
  if (!live || live.user.id !== claims.userId) return null;
  await touchSession(deps, live.session);
  return principalFor(live.user, live.session.id);
}

/**
 * An API key is checked on every call: revocation, expiry and the owner's rights apply at once
 * (from a per-process cache that revocation, rolling and owner changes clear on every process).
 */
async function resolveApiKeyPrincipal(ctx: Context, raw: string): Promise<Principal> {
  const { deps } = ctx;
  const check = await verifyApiKeyCached(deps, raw);
  if (!check.ok) {
    // Before the audit row: once the IP is over its budget, guesses are neither tried nor logged one by one.
    await chargeFailedAttempt(ctx);
    await deps.audit.record({
      action: 'apikey.auth_failed',
      outcome: 'denied',
      actor: check.keyId ? { type: 'apikey', id: check.keyId } : { type: 'anonymous' },
      origin: ctx.origin,
      resource: check.keyId ? { type: 'apikey', id: check.keyId } : undefined,
      details: { reason: check.reason, ownerId: check.ownerId ?? null },
    });
    throw appError('UNAUTHORIZED', API_KEY_FAILURE_MESSAGES[check.reason], { reason: `API_KEY_${check.reason}` });
  }
  deps.apiKeyUsage.touch(check.key.id, deps.clock.now());
  return apiKeyPrincipalFor(check.key, check.owner, check.permissions);
}

export async function resolvePrincipal(ctx: Context): Promise<Principal | null> {
  if (ctx.apiKey) return resolveApiKeyPrincipal(ctx, ctx.apiKey);
  return resolveSessionPrincipal(ctx);
}

/**
 * A call that fails to authenticate is an anonymous call: it spends its IP's `api` budget (429 once
 * that is gone), so tokens and keys cannot be guessed at an unlimited rate.
 */
async function chargeFailedAttempt(ctx: Context): Promise<void> {
  const key = `ip:${ctx.origin.ip ?? 'unknown'}`;
  await enforceLimit(ctx, { type: 'anonymous', id: null, key }, 'api', ctx.deps.rateLimits.policies.api, key);
}

export const authenticate = t.middleware(async ({ ctx, next }) => {
  const principal = await resolvePrincipal(ctx);
  if (!principal) {
    await chargeFailedAttempt(ctx);
    throw appError('UNAUTHORIZED', 'Sign in to continue', { reason: 'UNAUTHENTICATED' });
  }
  return next({ ctx: { principal } });
});

/** Narrows to a signed-in person: procedures about one's own browser session have no meaning for a key. */
export const requireSession = t.middleware(async ({ ctx, next }) => {
  const principal = (ctx as typeof ctx & { principal: Principal }).principal;
  if (principal.kind !== 'user') {
    throw appError('FORBIDDEN', 'This needs a signed-in session, not an API key', { reason: 'SESSION_REQUIRED' });
  }
  return next({ ctx: { principal } });
});
