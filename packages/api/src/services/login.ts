import { eq, sql } from 'drizzle-orm';
import { loginIpThrottles, users, type User } from '@tapevision/db';
import type { RequestOrigin } from '../audit/recorder.ts';
import type { ApiDeps } from '../deps.ts';
import { appError, INVALID_CREDENTIALS } from '../errors.ts';
import { emailSchema } from '../schemas/auth.ts';
import { clearAccountFailures, recordAccountFailure, recordIpFailure } from './login-throttle.ts';
import { toPublicUser, type PublicUser } from './principal.ts';
import { isLockdownRefusal, refuseSignInDuringLockdown } from '../security/lockdown/state.ts';
import { createSession } from './sessions.ts';

export interface IssuedSession {
  accessToken: string;
  accessTokenExpiresAt: string;
  refreshToken: string;
  sessionId: string;
  sessionExpiresAt: Date;
  user: PublicUser;
}

type FailureReason = 'unknown_email' | 'bad_password' | 'locked' | 'disabled';

// Emails match without regard to case (the unique index is on lower(email)); callers pass it lower-cased.
const emailIs = (email: string) => eq(sql`lower(${users.email})`, email);

/**
 * How a failed sign-in names what was typed as the email: the address when it is one, otherwise
 * only a keyed fingerprint (people type their password into the email field; the audit log must
 * never hold it), which still tells repeated attempts with the same text apart.
 */
export function typedEmailDetails(deps: Pick<ApiDeps, 'tokens'>, typed: string): { email: string } | { emailFingerprint: string } {
  const parsed = emailSchema.safeParse(typed);
  return parsed.success ? { email: parsed.data } : { emailFingerprint: deps.tokens.fingerprint(typed) };
}

export async function findUserByEmail(deps: Pick<ApiDeps, 'db'>, email: string): Promise<User | null> {
  const [user] = await deps.db.select().from(users).where(emailIs(email.trim().toLowerCase())).limit(1);
  return user ?? null;
}

/**
 * What a sign-in reads before checking the password, in one round trip: until when the address is
 * blocked (null if it is not) and the account with that email (null if there is none).
 */
async function readSignIn(deps: Pick<ApiDeps, 'db' | 'clock'>, ip: string, email: string): Promise<{ ipBlockedUntil: Date | null; user: User | null }> {
  const [row] = await deps.db
    .select({ blockedUntil: loginIpThrottles.blockedUntil, user: users })
    .from(sql`(select 1) as sign_in`)
    .leftJoin(loginIpThrottles, eq(loginIpThrottles.ip, ip))
    .leftJoin(users, emailIs(email))
    .limit(1);
  const now = deps.clock.now();
  const blockedUntil = row?.blockedUntil ?? null;
  return { ipBlockedUntil: blockedUntil && blockedUntil > now ? blockedUntil : null, user: row?.user ?? null };
}

export async function issueAccessToken(deps: Pick<ApiDeps, 'tokens' | 'clock'>, user: User, sessionId: string) {
  const { token, expiresAt } = await deps.tokens.signAccessToken({
    userId: user.id,
    sessionId,
    role: user.role,
    now: deps.clock.now(),
  });
  return { accessToken: token, accessTokenExpiresAt: expiresAt.toISOString() };
}

/**
 * Password sign-in. Every failure answers the same message after the same argon2 work, whether
 * the account is unknown, locked, disabled or the password wrong; only the audit log knows which.
 */
export async function login(
  deps: ApiDeps,
  input: { email: string; password: string; origin: RequestOrigin },
): Promise<IssuedSession> {
  const { origin } = input;
  const ip = origin.ip ?? 'unknown';
  // Postgres text cannot hold NUL: such an email matches no account and fails like any unknown one.
  const email = input.email.trim().toLowerCase().replace(/\0/g, '\uFFFD');
  const typed = typedEmailDetails(deps, input.email.trim().toLowerCase());

  const { ipBlockedUntil: blockedUntil, user } = await readSignIn(deps, ip, email);
  if (blockedUntil) {
    await deps.audit.record({
      action: 'auth.login_failed',
      outcome: 'denied',
      actor: { type: 'anonymous' },
      origin,
      details: { ...typed, reason: 'ip_throttled' },
    });
    const retryAfterMs = Math.max(0, blockedUntil.getTime() - deps.clock.now().getTime());
    throw appError('TOO_MANY_REQUESTS', 'Too many failed sign-ins from this address. Try again later.', {
      reason: 'IP_THROTTLED',
      retryAfterMs,
    });
  }

  if (!user) {
    await deps.passwords.verifyDummy(input.password);
    return fail(deps, { ip, origin, typed, reason: 'unknown_email' });
  }
  const passwordOk = await deps.passwords.verify(user.passwordHash, input.password);
  const now = deps.clock.now();
  if (user.status !== 'active') return fail(deps, { ip, origin, typed, user, reason: 'disabled' });
  if (user.lockedUntil && user.lockedUntil > now) return fail(deps, { ip, origin, typed, user, reason: 'locked' });
  if (!passwordOk) return fail(deps, { ip, origin, typed, user, reason: 'bad_password' });

  // The session, the sessions it evicts and their audit rows commit together. Only once the
  // password checked out may the answer tell of a lockdown: a wrong one learns nothing from it.
  const opened = await createSession(
    deps,
    { userId: user.id, ip: origin.ip, userAgent: origin.userAgent },
    async (tx) => (await refuseSignInDuringLockdown(tx, user.role), clearAccountFailures(tx, user.id, now)),
    ({ sessionId, evicted }) => [
      {
        action: 'auth.login',
        outcome: 'success',
        actor: { type: 'user', id: user.id },
        origin,
        resource: { type: 'session', id: sessionId },
        details: { email, evictedSessions: evicted },
      },
      ...evicted.map((id) => ({
        action: 'session.evicted' as const,
        outcome: 'success' as const,
        actor: { type: 'system' as const },
        origin,
        resource: { type: 'session', id },
        details: { userId: user.id, reason: 'session_limit' },
      })),
    ],
  ).catch(async (err: unknown) => {
    if (isLockdownRefusal(err)) {
      await deps.audit.record({ action: 'auth.login_failed', outcome: 'denied', actor: { type: 'user', id: user.id }, origin, details: { ...typed, reason: 'lockdown' } });
    }
    throw err;
  });
  if (!opened) return fail(deps, { ip, origin, typed, user, reason: 'locked' });
  const { session, refreshToken } = opened;
  const access = await issueAccessToken(deps, user, session.id);
  return {
    ...access,
    refreshToken,
    sessionId: session.id,
    sessionExpiresAt: session.absoluteExpiresAt,
    user: toPublicUser({ ...user, lastLoginAt: now, failedLoginCount: 0, lockedUntil: null }),
  };
}

async function fail(
  deps: ApiDeps,
  f: { ip: string; origin: RequestOrigin; typed: ReturnType<typeof typedEmailDetails>; user?: User; reason: FailureReason },
): Promise<never> {
  // A lock-out and an IP block change state: their rows commit with them. The failure itself
  // changes nothing else and is queued.
  if (f.reason === 'bad_password' && f.user) {
    await recordAccountFailure(deps, f.user.id, {
      action: 'auth.account_locked',
      outcome: 'success',
      actor: { type: 'system' },
      origin: f.origin,
      resource: { type: 'user', id: f.user.id },
      details: { email: f.user.email, lockMinutes: deps.config.accountLockout.lockMs / 60_000 },
    });
  }
  await recordIpFailure(deps, f.ip, {
    action: 'auth.ip_throttled',
    outcome: 'success',
    actor: { type: 'system' },
    origin: f.origin,
    resource: { type: 'ip', id: f.ip },
    details: { blockMinutes: deps.config.ipThrottle.blockMs / 60_000 },
  });
  await deps.audit.record({
    action: 'auth.login_failed',
    outcome: 'failure',
    actor: f.user ? { type: 'user', id: f.user.id } : { type: 'anonymous' },
    origin: f.origin,
    details: { ...f.typed, reason: f.reason },
  });
  throw appError('UNAUTHORIZED', INVALID_CREDENTIALS, { reason: 'INVALID_CREDENTIALS' });
}
