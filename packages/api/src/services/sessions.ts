import { randomUUID } from 'node:crypto';
import { and, desc, eq, gt, inArray, isNull, ne, sql } from 'drizzle-orm';
import { refreshTokens, sessions, users, type EventBus, type Queryable, type Session, type User } from '@tapevision/db';
import { auditedTransaction, type AuditEvent } from '../audit/recorder.ts';
import type { ApiDeps } from '../deps.ts';
import { isSessionEvent, publishSessionEvents, SESSION_EVENTS_CHANNEL, type SessionEvent } from './session-events.ts';

type SessionDeps = Pick<ApiDeps, 'db' | 'bus' | 'clock' | 'config' | 'tokens' | 'audit'>;

export type RevokeReason =
  | 'logout'
  | 'revoked_by_user'
  | 'revoked_by_admin'
  | 'access_revoked'
  | 'signed_out_elsewhere'
  | 'password_changed'
  | 'password_reset'
  | 'role_changed'
  | 'disabled'
  | 'evicted'
  | 'refresh_token_reuse'
  | 'security_incident'
  | 'lockdown';

export interface LiveSession {
  session: Session;
  user: User;
}

// last_seen is refreshed at most this often: one write per user per half minute, not per call.
const TOUCH_INTERVAL_MS = 30_000;

function liveConditions(now: Date) {
  return and(isNull(sessions.revokedAt), gt(sessions.idleExpiresAt, now), gt(sessions.absoluteExpiresAt, now));
}

function revokedEvent(s: { id: string; userId: string }, reason: RevokeReason, now: Date): SessionEvent {
  return { type: 'revoked', userId: s.userId, sessionId: s.id, reason, at: now.toISOString() };
}

/**
 * Opens a session with its first refresh token, in one transaction of two statements. The first,
 * `admit`, must lock the user's row (an UPDATE of it does) and say whether the session may open;
 * holding that lock while counting keeps the per-user cap exact when logins race. The second
 * retires the least recently used sessions beyond the cap and inserts the session and its token in
 * one statement, so opening a session costs four round trips (with BEGIN and COMMIT), not eight.
 * It runs after the lock is held, so its snapshot counts every session a racing login committed.
 * Returns null, having written nothing, when `admit` says no. `audit`'s rows commit with the session.
 */
export async function createSession(
  deps: SessionDeps,
  input: { userId: string; ip: string | null; userAgent: string | null },
  admit: (tx: Queryable) => Promise<boolean>,
  audit: (opened: { sessionId: string; evicted: string[] }) => AuditEvent[] = () => [],
): Promise<{ session: Session; refreshToken: string; evicted: string[] } | null> {
  const now = deps.clock.now();
  const refreshToken = deps.tokens.newRefreshToken();
  const { config } = deps;
  const session: Session = {
    id: randomUUID(),
    userId: input.userId,
    createdAt: now,
    lastSeenAt: now,
    idleExpiresAt: new Date(now.getTime() + config.sessionIdleMs),
    absoluteExpiresAt: new Date(now.getTime() + config.sessionAbsoluteMs),
    ip: input.ip,
    userAgent: input.userAgent?.slice(0, 512) ?? null,
    revokedAt: null,
    revokedReason: null,
  };
  const evicted = await auditedTransaction(deps, async (tx) => {
    if (!(await admit(tx))) return null;
    const live = tx.$with('live').as(
      tx
        .select({
          id: sessions.id,
          rank: sql<number>`row_number() over (order by ${sessions.lastSeenAt}, ${sessions.createdAt})`.as('rank'),
          total: sql<number>`count(*) over ()`.as('total'),
        })
        .from(sessions)
        .where(and(eq(sessions.userId, input.userId), liveConditions(now))),
    );
    // The oldest live sessions beyond the cap, counting the one being opened.
    const beyondCap = tx.select({ id: live.id }).from(live).where(sql`${live.rank} <= ${live.total} - ${config.maxSessionsPerUser - 1}`);
    // Still unrevoked when updated: a logout landing meanwhile keeps its own reason and is not evicted twice.
    const retired = tx.$with('retired').as(
      tx
        .update(sessions)
        .set({ revokedAt: now, revokedReason: 'evicted' })
        .where(and(inArray(sessions.id, beyondCap), isNull(sessions.revokedAt)))
        .returning({ id: sessions.id, lastSeenAt: sessions.lastSeenAt, createdAt: sessions.createdAt }),
    );
    const created = tx.$with('created').as(tx.insert(sessions).values(session).returning({ id: sessions.id }));
    const token = tx.$with('token').as(
      tx
        .insert(refreshTokens)
        .values({ sessionId: session.id, tokenHash: deps.tokens.hashRefreshToken(refreshToken), expiresAt: session.absoluteExpiresAt, createdAt: now })
        .returning({ id: refreshTokens.id }),
    );
    // Least recently used first, as the audit rows and events list them.
    const rows = await tx
      .with(live, retired, created, token)
      .select({ id: retired.id })
      .from(retired)
      .orderBy(retired.lastSeenAt, retired.createdAt);
    const evicted = rows.map((r) => r.id);
    for (const event of audit({ sessionId: session.id, evicted })) await deps.audit.recordIn(tx, event);
    return evicted;
  });
  if (evicted === null) return null;
  if (evicted.length > 0) sessionCacheFor(deps.bus).invalidate(input.userId);
  await publishSessionEvents(deps.bus, [
    ...evicted.map((id) => revokedEvent({ id, userId: input.userId }, 'evicted', now)),
    { type: 'created', userId: input.userId, sessionId: session.id, reason: null, at: now.toISOString() },
  ]);
  return { session, refreshToken, evicted };
}

/** The session and its user when the session may still act: not revoked, not expired, user active. */
export async function findLiveSession(deps: Pick<ApiDeps, 'db' | 'clock'>, sessionId: string): Promise<LiveSession | null> {
  const now = deps.clock.now();
  const [row] = await deps.db
    .select({ session: sessions, user: users })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(eq(sessions.id, sessionId), liveConditions(now), eq(users.status, 'active')))
    .limit(1);
  return row ?? null;
}

export async function touchSession(deps: Pick<ApiDeps, 'db' | 'clock' | 'config'>, session: Session): Promise<void> {
  const now = deps.clock.now();
  if (now.getTime() - session.lastSeenAt.getTime() < TOUCH_INTERVAL_MS) return;
  const idleExpiresAt = new Date(now.getTime() + deps.config.sessionIdleMs);
  // Moved on the object itself, so a cached copy does not ask for the same write on every call.
  session.lastSeenAt = now;
  session.idleExpiresAt = idleExpiresAt;
  await deps.db
    .update(sessions)
    .set({ lastSeenAt: now, idleExpiresAt })
    .where(and(eq(sessions.id, session.id), isNull(sessions.revokedAt)));
}

/**
 * The live-session check every authenticated call makes, answered from a per-process copy when it
 * can be. The copy is dropped for a user on every change that could end or narrow their sessions:
 * at once in the process that makes it (revokeSession, revokeUserSessions), and in every other
 * process through the event bus (session `revoked` events and SESSION_CACHE_CHANNEL). A copy is
 * also re-read after CACHE_TTL_MS, so a notice lost with a dropped LISTEN connection costs at
 * most that long, and whenever it would have lapsed (idle or absolute expiry) by the clock.
 */
export async function findLiveSessionCached(deps: Pick<ApiDeps, 'db' | 'clock' | 'bus'>, sessionId: string): Promise<LiveSession | null> {
  const cache = sessionCacheFor(deps.bus);
  const now = deps.clock.now();
  const hit = cache.entries.get(sessionId);
  if (hit && Date.now() - hit.readAt < CACHE_TTL_MS && isStillLive(hit.live, now)) return hit.live;
  // A revocation landing while this read is in flight bumps the generation: the result is then
  // used for this call (as without a cache) but not kept.
  const generation = cache.generation;
  const live = await findLiveSession(deps, sessionId);
  if (!live) cache.entries.delete(sessionId);
  else if (cache.listening && generation === cache.generation) {
    cache.entries.delete(sessionId);
    if (cache.entries.size >= CACHE_MAX_ENTRIES) cache.entries.delete(cache.entries.keys().next().value as string);
    cache.entries.set(sessionId, { live, readAt: Date.now() });
  }
  return live;
}

/** Tells every process's session cache that this user's sessions or rights changed. */
async function invalidateUserSessions(bus: EventBus, userId: string): Promise<void> {
  sessionCacheFor(bus).invalidate(userId);
  for (const listener of userChangeListeners.get(bus) ?? []) listener(userId);
  await bus.publish(SESSION_CACHE_CHANNEL, { userId });
}

/** Which of these sessions may still act (not revoked, not expired, user active). */
export async function liveSessionIds(deps: Pick<ApiDeps, 'db' | 'clock'>, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await deps.db
    .select({ id: sessions.id })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(inArray(sessions.id, ids), liveConditions(deps.clock.now()), eq(users.status, 'active')));
  return new Set(rows.map((r) => r.id));
}

export async function listLiveSessions(deps: Pick<ApiDeps, 'db' | 'clock'>, userId: string): Promise<Session[]> {
  return deps.db
    .select()
    .from(sessions)
    .where(and(eq(sessions.userId, userId), liveConditions(deps.clock.now())))
    .orderBy(desc(sessions.lastSeenAt));
}

/**
 * Revokes one session of `userId`; false when there is no such live session of that user.
 * `audit`'s row (given whether a session was revoked; null for none) commits with the revocation.
 */
export async function revokeSession(
  deps: SessionDeps,
  input: { userId: string; sessionId: string; reason: RevokeReason },
  audit: (revoked: boolean) => AuditEvent | null = () => null,
): Promise<boolean> {
  const now = deps.clock.now();
  const revoked = await auditedTransaction(deps, async (tx) => {
    const revoked = await markRevoked(tx, and(eq(sessions.id, input.sessionId), eq(sessions.userId, input.userId)), input.reason, now);
    const event = audit(revoked.length > 0);
    if (event) await deps.audit.recordIn(tx, event);
    return revoked;
  });
  sessionCacheFor(deps.bus).invalidate(input.userId);
  await publishSessionEvents(deps.bus, revoked.map((s) => revokedEvent(s, input.reason, now)));
  return revoked.length > 0;
}

/** Revokes a user's sessions; `audit`'s row (given the revoked ids) commits with the revocation. */
export async function revokeUserSessions(
  deps: SessionDeps,
  input: { userId: string; reason: RevokeReason; exceptSessionId?: string },
  audit: (ids: string[]) => AuditEvent,
): Promise<string[]> {
  const revocation = await auditedTransaction(deps, async (tx) => {
    const revocation = await endUserSessions(deps, tx, input);
    await deps.audit.recordIn(tx, audit(revocation.ids));
    return revocation;
  });
  await revocation.announce();
  return revocation.ids;
}

/**
 * Ends a user's sessions inside the caller's transaction, so they end in the same commit as the
 * change that calls for it (a role change, say) and no request sees one without the other.
 * `announce` tells every process's cache and socket; call it once the transaction has committed,
 * or another process could re-read, and keep, the state the transaction is about to replace.
 */
export async function endUserSessions(
  deps: SessionDeps,
  tx: Queryable,
  input: { userId: string; reason: RevokeReason; exceptSessionId?: string },
): Promise<{ ids: string[]; announce: () => Promise<void> }> {
  const now = deps.clock.now();
  const filter = input.exceptSessionId
    ? and(eq(sessions.userId, input.userId), ne(sessions.id, input.exceptSessionId))
    : eq(sessions.userId, input.userId);
  const revoked = await markRevoked(tx, filter, input.reason, now);
  return {
    ids: revoked.map((s) => s.id),
    announce: async () => {
      // Also when nothing was revoked: the callers (role, status, password changes) changed the
      // user row, which the sessions kept (a password change's own) must be re-read for.
      await invalidateUserSessions(deps.bus, input.userId);
      await publishSessionEvents(deps.bus, revoked.map((s) => revokedEvent(s, input.reason, now)));
    },
  };
}

/**
 * Ends every live session of every non-admin, inside the caller's transaction (the lockdown's);
 * `announce` after the commit, as for endUserSessions.
 */
export async function endNonAdminSessions(
  deps: Pick<ApiDeps, 'bus' | 'clock'>,
  tx: Queryable,
  reason: RevokeReason,
): Promise<{ ids: string[]; announce: () => Promise<void> }> {
  const now = deps.clock.now();
  const nonAdmins = tx.select({ id: users.id }).from(users).where(ne(users.role, 'admin'));
  const revoked = await markRevoked(tx, inArray(sessions.userId, nonAdmins), reason, now);
  return {
    ids: revoked.map((s) => s.id),
    announce: async () => {
      for (const userId of new Set(revoked.map((s) => s.userId))) await invalidateUserSessions(deps.bus, userId);
      await publishSessionEvents(deps.bus, revoked.map((s) => revokedEvent(s, reason, now)));
    },
  };
}

async function markRevoked(db: Queryable, filter: ReturnType<typeof and>, reason: RevokeReason, now: Date) {
  return db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(filter, isNull(sessions.revokedAt)))
    .returning({ id: sessions.id, userId: sessions.userId });
}

export type RotationResult =
  | { kind: 'rotated'; refreshToken: string; live: LiveSession }
  | { kind: 'reuse'; sessionId: string; userId: string }
  | { kind: 'invalid'; reason: 'unknown' | 'expired' | 'session_ended'; sessionId?: string; userId?: string };

/**
 * Rotates a refresh token. The row lock makes concurrent presentations of one token queue up: the
 * first mints the successor, the rest (inside the grace window) get that same successor back.
 * A presentation after the window is a stolen token being replayed: the whole session dies.
 * `audit`'s row for the outcome (null for none) commits with it.
 */
export async function rotateRefreshToken(
  deps: SessionDeps,
  presented: string,
  audit: (outcome: RotationResult) => AuditEvent | null = () => null,
): Promise<RotationResult> {
  const now = deps.clock.now();
  const hash = deps.tokens.hashRefreshToken(presented);
  const successor = deps.tokens.successorOf(presented);
  const rotate = async (tx: Queryable): Promise<RotationResult> => {
    const [token] = await tx.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, hash)).for('update');
    if (!token) return { kind: 'invalid', reason: 'unknown' };
    const [live] = await tx
      .select({ session: sessions, user: users })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(and(eq(sessions.id, token.sessionId), liveConditions(now), eq(users.status, 'active')));
    if (!live) return { kind: 'invalid', reason: 'session_ended', sessionId: token.sessionId };
    if (token.expiresAt <= now) return { kind: 'invalid', reason: 'expired', sessionId: token.sessionId, userId: live.user.id };

    if (token.usedAt === null) {
      const [next] = await tx
        .insert(refreshTokens)
        .values({
          sessionId: token.sessionId,
          tokenHash: deps.tokens.hashRefreshToken(successor),
          parentId: token.id,
          expiresAt: live.session.absoluteExpiresAt,
          createdAt: now,
        })
        .returning({ id: refreshTokens.id });
      await tx.update(refreshTokens).set({ usedAt: now, replacedById: next?.id ?? null }).where(eq(refreshTokens.id, token.id));
      const idleExpiresAt = new Date(now.getTime() + deps.config.sessionIdleMs);
      await tx.update(sessions).set({ lastSeenAt: now, idleExpiresAt }).where(eq(sessions.id, token.sessionId));
      return { kind: 'rotated', refreshToken: successor, live: { ...live, session: { ...live.session, lastSeenAt: now, idleExpiresAt } } };
    }
    if (now.getTime() - token.usedAt.getTime() <= deps.config.refreshGraceMs) {
      return { kind: 'rotated', refreshToken: successor, live };
    }
    await tx
      .update(sessions)
      .set({ revokedAt: now, revokedReason: 'refresh_token_reuse' })
      .where(and(eq(sessions.id, token.sessionId), isNull(sessions.revokedAt)));
    return { kind: 'reuse', sessionId: token.sessionId, userId: live.user.id };
  };
  const outcome = await auditedTransaction(deps, async (tx) => {
    const outcome = await rotate(tx);
    const event = audit(outcome);
    if (event) await deps.audit.recordIn(tx, event);
    return outcome;
  });
  if (outcome.kind === 'reuse') {
    sessionCacheFor(deps.bus).invalidate(outcome.userId);
    await publishSessionEvents(deps.bus, [revokedEvent({ id: outcome.sessionId, userId: outcome.userId }, 'refresh_token_reuse', now)]);
  }
  return outcome;
}

// Session cache: one per process and event bus (tests run several apps in one process).
export const SESSION_CACHE_CHANNEL = 'tv_session_cache';
const CACHE_TTL_MS = 2_000;
const CACHE_MAX_ENTRIES = 10_000;

interface SessionCache {
  entries: Map<string, { live: LiveSession; readAt: number }>;
  /** Bumped by every invalidation. */
  generation: number;
  /** Nothing is kept until both bus subscriptions are in place. */
  listening: boolean;
  invalidate(userId: string): void;
}

const sessionCaches = new WeakMap<EventBus, SessionCache>();
const userChangeListeners = new WeakMap<EventBus, Set<(userId: string) => void>>();

/**
 * Called in this process, at once, when a user's role, status or password changes here (other
 * processes hear it on SESSION_CACHE_CHANNEL): for caches of what a user may do, like API keys'.
 */
export function onLocalUserChange(bus: EventBus, listener: (userId: string) => void): void {
  const listeners = userChangeListeners.get(bus) ?? new Set();
  listeners.add(listener);
  userChangeListeners.set(bus, listeners);
}

function sessionCacheFor(bus: EventBus): SessionCache {
  let cache = sessionCaches.get(bus);
  if (cache) return cache;
  const created: SessionCache = {
    entries: new Map(),
    generation: 0,
    listening: false,
    invalidate(userId) {
      created.generation += 1;
      for (const [id, entry] of created.entries) if (entry.live.user.id === userId) created.entries.delete(id);
    },
  };
  cache = created;
  sessionCaches.set(bus, cache);
  const onRevoked = (event: unknown) => {
    if (isSessionEvent(event) && event.type === 'revoked') created.invalidate(event.userId);
  };
  const onChanged = (event: unknown) => {
    const userId = (event as { userId?: unknown } | null)?.userId;
    if (typeof userId === 'string') created.invalidate(userId);
  };
  Promise.all([bus.subscribe(SESSION_EVENTS_CHANNEL, onRevoked), bus.subscribe(SESSION_CACHE_CHANNEL, onChanged)]).then(
    () => {
      created.listening = true;
    },
    // Without the bus, no process could tell this one of a revocation: every call reads the row.
    () => {},
  );
  return cache;
}

function isStillLive(live: LiveSession, now: Date): boolean {
  const s = live.session;
  return s.revokedAt === null && s.idleExpiresAt > now && s.absoluteExpiresAt > now && live.user.status === 'active';
}
