import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorData, httpClient, rejectionOf, type ApiClient } from './support/clients.ts';
import { auditRows, ipThrottleRows, median, nextIp, rawCall, userRow } from './support/probe.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn, strongPassword, type SeededUser } from './support/users.ts';

const MINUTE = 60_000;
const GENERIC = 'Invalid email or password';

function from(server: TestServer, ip: string): ApiClient {
  return httpClient(server, { headers: { 'x-forwarded-for': ip } });
}

async function failedLogin(client: ApiClient, email: string, password: string) {
  const err = await rejectionOf(client.auth.login.mutate({ email, password }));
  return { message: err.message, data: errorData(err) };
}

/** The generic answer every failed sign-in must give, whatever the reason. */
function expectGeneric(failure: { message: string; data: ReturnType<typeof errorData> }) {
  expect(failure.message).toBe(GENERIC);
  expect(failure.data.code).toBe('UNAUTHORIZED');
  expect(failure.data.httpStatus).toBe(401);
  expect(failure.data.reason).toBe('INVALID_CREDENTIALS');
  expect(failure.data).not.toHaveProperty('retryAfterMs');
}

function unknownEmail(): string {
  return `nobody-${Math.random().toString(36).slice(2, 10)}@desk.example`;
}

describe('brute force with the shipped thresholds (5 per account, 20 per IP, 15 min)', () => {
  let server: TestServer;
  beforeAll(async () => {
    // The lock-out and the IP throttle alone: with detection on, six failures from one address
    // block it for a day before the throttle's twenty (that is attack.test.ts and detection.test.ts).
    server = await startTestServer({ trustProxy: true, detection: { enabled: false } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('locks an account for 15 minutes after 5 failures, with the same generic error even for the right password', async () => {
    const user = await seedUser(server, 'trader');
    // A fresh address per attempt: the lock-out is per account, whatever address the guesses come from
    // (and per-address limits stay out of the picture).
    const client = () => from(server, nextIp());

    for (let i = 1; i <= 4; i += 1) {
      expectGeneric(await failedLogin(client(), user.email, `wrong-${i}-${strongPassword()}`));
    }
    const afterFour = await userRow(server, user.id);
    expect(afterFour?.failedLoginCount).toBe(4);
    expect(afterFour?.lockedUntil).toBeNull();

    const lockedAt = server.clock.now().getTime();
    expectGeneric(await failedLogin(client(), user.email, 'wrong-5-password-nope'));
    const locked = await userRow(server, user.id);
    expect(locked?.lockedUntil).not.toBeNull();
    const lockMs = (locked?.lockedUntil?.getTime() ?? 0) - lockedAt;
    expect(lockMs).toBeGreaterThan(15 * MINUTE - 5_000);
    expect(lockMs).toBeLessThanOrEqual(15 * MINUTE + 5_000);

    // The right password does not get in, and the answer is indistinguishable from a wrong one.
    const withRightPassword = await failedLogin(client(), user.email, user.password);
    expectGeneric(withRightPassword);
    const forUnknown = await failedLogin(client(), unknownEmail(), user.password);
    expect(withRightPassword.data.reason).toBe(forUnknown.data.reason);
    expect(withRightPassword.message).toBe(forUnknown.message);

    server.clock.advance(15 * MINUTE - 10_000);
    expectGeneric(await failedLogin(client(), user.email, user.password));

    server.clock.advance(10_000 + 1_000);
    const ok = await client().auth.login.mutate({ email: user.email, password: user.password });
    expect(ok.accessToken).toEqual(expect.any(String));
    expect(ok.user.lockedUntil).toBeNull();
    const cleared = await userRow(server, user.id);
    expect(cleared?.failedLoginCount).toBe(0);
    expect(cleared?.lockedUntil).toBeNull();

    const locks = await auditRows(server, (r) => r.action === 'auth.account_locked' && r.resourceId === user.id);
    expect(locks).toHaveLength(1);
    expect(locks[0]?.severity).toBe('HIGH');
    const failures = await auditRows(server, (r) => r.action === 'auth.login_failed' && r.actorId === user.id);
    expect(failures.map((r) => r.details.reason)).toEqual([
      'bad_password',
      'bad_password',
      'bad_password',
      'bad_password',
      'bad_password',
      'locked',
      'locked',
    ]);
  });

  it('counts wrong current passwords in auth.changePassword toward the same lock-out; a locked account cannot change its password', async () => {
    const user = await seedUser(server, 'trader');
    const session = await signIn(server, user);
    const change = (currentPassword: string) => session.client.auth.changePassword.mutate({ currentPassword, newPassword: strongPassword() });
    for (let i = 1; i <= 3; i += 1) {
      expect(errorData(await rejectionOf(change(`wrong-current-${i}-password`))).reason).toBe('INVALID_CURRENT_PASSWORD');
    }
    expect((await userRow(server, user.id))?.failedLoginCount).toBe(3);
    // Sign-in failures add to the same count: 3 + 2 locks the account.
    expectGeneric(await failedLogin(from(server, nextIp()), user.email, 'wrong-signin-1-password'));
    expectGeneric(await failedLogin(from(server, nextIp()), user.email, 'wrong-signin-2-password'));
    const locked = await userRow(server, user.id);
    expect(locked?.lockedUntil).not.toBeNull();

    // Locked: the right current password changes nothing, and signing in is refused as usual.
    const refused = errorData(await rejectionOf(change(user.password)));
    expect(refused).toMatchObject({ code: 'TOO_MANY_REQUESTS', reason: 'ACCOUNT_LOCKED' });
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect((await userRow(server, user.id))?.passwordHash).toBe(locked?.passwordHash);
    expectGeneric(await failedLogin(from(server, nextIp()), user.email, user.password));

    // Five wrong current passwords alone lock it too, audited once as a lock.
    const other = await seedUser(server, 'trader');
    const otherSession = await signIn(server, other);
    for (let i = 1; i <= 5; i += 1) {
      await rejectionOf(otherSession.client.auth.changePassword.mutate({ currentPassword: `nope-${i}-password`, newPassword: strongPassword() }));
    }
    expect((await userRow(server, other.id))?.lockedUntil).not.toBeNull();
    const locks = await auditRows(server, (r) => r.action === 'auth.account_locked' && r.resourceId === other.id);
    expect(locks).toHaveLength(1);

    // After the lock the right password works again, and a successful change clears the count.
    server.clock.advance(15 * MINUTE + 1_000);
    const fresh = await signIn(server, user);
    await rejectionOf(fresh.client.auth.changePassword.mutate({ currentPassword: 'wrong-after-lock-password', newPassword: strongPassword() }));
    expect((await userRow(server, user.id))?.failedLoginCount).toBe(1);
    await expect(fresh.client.auth.changePassword.mutate({ currentPassword: user.password, newPassword: strongPassword() })).resolves.toMatchObject({ ok: true });
    expect((await userRow(server, user.id))?.failedLoginCount).toBe(0);
  });

  it('does not count failures older than the 15-minute window, and a successful sign-in resets the count', async () => {
    const user = await seedUser(server, 'viewer');
    const client = () => from(server, nextIp());
    for (let i = 0; i < 4; i += 1) await failedLogin(client(), user.email, `nope-${i}-wrong-password`);
    server.clock.advance(15 * MINUTE + 1_000);
    // A fresh window: this is failure 1 of 5, not 5 of 5.
    await failedLogin(client(), user.email, 'nope-5-wrong-password');
    expect((await userRow(server, user.id))?.lockedUntil).toBeNull();
    expect((await userRow(server, user.id))?.failedLoginCount).toBe(1);
    for (let i = 0; i < 3; i += 1) await failedLogin(client(), user.email, `again-${i}-wrong-password`);
    expect((await userRow(server, user.id))?.failedLoginCount).toBe(4);

    await client().auth.login.mutate({ email: user.email, password: user.password });
    expect((await userRow(server, user.id))?.failedLoginCount).toBe(0);
    for (let i = 0; i < 4; i += 1) await failedLogin(client(), user.email, `after-${i}-wrong-password`);
    expect((await userRow(server, user.id))?.lockedUntil).toBeNull();
    await expect(client().auth.login.mutate({ email: user.email, password: user.password })).resolves.toMatchObject({
      user: { email: user.email },
    });
  });

  it('locks an account exactly once under 20 parallel wrong passwords', async () => {
    const user = await seedUser(server, 'trader');
    // One IP per attempt keeps the per-IP throttle out of the picture.
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => from(server, nextIp()).auth.login.mutate({ email: user.email, password: `parallel-${i}-wrong-pass` })),
    );
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    for (const r of results) {
      if (r.status === 'rejected') expectGeneric({ message: (r.reason as Error).message, data: errorData(r.reason) });
    }
    const locks = await auditRows(server, (r) => r.action === 'auth.account_locked' && r.resourceId === user.id);
    expect(locks).toHaveLength(1);
    const row = await userRow(server, user.id);
    expect(row?.lockedUntil?.getTime()).toBeGreaterThan(server.clock.now().getTime() + 14 * MINUTE);
    const failures = await auditRows(server, (r) => r.action === 'auth.login_failed' && r.actorId === user.id);
    expect(failures).toHaveLength(20);
    expect(failures.filter((r) => r.details.reason === 'bad_password').length).toBeGreaterThanOrEqual(5);
    expect(failures.every((r) => r.details.reason === 'bad_password' || r.details.reason === 'locked')).toBe(true);
    // Locked, so the right password still fails.
    expectGeneric(await failedLogin(from(server, nextIp()), user.email, user.password));
  });

  it('throttles an IP after 20 failures (unknown emails included): 429 IP_THROTTLED even for a valid password', async () => {
    const ip = nextIp();
    const client = from(server, ip);
    const victim = await seedUser(server, 'trader');
    const bystander = await seedUser(server, 'viewer');

    // 17 unknown emails and 2 wrong passwords for a real account: 19 failures, still answered normally.
    for (let i = 0; i < 17; i += 1) expectGeneric(await failedLogin(client, unknownEmail(), `guess-${i}-password-x`));
    for (let i = 0; i < 2; i += 1) expectGeneric(await failedLogin(client, victim.email, `guess-${i}-password-y`));
    expect(await auditRows(server, (r) => r.action === 'auth.ip_throttled' && r.resourceId === ip)).toHaveLength(0);
    // The 20th failure is still a normal failure; it starts the block.
    expectGeneric(await failedLogin(client, unknownEmail(), 'guess-20-password-z'));

    const blocked = await rejectionOf(client.auth.login.mutate({ email: bystander.email, password: bystander.password }));
    const data = errorData(blocked);
    expect(data.code).toBe('TOO_MANY_REQUESTS');
    expect(data.httpStatus).toBe(429);
    expect(data.reason).toBe('IP_THROTTLED');
    expect(data.retryAfterMs).toEqual(expect.any(Number));
    expect(data.retryAfterMs as number).toBeGreaterThan(14 * MINUTE);
    expect(data.retryAfterMs as number).toBeLessThanOrEqual(15 * MINUTE);

    // On the wire: a real 429.
    const raw = await rawCall(server, 'auth.login', 'mutation', {
      input: { email: unknownEmail(), password: 'whatever-password-1' },
      headers: { 'x-forwarded-for': ip },
    });
    expect(raw.status).toBe(429);
    expect(raw.error?.data?.reason).toBe('IP_THROTTLED');

    // Other addresses are not affected.
    await expect(from(server, nextIp()).auth.login.mutate({ email: bystander.email, password: bystander.password })).resolves.toMatchObject({
      user: { id: bystander.id },
    });

    // Attempts during the block do not start it again; the remaining time counts down.
    server.clock.advance(5 * MINUTE);
    const later = errorData(await rejectionOf(client.auth.login.mutate({ email: victim.email, password: victim.password })));
    expect(later.reason).toBe('IP_THROTTLED');
    expect(later.retryAfterMs as number).toBeLessThanOrEqual(10 * MINUTE);
    expect(later.retryAfterMs as number).toBeGreaterThan(9 * MINUTE);
    expect(await auditRows(server, (r) => r.action === 'auth.ip_throttled' && r.resourceId === ip)).toHaveLength(1);

    const throttledAttempts = await auditRows(server, (r) => r.action === 'auth.login_failed' && r.ip === ip && r.details.reason === 'ip_throttled');
    expect(throttledAttempts).toHaveLength(3);
    expect(throttledAttempts.every((r) => r.outcome === 'denied')).toBe(true);

    server.clock.advance(10 * MINUTE + 1_000);
    await expect(client.auth.login.mutate({ email: victim.email, password: victim.password })).resolves.toMatchObject({ user: { id: victim.id } });
  });

  it('throttles an IP exactly once when 20 failures arrive in parallel', async () => {
    const ip = nextIp();
    const client = from(server, ip);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => client.auth.login.mutate({ email: unknownEmail(), password: `parallel-${i}-guess-pw` })),
    );
    // The block starts with the 20th counted failure, after every one of them passed the check.
    for (const r of results) {
      expect(r.status).toBe('rejected');
      if (r.status === 'rejected') expect(errorData(r.reason).code).toBe('UNAUTHORIZED');
    }
    expect(await auditRows(server, (r) => r.action === 'auth.ip_throttled' && r.resourceId === ip)).toHaveLength(1);
    const row = (await ipThrottleRows(server)).find((r) => r.ip === ip);
    expect(row?.blockedUntil?.getTime()).toBeGreaterThan(server.clock.now().getTime() + 14 * MINUTE);
    expect(errorData(await rejectionOf(client.auth.login.mutate({ email: unknownEmail(), password: 'one-more-guess-pw' }))).reason).toBe(
      'IP_THROTTLED',
    );
  });

  it('audits every sign-in attempt with its reason: success, unknown_email, bad_password, disabled, locked', async () => {
    const ip = nextIp();
    const client = from(server, ip);
    const user = await seedUser(server, 'trader');
    const admin = await seedUser(server, 'admin');
    const disabled = await seedUser(server, 'viewer');
    const adminSession = await signIn(server, admin);
    await adminSession.client.users.update.mutate({ id: disabled.id, status: 'disabled' });

    await client.auth.login.mutate({ email: user.email, password: user.password });
    const missing = unknownEmail();
    await failedLogin(client, missing, 'guess-password-for-nobody');
    await failedLogin(client, user.email, 'guess-password-for-user');
    expectGeneric(await failedLogin(client, disabled.email, disabled.password));

    const lockable = await seedUser(server, 'viewer');
    const lockIp = nextIp();
    for (let i = 0; i < 5; i += 1) await failedLogin(from(server, lockIp), lockable.email, `lock-it-${i}-password`);
    await failedLogin(client, lockable.email, lockable.password);

    const rows = await auditRows(server, (r) => r.ip === ip && (r.action === 'auth.login' || r.action === 'auth.login_failed'));
    const summary = rows.map((r) => [r.action, r.details.reason ?? null, r.details.email]);
    expect(summary).toEqual([
      ['auth.login', null, user.email],
      ['auth.login_failed', 'unknown_email', missing],
      ['auth.login_failed', 'bad_password', user.email],
      ['auth.login_failed', 'disabled', disabled.email],
      ['auth.login_failed', 'locked', lockable.email],
    ]);
    expect(rows[0]?.outcome).toBe('success');
    expect(rows[0]?.actorId).toBe(user.id);
    expect(rows[1]?.actorType).toBe('anonymous');
    expect(rows.slice(1).every((r) => r.outcome === 'failure')).toBe(true);
    expect(rows.every((r) => r.severity && r.requestId)).toBe(true);
    // (ip_throttled attempts are checked in the throttle test.) Each row records its address.
    expect(rows.every((r) => r.ip === ip)).toBe(true);
  });

  it('answers a malformed email (no @, spaces, NUL byte) exactly like an unknown one, audited and counted', async () => {
    const ip = nextIp();
    const client = from(server, ip);
    const malformed = ['not-an-email', 'two words@desk.example', 'a\u0000b@desk.example', '\u0000'];
    for (const email of malformed) {
      expectGeneric(await failedLogin(client, email, 'some-guess-password-1'));
    }
    const rows = await auditRows(server, (r) => r.ip === ip && r.action === 'auth.login_failed');
    expect(rows).toHaveLength(malformed.length);
    expect(rows.every((r) => r.details.reason === 'unknown_email')).toBe(true);
    expect((await ipThrottleRows(server)).find((r) => r.ip === ip)?.failedCount).toBe(malformed.length);
  });

  it('never audits a password typed into the email field: what is not an email is kept only as a keyed fingerprint', async () => {
    const ip = nextIp();
    const client = from(server, ip);
    const typedPassword = `Correct-Horse-${Math.random().toString(36).slice(2, 10)}-Battery`;
    const address = unknownEmail();
    // Six tries of the same text: the sixth is refused by the login rate limit, which audits its key too.
    for (let i = 0; i < 5; i += 1) expectGeneric(await failedLogin(client, `  ${typedPassword} `, 'some-guess-password-1'));
    const limited = await rejectionOf(client.auth.login.mutate({ email: typedPassword, password: 'some-guess-password-1' }));
    expect(errorData(limited).code).toBe('TOO_MANY_REQUESTS');
    expectGeneric(await failedLogin(client, address.toUpperCase(), 'some-guess-password-1'));

    const rows = await auditRows(server, (r) => r.ip === ip);
    const failures = rows.filter((r) => r.action === 'auth.login_failed');
    expect(failures).toHaveLength(6);
    const typed = failures.slice(0, 5);
    expect(typed.every((r) => r.details.email === undefined && typeof r.details.emailFingerprint === 'string')).toBe(true);
    // The same text gives the same fingerprint, so repeated attempts still correlate.
    expect(new Set(typed.map((r) => r.details.emailFingerprint)).size).toBe(1);
    // A well-formed address is recorded as typed (normalised), with no fingerprint.
    expect(failures[5]?.details).toMatchObject({ email: address, reason: 'unknown_email' });
    expect(failures[5]?.details.emailFingerprint).toBeUndefined();
    expect(rows.some((r) => r.action === 'ratelimit.denied')).toBe(true);
    const lower = typedPassword.toLowerCase();
    for (const row of rows) expect(JSON.stringify(row).toLowerCase()).not.toContain(lower);
    expect(server.logs.join('').toLowerCase()).not.toContain(lower);
  });

  it('spends comparable argon2 time on unknown emails and wrong passwords', async () => {
    const ip = nextIp();
    const client = from(server, ip);
    const users: SeededUser[] = [];
    for (let i = 0; i < 5; i += 1) users.push(await seedUser(server, 'viewer'));
    // Warm up both paths once.
    await failedLogin(client, unknownEmail(), 'warm-up-password-1');
    await failedLogin(from(server, nextIp()), users[0]!.email, 'warm-up-password-2');

    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      let t = performance.now();
      await failedLogin(client, unknownEmail(), `timing-${i}-password`);
      unknown.push(performance.now() - t);
      t = performance.now();
      await failedLogin(client, users[i]!.email, `timing-${i}-password`);
      wrong.push(performance.now() - t);
    }
    expect(median(wrong)).toBeGreaterThan(10);
    expect(median(unknown)).toBeGreaterThanOrEqual(0.4 * median(wrong));
  });
});

describe('brute force with configured thresholds', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      trustProxy: true,
      detection: { enabled: false },
      security: {
        accountLockout: { maxFailures: 2, windowMs: MINUTE, lockMs: 2 * MINUTE },
        ipThrottle: { maxFailures: 3, windowMs: MINUTE, blockMs: 5 * MINUTE },
      },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('locks after the configured number of failures for the configured time', async () => {
    const user = await seedUser(server, 'trader');
    const client = from(server, nextIp());
    await failedLogin(client, user.email, 'first-wrong-password');
    expect((await userRow(server, user.id))?.lockedUntil).toBeNull();
    await failedLogin(from(server, nextIp()), user.email, 'second-wrong-password');
    const locked = await userRow(server, user.id);
    const lockMs = (locked?.lockedUntil?.getTime() ?? 0) - server.clock.now().getTime();
    expect(lockMs).toBeGreaterThan(2 * MINUTE - 5_000);
    expect(lockMs).toBeLessThanOrEqual(2 * MINUTE);
    expectGeneric(await failedLogin(from(server, nextIp()), user.email, user.password));

    server.clock.advance(2 * MINUTE + 1_000);
    await expect(from(server, nextIp()).auth.login.mutate({ email: user.email, password: user.password })).resolves.toMatchObject({
      user: { id: user.id },
    });
    expect(await auditRows(server, (r) => r.action === 'auth.account_locked' && r.resourceId === user.id)).toHaveLength(1);
  });

  it('uses the configured window: failures further apart than it do not add up', async () => {
    const user = await seedUser(server, 'viewer');
    await failedLogin(from(server, nextIp()), user.email, 'spaced-wrong-password-1');
    server.clock.advance(MINUTE + 1_000);
    await failedLogin(from(server, nextIp()), user.email, 'spaced-wrong-password-2');
    expect((await userRow(server, user.id))?.lockedUntil).toBeNull();
    await expect(from(server, nextIp()).auth.login.mutate({ email: user.email, password: user.password })).resolves.toBeTruthy();
  });

  it('throttles an IP after the configured number of failures for the configured time', async () => {
    const ip = nextIp();
    const client = from(server, ip);
    const user = await seedUser(server, 'viewer');
    for (let i = 0; i < 3; i += 1) expectGeneric(await failedLogin(client, unknownEmail(), `ip-guess-${i}-password`));
    const data = errorData(await rejectionOf(client.auth.login.mutate({ email: user.email, password: user.password })));
    expect(data.code).toBe('TOO_MANY_REQUESTS');
    expect(data.reason).toBe('IP_THROTTLED');
    expect(data.retryAfterMs as number).toBeGreaterThan(5 * MINUTE - 5_000);
    expect(data.retryAfterMs as number).toBeLessThanOrEqual(5 * MINUTE);
    expect(await auditRows(server, (r) => r.action === 'auth.ip_throttled' && r.resourceId === ip)).toHaveLength(1);

    server.clock.advance(5 * MINUTE + 1_000);
    await expect(client.auth.login.mutate({ email: user.email, password: user.password })).resolves.toMatchObject({ user: { id: user.id } });
  });

  it('does not throttle an IP whose failures are spread wider than the window', async () => {
    const ip = nextIp();
    const client = from(server, ip);
    const user = await seedUser(server, 'viewer');
    await failedLogin(client, unknownEmail(), 'spread-guess-1-password');
    await failedLogin(client, unknownEmail(), 'spread-guess-2-password');
    server.clock.advance(MINUTE + 1_000);
    await failedLogin(client, unknownEmail(), 'spread-guess-3-password');
    await failedLogin(client, unknownEmail(), 'spread-guess-4-password');
    await expect(client.auth.login.mutate({ email: user.email, password: user.password })).resolves.toMatchObject({ user: { id: user.id } });
    expect(await auditRows(server, (r) => r.action === 'auth.ip_throttled' && r.resourceId === ip)).toHaveLength(0);
  });
});
