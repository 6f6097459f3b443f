import { queryRows, sql } from '@tapevision/db';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errorData, httpClient, rejectionOf } from './support/clients.ts';
import { allUsers, auditRows, nextIp, sessionRows, tracedClient, userRow, type TracedClient } from './support/probe.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn, strongPassword, type SeededUser, type SignedIn } from './support/users.ts';

const GENERIC = 'Invalid email or password';

function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

/** An admin whose every response body is kept, so the whole file can be scanned for hashes. */
async function tracedAdmin(server: TestServer, user?: SeededUser): Promise<{ user: SeededUser; session: SignedIn; traced: TracedClient }> {
  const admin = user ?? (await seedUser(server, 'admin'));
  const session = await signIn(server, admin);
  return { user: admin, session, traced: tracedClient(server, { token: () => session.token }) };
}

describe('user administration', () => {
  let server: TestServer;
  let admin: Awaited<ReturnType<typeof tracedAdmin>>;
  beforeAll(async () => {
    server = await startTestServer({ trustProxy: true });
    admin = await tracedAdmin(server);
  });
  afterEach(() => {
    for (const body of admin.traced.bodies) {
      expect(body).not.toContain('$argon2');
      expect(body).not.toMatch(/password_?hash/i);
    }
  });
  afterAll(async () => {
    await server?.close();
  });

  describe('users.list', () => {
    it('pages through users with limit and cursor, in email order, without gaps or repeats', async () => {
      const domain = `${unique('pages')}.example`;
      const emails = ['delta', 'alpha', 'echo', 'charlie', 'golf', 'bravo', 'foxtrot'].map((n) => `${n}@${domain}`);
      for (const email of emails) await admin.traced.client.users.create.mutate({ email, role: 'viewer', password: strongPassword() });

      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await admin.traced.client.users.list.query({ search: domain, limit: 3, ...(cursor ? { cursor } : {}) });
        expect(page.items.length).toBeLessThanOrEqual(3);
        seen.push(...page.items.map((u) => u.email));
        cursor = page.nextCursor ?? undefined;
        pages += 1;
        expect(pages).toBeLessThan(10);
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen).toEqual([...emails].sort());

      const exact = await admin.traced.client.users.list.query({ search: domain, limit: 7 });
      expect(exact.items).toHaveLength(7);
      expect(exact.nextCursor).toBeNull();
    });

    it('searches case-insensitively and treats % and _ literally', async () => {
      const domain = `${unique('search')}.example`;
      await admin.traced.client.users.create.mutate({ email: `a_b@${domain}`, role: 'viewer' });
      await admin.traced.client.users.create.mutate({ email: `axb@${domain}`, role: 'viewer' });
      const underscore = await admin.traced.client.users.list.query({ search: `A_B@${domain.toUpperCase()}` });
      expect(underscore.items.map((u) => u.email)).toEqual([`a_b@${domain}`]);
      const percent = await admin.traced.client.users.list.query({ search: `a%b@${domain}` });
      expect(percent.items).toEqual([]);
      const both = await admin.traced.client.users.list.query({ search: domain });
      expect(both.items.map((u) => u.email)).toEqual([`a_b@${domain}`, `axb@${domain}`]);
    });

    it('returns public fields only', async () => {
      const list = await admin.traced.client.users.list.query({ limit: 200 });
      expect(list.items.length).toBeGreaterThan(0);
      for (const user of list.items) {
        expect(Object.keys(user).sort()).toEqual(['createdAt', 'email', 'id', 'lastLoginAt', 'lockedUntil', 'mustChangePassword', 'role', 'status']);
      }
    });
  });

  describe('users.create', () => {
    it('stores the email lower-cased and refuses a duplicate in any case with CONFLICT', async () => {
      const name = unique('Mixed.Case');
      const created = await admin.traced.client.users.create.mutate({ email: `  ${name}@Desk.EXAMPLE `, role: 'trader', password: strongPassword() });
      const lower = `${name.toLowerCase()}@desk.example`;
      expect(created.user.email).toBe(lower);
      expect((await userRow(server, created.user.id))?.email).toBe(lower);

      const err = await rejectionOf(admin.traced.client.users.create.mutate({ email: `${name.toUpperCase()}@desk.example`, role: 'viewer' }));
      expect(errorData(err)).toMatchObject({ code: 'CONFLICT', httpStatus: 409, reason: 'EMAIL_TAKEN' });
      expect((await allUsers(server)).filter((u) => u.email.toLowerCase() === lower)).toHaveLength(1);

      const audit = await auditRows(server, (r) => r.action === 'user.created' && r.resourceId === created.user.id);
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ actorId: admin.user.id, details: { email: lower, role: 'trader' } });
    });

    it('refuses a malformed email or an unknown role with BAD_REQUEST', async () => {
      const before = (await allUsers(server)).length;
      expect(errorData(await rejectionOf(admin.traced.client.users.create.mutate({ email: 'not-an-email', role: 'viewer' }))).issues).toEqual([
        { path: ['email'], message: 'Enter a valid email address' },
      ]);
      const badRole = { email: `${unique('role')}@desk.example`, role: 'root' } as unknown as { email: string; role: 'viewer' };
      expect(errorData(await rejectionOf(admin.traced.client.users.create.mutate(badRole))).code).toBe('BAD_REQUEST');
      expect((await allUsers(server)).length).toBe(before);
    });
  });

  describe('users.update', () => {
    it('changes the role and ends the sessions that held the old one', async () => {
      const trader = await seedUser(server, 'trader');
      const session = await signIn(server, trader);
      const updated = await admin.traced.client.users.update.mutate({ id: trader.id, role: 'viewer' });
      expect(updated).toMatchObject({ id: trader.id, role: 'viewer', status: 'active' });
      expect((await userRow(server, trader.id))?.role).toBe('viewer');
      expect(errorData(await rejectionOf(session.client.auth.me.query())).code).toBe('UNAUTHORIZED');
      const again = await signIn(server, trader);
      expect((await again.client.auth.me.query()).role).toBe('viewer');
      const audit = await auditRows(server, (r) => r.action === 'user.role_changed' && r.resourceId === trader.id);
      expect(audit.map((r) => r.details)).toEqual([{ from: 'trader', to: 'viewer' }]);
    });

    it('ends the sessions in the same commit as the role: no one ever sees the new role with a live old session', async () => {
      for (let round = 0; round < 3; round += 1) {
        const target = await seedUser(server, 'admin');
        await Promise.all([signIn(server, target), signIn(server, target)]);
        let demoted = false;
        const seen: string[] = [];
        // Watches the two rows from the database's side, one consistent snapshot per read, for as
        // long as the demotion takes.
        const watcher = (async () => {
          while (!demoted) {
            const [row] = await queryRows<{ role: string; live: number }>(
              server.app.deps.db,
              sql`select u.role, (select count(*)::int from sessions s where s.user_id = u.id and s.revoked_at is null) as live
                  from users u where u.id = ${target.id}`,
            );
            seen.push(`${row?.role}:${row?.live}`);
            // PGlite can answer in microtasks alone: without a turn of the event loop, the
            // server would never get to the demotion this loop is waiting for.
            await new Promise((r) => setImmediate(r));
          }
        })();
        await new Promise((r) => setTimeout(r, 10));
        try {
          await admin.traced.client.users.update.mutate({ id: target.id, role: 'trader' });
        } finally {
          demoted = true;
          await watcher;
        }
        expect(seen).toContain('admin:2');
        expect(seen.filter((s) => s !== 'admin:2' && s !== 'trader:0')).toEqual([]);
      }
    });

    it('disables a user: they cannot sign in (same generic error) until enabled again', async () => {
      const viewer = await seedUser(server, 'viewer');
      const session = await signIn(server, viewer);
      await admin.traced.client.users.update.mutate({ id: viewer.id, status: 'disabled' });
      expect((await userRow(server, viewer.id))?.status).toBe('disabled');
      expect(errorData(await rejectionOf(session.client.auth.me.query())).code).toBe('UNAUTHORIZED');

      const anon = httpClient(server);
      const disabledErr = await rejectionOf(anon.auth.login.mutate({ email: viewer.email, password: viewer.password }));
      const unknownErr = await rejectionOf(anon.auth.login.mutate({ email: `${unique('ghost')}@desk.example`, password: viewer.password }));
      expect(disabledErr.message).toBe(GENERIC);
      expect(errorData(disabledErr)).toEqual({ ...errorData(unknownErr) });

      await admin.traced.client.users.update.mutate({ id: viewer.id, status: 'active' });
      await expect(signIn(server, viewer)).resolves.toBeTruthy();
      const actions = (await auditRows(server, (r) => r.resourceId === viewer.id && r.action.startsWith('user.'))).map((r) => r.action);
      expect(actions).toEqual(['user.disabled', 'user.enabled']);
    });

    it('answers NOT_FOUND for an unknown user and BAD_REQUEST when there is nothing to change', async () => {
      const missing = await rejectionOf(admin.traced.client.users.update.mutate({ id: '00000000-0000-4000-8000-000000000001', role: 'viewer' }));
      expect(errorData(missing)).toMatchObject({ code: 'NOT_FOUND', reason: 'USER_NOT_FOUND' });
      const viewer = await seedUser(server, 'viewer');
      expect(errorData(await rejectionOf(admin.traced.client.users.update.mutate({ id: viewer.id }))).code).toBe('BAD_REQUEST');
    });
  });

  describe('users.unlock', () => {
    it('lifts a lock-out at once', async () => {
      const trader = await seedUser(server, 'trader');
      // Guesses from many addresses, as a distributed attack would come: the lock is per account.
      const anon = () => httpClient(server, { headers: { 'x-forwarded-for': nextIp() } });
      for (let i = 0; i < 5; i += 1) await rejectionOf(anon().auth.login.mutate({ email: trader.email, password: `wrong-${i}-password-x` }));
      const locked = (await admin.traced.client.users.list.query({ search: trader.email })).items[0];
      expect(locked?.lockedUntil).not.toBeNull();
      expect((await rejectionOf(anon().auth.login.mutate({ email: trader.email, password: trader.password }))).message).toBe(GENERIC);

      const unlocked = await admin.traced.client.users.unlock.mutate({ id: trader.id });
      expect(unlocked.lockedUntil).toBeNull();
      const row = await userRow(server, trader.id);
      expect(row?.lockedUntil).toBeNull();
      expect(row?.failedLoginCount).toBe(0);
      await expect(signIn(server, trader)).resolves.toBeTruthy();
      expect(await auditRows(server, (r) => r.action === 'user.unlocked' && r.resourceId === trader.id)).toHaveLength(1);
    });
  });

  describe('users.resetPassword', () => {
    it('returns a one-time password once, ends the sessions, and forces a change', async () => {
      const trader = await seedUser(server, 'trader');
      const session = await signIn(server, trader);
      const before = await userRow(server, trader.id);

      const { oneTimePassword } = await admin.traced.client.users.resetPassword.mutate({ id: trader.id });
      expect(oneTimePassword).toEqual(expect.any(String));
      expect(oneTimePassword.length).toBeGreaterThanOrEqual(12);
      const after = await userRow(server, trader.id);
      expect(after?.passwordHash).not.toBe(before?.passwordHash);
      expect(after?.passwordHash).not.toContain(oneTimePassword);
      expect(after?.mustChangePassword).toBe(true);

      expect(errorData(await rejectionOf(session.client.auth.me.query())).code).toBe('UNAUTHORIZED');
      expect((await sessionRows(server, trader.id)).every((s) => s.revokedAt !== null && s.revokedReason === 'password_reset')).toBe(true);
      await expect(signIn(server, trader)).rejects.toThrow(GENERIC);

      const fresh = await signIn(server, { email: trader.email, password: oneTimePassword });
      expect(fresh.login.user.mustChangePassword).toBe(true);
      expect(errorData(await rejectionOf(fresh.client.sessions.list.query()))).toMatchObject({ reason: 'PASSWORD_CHANGE_REQUIRED' });
      const chosen = strongPassword();
      await fresh.client.auth.changePassword.mutate({ currentPassword: oneTimePassword, newPassword: chosen });
      await expect(fresh.client.sessions.list.query()).resolves.toHaveLength(1);
      await expect(signIn(server, { email: trader.email, password: oneTimePassword })).rejects.toThrow(GENERIC);

      const audit = await auditRows(server, (r) => r.action === 'user.password_reset' && r.resourceId === trader.id);
      expect(audit).toHaveLength(1);
      expect(JSON.stringify(await auditRows(server))).not.toContain(oneTimePassword);
    });

    it('answers NOT_FOUND for an unknown user', async () => {
      const err = await rejectionOf(admin.traced.client.users.resetPassword.mutate({ id: '00000000-0000-4000-8000-000000000002' }));
      expect(errorData(err)).toMatchObject({ code: 'NOT_FOUND' });
    });
  });

  describe('users.sessions and users.revokeSessions', () => {
    it("lists a user's live sessions and ends them all", async () => {
      const trader = await seedUser(server, 'trader');
      const one = await signIn(server, trader);
      const two = await signIn(server, trader);
      const listed = await admin.traced.client.users.sessions.query({ id: trader.id });
      expect(listed).toHaveLength(2);
      for (const s of listed) {
        expect(s).toMatchObject({ id: expect.any(String), ip: '127.0.0.1', current: false, createdAt: expect.any(String), expiresAt: expect.any(String) });
      }
      expect(new Set(listed.map((s) => s.id))).toEqual(new Set((await sessionRows(server, trader.id)).map((s) => s.id)));

      expect(await admin.traced.client.users.revokeSessions.mutate({ id: trader.id })).toEqual({ revoked: 2 });
      for (const s of [one, two]) expect(errorData(await rejectionOf(s.client.auth.me.query())).code).toBe('UNAUTHORIZED');
      expect(await admin.traced.client.users.sessions.query({ id: trader.id })).toEqual([]);
      const audit = await auditRows(server, (r) => r.action === 'user.sessions_revoked' && r.resourceId === trader.id);
      expect(audit.map((r) => r.details)).toEqual([{ count: 2 }]);
      // The admin's own session is untouched.
      await expect(admin.traced.client.auth.me.query()).resolves.toMatchObject({ user: { id: admin.user.id } });
    });

    it('answers NOT_FOUND for an unknown user', async () => {
      const id = '00000000-0000-4000-8000-000000000003';
      expect(errorData(await rejectionOf(admin.traced.client.users.sessions.query({ id }))).code).toBe('NOT_FOUND');
      expect(errorData(await rejectionOf(admin.traced.client.users.revokeSessions.mutate({ id }))).code).toBe('NOT_FOUND');
    });
  });

  it('never sends a password hash in any response', async () => {
    const traced = tracedClient(server);
    const email = `${unique('scan')}@desk.example`;
    const login = await traced.client.auth.login.mutate({ email: admin.user.email, password: admin.user.password });
    const authed = tracedClient(server, { token: login.accessToken });
    const created = await authed.client.users.create.mutate({ email, role: 'trader' });
    await authed.client.users.list.query({ limit: 200 });
    await authed.client.users.update.mutate({ id: created.user.id, role: 'viewer' });
    await authed.client.users.unlock.mutate({ id: created.user.id });
    await authed.client.users.resetPassword.mutate({ id: created.user.id });
    await authed.client.users.sessions.query({ id: admin.user.id });
    await authed.client.users.revokeSessions.mutate({ id: created.user.id });
    await authed.client.auth.me.query();
    await authed.client.sessions.list.query();
    const bodies = [...traced.bodies, ...authed.bodies];
    expect(bodies.length).toBeGreaterThanOrEqual(10);
    // The hashes exist, just never on the wire.
    expect((await userRow(server, created.user.id))?.passwordHash).toMatch(/^\$argon2id\$/);
    for (const body of bodies) expect(body).not.toContain('$argon2');
  });
});

describe('the last active admin', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  async function activeAdmins(): Promise<string[]> {
    return (await allUsers(server)).filter((u) => u.role === 'admin' && u.status === 'active').map((u) => u.id);
  }

  it('cannot be demoted or disabled, by itself or anyone', async () => {
    const only = await seedUser(server, 'admin');
    const session = await signIn(server, only);
    expect(await activeAdmins()).toEqual([only.id]);
    for (const change of [{ role: 'trader' as const }, { role: 'viewer' as const }, { status: 'disabled' as const }]) {
      const err = await rejectionOf(session.client.users.update.mutate({ id: only.id, ...change }));
      expect(errorData(err)).toMatchObject({ code: 'PRECONDITION_FAILED', httpStatus: 412, reason: 'LAST_ADMIN' });
    }
    expect(await userRow(server, only.id)).toMatchObject({ role: 'admin', status: 'active' });
    // Changes that keep it an active admin are fine.
    await expect(session.client.users.update.mutate({ id: only.id, role: 'admin', status: 'active' })).resolves.toMatchObject({ role: 'admin' });

    // A second admin may be demoted while the first remains; then the first is the last again.
    const second = await seedUser(server, 'admin');
    await session.client.users.update.mutate({ id: second.id, role: 'trader' });
    expect(await activeAdmins()).toEqual([only.id]);
    expect(errorData(await rejectionOf(session.client.users.update.mutate({ id: only.id, status: 'disabled' }))).reason).toBe('LAST_ADMIN');

    // A disabled admin does not count as one.
    const third = await seedUser(server, 'admin');
    await session.client.users.update.mutate({ id: third.id, status: 'disabled' });
    expect(errorData(await rejectionOf(session.client.users.update.mutate({ id: only.id, role: 'viewer' }))).reason).toBe('LAST_ADMIN');
    expect(await activeAdmins()).toEqual([only.id]);
  });

  it('survives two admins demoting each other at the same moment: exactly one succeeds', async () => {
    // Start from exactly two active admins.
    for (const id of await activeAdmins()) {
      await server.app.deps.db.execute(`update users set status = 'disabled' where id = '${id}'`);
    }
    for (let round = 0; round < 3; round += 1) {
      const a = await seedUser(server, 'admin');
      const b = await seedUser(server, 'admin');
      expect((await activeAdmins()).sort()).toEqual([a.id, b.id].sort());
      const [sa, sb] = await Promise.all([signIn(server, a), signIn(server, b)]);
      const change = round === 2 ? { status: 'disabled' as const } : { role: 'trader' as const };
      const results = await Promise.allSettled([
        sa.client.users.update.mutate({ id: b.id, ...change }),
        sb.client.users.update.mutate({ id: a.id, ...change }),
      ]);
      const fulfilled = results.filter((r) => r.status === 'fulfilled');
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(fulfilled).toHaveLength(1);
      expect(rejected).toHaveLength(1);
      // The loser is refused by the guard, or, if the winner's change landed first, has lost its session.
      expect(['LAST_ADMIN', 'UNAUTHENTICATED']).toContain(errorData(rejected[0]?.reason).reason);
      const remaining = await activeAdmins();
      expect(remaining).toHaveLength(1);
      expect([a.id, b.id]).toContain(remaining[0]);
      // Clean up for the next round: leave no active admin behind.
      await server.app.deps.db.execute(`update users set status = 'disabled' where id = '${remaining[0]}'`);
    }
  });
});
