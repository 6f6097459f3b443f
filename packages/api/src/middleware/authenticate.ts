import type { Context } from '../context.ts';
import { appError } from '../errors.ts';
import { principalFor, type Principal } from '../services/principal.ts';
import { findLiveSession, touchSession } from '../services/sessions.ts';
import { t } from '../trpc/core.ts';

/**
 * Resolves the caller from the live session row on every call, so a revoked session, a disabled
 * user or a changed role stops the very next request, not the token's expiry.
 */
export async function resolvePrincipal(ctx: Context): Promise<Principal | null> {
  const { deps } = ctx;
  // A WebSocket's token is checked when it connects; afterwards the session row decides, and
  // revocation closes the socket.
  const claims = ctx.transport === 'ws' ? ctx.wsClaims : ctx.accessToken ? await deps.tokens.verifyAccessToken(ctx.accessToken, deps.clock.now()) : null;
  if (!claims) return null;
  const live = await findLiveSession(deps, claims.sessionId);
  if (!live || live.user.id !== claims.userId) return null;
  await touchSession(deps, live.session);
  return principalFor(live.user, live.session.id);
}

export const authenticate = t.middleware(async ({ ctx, next }) => {
  const principal = await resolvePrincipal(ctx);
  if (!principal) throw appError('UNAUTHORIZED', 'Sign in to continue', { reason: 'UNAUTHENTICATED' });
  return next({ ctx: { principal } });
});
