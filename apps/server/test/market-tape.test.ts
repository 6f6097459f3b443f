/**
 * The live tape (market.onTape): one process produces prints while the engine runs, every process
 * streams them, a resuming client gets what it missed from the ring buffer in order and once, and
 * on one Postgres two processes show the same tape and hand production over when the leader goes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMarketTape, MARKET_PRINTS_CHANNEL } from '@tapevision/api';
import type { TapePrint } from '@tapevision/api/schemas';
import { createLocalEventBus } from '@tapevision/db';
import { errorData, httpClient, rejectionOf, wsClient, type WsTestClient } from './support/clients.ts';
import { openRawSocket, type RawSocket, type WireMessage } from './support/raw-ws.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, type TestServer } from './support/server.ts';
import { sleep, waitFor } from './support/session-helpers.ts';
import { seedUser, signIn, type SignedIn } from './support/users.ts';

type Tracked = { id: string; data: TapePrint };

const TICKS: Record<string, number> = { ES: 0.25, NQ: 0.25, CL: 0.01 };
const FAST = { printsPerSecond: 50, seed: 42, leaderRetryMs: 300 };

const sockets: WsTestClient[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
});

function socket(on: TestServer, token: string | null): WsTestClient {
  const ws = wsClient(on, { token });
  sockets.push(ws);
  return ws;
}

function subscribe(ws: WsTestClient, input: { symbols?: string[]; lastEventId?: string } = {}) {
  const events: Tracked[] = [];
  const errors: unknown[] = [];
  const sub = ws.trpc.market.onTape.subscribe(input as never, { onData: (e) => events.push(e as Tracked), onError: (e) => errors.push(e) });
  return { events, errors, stop: () => sub.unsubscribe() };
}

function expectIncreasingIds(events: Tracked[]) {
  const ids = events.map((e) => BigInt(e.id));
  for (let k = 1; k < ids.length; k++) expect(ids[k]! > ids[k - 1]!, `id ${ids[k]} after ${ids[k - 1]}`).toBe(true);
}

function expectValidPrint(e: Tracked) {
  expect(e.id).toBe(e.data.id);
  expect(e.id).toMatch(/^\d{1,19}$/);
  const tick = TICKS[e.data.symbol];
  expect(tick, e.data.symbol).toBeDefined();
  expect(e.data.price).toBeGreaterThan(0);
  expect(Number((Math.round(e.data.price / tick!) * tick!).toFixed(2))).toBe(e.data.price);
  expect(['BUY', 'SELL']).toContain(e.data.side);
  expect(Number.isInteger(e.data.size) && e.data.size >= 1).toBe(true);
  expect(Number.isNaN(Date.parse(e.data.at))).toBe(false);
}

async function signedIn(on: TestServer, role: 'admin' | 'viewer'): Promise<SignedIn> {
  return signIn(on, await seedUser(on, role));
}

describe('market.onTape on one server', () => {
  let server: TestServer;
  let admin: SignedIn;
  let viewer: SignedIn;

  beforeAll(async () => {
    server = await startTestServer({ market: FAST });
    admin = await signedIn(server, 'admin');
    viewer = await signedIn(server, 'viewer');
  });
  afterAll(async () => {
    await server?.close();
  });

  it('prints nothing while the engine is stopped', async () => {
    expect((await admin.client.system.status.query()).state).toBe('stopped');
    expect(server.app.marketProducer.leading).toBe(true);
    const live = subscribe(socket(server, viewer.token));
    await sleep(1_000);
    expect(live.errors).toEqual([]);
    expect(live.events).toEqual([]);
    expect(await viewer.client.market.lastPrices.query()).toEqual([
      { symbol: 'ES', price: null, at: null, printId: null },
      { symbol: 'NQ', price: null, at: null, printId: null },
      { symbol: 'CL', price: null, at: null, printId: null },
    ]);
  });

  it('streams valid prints after system.start, filtered by symbols, and stops after system.stop', async () => {
    const all = subscribe(socket(server, viewer.token));
    const crude = subscribe(socket(server, viewer.token), { symbols: ['CL'] });
    const indices = subscribe(socket(server, viewer.token), { symbols: ['ES', 'NQ'] });
    await sleep(300);
    await admin.client.system.start.mutate();
    await waitFor(() => all.events.length >= 60 && crude.events.length >= 5, 10_000, 'prints');

    for (const e of all.events) expectValidPrint(e);
    expectIncreasingIds(all.events);
    expect(new Set(all.events.map((e) => e.data.symbol))).toEqual(new Set(['ES', 'NQ', 'CL']));
    expect(crude.events.every((e) => e.data.symbol === 'CL')).toBe(true);
    expect(indices.events.every((e) => e.data.symbol !== 'CL')).toBe(true);
    expectIncreasingIds(crude.events);
    // The filtered streams are exactly the full one's prints of their symbols, same ids and data.
    const allById = new Map(all.events.map((e) => [e.id, e.data]));
    for (const e of [...crude.events, ...indices.events]) {
      if (BigInt(e.id) <= BigInt(all.events.at(-1)!.id)) expect(allById.get(e.id)).toEqual(e.data);
    }

    const prices = await viewer.client.market.lastPrices.query();
    expect(prices.map((p) => p.symbol)).toEqual(['ES', 'NQ', 'CL']);
    for (const p of prices) expect(p.price).toBeGreaterThan(0);

    await admin.client.system.stop.mutate();
    await sleep(300);
    const count = all.events.length;
    await sleep(1_000);
    expect(all.events.length).toBe(count);
    expect([...all.errors, ...crude.errors, ...indices.errors]).toEqual([]);
  });

  it('lets go of a subscription the client stops or whose socket closes, while the tape runs', async () => {
    // The sockets of earlier tests close as this one starts: count from when their subscriptions are gone.
    const count = () => server.app.deps.market.listenerCount();
    let before = count();
    for (let settled = false, tries = 0; !settled; tries++) {
      expect(tries, 'the listener count settles').toBeLessThan(50);
      await sleep(200);
      settled = count() === before;
      before = count();
    }
    const stopped = subscribe(socket(server, viewer.token));
    const closing = socket(server, viewer.token);
    const dropped = subscribe(closing);
    await admin.client.system.start.mutate();
    try {
      await waitFor(() => stopped.events.length > 0 && dropped.events.length > 0, 10_000, 'prints on both');
      expect(count()).toBe(before + 2);
      stopped.stop();
      await waitFor(() => count() === before + 1, 5_000, 'the stopped subscription let go');
      await closing.close();
      await waitFor(() => count() === before, 5_000, 'the closed socket let go');
      const received = stopped.events.length;
      await sleep(300);
      expect(stopped.events.length).toBe(received);
      expect([...stopped.errors, ...dropped.errors]).toEqual([]);
    } finally {
      await admin.client.system.stop.mutate();
    }
  });

  it('resumes after lastEventId with every missed print, in order, without repeats', async () => {
    await admin.client.system.start.mutate();
    const first = subscribe(socket(server, viewer.token));
    await waitFor(() => first.events.length >= 10, 5_000, 'prints before going away');
    first.stop();
    const lastSeen = first.events.at(-1)!.id;

    // Away while at least 40 prints happen.
    await waitFor(() => server.app.deps.market.after(BigInt(lastSeen)).length >= 40, 5_000, 'missed prints');
    const resumed = subscribe(socket(server, viewer.token), { lastEventId: lastSeen });
    await waitFor(() => resumed.events.length >= 80, 10_000, 'backfill and live prints');
    await admin.client.system.stop.mutate();
    await sleep(300);

    expect(resumed.errors).toEqual([]);
    expectIncreasingIds(resumed.events);
    expect(BigInt(resumed.events[0]!.id) > BigInt(lastSeen)).toBe(true);
    // No gap either: exactly the tape after lastSeen, as the server holds it.
    const tape = server.app.deps.market.after(BigInt(lastSeen));
    expect(resumed.events.map((e) => e.id)).toEqual(tape.slice(0, resumed.events.length).map((p) => p.id));
    expect(resumed.events.map((e) => e.data)).toEqual(tape.slice(0, resumed.events.length));
  });

  it('refuses unknown symbols and malformed input with BAD_REQUEST', async () => {
    for (const bad of [{ symbols: ['XX'] }, { symbols: [] }, { symbols: ['ES', 'es'] }, { lastEventId: 'abc' }, { bogus: 1 }]) {
      const sub = subscribe(socket(server, viewer.token), bad as never);
      await waitFor(() => sub.errors.length > 0, 5_000, `the refusal of ${JSON.stringify(bad)}`);
      expect(errorData(sub.errors[0]).code, JSON.stringify(bad)).toBe('BAD_REQUEST');
    }
  });

  it('answers UNAUTHORIZED without a token', async () => {
    const sub = subscribe(socket(server, null));
    await waitFor(() => sub.errors.length > 0, 5_000, 'the refusal');
    expect(errorData(sub.errors[0]).code).toBe('UNAUTHORIZED');
    expect(errorData(await rejectionOf(httpClient(server).market.lastPrices.query())).code).toBe('UNAUTHORIZED');
  });
});

describe('a subscriber that stops reading', () => {
  const BURST = 40;
  const print = (id: number): TapePrint => ({ id: String(id), at: new Date().toISOString(), symbol: 'ES', price: 5000, size: 1, side: 'BUY' });
  const dataIds = (socket: RawSocket) =>
    socket.messages.filter((m) => m.result?.type === 'data').map((m) => (m.result!.data as { id: string }).id);

  async function subscriber(server: TestServer, token: string, input: { lastEventId?: string } = {}): Promise<RawSocket> {
    const raw = openRawSocket(server, { connectionParams: { accessToken: token } });
    await raw.opened;
    raw.call(1, 'market.onTape', input, 'subscription');
    expect((await raw.first(1)).result?.type).toBe('started');
    return raw;
  }

  it('is ended with SLOW_SUBSCRIBER once its queue is full, others keep every print, and it resumes from lastEventId without a gap', { timeout: 120_000 }, async () => {
    // The engine stays stopped: the prints are published on the bus here, as the producer would.
    await using server = await startTestServer({ market: { bufferSize: 1_000_000 } });
    const viewer = await signedIn(server, 'viewer');
    const slow = await subscriber(server, viewer.token);
    const healthy = await subscriber(server, viewer.token);
    slow.ws.pause();

    // Until the server gives up on the paused socket: its kernel buffers, then its transport
    // backlog, then its queue fill up. The healthy subscriber is waited for after every burst.
    const published: string[] = [];
    const dropped = () => server.logs.some((l) => l.includes('fell behind'));
    for (let next = 1_000_000; !dropped(); next += BURST) {
      const burst = Array.from({ length: BURST }, (_, k) => print(next + k));
      await server.app.deps.bus.publish(MARKET_PRINTS_CHANNEL, burst);
      published.push(...burst.map((p) => p.id));
      await waitFor(() => healthy.messages.length >= published.length + 1 || dropped(), 10_000, 'the healthy subscriber');
      expect(published.length, 'prints published before the slow subscriber was dropped').toBeLessThan(800_000);
    }
    await waitFor(() => dataIds(healthy).length === published.length, 10_000, 'every print on the healthy subscriber');
    expect(dataIds(healthy)).toEqual(published);

    slow.ws.resume();
    const ended = (await waitFor(() => slow.messages.find((m) => m.error), 30_000, 'the slow subscriber\'s error')) as WireMessage;
    expect(ended.id).toBe(1);
    expect(ended.error!.data).toMatchObject({ code: 'TOO_MANY_REQUESTS', reason: 'SLOW_SUBSCRIBER' });
    // What it did get is the start of the tape, in order, and the error names where it stopped.
    const got = dataIds(slow);
    expect(got.length).toBeGreaterThan(0);
    expect(got).toEqual(published.slice(0, got.length));
    expect(ended.error!.data!.lastEventId).toBe(got.at(-1));

    // Resuming from there gives the rest of the tape, in order, once.
    const resumed = await subscriber(server, viewer.token, { lastEventId: got.at(-1)! });
    await waitFor(() => dataIds(resumed).length >= published.length - got.length, 30_000, 'the rest of the tape');
    expect(dataIds(resumed)).toEqual(published.slice(got.length));
    expect(resumed.messages.filter((m) => m.error)).toEqual([]);
    for (const s of [slow, healthy, resumed]) await s.close();
  });
});

describe('the ring buffer', () => {
  const print = (id: number, symbol = 'ES'): TapePrint => ({ id: String(id), at: new Date(0).toISOString(), symbol, price: 5000, size: 1, side: 'BUY' });

  it('keeps the newest prints in order, drops repeats and stale ids, and replays from an id older than it holds', async () => {
    const bus = createLocalEventBus();
    const tape = createMarketTape({ bus, capacity: 5 });
    await tape.start();
    await bus.publish(MARKET_PRINTS_CHANNEL, [print(1), print(2), print(3)]);
    await bus.publish(MARKET_PRINTS_CHANNEL, [print(3), print(2), print(4, 'CL'), { id: 'x' }, { ...print(9), price: 5000.1 }]);
    await bus.publish(MARKET_PRINTS_CHANNEL, [print(5), print(6), print(7)]);
    await sleep(10);
    expect(tape.after(null).map((p) => p.id)).toEqual(['3', '4', '5', '6', '7']);
    expect(tape.after(0n).map((p) => p.id)).toEqual(['3', '4', '5', '6', '7']);
    expect(tape.after(5n).map((p) => p.id)).toEqual(['6', '7']);
    expect(tape.lastId()).toBe(7n);
    expect(tape.lastPrices().find((p) => p.symbol === 'CL')).toMatchObject({ price: 5000, printId: '4' });
    tape.stop();
    await bus.close();
  });
});

describe('several processes on one Postgres', () => {
  it('produce on one process, show the same tape on both, and hand over when the leader closes', { timeout: 120_000 }, async () => {
    const fresh = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
    const a = await startTestServer({ databaseUrl: fresh.url, market: FAST });
    const b = await startTestServer({ databaseUrl: fresh.url, market: FAST });
    const servers = [a, b];
    try {
      await sleep(700);
      expect(servers.filter((s) => s.app.marketProducer.leading).length).toBe(1);
      const admin = await signedIn(a, 'admin');
      const viewerUser = await seedUser(a, 'viewer');
      const viewerA = await signIn(a, viewerUser);
      const viewerB = await signIn(b, viewerUser);
      const onA = subscribe(socket(a, viewerA.token));
      const onB = subscribe(socket(b, viewerB.token));
      await sleep(300);
      await admin.client.system.start.mutate();
      await waitFor(() => onA.events.length >= 60 && onB.events.length >= 60, 15_000, 'prints on both processes');
      expect(servers.filter((s) => s.app.marketProducer.leading).length).toBe(1);

      // The same prints with the same ids, from wherever both streams overlap.
      const from = BigInt(onA.events[0]!.id) > BigInt(onB.events[0]!.id) ? onA.events[0]!.id : onB.events[0]!.id;
      const upTo = BigInt(onA.events.at(-1)!.id) < BigInt(onB.events.at(-1)!.id) ? onA.events.at(-1)!.id : onB.events.at(-1)!.id;
      const window = (events: Tracked[]) => events.filter((e) => BigInt(e.id) >= BigInt(from) && BigInt(e.id) <= BigInt(upTo));
      expect(window(onA.events).length).toBeGreaterThanOrEqual(30);
      expect(window(onA.events)).toEqual(window(onB.events));
      expectIncreasingIds(onA.events);
      expectIncreasingIds(onB.events);

      // The leader goes away; the other process takes over within a few seconds, ids still growing.
      const leader = a.app.marketProducer.leading ? a : b;
      const survivor = leader === a ? b : a;
      const watch = leader === a ? onB : onA;
      const lastBefore = BigInt(watch.events.at(-1)!.id);
      await leader.close();
      const closedAt = Date.now();
      await waitFor(() => survivor.app.marketProducer.leading, 5_000, 'the take-over');
      const countAtTakeover = watch.events.length;
      await waitFor(() => watch.events.length >= countAtTakeover + 20, 5_000, 'prints from the new leader');
      expect(Date.now() - closedAt).toBeLessThan(6_000);
      expectIncreasingIds(watch.events);
      expect(BigInt(watch.events.at(-1)!.id) > lastBefore).toBe(true);
      expect(watch.errors).toEqual([]);
    } finally {
      await Promise.all(sockets.splice(0).map((s) => s.close()));
      await a.close();
      await b.close();
      await fresh.drop();
    }
  });
});
