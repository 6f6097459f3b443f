/**
 * Emergency lockdown (security.lockdown/lift/status/onStatus) and the kill switch
 * (trading.cancelAll, positions.flattenAll): new orders refused on every process at once,
 * non-admin sessions ended and sign-ins refused, API keys suspended and restored, bots stopped;
 * admins can still get flat during a lockdown and a system.stop; it survives restarts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LockdownStatusEvent } from '@tapevision/api';
import { apiKeys, bots, lockdowns } from '@tapevision/db';
import { keyClient, keyWsClient } from './support/api-keys.ts';
import { errorData, httpClient, rejectionOf, wsClient, type WsTestClient } from './support/clients.ts';
import { SHARED_REDIS_URL, startCluster, type ClusterNode } from './support/cluster.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, type TestServer } from './support/server.ts';
import { auditRows, openSocket, trackRawCloses, waitFor } from './support/session-helpers.ts';
import { MANY_ORDERS, openDesk, ticket, type Desk } from './support/trading.ts';
import { seedUser, signIn, strongPassword, type SignedIn } from './support/users.ts';

const sockets: WsTestClient[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
});

function socket(on: TestServer, token: string): WsTestClient {
  const ws = wsClient(on, { token });
  sockets.push(ws);
  return ws;
}

function watchStatus(ws: WsTestClient, input: { lastEventId?: string } = {}) {
  const events: { id: string; data: LockdownStatusEvent }[] = [];
  const sub = ws.trpc.security.onStatus.subscribe(input, { onData: (e) => events.push(e as { id: string; data: LockdownStatusEvent }) });
  return { events, stop: () => sub.unsubscribe() };
}

const positionOf = async (who: SignedIn, symbol: string) => (await who.client.positions.list.query()).positions.find((p) => p.symbol === symbol)?.quantity ?? 0;

describe('lockdown on one server', () => {
  let server: TestServer;
  let desk: Desk;
  beforeAll(async () => {
    server = await startTestServer({ rateLimits: MANY_ORDERS });
    desk = await openDesk(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('refuses lockdown and lift to non-admins (FORBIDDEN) and lift when none holds; status says none', async () => {
    for (const who of [desk.alice, desk.viewer]) {
      expect(errorData(await rejectionOf(who.client.security.lockdown.mutate({ reason: 'nope' })))).toMatchObject({ code: 'FORBIDDEN', permission: 'security.manage' });
      expect(errorData(await rejectionOf(who.client.security.lift.mutate({ reason: 'nope' })))).toMatchObject({ code: 'FORBIDDEN', permission: 'security.manage' });
    }
    expect(await desk.alice.client.security.status.query()).toMatchObject({ active: false, since: null, reason: null, engagedBy: null, lockdown: null });
    expect(errorData(await rejectionOf(desk.admin.client.security.lift.mutate({ reason: 'nothing to lift' })))).toMatchObject({ code: 'CONFLICT', reason: 'NO_LOCKDOWN' });
    expect(errorData(await rejectionOf(desk.admin.client.security.lockdown.mutate({ reason: '  ' })))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await server.app.deps.db.select().from(lockdowns)).toEqual([]);
  });

  it('ends non-admin sessions, refuses their sign-in and orders, suspends keys and stops bots; lift restores the keys', async () => {
    const trader = await seedUser(server, 'trader');
    const traderSession = await signIn(server, trader);
    await traderSession.client.trading.execute.mutate(ticket({ action: 'BUY', quantity: 2 }));
    const { key } = await traderSession.client.apiKeys.create.mutate({ name: 'lockdown probe', permissions: ['trading.view', 'trading.execute'] });
    const keyed = keyClient(server, key);
    await expect(keyed.positions.list.query()).resolves.toBeTruthy();
    const bot = await traderSession.client.bots.create.mutate({ name: 'lockdown bot', strategy: 'momentum', symbols: ['ES'] });
    await traderSession.client.bots.start.mutate({ id: bot.id });
    const traderSocket = await openSocket(server, traderSession.token);
    const keySocket = keyWsClient(server, key);
    sockets.push(keySocket);
    await keySocket.trpc.positions.list.query();
    const keyRaw = trackRawCloses(keySocket);
    const adminBot = await desk.admin.client.bots.create.mutate({ name: 'admin bot', strategy: 'momentum', symbols: ['NQ'] });
    // From the first event on: no race with the subscription getting ready.
    const watcher = watchStatus(socket(server, desk.admin.token), { lastEventId: '0' });

    const engaged = await desk.admin.client.security.lockdown.mutate({ reason: 'credential leak on the desk' });
    expect(engaged.status).toMatchObject({ active: true, reason: 'credential leak on the desk', engagedBy: { id: desk.admin.login.user.id, email: desk.admin.login.user.email } });
    expect(engaged.sessionsEnded).toBeGreaterThanOrEqual(1);
    expect(engaged.apiKeysSuspended).toBeGreaterThanOrEqual(1);
    expect(engaged.botsStopped).toBeGreaterThanOrEqual(1);

    // Twice is CONFLICT: one lockdown at a time.
    expect(errorData(await rejectionOf(desk.admin.client.security.lockdown.mutate({ reason: 'again' })))).toMatchObject({ code: 'CONFLICT', reason: 'LOCKDOWN_ACTIVE' });

    // The trader's session is over: its next call is UNAUTHORIZED.
    expect(errorData(await rejectionOf(traderSession.client.positions.list.query()))).toMatchObject({ code: 'UNAUTHORIZED' });
    // Sign-in: the right password hears of the lockdown, a wrong one only the usual generic answer.
    const refused = await rejectionOf(signIn(server, trader));
    expect(errorData(refused)).toMatchObject({ code: 'FORBIDDEN', reason: 'LOCKDOWN' });
    expect(refused.message).toMatch(/lockdown/i);
    const wrong = await rejectionOf(signIn(server, { email: trader.email, password: `${trader.password}x` }));
    expect(errorData(wrong)).toMatchObject({ code: 'UNAUTHORIZED', reason: 'INVALID_CREDENTIALS' });
    expect(wrong.message).not.toMatch(/lockdown/i);
    expect((await auditRows(server, ['auth.login_failed'])).filter((r) => r.actorId === trader.id).map((r) => r.details.reason)).toEqual(['lockdown', 'bad_password']);
    // The key is suspended, not deleted.
    expect(errorData(await rejectionOf(keyed.positions.list.query()))).toMatchObject({ code: 'UNAUTHORIZED', reason: 'API_KEY_SUSPENDED' });
    const keyRow = (await server.app.deps.db.select().from(apiKeys)).find((k) => k.userId === trader.id);
    expect(keyRow).toMatchObject({ revokedAt: null, suspendedAt: expect.any(Date), suspendedByLockdown: engaged.status.lockdown!.id });
    // A key made during the lockdown is born suspended, and comes back with the rest.
    const born = await desk.admin.client.apiKeys.create.mutate({ name: 'made during lockdown', permissions: ['trading.view'] });
    expect(born.apiKey.suspendedAt).not.toBeNull();
    expect(errorData(await rejectionOf(keyClient(server, born.key).positions.list.query()))).toMatchObject({ reason: 'API_KEY_SUSPENDED' });
    // The bot stopped, and none starts during the lockdown, not even an admin's.
    const botRow = (await server.app.deps.db.select().from(bots)).find((r) => r.id === bot.id);
    expect(botRow).toMatchObject({ status: 'stopped', lastError: expect.stringMatching(/lockdown/i) });
    expect(errorData(await rejectionOf(desk.admin.client.bots.start.mutate({ id: adminBot.id })))).toMatchObject({ code: 'FORBIDDEN', reason: 'LOCKDOWN' });
    // The open sockets of the ended session and the suspended key are closed (revoked).
    await expect.poll(() => traderSocket.rawCloses[0]?.code, { timeout: 10_000 }).toBe(4001);
    await expect.poll(() => keyRaw.rawCloses[0]?.code, { timeout: 10_000 }).toBe(4001);
    await traderSocket.close();
    // Admins keep their sessions; an admin's new opening order is refused like anyone's.
    expect(errorData(await rejectionOf(desk.admin.client.trading.execute.mutate(ticket({ action: 'BUY' }))))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'RISK_REJECTED',
      rule: 'lockdown',
    });
    expect(await desk.admin.client.security.status.query()).toMatchObject({ active: true, since: engaged.status.since, reason: 'credential leak on the desk' });
    await waitFor(() => watcher.events.some((e) => e.data.kind === 'engaged'), 10_000, 'the engaged event');

    const lifted = await desk.admin.client.security.lift.mutate({ reason: 'keys rotated' });
    expect(lifted).toMatchObject({ status: { active: false }, lockdown: { liftReason: 'keys rotated', liftedAt: expect.any(String) } });
    expect(lifted.apiKeysRestored).toBeGreaterThanOrEqual(1);
    await expect(keyed.positions.list.query()).resolves.toBeTruthy();
    await expect(keyClient(server, born.key).positions.list.query()).resolves.toBeTruthy();
    const back = await signIn(server, trader);
    await expect(back.client.trading.execute.mutate(ticket({ action: 'SELL', quantity: 2 }))).resolves.toMatchObject({ status: 'filled' });
    // A stopped bot stays stopped; its owner may start it again.
    await expect(back.client.bots.start.mutate({ id: bot.id })).resolves.toMatchObject({ status: 'running' });
    await back.client.bots.stop.mutate({ id: bot.id });
    await waitFor(() => watcher.events.some((e) => e.data.kind === 'lifted'), 10_000, 'the lifted event');
    expect(watcher.events.map((e) => e.data.kind)).toEqual(['engaged', 'lifted']);
    expect(watcher.events[0]!.data.status).toMatchObject({ active: true, reason: 'credential leak on the desk' });
    expect(watcher.events[1]!.data.status.active).toBe(false);
    watcher.stop();

    // Resumable: after the engaged event, only the lift comes back.
    const resumed = watchStatus(socket(server, desk.admin.token), { lastEventId: watcher.events[0]!.id });
    await waitFor(() => resumed.events.length >= 1, 10_000, 'the replayed lift');
    expect(resumed.events.map((e) => e.data.kind)).toEqual(['lifted']);
    resumed.stop();

    // Both ways audited CRITICAL; both alerts raised.
    const audit = await auditRows(server, ['security.lockdown_engaged', 'security.lockdown_lifted']);
    expect(audit.map((r) => [r.action, r.severity, r.actorId])).toEqual([
      ['security.lockdown_engaged', 'CRITICAL', desk.admin.login.user.id],
      ['security.lockdown_lifted', 'CRITICAL', desk.admin.login.user.id],
    ]);
    const alerts = JSON.stringify(await desk.admin.client.alerts.list.query());
    expect(alerts).toContain('lockdown.engaged');
    expect(alerts).toContain('lockdown.lifted');
  });

  it('lets an admin close reduce-only and flatten every account during a stop and a lockdown, while opening orders are refused', async () => {
    const trader = await seedUser(server, 'trader');
    const alice = await signIn(server, trader);
    await alice.client.trading.execute.mutate(ticket({ action: 'BUY', quantity: 3, symbol: 'NQ' }));
    await desk.admin.client.trading.execute.mutate(ticket({ action: 'SELL', quantity: 2, symbol: 'ES' }));
    await desk.admin.client.trading.execute.mutate(ticket({ action: 'SELL', quantity: 1, symbol: 'NQ' }));

    // system.stop: opening refused for all, a trader's close refused, an admin's close accepted.
    await desk.admin.client.system.stop.mutate();
    expect(errorData(await rejectionOf(desk.admin.client.trading.execute.mutate(ticket({ action: 'SELL' }))))).toMatchObject({ rule: 'engine_stopped' });
    expect(errorData(await rejectionOf(alice.client.positions.close.mutate({ symbol: 'NQ' })))).toMatchObject({ rule: 'engine_stopped' });
    await expect(desk.admin.client.positions.close.mutate({ symbol: 'ES' })).resolves.toMatchObject({ status: 'filled' });
    expect(await positionOf(desk.admin, 'ES')).toBe(0);

    // Lockdown on top: the admin flattens every account (the trader's NQ and its own).
    await desk.admin.client.security.lockdown.mutate({ reason: 'flatten the desk' });
    expect(errorData(await rejectionOf(desk.admin.client.trading.execute.mutate(ticket({ action: 'BUY', symbol: 'NQ' }))))).toMatchObject({ rule: 'lockdown' });
    const flat = await desk.admin.client.positions.flattenAll.mutate();
    expect(flat.refused).toEqual([]);
    expect(flat.flattened).toBeGreaterThanOrEqual(2);
    expect(flat.closes).toEqual(expect.arrayContaining([expect.objectContaining({ ownerId: trader.id, symbol: 'NQ', quantity: 3 })]));
    const open = await desk.admin.client.positions.list.query({});
    expect(open.positions.filter((p) => p.quantity !== 0)).toEqual([]);
    // Idempotent: nothing left to flatten.
    expect(await desk.admin.client.positions.flattenAll.mutate()).toMatchObject({ flattened: 0, closes: [], refused: [] });
    expect((await auditRows(server, ['positions.flatten_all'])).length).toBe(2);

    await desk.admin.client.security.lift.mutate({ reason: 'desk flat' });
    await desk.admin.client.system.start.mutate();
  });

  it('cancelAll and flattenAll: own account for a trader, FORBIDDEN for another, every account for an admin, idempotent', async () => {
    const [a, b] = [await seedUser(server, 'trader'), await seedUser(server, 'trader')];
    const [alice, bob] = [await signIn(server, a), await signIn(server, b)];
    const far = (side: 'BUY' | 'SELL') => ticket({ action: side, type: 'limit', price: side === 'BUY' ? Math.round(lastPriceOf(server, 'ES') * 0.97 * 4) / 4 : Math.round(lastPriceOf(server, 'ES') * 1.03 * 4) / 4 });
    await alice.client.trading.execute.mutate(far('BUY'));
    await alice.client.trading.execute.mutate(far('SELL'));
    await bob.client.trading.execute.mutate(far('BUY'));
    await alice.client.trading.execute.mutate(ticket({ action: 'BUY', quantity: 2 }));
    await bob.client.trading.execute.mutate(ticket({ action: 'SELL', quantity: 1 }));

    // A trader may not aim either at someone else's account.
    expect(errorData(await rejectionOf(alice.client.trading.cancelAll.mutate({ userId: b.id })))).toMatchObject({ code: 'FORBIDDEN', reason: 'NOT_YOUR_ACCOUNT' });
    expect(errorData(await rejectionOf(alice.client.positions.flattenAll.mutate({ userId: b.id })))).toMatchObject({ code: 'FORBIDDEN', reason: 'NOT_YOUR_ACCOUNT' });
    expect(errorData(await rejectionOf(alice.client.trading.cancelAll.mutate({ userId: 'not-a-uuid' })))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await positionOf(bob, 'ES')).toBe(-1);

    // Without userId a trader reaches only their own account.
    expect(await alice.client.trading.cancelAll.mutate()).toMatchObject({ cancelled: 2 });
    expect(await alice.client.trading.cancelAll.mutate({ userId: a.id })).toMatchObject({ cancelled: 0, orderIds: [] });
    expect(await alice.client.positions.flattenAll.mutate()).toMatchObject({ flattened: 1, refused: [] });
    expect(await alice.client.positions.flattenAll.mutate()).toMatchObject({ flattened: 0 });
    expect(await positionOf(alice, 'ES')).toBe(0);
    expect((await bob.client.trading.orders.query({ status: 'working' })).items).toHaveLength(1);
    expect(await positionOf(bob, 'ES')).toBe(-1);

    // An admin names bob's account.
    expect(await desk.admin.client.trading.cancelAll.mutate({ userId: b.id })).toMatchObject({ cancelled: 1 });
    expect(await desk.admin.client.positions.flattenAll.mutate({ userId: b.id })).toMatchObject({ flattened: 1 });
    expect(await positionOf(bob, 'ES')).toBe(0);
    expect(await desk.admin.client.trading.cancelAll.mutate()).toMatchObject({ cancelled: 0 });

    const cancels = await auditRows(server, ['trading.cancel_all']);
    expect(cancels.length).toBeGreaterThanOrEqual(4);
    expect(cancels.at(-2)?.details).toMatchObject({ scope: 'account', userId: b.id, cancelled: 1 });
    expect(cancels.at(-1)?.details).toMatchObject({ scope: 'all', cancelled: 0 });
  });
});

function lastPriceOf(server: TestServer, symbol: string): number {
  const p = server.app.deps.market.lastPrices().find((x) => x.symbol === symbol)?.price;
  if (p == null) throw new Error(`no last price for ${symbol}`);
  return p;
}

describe('lockdown across processes on one Postgres database', () => {
  it('engaged on A is refused on B at once, and holds after a restart', { timeout: 120_000 }, async () => {
    const fresh = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
    let a: TestServer | null = await startTestServer({ databaseUrl: fresh.url });
    const b = await startTestServer({ databaseUrl: fresh.url });
    let c: TestServer | null = null;
    try {
      const adminUser = await seedUser(a, 'admin');
      const adminA = await signIn(a, adminUser);
      await adminA.client.system.start.mutate();
      await waitFor(() => b.app.deps.market.lastPrices().every((p) => p.price !== null), 15_000, 'prices on B');
      const trader = await seedUser(b, 'trader');
      const traderB = await signIn(b, trader);
      const adminB = await signIn(b, adminUser);
      await traderB.client.trading.execute.mutate(ticket({ action: 'BUY' }));

      await adminA.client.security.lockdown.mutate({ reason: 'engaged on A' });
      // No waiting: B reads the lockdown in the order's own transaction.
      expect(errorData(await rejectionOf(adminB.client.trading.execute.mutate(ticket({ action: 'BUY' }))))).toMatchObject({ rule: 'lockdown' });
      expect(errorData(await rejectionOf(signIn(b, trader)))).toMatchObject({ code: 'FORBIDDEN', reason: 'LOCKDOWN' });
      await vi_waitUnauthorized(traderB);
      expect(await adminB.client.security.status.query()).toMatchObject({ active: true, reason: 'engaged on A' });

      // A restart on the same database: still locked down.
      await a.close();
      a = null;
      c = await startTestServer({ databaseUrl: fresh.url });
      const adminC = await signIn(c, adminUser);
      expect(await adminC.client.security.status.query()).toMatchObject({ active: true, reason: 'engaged on A', engagedBy: { id: adminUser.id } });
      expect(errorData(await rejectionOf(signIn(c, trader)))).toMatchObject({ code: 'FORBIDDEN', reason: 'LOCKDOWN' });
      // Lifted on B, gone on C.
      await adminB.client.security.lift.mutate({ reason: 'all clear' });
      expect(await adminC.client.security.status.query()).toMatchObject({ active: false });
      await expect(signIn(c, trader)).resolves.toBeTruthy();
    } finally {
      await Promise.all(sockets.splice(0).map((s) => s.close()));
      await a?.close();
      await c?.close();
      await b.close();
      await fresh.drop();
    }
  });
});

/** The session ends in the engage's commit; B's cache hears of it over the bus. */
async function vi_waitUnauthorized(who: SignedIn): Promise<void> {
  await expect
    .poll(async () => errorData(await rejectionOf(who.client.positions.list.query())).code, { timeout: 10_000 })
    .toBe('UNAUTHORIZED');
}

describe('lockdown across two server processes (support/cluster.ts)', () => {
  it('engaged through A: B refuses the next order, the sign-in and the ended session at once', { timeout: 180_000 }, async () => {
    const cluster = await startCluster(2, { REDIS_URL: SHARED_REDIS_URL, MARKET_LEADER_RETRY_MS: '300' });
    try {
      const [a, b] = cluster.nodes as [ClusterNode, ClusterNode];
      const loginOn = async (node: ClusterNode, who: { email: string; password: string }) => {
        const login = await httpClient(node).auth.login.mutate(who);
        return httpClient(node, { token: login.accessToken });
      };
      const adminA = await loginOn(a, cluster.admin);
      const trader = { email: `lockdown-trader-${Date.now().toString(36)}@desk.example`, password: strongPassword() };
      await adminA.users.create.mutate({ ...trader, role: 'trader', mustChangePassword: false });
      await adminA.system.start.mutate();
      const adminB = await loginOn(b, cluster.admin);
      const traderB = await loginOn(b, trader);
      await expect.poll(async () => (await traderB.market.lastPrices.query()).every((p) => p.price !== null), { timeout: 20_000 }).toBe(true);
      await expect(traderB.trading.execute.mutate(ticket({ action: 'BUY' }))).resolves.toMatchObject({ status: 'filled' });

      await adminA.security.lockdown.mutate({ reason: 'engaged through A' });
      // B reads the lockdown row in the order's own transaction: no notice needs to arrive first.
      expect(errorData(await rejectionOf(adminB.trading.execute.mutate(ticket({ action: 'BUY' }))))).toMatchObject({ rule: 'lockdown' });
      expect(errorData(await rejectionOf(loginOn(b, trader)))).toMatchObject({ code: 'FORBIDDEN', reason: 'LOCKDOWN' });
      await expect.poll(async () => errorData(await rejectionOf(traderB.positions.list.query())).code, { timeout: 10_000 }).toBe('UNAUTHORIZED');
      // The admin on B flattens the trader's account (reduce-only, during the lockdown).
      expect(await adminB.positions.flattenAll.mutate()).toMatchObject({ flattened: 1, refused: [] });
      await adminB.security.lift.mutate({ reason: 'clear' });
      expect(await adminA.security.status.query()).toMatchObject({ active: false });
    } finally {
      await cluster.stop();
    }
  });
});
