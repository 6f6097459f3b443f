import type { Session } from '@tapevision/db';
import { sessionIdInput } from '../schemas/auth.ts';
import { appError } from '../errors.ts';
import { busEvents } from '../services/bus-stream.ts';
import { isSessionEvent, SESSION_EVENTS_CHANNEL, type SessionEvent } from '../services/session-events.ts';
import { listLiveSessions, revokeSession, revokeUserSessions } from '../services/sessions.ts';
import { router, sessionProcedure } from '../trpc.ts';

export function toSessionView(s: Session, currentSessionId: string | null) {
  return {
    id: s.id,
    ip: s.ip,
    userAgent: s.userAgent,
    createdAt: s.createdAt.toISOString(),
    lastSeenAt: s.lastSeenAt.toISOString(),
    expiresAt: (s.idleExpiresAt < s.absoluteExpiresAt ? s.idleExpiresAt : s.absoluteExpiresAt).toISOString(),
    current: s.id === currentSessionId,
  };
}

export const sessionsRouter = router({
  list: sessionProcedure('account.self').query(async ({ ctx }) => {
    const rows = await listLiveSessions(ctx.deps, ctx.principal.userId);
    return rows.map((s) => toSessionView(s, ctx.principal.sessionId));
  }),

  revoke: sessionProcedure('account.self')
    .input(sessionIdInput)
    .mutation(async ({ ctx, input }) => {
      const { principal } = ctx;
      // Scoped to the caller's own sessions: another user's id is simply "not found".
      const ok = await revokeSession(ctx.deps, { userId: principal.userId, sessionId: input.sessionId, reason: 'revoked_by_user' }, (revoked) =>
        revoked
          ? {
              action: 'session.revoked',
              outcome: 'success',
              actor: { type: 'user', id: principal.userId },
              origin: ctx.origin,
              resource: { type: 'session', id: input.sessionId },
              details: { current: input.sessionId === principal.sessionId },
            }
          : null,
      );
      if (!ok) throw appError('NOT_FOUND', 'No such session', { reason: 'SESSION_NOT_FOUND' });
      return { ok: true as const };
    }),

  revokeOthers: sessionProcedure('account.self').mutation(async ({ ctx }) => {
    const { principal } = ctx;
    const revoked = await revokeUserSessions(
      ctx.deps,
      { userId: principal.userId, reason: 'signed_out_elsewhere', exceptSessionId: principal.sessionId },
      (ids) => ({
        action: 'session.revoked',
        outcome: 'success',
        actor: { type: 'user', id: principal.userId },
        origin: ctx.origin,
        resource: { type: 'user', id: principal.userId },
        details: { scope: 'others', count: ids.length },
      }),
    );
    return { revoked: revoked.length };
  }),

  /** Tells each of a user's open clients when one of their sessions is created or revoked. */
  // Open during a forced password change too, so that page also learns of a revocation at once.
  onEvent: sessionProcedure('account.self', { allowPendingPasswordChange: true }).subscription(async function* ({ ctx, signal }) {
    const userId = ctx.principal.userId;
    const mine = (p: unknown): p is SessionEvent => isSessionEvent(p) && p.userId === userId;
    yield* busEvents(ctx.deps.bus, SESSION_EVENTS_CHANNEL, mine, signal);
  }),
});
