import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS, permissionsFor, ROLES, type Role } from '@tapevision/api';
import { roleHasPermission, type Permission } from '@tapevision/api/permissions';
import { errorData, rejectionOf, wsClient, type WsTestClient } from './support/clients.ts';
import { allUsers, auditRows, isPublicMeta, listProcedures, metaPermission, rawCall, sampleInput, tracedClient, userRow } from './support/probe.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn, type SignedIn } from './support/users.ts';

const KNOWN_PROCEDURES = [
  'auth.login',
  'auth.refresh',
  'auth.logout',
  'auth.me',
  'auth.changePassword',
  'sessions.list',
  'sessions.revoke',
  'sessions.revokeOthers',
  'sessions.onEvent',
  'users.list',
  'users.create',
  'users.update',
  'users.unlock',
  'users.resetPassword',
  'users.sessions',
  'users.revokeSessions',
  'users.revokeAccess',
  'audit.list',
  'audit.export',
  'audit.onEvent',
  'audit.verify',
  'security.report',
  'security.blocks.list',
  'security.blocks.add',
  'security.blocks.remove',
  'security.lockdown',
  'security.lift',
  'security.status',
  'security.onStatus',
  'system.status',
  'system.start',
  'system.stop',
  'system.configure',
  'system.onStatus',
  'market.lastPrices',
  'market.onTape',
  'trading.execute',
  'trading.cancel',
  'trading.cancelAll',
  'trading.orders',
  'trading.trades',
  'trading.onTrade',
  'trading.onOrder',
  'positions.list',
  'positions.close',
  'positions.flattenAll',
  'alerts.list',
  'alerts.onAlert',
  'alerts.acknowledge',
  'bots.list',
  'bots.get',
  'bots.create',
  'bots.update',
  'bots.delete',
  'bots.start',
  'bots.stop',
  'incidents.list',
  'incidents.get',
  'incidents.update',
  'incidents.addNote',
  'incidents.close',
  'incidents.report',
  'incidents.onIncident',
];

/** The only two shapes of access a procedure may declare. */
function validAccess(meta: unknown): boolean {
  if (typeof meta !== 'object' || meta === null) return false;
  const m = meta as Record<string, unknown>;
  // Other keys (a rate-limit policy, say) may ride along; the access itself must be unambiguous.
  if (m.access === 'public') return !('permission' in m) && !('allowPendingPasswordChange' in m);
  if (m.access !== 'permission') return false;
  if (typeof m.permission !== 'string' || !(PERMISSIONS as readonly string[]).includes(m.permission)) return false;
  return m.allowPendingPasswordChange === undefined || typeof m.allowPendingPasswordChange === 'boolean';
}

describe('the router walk', () => {
  it('recognises only the two valid declarations', () => {
    expect(validAccess({ access: 'public' })).toBe(true);
    expect(validAccess({ access: 'permission', permission: 'users.manage' })).toBe(true);
    expect(validAccess({ access: 'permission', permission: 'account.self', allowPendingPasswordChange: true })).toBe(true);
    expect(validAccess({ access: 'permission', permission: 'trading.execute', rateLimit: 'trading.execute' })).toBe(true);
    for (const bad of [
      undefined,
      null,
      {},
      { access: 'permission' },
      { access: 'permission', permission: 'users.admin' },
      { access: 'permission', permission: 'users.manage', allowPendingPasswordChange: 'yes' },
      { access: 'public', permission: 'users.manage' },
      { access: 'internal' },
      { permission: 'users.manage' },
    ]) {
      expect(validAccess(bad), JSON.stringify(bad)).toBe(false);
    }
  });

  it('finds every procedure declaring public access or one known permission', () => {
    const procedures = listProcedures();
    const undeclared = procedures.filter((p) => !validAccess(p.meta)).map((p) => `${p.path} ${JSON.stringify(p.meta)}`);
    expect(undeclared).toEqual([]);
    // Not vacuous: the walk saw the whole known API.
    expect(procedures.map((p) => p.path)).toEqual(expect.arrayContaining(KNOWN_PROCEDURES));
    expect(procedures.length).toBeGreaterThanOrEqual(KNOWN_PROCEDURES.length);
  });

  it('keeps the public surface to sign-in and refresh, and users.* behind users.manage', () => {
    const procedures = listProcedures();
    expect(procedures.filter((p) => isPublicMeta(p.meta)).map((p) => p.path).sort()).toEqual(['auth.login', 'auth.refresh']);
    for (const p of procedures) {
      if (p.path.startsWith('users.')) expect(metaPermission(p.meta), p.path).toBe('users.manage');
      if (p.path.startsWith('audit.') || p.path === 'security.report') expect(metaPermission(p.meta), p.path).toBe('logs.view');
      // The blocklist, engaging and lifting a lockdown are the security officer's; the lockdown's banner is everyone's.
      if (p.path.startsWith('security.blocks.')) expect(metaPermission(p.meta), p.path).toBe('security.manage');
      if (['security.lockdown', 'security.lift'].includes(p.path)) expect(metaPermission(p.meta), p.path).toBe('security.manage');
      if (['security.status', 'security.onStatus'].includes(p.path)) expect(metaPermission(p.meta), p.path).toBe('account.self');
      if (['system.status', 'system.onStatus', 'market.lastPrices', 'market.onTape'].includes(p.path)) expect(metaPermission(p.meta), p.path).toBe('trading.view');
      if (['system.start', 'system.stop', 'system.configure'].includes(p.path)) expect(metaPermission(p.meta), p.path).toBe(p.path);
      if (['trading.execute', 'trading.cancel', 'trading.cancelAll'].includes(p.path)) expect(metaPermission(p.meta), p.path).toBe('trading.execute');
      if (['trading.orders', 'trading.trades', 'trading.onTrade', 'trading.onOrder', 'positions.list'].includes(p.path)) {
        expect(metaPermission(p.meta), p.path).toBe('trading.view');
      }
      if (['positions.close', 'positions.flattenAll'].includes(p.path)) expect(metaPermission(p.meta), p.path).toBe('positions.manage');
      if (p.path.startsWith('alerts.')) expect(metaPermission(p.meta), p.path).toBe('alerts.view');
      // Placing orders spends the trading budget (10 a minute per principal); reducing risk
      // (closes, cancels) spends its own, so a spent order budget never keeps a trader from getting flat.
      if (p.path === 'trading.execute') expect((p.meta as { rateLimit?: string }).rateLimit, p.path).toBe('trading.execute');
      if (['positions.close', 'positions.flattenAll', 'trading.cancel', 'trading.cancelAll'].includes(p.path)) expect((p.meta as { rateLimit?: string }).rateLimit, p.path).toBe('trading.reduce');
      if (p.path.startsWith('sessions.') || ['auth.me', 'auth.logout', 'auth.changePassword'].includes(p.path)) {
        expect(metaPermission(p.meta), p.path).toBe('account.self');
      }
    }
  });

  it('binds apiKeys.create/list/revoke/roll to apikeys.manage', () => {
    const apiKeyProcedures = listProcedures().filter((p) => p.path.startsWith('apiKeys.'));
    expect(apiKeyProcedures.map((p) => `${p.path}:${p.type}`).sort()).toEqual([
      'apiKeys.create:mutation',
      'apiKeys.list:query',
      'apiKeys.revoke:mutation',
      'apiKeys.roll:mutation',
    ]);
    for (const p of apiKeyProcedures) expect(metaPermission(p.meta), p.path).toBe('apikeys.manage');
    // Who holds it: admin and trader, never viewer.
    expect(ROLES.filter((r) => roleHasPermission(r, 'apikeys.manage'))).toEqual(['admin', 'trader']);
  });
});

describe('access over HTTP and WebSocket', () => {
  let server: TestServer;
  const signedIn = {} as Record<Role, { id: string; session: SignedIn }>;
  beforeAll(async () => {
    server = await startTestServer();
    for (const role of ROLES) {
      const user = await seedUser(server, role);
      signedIn[role] = { id: user.id, session: await signIn(server, user) };
    }
  });
  afterAll(async () => {
    await server?.close();
  });

  const protectedProcedures = () => listProcedures().filter((p) => !isPublicMeta(p.meta));

  it('answers UNAUTHORIZED (401) on every non-public procedure without a token, or with a bad one', async () => {
    const target = await seedUser(server, 'viewer');
    const procedures = protectedProcedures();
    expect(procedures.length).toBeGreaterThanOrEqual(KNOWN_PROCEDURES.length - 2);
    for (const token of [null, 'not-a-jwt', `${signedIn.admin.session.token}x`]) {
      for (const p of procedures) {
        const res = await rawCall(server, p.path, p.type, { token, input: sampleInput(p.path, target.id) });
        const label = `${p.path} token=${token ? 'bad' : 'none'}`;
        expect(res.error?.data, label).toMatchObject({ code: 'UNAUTHORIZED', httpStatus: 401 });
        if (p.type !== 'subscription') expect(res.status, label).toBe(401);
      }
    }
    // Nothing happened to the target.
    expect(await userRow(server, target.id)).toMatchObject({ role: 'viewer', status: 'active', mustChangePassword: false });
  });

  it("grants each role exactly its permissions: FORBIDDEN (403) names the missing one, and is audited", async () => {
    let denied = 0;
    for (const role of ROLES) {
      const { id, session } = signedIn[role];
      const me = await session.client.auth.me.query();
      expect(me.permissions.sort()).toEqual(permissionsFor(role).sort());

      const target = await seedUser(server, 'viewer');
      const usersBefore = (await allUsers(server)).length;
      for (const p of protectedProcedures()) {
        // These two end or change the caller's own session; they are exercised elsewhere.
        if (p.path === 'auth.logout' || p.path === 'auth.changePassword') continue;
        const permission = metaPermission(p.meta) as Permission;
        const res = await rawCall(server, p.path, p.type, { token: session.token, input: sampleInput(p.path, target.id), subscriptionWaitMs: 1_500 });
        const label = `${role} ${p.path}`;
        if (roleHasPermission(role, permission)) {
          expect([401, 403], label).not.toContain(res.status);
          expect(res.error?.data?.code ?? 'OK', label).not.toMatch(/^(UNAUTHORIZED|FORBIDDEN)$/);
        } else {
          denied += 1;
          // A subscription over HTTP is a server-sent event stream: it answers 200 and sends the
          // error as its first event (the same as for 401 above).
          if (p.type !== 'subscription') expect(res.status, label).toBe(403);
          expect(res.error?.data, label).toMatchObject({ code: 'FORBIDDEN', httpStatus: 403, permission, reason: 'MISSING_PERMISSION' });
          const audit = await auditRows(server, (r) => r.action === 'authz.denied' && r.actorId === id && r.resourceId === p.path);
          expect(audit.length, label).toBeGreaterThanOrEqual(1);
          expect(audit.at(-1)?.details, label).toMatchObject({ permission, role });
          expect(audit.at(-1)?.outcome, label).toBe('denied');
        }
      }
      if (role !== 'admin') {
        // A denied users.create created nobody; a denied users.update changed nothing.
        expect((await allUsers(server)).length, role).toBe(usersBefore);
        expect(await userRow(server, target.id), role).toMatchObject({ role: 'viewer', status: 'active', mustChangePassword: false });
      }
    }
    // trader and viewer are each refused all seven users.* procedures.
    expect(denied).toBeGreaterThanOrEqual(14);
    // The sessions are still good: being refused is not being signed out.
    for (const role of ROLES) await expect(signedIn[role].session.client.auth.me.query()).resolves.toMatchObject({ role });
    // Every procedure for every role, each permitted subscription held open 1.5 s: it takes a while.
  }, 180_000);

  it('refuses trader and viewer every users.* call through the typed client too; admin gets through', async () => {
    for (const role of ['trader', 'viewer'] as const) {
      const { id, session } = signedIn[role];
      const before = (await auditRows(server, (r) => r.action === 'authz.denied' && r.actorId === id)).length;
      const calls: [string, () => Promise<unknown>][] = [
        ['users.list', () => session.client.users.list.query()],
        ['users.create', () => session.client.users.create.mutate({ email: `sneaky-${role}@desk.example`, role: 'admin' })],
        ['users.update', () => session.client.users.update.mutate({ id, role: 'admin' })],
        ['users.unlock', () => session.client.users.unlock.mutate({ id })],
        ['users.resetPassword', () => session.client.users.resetPassword.mutate({ id })],
        ['users.sessions', () => session.client.users.sessions.query({ id })],
        ['users.revokeSessions', () => session.client.users.revokeSessions.mutate({ id })],
        ['users.revokeAccess', () => session.client.users.revokeAccess.mutate({ id })],
      ];
      for (const [path, call] of calls) {
        const err = await rejectionOf(call());
        expect(err.message, path).toBe('Missing permission: users.manage');
        expect(errorData(err), path).toMatchObject({ code: 'FORBIDDEN', httpStatus: 403, permission: 'users.manage', reason: 'MISSING_PERMISSION', path });
      }
      expect((await auditRows(server, (r) => r.action === 'authz.denied' && r.actorId === id)).length).toBe(before + calls.length);
      // No self-promotion happened.
      expect((await userRow(server, id))?.role).toBe(role);
      expect((await allUsers(server)).some((u) => u.email === `sneaky-${role}@desk.example`)).toBe(false);
    }
    const admin = signedIn.admin.session;
    await expect(admin.client.users.list.query({ limit: 1 })).resolves.toMatchObject({ items: expect.any(Array) });
    await expect(admin.client.users.sessions.query({ id: signedIn.trader.id })).resolves.toEqual(expect.any(Array));
  });

  describe('over WebSocket', () => {
    const open: WsTestClient[] = [];
    afterAll(async () => {
      await Promise.all(open.map((c) => c.close()));
    });
    function ws(token: string | null): WsTestClient {
      const client = wsClient(server, { token });
      open.push(client);
      return client;
    }
    function subscriptionOutcome(client: WsTestClient): Promise<{ started: true } | { error: unknown }> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('subscription neither started nor failed')), 10_000);
        const sub = client.trpc.sessions.onEvent.subscribe(undefined, {
          onStarted: () => {
            clearTimeout(timer);
            sub.unsubscribe();
            resolve({ started: true });
          },
          onError: (error) => {
            clearTimeout(timer);
            resolve({ error });
          },
        });
      });
    }

    it('answers UNAUTHORIZED without a token, for queries, mutations and subscriptions', async () => {
      for (const token of [null, 'not-a-jwt']) {
        const anon = ws(token);
        expect(errorData(await rejectionOf(anon.trpc.auth.me.query()))).toMatchObject({ code: 'UNAUTHORIZED' });
        expect(errorData(await rejectionOf(anon.trpc.users.list.query()))).toMatchObject({ code: 'UNAUTHORIZED' });
        expect(errorData(await rejectionOf(anon.trpc.sessions.revokeOthers.mutate()))).toMatchObject({ code: 'UNAUTHORIZED' });
        const outcome = await subscriptionOutcome(anon);
        expect('error' in outcome && errorData(outcome.error)).toMatchObject({ code: 'UNAUTHORIZED' });
      }
    });

    it('refuses trader and viewer users.* with FORBIDDEN users.manage, audited; admin gets through', async () => {
      for (const role of ['trader', 'viewer'] as const) {
        const { id, session } = signedIn[role];
        const client = ws(session.token);
        const before = (await auditRows(server, (r) => r.action === 'authz.denied' && r.actorId === id)).length;
        const err = await rejectionOf(client.trpc.users.list.query());
        expect(errorData(err)).toMatchObject({ code: 'FORBIDDEN', permission: 'users.manage', reason: 'MISSING_PERMISSION' });
        expect(errorData(await rejectionOf(client.trpc.users.create.mutate({ email: `ws-${role}@desk.example`, role: 'viewer' })))).toMatchObject({
          code: 'FORBIDDEN',
          permission: 'users.manage',
        });
        expect((await auditRows(server, (r) => r.action === 'authz.denied' && r.actorId === id)).length).toBe(before + 2);
        await expect(client.trpc.auth.me.query()).resolves.toMatchObject({ role });
        expect(await subscriptionOutcome(client)).toEqual({ started: true });
      }
      const admin = ws(signedIn.admin.session.token);
      await expect(admin.trpc.users.list.query({ limit: 2 })).resolves.toMatchObject({ items: expect.any(Array) });
    });
  });

  describe('inside one HTTP batch', () => {
    it('gives an allowed and a forbidden call their own results', async () => {
      const { session } = signedIn.trader;
      const traced = tracedClient(server, { token: session.token });
      const [me, list, sessions] = await Promise.allSettled([
        traced.client.auth.me.query(),
        traced.client.users.list.query(),
        traced.client.sessions.list.query(),
      ]);
      expect(traced.requests).toBe(1);
      expect(me).toMatchObject({ status: 'fulfilled', value: { role: 'trader' } });
      expect(sessions).toMatchObject({ status: 'fulfilled', value: expect.any(Array) });
      expect(list.status).toBe('rejected');
      if (list.status === 'rejected') {
        expect(errorData(list.reason)).toMatchObject({ code: 'FORBIDDEN', permission: 'users.manage', path: 'users.list' });
      }

      // On the wire: one response, one entry per call.
      const res = await fetch(`${server.trpcUrl}/auth.me,users.list?batch=1&input=${encodeURIComponent('{}')}`, {
        headers: { authorization: `Bearer ${session.token}` },
      });
      expect(res.status).toBe(207);
      const body = (await res.json()) as { result?: { data: { role: string } }; error?: { data: { code: string } } }[];
      expect(body).toHaveLength(2);
      expect(body[0]?.result?.data.role).toBe('trader');
      expect(body[1]?.error?.data.code).toBe('FORBIDDEN');

      const adminRes = await fetch(`${server.trpcUrl}/auth.me,users.list?batch=1&input=${encodeURIComponent('{}')}`, {
        headers: { authorization: `Bearer ${signedIn.admin.session.token}` },
      });
      expect(adminRes.status).toBe(200);
      const adminBody = (await adminRes.json()) as { result?: unknown }[];
      expect(adminBody.every((entry) => 'result' in entry)).toBe(true);
    });

    it('does not let an anonymous call in a batch borrow anything from its neighbours', async () => {
      const traced = tracedClient(server);
      const [login, logout] = await Promise.allSettled([
        traced.client.auth.login.mutate({ email: 'nobody@desk.example', password: 'not-a-password-1' }),
        traced.client.auth.logout.mutate(),
      ]);
      expect(traced.requests).toBe(1);
      expect(login.status === 'rejected' && errorData(login.reason).code).toBe('UNAUTHORIZED');
      expect(logout.status === 'rejected' && errorData(logout.reason).code).toBe('UNAUTHORIZED');
    });
  });
});
