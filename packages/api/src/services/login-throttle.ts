import { and, eq, isNull, lte, or, sql } from 'drizzle-orm';
import { loginIpThrottles, users, type Queryable } from '@tapevision/db';
import { auditedTransaction, type AuditEvent } from '../audit/recorder.ts';
import type { ApiDeps } from '../deps.ts';

type Deps = Pick<ApiDeps, 'db' | 'clock' | 'config' | 'audit'>;

/**
 * Counts one failed login from `ip` under a row lock, so parallel failures are each counted and
 * the block starts exactly once. Returns true for the failure that started the block, whose
 * `onBlock` audit row commits with the block.
 */
export async function recordIpFailure(deps: Deps, ip: string, onBlock?: AuditEvent): Promise<boolean> {
  const now = deps.clock.now();
  const { maxFailures, windowMs, blockMs } = deps.config.ipThrottle;
  return auditedTransaction(deps, async (tx) => {
    await tx
      .insert(loginIpThrottles)
      .values({ ip, failedCount: 0, windowStart: now })
      .onConflictDoNothing({ target: loginIpThrottles.ip });
    const [row] = await tx.select().from(loginIpThrottles).where(eq(loginIpThrottles.ip, ip)).for('update');
    if (!row) return false;
    if (row.blockedUntil && row.blockedUntil > now) return false;
    const windowOpen = now.getTime() - row.windowStart.getTime() < windowMs;
    const count = windowOpen ? row.failedCount + 1 : 1;
    const blocks = count >= maxFailures;
    await tx
      .update(loginIpThrottles)
      .set({
        failedCount: blocks ? 0 : count,
        windowStart: windowOpen ? row.windowStart : now,
        blockedUntil: blocks ? new Date(now.getTime() + blockMs) : null,
      })
      .where(eq(loginIpThrottles.ip, ip));
    if (blocks && onBlock) await deps.audit.recordIn(tx, onBlock);
    return blocks;
  });
}

/**
 * Counts one wrong password against the account. Returns true for the failure that locked it;
 * failures while it is already locked are not counted, so a flood locks it exactly once. The
 * `onLock` audit row commits with the lock.
 */
export async function recordAccountFailure(deps: Deps, userId: string, onLock?: AuditEvent): Promise<boolean> {
  const now = deps.clock.now();
  const { maxFailures, windowMs, lockMs } = deps.config.accountLockout;
  return auditedTransaction(deps, async (tx) => {
    const [row] = await tx
      .select({
        failedLoginCount: users.failedLoginCount,
        failedLoginWindowStart: users.failedLoginWindowStart,
        lockedUntil: users.lockedUntil,
      })
      .from(users)
      .where(eq(users.id, userId))
      .for('update');
    if (!row) return false;
    if (row.lockedUntil && row.lockedUntil > now) return false;
    const start = row.failedLoginWindowStart;
    const windowOpen = start !== null && now.getTime() - start.getTime() < windowMs;
    const count = windowOpen ? row.failedLoginCount + 1 : 1;
    const locks = count >= maxFailures;
    await tx
      .update(users)
      .set({
        failedLoginCount: locks ? 0 : count,
        failedLoginWindowStart: locks ? null : windowOpen ? start : now,
        lockedUntil: locks ? new Date(now.getTime() + lockMs) : null,
        updatedAt: sql`${users.updatedAt}`,
      })
      .where(eq(users.id, userId));
    if (locks && onLock) await deps.audit.recordIn(tx, onLock);
    return locks;
  });
}

/**
 * Records a successful sign-in and clears the failure count, unless the account was locked while
 * this attempt's password was being checked (parallel guesses): then it returns false and the
 * attempt counts as one made against a locked account. It updates the user's row, so inside a
 * transaction it also holds the row's lock (what `createSession` asks of its `admit`).
 */
export async function clearAccountFailures(db: Queryable, userId: string, now: Date): Promise<boolean> {
  const rows = await db
    .update(users)
    .set({ failedLoginCount: 0, failedLoginWindowStart: null, lockedUntil: null, lastLoginAt: now })
    .where(and(eq(users.id, userId), or(isNull(users.lockedUntil), lte(users.lockedUntil, now))))
    .returning({ id: users.id });
  return rows.length > 0;
}
