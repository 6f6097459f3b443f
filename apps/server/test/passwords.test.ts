import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assessPassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '@tapevision/api/schemas';
import { errorData, rejectionOf, wsClient } from './support/clients.ts';
import { allUsers, auditRows, isPublicMeta, listProcedures, rawCall, sampleInput, userRow } from './support/probe.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn, strongPassword, type SignedIn } from './support/users.ts';

/** Always allowed while a password change is pending; everything else is not. */
// sessions.onEvent stays open so the change-password page still learns of a revocation at once.
const PENDING_ALLOWED = ['auth.changePassword', 'auth.logout', 'auth.me', 'sessions.onEvent'];

// 12 characters, no dictionary words: zxcvbn scores it 4.
const STRONG_12 = 'Kq8#vW2!zR5m';
// 256 characters of a long passphrase.
const STRONG_256 = Array.from({ length: 40 }, (_, i) => `${['amber', 'orchid', 'tundra', 'falcon', 'quiver'][i % 5]}${i}`)
  .join('-')
  .padEnd(PASSWORD_MAX_LENGTH, 'x')
  .slice(0, PASSWORD_MAX_LENGTH);

function localPart(email: string): string {
  return email.split('@')[0] as string;
}

describe('assessPassword: the NIST-style policy shared by the SPA and the server', () => {
  it('accepts strong passwords from 12 to 256 characters and rejects 11 or 257', () => {
    expect(PASSWORD_MIN_LENGTH).toBe(12);
    expect(PASSWORD_MAX_LENGTH).toBe(256);
    expect(assessPassword(STRONG_12)).toMatchObject({ ok: true, problem: null, message: null });
    expect(assessPassword(STRONG_12).score).toBeGreaterThanOrEqual(3);
    expect(assessPassword(STRONG_12.slice(0, 11))).toMatchObject({ ok: false, problem: 'too_short', message: 'Use at least 12 characters' });
    expect(STRONG_256).toHaveLength(256);
    expect(assessPassword(STRONG_256)).toMatchObject({ ok: true });
    expect(assessPassword(`${STRONG_256}y`)).toMatchObject({ ok: false, problem: 'too_long', message: 'Use at most 256 characters' });
  });

  it('rejects zxcvbn scores below 3 and explains why with its feedback', () => {
    for (const weak of ['password1234', 'aaaaaaaaaaaa', 'qwertyuiopasdf', 'iloveyou2024!']) {
      const verdict = assessPassword(weak);
      expect(verdict.ok, weak).toBe(false);
      expect(verdict.problem, weak).toBe('too_weak');
      expect(verdict.score, weak).toBeLessThan(3);
      const hint = verdict.warning ?? verdict.suggestions[0];
      expect(hint, weak).toEqual(expect.any(String));
      expect(verdict.message, weak).toContain(hint);
    }
    // No composition rules: long lower-case words are fine.
    expect(assessPassword('correct horse battery staple').ok).toBe(true);
  });

  it('assesses even the costliest maximum-length input quickly (it runs on the event loop and in the browser)', () => {
    assessPassword('warm-up-the-dictionaries');
    const inputs = [
      Array.from({ length: PASSWORD_MAX_LENGTH }, (_, i) => 'aZ0$4@3!1|7+5%8(9)qQ'[(i * 7919) % 20]).join(''),
      '1234567890'.repeat(26).slice(0, PASSWORD_MAX_LENGTH),
      STRONG_256,
    ];
    for (const input of inputs) {
      const t = performance.now();
      assessPassword(input, 'someone@desk.example');
      expect(performance.now() - t, input.slice(0, 20)).toBeLessThan(1_000);
    }
  });

  it("rejects a password containing the email's local part, in any case", () => {
    const email = 'alice.smith@desk.example';
    expect(assessPassword('alice.smith-Violet-Harbor-93', email)).toMatchObject({ ok: false, problem: 'contains_email' });
    expect(assessPassword('Violet-ALICE.SMITH-harbor-93', email)).toMatchObject({ ok: false, problem: 'contains_email' });
    expect(assessPassword('Violet-Harbor-93-quantum', email)).toMatchObject({ ok: true });
    // One- and two-letter names would forbid half the alphabet.
    expect(assessPassword('al-Violet-Harbor-93-quantum', 'al@desk.example')).toMatchObject({ ok: true });
  });
});

describe('password policy over HTTP', () => {
  let server: TestServer;
  let admin: SignedIn;
  beforeAll(async () => {
    server = await startTestServer();
    admin = await signIn(server, await seedUser(server, 'admin'));
  });
  afterAll(async () => {
    await server?.close();
  });

  describe('auth.changePassword', () => {
    it('rejects too short and too long new passwords at the schema, with data.issues on newPassword', async () => {
      const trader = await seedUser(server, 'trader');
      const session = await signIn(server, trader);
      const before = await userRow(server, trader.id);

      for (const [newPassword, message] of [
        [STRONG_12.slice(0, 11), 'Use at least 12 characters'],
        [`${STRONG_256}y`, 'Use at most 256 characters'],
      ] as const) {
        const err = await rejectionOf(session.client.auth.changePassword.mutate({ currentPassword: trader.password, newPassword }));
        const data = errorData(err);
        expect(data.code).toBe('BAD_REQUEST');
        expect(data.httpStatus).toBe(400);
        // (The length check and the policy check may both report it: the same issue, maybe twice.)
        const issues = data.issues as unknown[];
        expect(issues.length).toBeGreaterThan(0);
        expect(new Set(issues.map((i) => JSON.stringify(i)))).toEqual(new Set([JSON.stringify({ path: ['newPassword'], message })]));
      }
      expect((await userRow(server, trader.id))?.passwordHash).toBe(before?.passwordHash);
    });

    it('rejects a guessable password with the zxcvbn feedback in data.issues', async () => {
      const trader = await seedUser(server, 'trader');
      const session = await signIn(server, trader);
      const before = await userRow(server, trader.id);
      const err = await rejectionOf(session.client.auth.changePassword.mutate({ currentPassword: trader.password, newPassword: 'password1234' }));
      const data = errorData(err);
      expect(data.code).toBe('BAD_REQUEST');
      const issues = data.issues as { path: unknown[]; message: string }[];
      expect(issues).toHaveLength(1);
      expect(issues[0]?.path).toEqual(['newPassword']);
      expect(issues[0]?.message).toMatch(/^This password is too easy to guess\. /);
      expect(issues[0]?.message).toContain('This is similar to a commonly used password');
      expect(err.message).toContain('newPassword');
      expect((await userRow(server, trader.id))?.passwordHash).toBe(before?.passwordHash);
      // The rejected password is not echoed back.
      expect(JSON.stringify(err.shape)).not.toContain('password1234');
    });

    it('rejects a password containing the email name: WEAK_PASSWORD with feedback, nothing changes', async () => {
      const trader = await seedUser(server, 'trader');
      const session = await signIn(server, trader);
      const before = await userRow(server, trader.id);
      const newPassword = `Violet-${localPart(trader.email).toUpperCase()}-harbor-93`;
      const err = await rejectionOf(session.client.auth.changePassword.mutate({ currentPassword: trader.password, newPassword }));
      const data = errorData(err);
      expect(data.code).toBe('BAD_REQUEST');
      expect(data.reason).toBe('WEAK_PASSWORD');
      expect(data.problem).toBe('contains_email');
      const feedback = data.feedback as { warning: unknown; suggestions: unknown };
      expect(Object.keys(feedback).sort()).toEqual(['suggestions', 'warning']);
      expect(feedback.warning === null || typeof feedback.warning === 'string').toBe(true);
      expect(Array.isArray(feedback.suggestions)).toBe(true);
      expect(err.message).toBe('The password must not contain your email name');
      expect((await userRow(server, trader.id))?.passwordHash).toBe(before?.passwordHash);
      await expect(signIn(server, trader)).resolves.toBeTruthy();
    });

    it('refuses a wrong current password with INVALID_CURRENT_PASSWORD and changes nothing', async () => {
      const trader = await seedUser(server, 'trader');
      const session = await signIn(server, trader);
      const other = await signIn(server, trader);
      const before = await userRow(server, trader.id);
      const newPassword = strongPassword();
      const err = await rejectionOf(session.client.auth.changePassword.mutate({ currentPassword: 'not-my-password-at-all', newPassword }));
      const data = errorData(err);
      expect(data.code).toBe('BAD_REQUEST');
      expect(data.reason).toBe('INVALID_CURRENT_PASSWORD');
      const after = await userRow(server, trader.id);
      expect(after?.passwordHash).toBe(before?.passwordHash);
      expect(after?.passwordChangedAt.getTime()).toBe(before?.passwordChangedAt.getTime());
      expect(after?.mustChangePassword).toBe(false);
      // No session was ended, the old password still works, the new one does not.
      await expect(other.client.sessions.list.query()).resolves.toHaveLength(2);
      await expect(signIn(server, trader)).resolves.toBeTruthy();
      await expect(signIn(server, { email: trader.email, password: newPassword })).rejects.toThrow('Invalid email or password');
      const failed = await auditRows(server, (r) => r.action === 'auth.password_change_failed' && r.actorId === trader.id);
      expect(failed).toHaveLength(1);
      expect(failed[0]?.details).toEqual({ reason: 'bad_current_password' });
    });

    it('checks even a maximum-length password without stalling the server for everyone else', async () => {
      const trader = await seedUser(server, 'trader');
      const session = await signIn(server, trader);
      // Random characters, many of them l33t-able: the costliest input for the strength estimator.
      const hardest = Array.from({ length: PASSWORD_MAX_LENGTH }, (_, i) => 'aZ0$4@3!1|7+5%8(9)qQ'[(i * 7919) % 20]).join('');
      expect(hardest).toHaveLength(256);
      let settled = false;
      const slow = rejectionOf(session.client.auth.changePassword.mutate({ currentPassword: 'not-my-current-password', newPassword: hardest })).finally(
        () => (settled = true),
      );
      const latencies: number[] = [];
      while (!settled && latencies.length < 50) {
        const t = performance.now();
        const res = await fetch(`${server.url}/healthz`);
        await res.arrayBuffer();
        latencies.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 20));
      }
      const err = await slow;
      expect(errorData(err).code).toBe('BAD_REQUEST');
      expect(latencies.length).toBeGreaterThan(0);
      // The event loop was never blocked for long: a health probe got through promptly throughout.
      expect(Math.max(...latencies)).toBeLessThan(1_000);
    });

    it('refuses the current password as the new one', async () => {
      const trader = await seedUser(server, 'trader');
      const session = await signIn(server, trader);
      const err = await rejectionOf(session.client.auth.changePassword.mutate({ currentPassword: trader.password, newPassword: trader.password }));
      expect(errorData(err)).toMatchObject({ code: 'BAD_REQUEST', reason: 'PASSWORD_UNCHANGED' });
    });

    it('accepts a strong 12-character and a strong 256-character password', async () => {
      const trader = await seedUser(server, 'trader');
      const session = await signIn(server, trader);
      await expect(session.client.auth.changePassword.mutate({ currentPassword: trader.password, newPassword: STRONG_12 })).resolves.toMatchObject({
        ok: true,
      });
      await expect(signIn(server, { email: trader.email, password: trader.password })).rejects.toThrow('Invalid email or password');
      await signIn(server, { email: trader.email, password: STRONG_12 });
      await expect(session.client.auth.changePassword.mutate({ currentPassword: STRONG_12, newPassword: STRONG_256 })).resolves.toMatchObject({
        ok: true,
      });
      await expect(signIn(server, { email: trader.email, password: STRONG_256 })).resolves.toBeTruthy();
      const changed = await auditRows(server, (r) => r.action === 'auth.password_changed' && r.actorId === trader.id);
      expect(changed).toHaveLength(2);
    });
  });

  describe('users.create with a password', () => {
    it('rejects a weak, a too long and an email-containing password; no user is created', async () => {
      const cases = [
        { password: 'password1234', check: (d: ReturnType<typeof errorData>) => expect(d.issues).toEqual([{ path: ['password'], message: expect.stringContaining('too easy to guess') }]) },
        {
          password: `${STRONG_256}z`,
          check: (d: ReturnType<typeof errorData>) =>
            expect(new Set((d.issues as unknown[]).map((i) => JSON.stringify(i)))).toEqual(
              new Set([JSON.stringify({ path: ['password'], message: 'Use at most 256 characters' })]),
            ),
        },
        { password: 'short-1', check: (d: ReturnType<typeof errorData>) => expect(d.issues).toEqual([{ path: ['password'], message: 'Use at least 12 characters' }]) },
      ];
      for (const [i, c] of cases.entries()) {
        const email = `weakling${i}-${Date.now()}@desk.example`;
        const err = await rejectionOf(admin.client.users.create.mutate({ email, role: 'trader', password: c.password }));
        const data = errorData(err);
        expect(data.code).toBe('BAD_REQUEST');
        c.check(data);
        expect((await allUsers(server)).some((u) => u.email === email)).toBe(false);
      }

      const email = `margaret.hale${Date.now()}@desk.example`;
      const err = await rejectionOf(admin.client.users.create.mutate({ email, role: 'viewer', password: `Quiver-${localPart(email)}-Orchid-77` }));
      const data = errorData(err);
      expect(data).toMatchObject({ code: 'BAD_REQUEST', reason: 'WEAK_PASSWORD', problem: 'contains_email' });
      expect(data.feedback).toMatchObject({ suggestions: expect.any(Array) });
      expect((await allUsers(server)).some((u) => u.email === email)).toBe(false);
    });

    it('forces a change of an admin-set password unless mustChangePassword is false', async () => {
      const forcedPassword = strongPassword();
      const forced = await admin.client.users.create.mutate({ email: `forced-${Date.now()}@desk.example`, role: 'trader', password: forcedPassword });
      expect(forced.oneTimePassword).toBeNull();
      expect(forced.user.mustChangePassword).toBe(true);
      const forcedSession = await signIn(server, { email: forced.user.email, password: forcedPassword });
      expect(errorData(await rejectionOf(forcedSession.client.sessions.list.query()))).toMatchObject({
        code: 'FORBIDDEN',
        reason: 'PASSWORD_CHANGE_REQUIRED',
      });

      const freePassword = strongPassword();
      const free = await admin.client.users.create.mutate({
        email: `free-${Date.now()}@desk.example`,
        role: 'trader',
        password: freePassword,
        mustChangePassword: false,
      });
      expect(free.user.mustChangePassword).toBe(false);
      const freeSession = await signIn(server, { email: free.user.email, password: freePassword });
      expect(freeSession.login.user.mustChangePassword).toBe(false);
      await expect(freeSession.client.sessions.list.query()).resolves.toHaveLength(1);
    });
  });

  describe('must change password', () => {
    it('only auth.me, auth.changePassword, auth.logout and sessions.onEvent are declared reachable while a change is pending', () => {
      const pending = listProcedures()
        .filter((p) => (p.meta as { allowPendingPasswordChange?: boolean } | undefined)?.allowPendingPasswordChange === true)
        .map((p) => p.path)
        .sort();
      expect(pending).toEqual(PENDING_ALLOWED);
    });

    it('a user created without a password gets a one-time password, and every other procedure is FORBIDDEN until it is changed', async () => {
      const email = `newcomer-${Date.now()}@desk.example`;
      const created = await admin.client.users.create.mutate({ email, role: 'trader' });
      const otp = created.oneTimePassword;
      expect(otp).toEqual(expect.any(String));
      if (!otp) throw new Error('no one-time password');
      expect(assessPassword(otp, email).ok).toBe(true);
      expect(created.user.mustChangePassword).toBe(true);
      // Returned once: not in the listing, not in the audit log, not stored in clear.
      const listed = await admin.client.users.list.query({ search: email });
      expect(JSON.stringify(listed)).not.toContain(otp);
      expect(JSON.stringify(await auditRows(server))).not.toContain(otp);
      expect(JSON.stringify(await userRow(server, created.user.id))).not.toContain(otp);

      const session = await signIn(server, { email, password: otp });
      expect(session.login.user.mustChangePassword).toBe(true);
      const me = await session.client.auth.me.query();
      expect(me.user.mustChangePassword).toBe(true);

      const walked: string[] = [];
      for (const proc of listProcedures()) {
        if (isPublicMeta(proc.meta) || PENDING_ALLOWED.includes(proc.path)) continue;
        const res = await rawCall(server, proc.path, proc.type, { token: session.token, input: sampleInput(proc.path, created.user.id) });
        expect(res.error?.data, proc.path).toMatchObject({ code: 'FORBIDDEN', httpStatus: 403, reason: 'PASSWORD_CHANGE_REQUIRED' });
        if (proc.type !== 'subscription') expect(res.status, proc.path).toBe(403);
        walked.push(proc.path);
      }
      expect(walked).toEqual(expect.arrayContaining(['sessions.list', 'sessions.revoke', 'sessions.revokeOthers', 'users.list', 'apiKeys.list']));

      // Over WebSocket too.
      const ws = wsClient(server, { token: session.token });
      try {
        expect(errorData(await rejectionOf(ws.trpc.sessions.list.query()))).toMatchObject({ reason: 'PASSWORD_CHANGE_REQUIRED' });
        await expect(ws.trpc.auth.me.query()).resolves.toMatchObject({ user: { email } });
      } finally {
        await ws.close();
      }

      const newPassword = strongPassword();
      await session.client.auth.changePassword.mutate({ currentPassword: otp, newPassword });
      // The same session now has everything the trader role allows, and no more.
      await expect(session.client.sessions.list.query()).resolves.toHaveLength(1);
      expect((await session.client.auth.me.query()).user.mustChangePassword).toBe(false);
      expect(errorData(await rejectionOf(session.client.users.list.query()))).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_PERMISSION' });
      expect((await userRow(server, created.user.id))?.mustChangePassword).toBe(false);
      // The one-time password is spent.
      await expect(signIn(server, { email, password: otp })).rejects.toThrow('Invalid email or password');
      await expect(signIn(server, { email, password: newPassword })).resolves.toBeTruthy();
    });

    it('an admin created without a password cannot manage users (nor create any) until the change', async () => {
      const email = `deputy-${Date.now()}@desk.example`;
      const created = await admin.client.users.create.mutate({ email, role: 'admin' });
      const otp = created.oneTimePassword as string;
      const session = await signIn(server, { email, password: otp });
      const probeEmail = `should-not-exist-${Date.now()}@desk.example`;
      expect(errorData(await rejectionOf(session.client.users.create.mutate({ email: probeEmail, role: 'viewer' })))).toMatchObject({
        code: 'FORBIDDEN',
        reason: 'PASSWORD_CHANGE_REQUIRED',
      });
      expect((await allUsers(server)).some((u) => u.email === probeEmail)).toBe(false);
      expect(errorData(await rejectionOf(session.client.users.list.query()))).toMatchObject({ reason: 'PASSWORD_CHANGE_REQUIRED' });

      await session.client.auth.changePassword.mutate({ currentPassword: otp, newPassword: strongPassword() });
      const list = await session.client.users.list.query({ search: email });
      expect(list.items.map((u) => u.email)).toEqual([email]);
    });

    it('auth.logout works while a change is pending', async () => {
      const created = await admin.client.users.create.mutate({ email: `leaver-${Date.now()}@desk.example`, role: 'viewer' });
      const session = await signIn(server, { email: created.user.email, password: created.oneTimePassword as string });
      await expect(session.client.auth.logout.mutate()).resolves.toEqual({ ok: true });
      expect(errorData(await rejectionOf(session.client.auth.me.query()))).toMatchObject({ code: 'UNAUTHORIZED' });
    });
  });
});
