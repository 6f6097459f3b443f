/**
 * Engine control (system.*): status for anyone who may view trading; start, stop and configure
 * for their own permissions; idempotent and serialised starts; every change audited and streamed
 * by system.onStatus (resumable by lastEventId); one state for every process on one Postgres.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EngineStatusEvent, RiskLimits } from '@tapevision/api/schemas';
import { engineEvents } from '@tapevision/db';
import { errorData, rejectionOf, wsClient, type WsTestClient } from './support/clients.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, type TestServer } from './support/server.ts';
import { auditRows, sleep, waitFor } from './support/session-helpers.ts';
import { seedUser, signIn, type SeededUser, type SignedIn } from './support/users.ts';

type Tracked = { id: string; data: EngineStatusEvent };

let server: TestServer;
let admin: { user: SeededUser; session: SignedIn };
let trader: { user: SeededUser; session: SignedIn };
let viewer: { user: SeededUser; session: SignedIn };

async function signedIn(on: TestServer, role: SeededUser['role']) {
  const user = await seedUser(on, role);
  return { user, session: await signIn(on, user) };
}

beforeAll(async () => {
  server = await startTestServer();
  admin = await signedIn(server, 'admin');
  trader = await signedIn(server, 'trader');
  viewer = await signedIn(server, 'viewer');
});
afterAll(async () => {
  await server?.close();
});

const sockets: WsTestClient[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
});

function socket(on: TestServer, token: string): WsTestClient {
  const ws = wsClient(on, { token });
  sockets.push(ws);
  return ws;
}

async function eventRows(on: TestServer) {
  return on.app.deps.db.select().from(engineEvents).orderBy(engineEvents.id);
}

function subscribe(ws: WsTestClient, input: { lastEventId?: string } = {}) {
  const events: Tracked[] = [];
  const errors: unknown[] = [];
  const sub = ws.trpc.system.onStatus.subscribe(input, { onData: (e) => events.push(e as Tracked), onError: (e) => errors.push(e) });
  return { events, errors, stop: () => sub.unsubscribe() };
}

/**
 * Waits until a fresh subscription is listening, by making harmless changes until one arrives
 * (the server says "started" before its generator has subscribed to the bus).
 */
async function warmUp(live: ReturnType<typeof subscribe>, client: SignedIn['client']) {
  for (let i = 0; live.events.length === 0; i++) {
    if (live.errors.length) throw live.errors[0];
    if (i > 50) throw new Error('the subscription never delivered');
    await client.system.configure.mutate({ maxPositionPerSymbol: 500 + Math.floor(Math.random() * 1000) });
    await sleep(150);
  }
}

describe('system.status', () => {
  it('reports state, universe, risk limits and uptime to anyone who may view trading', async () => {
    await admin.session.client.system.stop.mutate();
    const status = await viewer.session.client.system.status.query();
    expect(status).toMatchObject({ state: 'stopped', uptimeSeconds: 0 });
    expect(status.universe.map((i) => i.symbol)).toEqual(['ES', 'NQ', 'CL']);
    expect(status.universe[0]).toEqual({ symbol: 'ES', name: 'E-mini S&P 500', tickSize: 0.25, pointValue: 50 });
    expect(Object.keys(status.riskLimits).sort()).toEqual(['limitPriceBandPct', 'maxDailyNotionalPerUser', 'maxOrderQuantity', 'maxPositionPerSymbol']);
    expect(status.riskLimits.maxOrderQuantity).toBeLessThanOrEqual(100);

    const started = await admin.session.client.system.start.mutate();
    expect(started.state).toBe('running');
    expect(started.startedAt).not.toBeNull();
    server.clock.advance(90_000);
    const later = await trader.session.client.system.status.query();
    expect(later.state).toBe('running');
    expect(later.uptimeSeconds).toBeGreaterThanOrEqual(90);
    expect(later.uptimeSeconds).toBeLessThan(120);
  });
});

describe('who may control the engine', () => {
  it('lets an admin start, stop and configure, and answers a repeat without a new event', async () => {
    const c = admin.session.client;
    await c.system.stop.mutate();
    const before = await eventRows(server);
    const started = await c.system.start.mutate();
    expect(started.state).toBe('running');
    const again = await c.system.start.mutate();
    expect(again).toMatchObject({ state: 'running', version: started.version, startedAt: started.startedAt });
    const stopped = await c.system.stop.mutate();
    expect(stopped.state).toBe('stopped');
    expect((await c.system.stop.mutate()).version).toBe(stopped.version);
    const configured = await c.system.configure.mutate({ limitPriceBandPct: 2.5, maxOrderQuantity: 20 });
    expect(configured.riskLimits).toMatchObject({ limitPriceBandPct: 2.5, maxOrderQuantity: 20 });
    expect(configured.version).toBe(stopped.version + 1);
    const after = await eventRows(server);
    expect(after.slice(before.length).map((e) => e.kind)).toEqual(['started', 'stopped', 'configured']);

    const audits = await auditRows(server, ['system.configured']);
    const last = audits.at(-1);
    expect(last?.actorId).toBe(admin.user.id);
    expect(last?.details).toMatchObject({ after: { limitPriceBandPct: 2.5, maxOrderQuantity: 20 } });
    expect((last?.details as { before: RiskLimits }).before.maxOrderQuantity).not.toBe(20);
  });

  it('refuses start, stop and configure to traders and viewers, naming the permission', async () => {
    const before = await admin.session.client.system.status.query();
    for (const who of [trader, viewer]) {
      const c = who.session.client;
      for (const [call, permission] of [
        [() => c.system.start.mutate(), 'system.start'],
        [() => c.system.stop.mutate(), 'system.stop'],
        [() => c.system.configure.mutate({ maxOrderQuantity: 1 }), 'system.configure'],
      ] as const) {
        const err = await rejectionOf(call());
        expect(errorData(err)).toMatchObject({ code: 'FORBIDDEN', permission });
      }
    }
    expect(await admin.session.client.system.status.query()).toEqual({ ...before, uptimeSeconds: expect.any(Number) });
  });

  it('answers bad configure input with BAD_REQUEST and changes nothing', async () => {
    const c = admin.session.client;
    const before = await c.system.status.query();
    const eventsBefore = (await eventRows(server)).length;
    for (const bad of [
      {},
      { maxOrderQuantity: 101 },
      { maxOrderQuantity: 0 },
      { maxOrderQuantity: 2.5 },
      { maxPositionPerSymbol: -1 },
      { maxDailyNotionalPerUser: 0 },
      { limitPriceBandPct: 0 },
      { limitPriceBandPct: 80 },
      { limitPriceBandPct: '5' },
      { bogus: 1 },
      { maxOrderQuantity: 10, extra: true },
    ]) {
      const err = await rejectionOf(c.system.configure.mutate(bad as never));
      expect(errorData(err).code, JSON.stringify(bad)).toBe('BAD_REQUEST');
    }
    expect(await c.system.status.query()).toEqual({ ...before, uptimeSeconds: expect.any(Number) });
    expect((await eventRows(server)).length).toBe(eventsBefore);
  });
});

describe('concurrency', () => {
  it('turns parallel starts into exactly one started event and one audit row', async () => {
    const c = admin.session.client;
    await c.system.stop.mutate();
    const eventsBefore = (await eventRows(server)).length;
    const auditsBefore = (await auditRows(server, ['system.engine_started'])).length;
    const results = await Promise.all(Array.from({ length: 8 }, () => c.system.start.mutate()));
    expect(new Set(results.map((r) => r.version)).size).toBe(1);
    expect(results.every((r) => r.state === 'running')).toBe(true);
    const added = (await eventRows(server)).slice(eventsBefore);
    expect(added.map((e) => e.kind)).toEqual(['started']);
    expect((await auditRows(server, ['system.engine_started'])).length).toBe(auditsBefore + 1);
  });
});

describe('system.onStatus', () => {
  it('streams start, stop and configure live, then resumes after lastEventId without gaps or repeats', async () => {
    const c = admin.session.client;
    await c.system.stop.mutate();
    const live = subscribe(socket(server, viewer.session.token));
    await warmUp(live, c);
    const baseline = live.events.length;
    await c.system.start.mutate();
    await c.system.stop.mutate();
    await c.system.configure.mutate({ maxDailyNotionalPerUser: 2_500_000 });
    await waitFor(() => live.events.length >= baseline + 3, 5_000, 'three live events');
    await sleep(200);
    const got = live.events.slice(baseline);
    expect(got.map((e) => e.data.kind)).toEqual(['started', 'stopped', 'configured']);
    expect(got.map((e) => e.data.state)).toEqual(['running', 'stopped', 'stopped']);
    expect(got[2]?.data.riskLimits.maxDailyNotionalPerUser).toBe(2_500_000);
    for (const e of got) expect(e.id).toBe(e.data.id);
    const ids = live.events.map((e) => BigInt(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1)));
    live.stop();

    // Away: three changes are missed, then the client comes back with the last id it saw.
    const lastSeen = live.events.at(-1)!.id;
    await c.system.start.mutate();
    await c.system.configure.mutate({ limitPriceBandPct: 7 });
    await c.system.stop.mutate();
    const resumed = subscribe(socket(server, viewer.session.token), { lastEventId: lastSeen });
    await waitFor(() => resumed.events.length >= 3, 5_000, 'the backfill');
    await c.system.start.mutate();
    await waitFor(() => resumed.events.length >= 4, 5_000, 'the live event after the backfill');
    await sleep(200);
    expect(resumed.events.map((e) => e.data.kind)).toEqual(['started', 'configured', 'stopped', 'started']);
    const rows = (await eventRows(server)).filter((r) => r.id > BigInt(lastSeen));
    expect(resumed.events.map((e) => e.id)).toEqual(rows.map((r) => r.id.toString()));
    resumed.stop();
  });

  it('refuses a bad lastEventId', async () => {
    const sub = subscribe(socket(server, viewer.session.token), { lastEventId: 'abc' });
    await waitFor(() => sub.errors.length > 0, 5_000, 'the refusal');
    expect(errorData(sub.errors[0]).code).toBe('BAD_REQUEST');
  });
});

describe('several processes on one Postgres', () => {
  it('share one state and see each other\'s changes on onStatus', { timeout: 120_000 }, async () => {
    const fresh = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
    const a = await startTestServer({ databaseUrl: fresh.url });
    const b = await startTestServer({ databaseUrl: fresh.url });
    try {
      const adminA = await signedIn(a, 'admin');
      const viewerB = await signIn(b, await seedUser(b, 'viewer'));
      const adminB = await signIn(b, { email: adminA.user.email, password: adminA.user.password });
      const onB = subscribe(socket(b, viewerB.token));
      await warmUp(onB, adminA.session.client);
      const baseline = onB.events.length;

      const started = await adminA.session.client.system.start.mutate();
      expect((await viewerB.client.system.status.query()).state).toBe('running');
      // Starting on the other process is a no-op: the state is shared, not per process.
      expect((await adminB.client.system.start.mutate()).version).toBe(started.version);
      await adminB.client.system.configure.mutate({ maxOrderQuantity: 7 });
      expect((await adminA.session.client.system.status.query()).riskLimits.maxOrderQuantity).toBe(7);
      await adminA.session.client.system.stop.mutate();

      await waitFor(() => onB.events.length >= baseline + 3, 10_000, 'events from both processes');
      await sleep(300);
      expect(onB.events.slice(baseline).map((e) => e.data.kind)).toEqual(['started', 'configured', 'stopped']);
      onB.stop();

      // Parallel starts from both processes still make one event.
      const before = (await eventRows(a)).length;
      await Promise.all([...Array.from({ length: 4 }, () => adminA.session.client.system.start.mutate()), ...Array.from({ length: 4 }, () => adminB.client.system.start.mutate())]);
      expect((await eventRows(b)).slice(before).map((e) => e.kind)).toEqual(['started']);
    } finally {
      await Promise.all(sockets.splice(0).map((s) => s.close()));
      await a.close();
      await b.close();
      await fresh.drop();
    }
  });
});
