import { changePasswordInput, loginInput, refreshInput } from '../schemas/auth.ts';
import { appError } from '../errors.ts';
import { enforceLimit } from '../middleware/rate-limit.ts';
import { issueAccessToken, login, typedEmailDetails } from '../services/login.ts';
import { permissionsFor } from '../permissions.ts';
import { toPublicUser } from '../services/principal.ts';
import { clearedRefreshCookie, REFRESH_COOKIE, refreshCookie } from '../services/refresh-cookie.ts';
import { revokeSession, rotateRefreshToken } from '../services/sessions.ts';
import { changeOwnPassword } from '../services/users.ts';
import { findLiveSession } from '../services/sessions.ts';
import { publicProcedure, router, sessionProcedure } from '../trpc.ts';

const self = { allowPendingPasswordChange: true };

export const authRouter = router({
  login: publicProcedure.input(loginInput).mutation(async ({ ctx, input }) => {
    // Failed sign-ins per IP + email spend the login budget; a success gives its point back.
    const { limiter, policies } = ctx.deps.rateLimits;
    // Keyed by the fingerprint when the text is no email: the key is audited with any denial.
    const typed = typedEmailDetails(ctx.deps, input.email.trim().toLowerCase());
    const limitKey = `${ctx.origin.ip ?? 'unknown'}|${'email' in typed ? typed.email : typed.emailFingerprint}`;
    await enforceLimit(ctx, { type: 'anonymous', id: null, key: limitKey }, 'login', policies.login, limitKey);
    const issued = await login(ctx.deps, { email: input.email, password: input.password, origin: ctx.origin });
    await limiter.reward('login', policies.login, limitKey);
    const base = { accessToken: issued.accessToken, accessTokenExpiresAt: issued.accessTokenExpiresAt, user: issued.user };
    if (input.refreshTokenDelivery === 'body') return { ...base, refreshToken: issued.refreshToken };
    ctx.setCookie(
      refreshCookie(issued.refreshToken, {
        secure: ctx.secure,
        expiresAt: issued.sessionExpiresAt,
        now: ctx.deps.clock.now(),
      }),
    );
    return base;
  }),

  refresh: publicProcedure.input(refreshInput).mutation(async ({ ctx, input }) => {
    const fromBody = input?.refreshToken;
    // The cookie only over HTTP: a WebSocket's cookies came with its upgrade, which any same-site
    // page can make, and the fresh token would go back over that page's socket.
    const presented = fromBody ?? (ctx.transport === 'http' ? ctx.cookies[REFRESH_COOKIE] : undefined);
    if (!presented) throw appError('UNAUTHORIZED', 'Sign in to continue', { reason: 'NO_REFRESH_TOKEN' });
    // A rotation and a detected reuse change the session: their rows commit with the change.
    const result = await rotateRefreshToken(ctx.deps, presented, (outcome) =>
      outcome.kind === 'rotated'
        ? {
            action: 'auth.refresh',
            outcome: 'success',
            actor: { type: 'user', id: outcome.live.user.id },
            origin: ctx.origin,
            resource: { type: 'session', id: outcome.live.session.id },
          }
        : outcome.kind === 'reuse'
          ? {
              action: 'auth.refresh_reuse',
              outcome: 'denied',
              actor: { type: 'user', id: outcome.userId },
              origin: ctx.origin,
              resource: { type: 'session', id: outcome.sessionId },
              details: { action: 'session_revoked' },
            }
          : null,
    );
    if (result.kind !== 'rotated') {
      if (!fromBody) ctx.setCookie(clearedRefreshCookie({ secure: ctx.secure }));
      const reused = result.kind === 'reuse';
      if (result.kind === 'invalid') {
        await ctx.deps.audit.record({
          action: 'auth.refresh_failed',
          outcome: 'failure',
          actor: result.userId ? { type: 'user', id: result.userId } : { type: 'anonymous' },
          origin: ctx.origin,
          resource: result.sessionId ? { type: 'session', id: result.sessionId } : undefined,
          details: { reason: result.reason },
        });
      }
      throw appError('UNAUTHORIZED', 'Your session has ended. Sign in again.', {
        reason: reused ? 'REFRESH_TOKEN_REUSED' : 'SESSION_ENDED',
      });
    }
    const { user, session } = result.live;
    const access = await issueAccessToken(ctx.deps, user, session.id);
    const base = { ...access, user: toPublicUser(user) };
    if (fromBody) return { ...base, refreshToken: result.refreshToken };
    ctx.setCookie(refreshCookie(result.refreshToken, { secure: ctx.secure, expiresAt: session.absoluteExpiresAt, now: ctx.deps.clock.now() }));
    return base;
  }),

  logout: sessionProcedure('account.self', self).mutation(async ({ ctx }) => {
    const { principal } = ctx;
    await revokeSession(ctx.deps, { userId: principal.userId, sessionId: principal.sessionId, reason: 'logout' }, () => ({
      action: 'auth.logout',
      outcome: 'success',
      actor: { type: 'user', id: principal.userId },
      origin: ctx.origin,
      resource: { type: 'session', id: principal.sessionId },
    }));
    ctx.setCookie(clearedRefreshCookie({ secure: ctx.secure }));
    return { ok: true as const };
  }),

  me: sessionProcedure('account.self', self).query(async ({ ctx }) => {
    const live = await findLiveSession(ctx.deps, ctx.principal.sessionId);
    if (!live) throw appError('UNAUTHORIZED', 'Sign in to continue', { reason: 'UNAUTHENTICATED' });
    return {
      user: toPublicUser(live.user),
      role: live.user.role,
      permissions: permissionsFor(live.user.role),
      sessionId: live.session.id,
    };
  }),

  changePassword: sessionProcedure('account.self', self)
    .input(changePasswordInput)
    .mutation(async ({ ctx, input }) => {
      const { revokedSessions } = await changeOwnPassword(ctx.deps, {
        userId: ctx.principal.userId,
        sessionId: ctx.principal.sessionId,
        currentPassword: input.currentPassword,
        newPassword: input.newPassword,
        origin: ctx.origin,
      });
      return { ok: true as const, revokedSessions };
    }),
});
