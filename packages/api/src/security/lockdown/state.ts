import { isNull, sql } from 'drizzle-orm';
import { lockdowns, type Lockdown, type Queryable, type Tx } from '@tapevision/db';
import { TRPCError } from '@trpc/server';
import { appError, DetailedCause } from '../../errors.ts';

// Engaging holds it exclusively to commit; a sign-in holds it shared while it opens a session, so
// a session never opens beside a lockdown it did not see.
const LOCKDOWN_LOCK = 7_401_236_171;

/** The lockdown in force, or null. Read inside the caller's transaction: never a cached copy. */
export async function activeLockdown(db: Queryable): Promise<Lockdown | null> {
  const [row] = await db.select().from(lockdowns).where(isNull(lockdowns.liftedAt)).limit(1);
  return row ?? null;
}

export async function lockLockdownExclusive(tx: Tx): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${LOCKDOWN_LOCK})`);
}

export async function lockLockdownShared(tx: Queryable): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock_shared(${LOCKDOWN_LOCK})`);
}

export const LOCKDOWN_MESSAGE = 'The platform is in emergency lockdown: only administrators may sign in';

/** What a non-admin gets at sign-in (after the password checked out) and a bot start during a lockdown. */
export function lockdownRefusal(message = LOCKDOWN_MESSAGE) {
  return appError('FORBIDDEN', message, { reason: 'LOCKDOWN' });
}

/**
 * For a sign-in's transaction: refuses a non-admin while a lockdown holds. Takes the shared lock
 * first, so an engage in flight is waited for and then seen.
 */
export async function refuseSignInDuringLockdown(tx: Queryable, role: string): Promise<void> {
  if (role === 'admin') return;
  await lockLockdownShared(tx);
  if (await activeLockdown(tx)) throw lockdownRefusal();
}

export function isLockdownRefusal(err: unknown): boolean {
  return err instanceof TRPCError && err.cause instanceof DetailedCause && err.cause.details.reason === 'LOCKDOWN';
}
