import { and, asc, count, eq, gt, ilike, isNull, lte, or, sql } from 'drizzle-orm';
import { apiKeys, users, type User } from '@tapevision/db';
import { auditedTransaction, type RequestOrigin } from '../audit/recorder.ts';
import type { ApiDeps } from '../deps.ts';
import { appError } from '../errors.ts';
import type { Role } from '../permissions.ts';
import { assessPassword } from '../schemas/password.ts';
import { findUserByEmail } from './login.ts';
import { recordAccountFailure } from './login-throttle.ts';
import { generateOneTimePassword } from './passwords.ts';
import { toPublicUser, type PublicUser } from './principal.ts';
import { endUserSessions, listLiveSessions } from './sessions.ts';

type Actor = { userId: string; origin: RequestOrigin };

function passwordPolicyError(password: string, email: string) {
  const verdict = assessPassword(password, email);
  if (verdict.ok) return null;
  return appError('BAD_REQUEST', verdict.message ?? 'Password rejected', {
    reason: 'WEAK_PASSWORD',
    problem: verdict.problem,
    feedback: { warning: verdict.warning, suggestions: verdict.suggestions },
  });
}

function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === '23505') return true;
  }
  return false;
}

export async function createUser(
  deps: ApiDeps,
  input: { email: string; role: Role; password?: string | undefined; mustChangePassword?: boolean | undefined },
  actor: Actor | null,
): Promise<{ user: PublicUser; oneTimePassword: string | null }> {
  const email = input.email.trim().toLowerCase();
  if (input.password !== undefined) {
    const policy = passwordPolicyError(input.password, email);
    if (policy) throw policy;
  }
  const oneTimePassword = input.password === undefined ? generateOneTimePassword() : null;
  const password = input.password ?? (oneTimePassword as string);
  // A generated password is always one-time; an admin-set one is too unless the admin says not.
  const mustChangePassword = oneTimePassword !== null ? true : (input.mustChangePassword ?? true);
  const passwordHash = await deps.passwords.hash(password);
  let user: User | undefined;
  try {
    // The account and its audit row commit together.
    user = await auditedTransaction(deps, async (tx) => {
      const [user] = await tx.insert(users).values({ email, passwordHash, role: input.role, mustChangePassword }).returning();
      if (!user) throw new Error('user insert returned nothing');
      if (actor) {
        await deps.audit.recordIn(tx, {
          action: 'user.created',
          outcome: 'success',
          actor: { type: 'user', id: actor.userId },
          origin: actor.origin,
          resource: { type: 'user', id: user.id },
          details: { email, role: input.role, mustChangePassword, generatedPassword: oneTimePassword !== null },
        });
      }
      return user;
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw appError('CONFLICT', 'A user with this email already exists', { reason: 'EMAIL_TAKEN' });
    throw err;
  }
  return { user: toPublicUser(user), oneTimePassword };
}

export async function listUsers(
  deps: Pick<ApiDeps, 'db'>,
  input: { search?: string | undefined; limit: number; cursor?: string | undefined },
): Promise<{ items: PublicUser[]; nextCursor: string | null }> {
  const filters = [
    input.search ? ilike(users.email, `%${input.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`) : undefined,
    input.cursor ? gt(users.email, input.cursor) : undefined,
  ].filter((f) => f !== undefined);
  const rows = await deps.db
    .select()
    .from(users)
    .where(filters.length ? and(...filters) : undefined)
    .orderBy(asc(users.email))
    .limit(input.limit + 1);
  const page = rows.slice(0, input.limit);
  return {
    items: page.map(toPublicUser),
    nextCursor: rows.length > input.limit ? (page.at(-1)?.email ?? null) : null,
  };
}

async function requireUser(deps: Pick<ApiDeps, 'db'>, id: string): Promise<User> {
  const [user] = await deps.db.select().from(users).where(eq(users.id, id));
  if (!user) throw appError('NOT_FOUND', 'No such user', { reason: 'USER_NOT_FOUND' });
  return user;
}

/**
 * Role and status changes. The active admins' rows are locked while the guard counts them, so
 * two admins demoting each other at once cannot leave the platform without one.
 */
export async function updateUser(
  deps: ApiDeps,
  input: { id: string; role?: Role | undefined; status?: 'active' | 'disabled' | undefined },
  actor: Actor,
): Promise<PublicUser> {
  const now = deps.clock.now();
  const { after, revocation } = await auditedTransaction(deps, async (tx) => {
    const activeAdmins = await tx
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.role, 'admin'), eq(users.status, 'active')))
      .for('update');
    const [before] = await tx.select().from(users).where(eq(users.id, input.id)).for('update');
    if (!before) throw appError('NOT_FOUND', 'No such user', { reason: 'USER_NOT_FOUND' });
    const losesAdmin =
      before.role === 'admin' &&
      before.status === 'active' &&
      ((input.role !== undefined && input.role !== 'admin') || input.status === 'disabled');
    if (losesAdmin && activeAdmins.length <= 1) {
      throw appError('PRECONDITION_FAILED', 'The last active admin cannot be demoted or disabled', { reason: 'LAST_ADMIN' });
    }
    const [updated] = await tx
      .update(users)
      .set({ role: input.role ?? before.role, status: input.status ?? before.status, updatedAt: now })
      .where(eq(users.id, input.id))
      .returning();
    const after = updated as User;
    // A session's rights were granted for the old role: they end in the same commit, so no
    // request ever acts through a live session on a role it was not granted for.
    const endsSessions = after.role !== before.role || (after.status !== before.status && after.status === 'disabled');
    const revocation = endsSessions
      ? await endUserSessions(deps, tx, { userId: after.id, reason: after.status === 'disabled' ? 'disabled' : 'role_changed' })
      : null;
    const base = { actor: { type: 'user' as const, id: actor.userId }, origin: actor.origin, resource: { type: 'user', id: after.id } };
    if (after.role !== before.role) {
      await deps.audit.recordIn(tx, { ...base, action: 'user.role_changed', outcome: 'success', details: { from: before.role, to: after.role } });
    }
    if (after.status !== before.status) {
      await deps.audit.recordIn(tx, {
        ...base,
        action: after.status === 'disabled' ? 'user.disabled' : 'user.enabled',
        outcome: 'success',
        details: { email: after.email },
      });
    }
    return { after, revocation };
  });
  await revocation?.announce();
  return toPublicUser(after);
}

export async function unlockUser(deps: ApiDeps, id: string, actor: Actor): Promise<PublicUser> {
  await requireUser(deps, id);
  const [after] = await auditedTransaction(deps, async (tx) => {
    await deps.audit.recordIn(tx, {
      action: 'user.unlocked',
      outcome: 'success',
      actor: { type: 'user', id: actor.userId },
      origin: actor.origin,
      resource: { type: 'user', id },
    });
    return tx
      .update(users)
      .set({ lockedUntil: null, failedLoginCount: 0, failedLoginWindowStart: null, updatedAt: deps.clock.now() })
      .where(eq(users.id, id))
      .returning();
  });
  return toPublicUser(after as User);
}

export async function resetPassword(deps: ApiDeps, id: string, actor: Actor): Promise<{ oneTimePassword: string }> {
  await requireUser(deps, id);
  const oneTimePassword = generateOneTimePassword();
  const now = deps.clock.now();
  const passwordHash = await deps.passwords.hash(oneTimePassword);
  // The old sessions end in the same commit as the old password.
  const revocation = await auditedTransaction(deps, async (tx) => {
    await tx.update(users).set({ passwordHash, mustChangePassword: true, passwordChangedAt: now, updatedAt: now }).where(eq(users.id, id));
    await deps.audit.recordIn(tx, {
      action: 'user.password_reset',
      outcome: 'success',
      actor: { type: 'user', id: actor.userId },
      origin: actor.origin,
      resource: { type: 'user', id },
    });
    return endUserSessions(deps, tx, { userId: id, reason: 'password_reset' });
  });
  await revocation.announce();
  return { oneTimePassword };
}

export async function userSessions(deps: ApiDeps, id: string) {
  await requireUser(deps, id);
  return listLiveSessions(deps, id);
}

export async function revokeSessionsOf(deps: ApiDeps, id: string, actor: Actor): Promise<{ revoked: number }> {
  await requireUser(deps, id);
  const revocation = await auditedTransaction(deps, async (tx) => {
    const revocation = await endUserSessions(deps, tx, { userId: id, reason: 'revoked_by_admin' });
    await deps.audit.recordIn(tx, {
      action: 'user.sessions_revoked',
      outcome: 'success',
      actor: { type: 'user', id: actor.userId },
      origin: actor.origin,
      resource: { type: 'user', id },
      details: { count: revocation.ids.length },
    });
    return revocation;
  });
  await revocation.announce();
  return { revoked: revocation.ids.length };
}

/**
 * Ends everything a user holds: every session, every API key and, through the bus, every socket
 * opened with either, on every process. Sessions and keys end in one commit, so no request sees
 * one without the other. The password is left alone: it is the person's, and they sign in again.
 */
export async function revokeAccess(deps: ApiDeps, id: string, actor: Actor): Promise<{ sessions: number; apiKeys: number }> {
  const now = deps.clock.now();
  const { revocation, keys } = await auditedTransaction(deps, async (tx) => {
    // Locked, so a key or session opened meanwhile is either ended here or opened after the commit.
    const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.id, id)).for('update');
    if (!user) throw appError('NOT_FOUND', 'No such user', { reason: 'USER_NOT_FOUND' });
    const keys = await tx
      .update(apiKeys)
      .set({ revokedAt: now })
      .where(and(eq(apiKeys.userId, id), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id, prefix: apiKeys.prefix });
    const revocation = await endUserSessions(deps, tx, { userId: id, reason: 'access_revoked' });
    await deps.audit.recordIn(tx, {
      action: 'user.access_revoked',
      outcome: 'success',
      actor: { type: 'user', id: actor.userId },
      origin: actor.origin,
      resource: { type: 'user', id },
      // Named so the redaction filter (which blanks anything called like a key) leaves the counts.
      details: { sessionsEnded: revocation.ids.length, keysRevoked: keys.length, keyPrefixes: keys.map((k) => `tvk_${k.prefix}`) },
    });
    return { revocation, keys };
  });
  // One notice for the user drops every process's cached sessions and keys of theirs and closes
  // their sockets (socket-registry.ts); the session events close the session sockets.
  await revocation.announce();
  return { sessions: revocation.ids.length, apiKeys: keys.length };
}

/** Changes one's own password and ends every other session, since one of them may be the reason. */
export async function changeOwnPassword(
  deps: ApiDeps,
  input: { userId: string; sessionId: string; currentPassword: string; newPassword: string; origin: RequestOrigin },
): Promise<{ revokedSessions: number }> {
  const user = await requireUser(deps, input.userId);
  const audit = { actor: { type: 'user' as const, id: user.id }, origin: input.origin, resource: { type: 'user', id: user.id } };
  // A stolen session must not become an unthrottled password oracle: wrong current passwords count
  // toward the same lock-out as sign-ins, and a locked account cannot change its password either.
  const lockedError = (until: Date) => {
    const retryAfterMs = Math.max(0, until.getTime() - deps.clock.now().getTime());
    return appError('TOO_MANY_REQUESTS', 'Too many wrong passwords: try again later', { reason: 'ACCOUNT_LOCKED', retryAfterMs });
  };
  if (user.lockedUntil && user.lockedUntil > deps.clock.now()) {
    await deps.audit.record({ ...audit, action: 'auth.password_change_failed', outcome: 'denied', details: { reason: 'locked' } });
    throw lockedError(user.lockedUntil);
  }
  if (!(await deps.passwords.verify(user.passwordHash, input.currentPassword))) {
    // The lock-out's row commits with the lock; the failure itself changes nothing else and is queued.
    await recordAccountFailure(deps, user.id, {
      action: 'auth.account_locked',
      outcome: 'success',
      actor: { type: 'system' },
      origin: input.origin,
      resource: { type: 'user', id: user.id },
      details: { email: user.email, lockMinutes: deps.config.accountLockout.lockMs / 60_000, via: 'password_change' },
    });
    await deps.audit.record({ ...audit, action: 'auth.password_change_failed', outcome: 'failure', details: { reason: 'bad_current_password' } });
    throw appError('BAD_REQUEST', 'The current password is not correct', { reason: 'INVALID_CURRENT_PASSWORD' });
  }
  if (input.currentPassword === input.newPassword) {
    throw appError('BAD_REQUEST', 'Choose a password different from the current one', { reason: 'PASSWORD_UNCHANGED' });
  }
  const policy = passwordPolicyError(input.newPassword, user.email);
  if (policy) throw policy;
  const now = deps.clock.now();
  const passwordHash = await deps.passwords.hash(input.newPassword);
  const revocation = await auditedTransaction(deps, async (tx) => {
    // Not while a lock started meanwhile (parallel wrong guesses): the right one must not slip past it.
    const changed = await tx
      .update(users)
      .set({ passwordHash, mustChangePassword: false, passwordChangedAt: now, updatedAt: now, failedLoginCount: 0, failedLoginWindowStart: null })
      .where(and(eq(users.id, user.id), or(isNull(users.lockedUntil), lte(users.lockedUntil, now))))
      .returning({ lockedUntil: users.lockedUntil });
    if (changed.length === 0) return null;
    const revocation = await endUserSessions(deps, tx, { userId: user.id, reason: 'password_changed', exceptSessionId: input.sessionId });
    await deps.audit.recordIn(tx, { ...audit, action: 'auth.password_changed', outcome: 'success', details: { revokedSessions: revocation.ids.length } });
    return revocation;
  });
  if (!revocation) {
    await deps.audit.record({ ...audit, action: 'auth.password_change_failed', outcome: 'denied', details: { reason: 'locked' } });
    throw lockedError(new Date(now.getTime() + deps.config.accountLockout.lockMs));
  }
  await revocation.announce();
  return { revokedSessions: revocation.ids.length };
}

export async function countUsers(deps: Pick<ApiDeps, 'db'>): Promise<number> {
  const [row] = await deps.db.select({ n: count() }).from(users);
  return Number(row?.n ?? 0);
}

// Two processes starting together on an empty database must create one admin, not two.
const BOOTSTRAP_LOCK_KEY = 7_401_236_115;

/**
 * First run: with no user at all, creates the first admin from the given credentials, or with a
 * one-time password that must be changed at first login. Returns null when users already exist.
 */
export async function bootstrapAdmin(
  deps: ApiDeps,
  input: { email: string; password?: string | undefined },
): Promise<{ email: string; oneTimePassword: string | null } | null> {
  const email = input.email.trim().toLowerCase();
  if (input.password !== undefined) {
    const policy = passwordPolicyError(input.password, email);
    if (policy) throw new Error(`ADMIN_PASSWORD is not acceptable: ${policy.message}`);
  }
  const oneTimePassword = input.password === undefined ? generateOneTimePassword() : null;
  const passwordHash = await deps.passwords.hash(input.password ?? (oneTimePassword as string));
  const created = await auditedTransaction(deps, async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK_KEY})`);
    const [row] = await tx.select({ n: count() }).from(users);
    if (Number(row?.n ?? 0) > 0) return null;
    const [user] = await tx
      .insert(users)
      .values({ email, passwordHash, role: 'admin', mustChangePassword: oneTimePassword !== null })
      .returning();
    if (!user) return null;
    await deps.audit.recordIn(tx, {
      action: 'user.bootstrap_admin',
      outcome: 'success',
      actor: { type: 'system' },
      origin: { ip: null, userAgent: null, requestId: null },
      resource: { type: 'user', id: user.id },
      details: { email, generatedPassword: oneTimePassword !== null },
    });
    return user;
  });
  if (!created) return null;
  return { email, oneTimePassword };
}

export { findUserByEmail };
