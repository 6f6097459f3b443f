import { and, eq, inArray, isNotNull, isNull } from 'drizzle-orm';
import { apiKeys, engineState, lockdownEvents, lockdowns, users, type Lockdown, type Queryable, type Tx } from '@tapevision/db';
import { auditedTransaction, type AuditActor, type RequestOrigin } from '../../audit/recorder.ts';
import type { ApiDeps } from '../../deps.ts';
import { appError } from '../../errors.ts';
import { announceApiKeysChanged } from '../../services/api-keys.ts';
import { stopAllBotsIn } from '../../services/bots.ts';
import { endNonAdminSessions } from '../../services/sessions.ts';
import type { LockdownEngaged, LockdownLifted, LockdownPerson, LockdownStatus, LockdownView } from './schemas.ts';
import { activeLockdown, lockLockdownExclusive } from './state.ts';
import { publishLockdownEvent } from './stream.ts';

/** Who engages or lifts: a person (userId), or the system for an incident (userId null). */
export interface LockdownActor {
  userId: string | null;
  origin: RequestOrigin;
}

const SYSTEM_ORIGIN: RequestOrigin = { ip: null, userAgent: null, requestId: null };
const BOTS_STOPPED_REASON = 'Stopped by the emergency lockdown';

const auditActor = (who: LockdownActor): AuditActor => (who.userId ? { type: 'user', id: who.userId } : { type: 'system' });
const iso = (d: Date | null) => (d ? d.toISOString() : null);

async function emailsOf(db: Queryable, ids: (string | null)[]): Promise<Map<string, string>> {
  const wanted = [...new Set(ids.filter((id): id is string => id !== null))];
  if (wanted.length === 0) return new Map();
  const rows = await db.select({ id: users.id, email: users.email }).from(users).where(inArray(users.id, wanted));
  return new Map(rows.map((r) => [r.id, r.email]));
}

export async function toLockdownView(db: Queryable, row: Lockdown): Promise<LockdownView> {
  const emails = await emailsOf(db, [row.engagedBy, row.liftedBy]);
  const person = (id: string | null): LockdownPerson | null => (id ? { id, email: emails.get(id) ?? null } : null);
  return {
    id: row.id,
    reason: row.reason,
    engagedBy: person(row.engagedBy),
    engagedAt: row.engagedAt.toISOString(),
    incidentId: row.incidentId,
    liftedBy: person(row.liftedBy),
    liftedAt: iso(row.liftedAt),
    liftReason: row.liftReason,
  };
}

export function statusOf(view: LockdownView | null): LockdownStatus {
  const active = view !== null && view.liftedAt === null;
  return {
    active,
    since: active ? view.engagedAt : null,
    reason: active ? view.reason : null,
    engagedBy: active ? view.engagedBy : null,
    lockdown: active ? view : null,
  };
}

export async function getLockdownStatus(deps: Pick<ApiDeps, 'db'>): Promise<LockdownStatus> {
  const row = await activeLockdown(deps.db);
  return statusOf(row ? await toLockdownView(deps.db, row) : null);
}

/**
 * Engages the lockdown, in one transaction with its audit row: refuses new orders (the order path
 * reads the row in its own transaction), ends every non-admin session, suspends every API key
 * (restored on lift) and stops every bot. Then tells every process (sessions, keys, bots, the
 * status stream) and raises the alert. Engaging while one holds is CONFLICT (LOCKDOWN_ACTIVE);
 * the system's engage (`idempotent`) answers the one in force instead.
 */
export async function engageLockdown(
  deps: ApiDeps,
  input: { reason: string; incidentId?: string | null },
  who: LockdownActor,
  opts: { idempotent?: boolean } = {},
): Promise<LockdownEngaged> {
  const outcome = await auditedTransaction(deps, async (tx: Tx) => {
    await lockLockdownExclusive(tx);
    // Orders read the engine row FOR SHARE: taking it FOR UPDATE waits for those already past
    // their check, and every order after this commit sees the lockdown.
    await tx.insert(engineState).values({ id: 1 }).onConflictDoNothing();
    await tx.select({ id: engineState.id }).from(engineState).where(eq(engineState.id, 1)).for('update');
    const holding = await activeLockdown(tx);
    if (holding) {
      if (opts.idempotent) return { kind: 'holding' as const, row: holding };
      throw appError('CONFLICT', 'A lockdown already holds; lift it first', { reason: 'LOCKDOWN_ACTIVE', lockdownId: holding.id });
    }
    const now = deps.clock.now();
    const [row] = await tx
      .insert(lockdowns)
      .values({ reason: input.reason, engagedBy: who.userId, engagedAt: now, incidentId: input.incidentId ?? null })
      .returning();
    const lockdown = row as Lockdown;
    const [event] = await tx.insert(lockdownEvents).values({ at: now, kind: 'engaged', lockdownId: lockdown.id }).returning({ id: lockdownEvents.id });
    const sessions = await endNonAdminSessions(deps, tx, 'lockdown');
    const keys = await tx
      .update(apiKeys)
      .set({ suspendedAt: now, suspendedByLockdown: lockdown.id })
      .where(and(isNull(apiKeys.suspendedAt), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    const bots = await stopAllBotsIn(deps, tx, { actor: auditActor(who), origin: who.origin }, BOTS_STOPPED_REASON);
    await deps.audit.recordIn(tx, {
      action: 'security.lockdown_engaged',
      outcome: 'success',
      actor: auditActor(who),
      origin: who.origin,
      resource: { type: 'lockdown', id: lockdown.id },
      details: {
        reason: input.reason,
        incidentId: input.incidentId ?? null,
        sessionsEnded: sessions.ids.length,
        apiKeysSuspended: keys.length,
        botsStopped: bots.ids.length,
      },
    });
    return { kind: 'engaged' as const, row: lockdown, eventId: event!.id, sessions, keyIds: keys.map((k) => k.id), bots };
  });

  const view = await toLockdownView(deps.db, outcome.row);
  if (outcome.kind === 'holding') return { status: statusOf(view), sessionsEnded: 0, apiKeysSuspended: 0, botsStopped: 0 };
  // Each after the commit, so no process re-reads (and keeps) the state it replaced.
  await outcome.sessions.announce();
  await announceApiKeysChanged(deps.bus, outcome.keyIds);
  await outcome.bots.announce();
  await publishLockdownEvent(deps.bus, outcome.eventId);
  await safely(deps, () =>
    deps.securityResponse.raiseAlert({
      type: 'lockdown.engaged',
      severity: 'CRITICAL',
      title: 'Emergency lockdown engaged',
      message: input.reason,
      incidentId: input.incidentId ?? null,
      ip: who.origin.ip,
      userId: who.userId,
      details: { lockdownId: view.id, sessionsEnded: outcome.sessions.ids.length, apiKeysSuspended: outcome.keyIds.length, botsStopped: outcome.bots.ids.length },
    }),
  );
  return { status: statusOf(view), sessionsEnded: outcome.sessions.ids.length, apiKeysSuspended: outcome.keyIds.length, botsStopped: outcome.bots.ids.length };
}

/**
 * Lifts the lockdown in force (CONFLICT NO_LOCKDOWN when none holds) and restores the API keys it
 * suspended, and only those. Ended sessions stay ended and stopped bots stay stopped: their
 * people sign in and start them again.
 */
export async function liftLockdown(deps: ApiDeps, input: { reason: string }, who: LockdownActor & { userId: string }): Promise<LockdownLifted> {
  const outcome = await auditedTransaction(deps, async (tx: Tx) => {
    await lockLockdownExclusive(tx);
    const holding = await activeLockdown(tx);
    if (!holding) throw appError('CONFLICT', 'No lockdown holds', { reason: 'NO_LOCKDOWN' });
    const now = deps.clock.now();
    const [row] = await tx
      .update(lockdowns)
      .set({ liftedAt: now, liftedBy: who.userId, liftReason: input.reason })
      .where(eq(lockdowns.id, holding.id))
      .returning();
    const [event] = await tx.insert(lockdownEvents).values({ at: now, kind: 'lifted', lockdownId: holding.id }).returning({ id: lockdownEvents.id });
    const keys = await tx
      .update(apiKeys)
      .set({ suspendedAt: null, suspendedByLockdown: null })
      .where(and(eq(apiKeys.suspendedByLockdown, holding.id), isNotNull(apiKeys.suspendedAt)))
      .returning({ id: apiKeys.id });
    await deps.audit.recordIn(tx, {
      action: 'security.lockdown_lifted',
      outcome: 'success',
      actor: auditActor(who),
      origin: who.origin,
      resource: { type: 'lockdown', id: holding.id },
      details: { reason: input.reason, engagedAt: holding.engagedAt.toISOString(), apiKeysRestored: keys.length },
    });
    return { row: row as Lockdown, eventId: event!.id, keyIds: keys.map((k) => k.id) };
  });
  await announceApiKeysChanged(deps.bus, outcome.keyIds);
  await publishLockdownEvent(deps.bus, outcome.eventId);
  const view = await toLockdownView(deps.db, outcome.row);
  await safely(deps, () =>
    deps.securityResponse.raiseAlert({
      type: 'lockdown.lifted',
      severity: 'CRITICAL',
      title: 'Emergency lockdown lifted',
      message: input.reason,
      incidentId: view.incidentId,
      ip: who.origin.ip,
      userId: who.userId,
      details: { lockdownId: view.id, apiKeysRestored: outcome.keyIds.length },
    }),
  );
  return { status: statusOf(null), lockdown: view, apiKeysRestored: outcome.keyIds.length };
}

/** The port's lockdown: the system engages it for an incident; one already holding is left as it is. */
export async function engageLockdownForIncident(deps: ApiDeps, input: { reason: string; incidentId: string | null }): Promise<void> {
  await engageLockdown(deps, input, { userId: null, origin: SYSTEM_ORIGIN }, { idempotent: true });
}

// The lockdown has committed: an alert that cannot be raised is logged, not the engage's failure.
async function safely(deps: Pick<ApiDeps, 'logger'>, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    deps.logger.error({ err }, 'lockdown alert could not be raised');
  }
}
